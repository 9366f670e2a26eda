//! An open alert — a burst being reported — and the messages it sends.
//!
//! An alert holds the tally of its burst's buckets, the baseline it was
//! tested against (frozen while it is open) and what its last message
//! said (`emitted_*`), from which the next `update` is decided. Its id is a
//! hash of the key and the burst's first bucket, so that a replay or a
//! replica gives the same burst the same id.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use yuqing_model::{Level, Timestamp};

use crate::alert::{Alert, AlertState, SCHEMA_VERSION, Trigger};

use super::bucket::Tally;
use super::key::Key;
use super::window::Hit;

/// Regions listed in an alert message.
const LISTED_REGIONS: usize = 20;

/// A burst being reported.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct OpenAlert {
    pub(super) id: String,
    pub(super) start_bucket: i64,
    pub(super) last_bucket: i64,
    pub(super) last_active: i64,
    pub(super) tally: Tally,
    pub(super) baseline: f64,
    pub(super) z_max: f64,
    pub(super) emitted_count: u64,
    pub(super) emitted_level: Level,
    pub(super) emitted_bucket: i64,
    /// Regions named by `update_region_reports` reports as of the last
    /// message.
    #[serde(default)]
    pub(super) emitted_regions: BTreeSet<String>,
    /// What opened it.
    #[serde(default)]
    pub(super) trigger: Trigger,
    /// Whether a burst test has passed for it (always for a burst alert).
    #[serde(default = "yes")]
    pub(super) confirmed: bool,
    /// The window that opened (or confirmed) it, seconds.
    #[serde(default)]
    pub(super) window_secs: Option<u32>,
    /// The `seq` of its last message: 1 once its `open` is out, one more
    /// for each message since. (A snapshot from before `seq` has sent its
    /// `open` and perhaps updates; it counts on from 1.)
    #[serde(default = "one")]
    pub(super) seq: u64,
}

fn yes() -> bool {
    true
}

fn one() -> u64 {
    1
}

impl OpenAlert {
    /// An alert of `key` opening at bucket `b` on the buckets from `start`
    /// (their reports in `tally`), with the key's (frozen) `baseline`:
    /// opened by the window test `hit`, or by severity without one (then
    /// not confirmed until a window test passes). No message is recorded
    /// as emitted yet.
    pub(super) fn new(
        key: &Key,
        start: i64,
        b: i64,
        tally: Tally,
        baseline: f64,
        hit: Option<&Hit>,
        bucket_ms: i64,
    ) -> Self {
        OpenAlert {
            id: alert_id(key, start * bucket_ms),
            start_bucket: start,
            last_bucket: b,
            last_active: b,
            tally,
            baseline,
            z_max: hit.map_or(0.0, |h| h.z),
            emitted_count: 0,
            emitted_level: Level::Blue,
            emitted_bucket: b,
            emitted_regions: BTreeSet::new(),
            trigger: if hit.is_some() {
                Trigger::Burst
            } else {
                Trigger::Severity
            },
            confirmed: hit.is_some(),
            window_secs: hit.map(|h| h.secs(bucket_ms)),
            // Its `open` is the first message.
            seq: 1,
        }
    }

    /// The next message, `update` or `resolved`: one more in `seq`.
    pub(super) fn next(
        &mut self,
        key: &Key,
        state: AlertState,
        bucket_ms: i64,
        now: &str,
    ) -> Alert {
        self.seq += 1;
        message(key, self, state, bucket_ms, now)
    }
}

/// A level for a burst: the reports' own highest level, raised by size.
pub(super) fn alert_level(t: &Tally) -> Level {
    let by_size = match t.count {
        0..20 => Level::Blue,
        20..100 => Level::Yellow,
        100..500 => Level::Orange,
        _ => Level::Red,
    };
    by_size.max(t.max_level.unwrap_or(Level::Blue))
}

fn alert_id(key: &Key, start_ms: i64) -> String {
    let seed = format!(
        "{}\u{1f}{}\u{1f}{start_ms}",
        key.category,
        key.region.as_deref().unwrap_or("")
    );
    crate::alert::alert_id_of(&seed)
}

pub(super) fn rfc3339(ms: i64) -> String {
    Timestamp::from_millis(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// The `n` most counted keys, most first (ties by name).
fn most_counted(counts: &HashMap<String, u32>, n: usize) -> Vec<String> {
    let mut ranked: Vec<(&String, &u32)> = counts.iter().collect();
    ranked.sort_by(|x, y| y.1.cmp(x.1).then(x.0.cmp(y.0)));
    ranked.into_iter().take(n).map(|(k, _)| k.clone()).collect()
}

pub(super) fn message(
    key: &Key,
    a: &OpenAlert,
    state: AlertState,
    bucket_ms: i64,
    now: &str,
) -> Alert {
    let (first_ts, first_id) = a
        .tally
        .first
        .clone()
        .unwrap_or((a.start_bucket * bucket_ms, String::new()));
    Alert {
        schema_version: SCHEMA_VERSION,
        alert_id: a.id.clone(),
        state,
        seq: a.seq,
        category: key.category.clone(),
        region: key.region.clone(),
        window_start: rfc3339(a.start_bucket * bucket_ms),
        window_end: rfc3339((a.last_bucket + 1) * bucket_ms),
        count: a.tally.count,
        distinct_authors: a.tally.authors.len() as u64,
        baseline: (a.baseline * 1000.0).round() / 1000.0,
        z: (a.z_max * 100.0).round() / 100.0,
        level: alert_level(&a.tally),
        top_terms: most_counted(&a.tally.terms, 5),
        sample_post_ids: a.tally.sample.iter().map(|(_, id)| id.clone()).collect(),
        regions: most_counted(&a.tally.regions, LISTED_REGIONS),
        first_post_id: first_id,
        first_seen: rfc3339(first_ts),
        emitted_at: now.to_string(),
        window_secs: a.window_secs,
        trigger: a.trigger,
        confirmed: a.confirmed,
        watch: None,
    }
}
