//! `yuqing replay`: JSONL posts into a topic, for backfills and load tests.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::time::{Duration, Instant};

use crate::{KafkaError, KafkaProducer, Outgoing};

/// How to replay.
#[derive(Debug, Clone)]
pub struct ReplaySettings {
    /// Brokers.
    pub brokers: String,
    /// Target topic.
    pub topic: String,
    /// At most this many messages per second (None: as fast as possible).
    pub rate: Option<f64>,
    /// Keep the posts' own pacing (their `ts` gaps), this many times faster.
    pub speedup: Option<f64>,
    /// Pass-through librdkafka properties.
    pub options: BTreeMap<String, String>,
}

/// What a replay did.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReplayStats {
    /// Messages sent.
    pub sent: u64,
    /// Bytes of payload sent.
    pub bytes: u64,
    /// Seconds from first send to the last acknowledgement.
    pub secs: f64,
}

/// Sends every line of `input` to the topic, keyed by the post's `id` when
/// the line has one (a line that is not a post is sent as it is, keyless:
/// that is how dead-letter paths are tested). Each post keeps its own `ts`.
pub fn replay(
    settings: &ReplaySettings,
    input: impl BufRead,
    mut progress: impl FnMut(&ReplayStats),
) -> Result<ReplayStats, KafkaError> {
    let producer = KafkaProducer::new(&settings.brokers, "yuqing-replay", &settings.options)?;
    let start = Instant::now();
    let mut stats = ReplayStats::default();
    let mut first_ts: Option<i64> = None;
    let mut last_report = Instant::now();
    for line in input.split(b'\n') {
        let line = line.map_err(|cause| KafkaError::Io {
            context: "reading the input".into(),
            cause,
        })?;
        let line = match line.last() {
            Some(b'\r') => line[..line.len() - 1].to_vec(),
            _ => line,
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed: Option<serde_json::Value> = serde_json::from_slice(&line).ok();
        let key = parsed
            .as_ref()
            .and_then(|v| v.get("id"))
            .and_then(|v| v.as_str())
            .map(|s| s.as_bytes().to_vec());
        if let (Some(speedup), Some(ts)) = (
            settings.speedup,
            parsed
                .as_ref()
                .and_then(|v| v.get("ts"))
                .and_then(post_ts_millis),
        ) {
            let first = *first_ts.get_or_insert(ts);
            let due =
                Duration::from_secs_f64(((ts - first).max(0) as f64 / 1000.0) / speedup.max(1e-9));
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        if let Some(rate) = settings.rate {
            let due = Duration::from_secs_f64(stats.sent as f64 / rate.max(1e-9));
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        stats.bytes += line.len() as u64;
        producer.send(&Outgoing {
            topic: settings.topic.clone(),
            key,
            payload: line,
            headers: Vec::new(),
        })?;
        stats.sent += 1;
        if last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            stats.secs = start.elapsed().as_secs_f64();
            progress(&stats);
        }
    }
    producer.flush(Duration::from_secs(60))?;
    stats.secs = start.elapsed().as_secs_f64();
    Ok(stats)
}

/// Waits until the brokers of `settings` answer, for at most `timeout`
/// (a producer would otherwise queue messages silently until its message
/// timeout). `waiting` is called once, within a few seconds, when they do
/// not answer at first: what is said while waiting.
pub fn wait_for_brokers(
    settings: &ReplaySettings,
    timeout: Duration,
    mut waiting: impl FnMut(&KafkaError),
) -> Result<(), KafkaError> {
    let producer = KafkaProducer::new(&settings.brokers, "yuqing-replay", &settings.options)?;
    let start = Instant::now();
    let mut told = false;
    loop {
        let attempt = Instant::now();
        let left = timeout.saturating_sub(start.elapsed());
        let err = match producer.check_connection(left.min(Duration::from_secs(2))) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if start.elapsed() >= timeout {
            let last = match &err {
                KafkaError::Kafka { cause, .. } => cause.to_string(),
                other => other.to_string(),
            };
            return Err(KafkaError::Unreachable {
                brokers: settings.brokers.clone(),
                secs: timeout.as_secs(),
                last,
            });
        }
        if !told {
            told = true;
            waiting(&err);
        }
        // A refused connection fails at once: do not spin.
        let pause = Duration::from_millis(500).saturating_sub(attempt.elapsed());
        std::thread::sleep(pause.min(timeout.saturating_sub(start.elapsed())));
    }
}

/// A post's `ts` in ms: RFC 3339 is not parsed here (the replay only needs
/// gaps), so only epoch integers pace; RFC 3339 strings pace by their
/// leading `YYYY-MM-DDTHH:MM:SS` read as UTC.
fn post_ts_millis(v: &serde_json::Value) -> Option<i64> {
    if let Some(n) = v.as_i64() {
        return Some(if n.abs() < 100_000_000_000 {
            n * 1000
        } else {
            n
        });
    }
    let s = v.as_str()?;
    let b = s.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // Days from the civil date (proleptic Gregorian), Howard Hinnant's method.
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (mo + if mo > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + h) * 60 + mi) * 60_000 + se * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_post_timestamps_for_pacing() {
        assert_eq!(
            post_ts_millis(&serde_json::json!(1_719_793_800)),
            Some(1_719_793_800_000)
        );
        assert_eq!(
            post_ts_millis(&serde_json::json!(1_719_793_800_123i64)),
            Some(1_719_793_800_123)
        );
        assert_eq!(
            post_ts_millis(&serde_json::json!("2024-07-01T00:30:00Z")),
            Some(1_719_793_800_000)
        );
        assert_eq!(
            post_ts_millis(&serde_json::json!("1970-01-01T00:00:01Z")),
            Some(1000)
        );
        assert_eq!(post_ts_millis(&serde_json::json!("soon")), None);
    }
}
