//! Recorded posts through the burst detector in stream time: what
//! `yuqing backtest` reports and what `yuqing index` stores for the API.

use std::collections::{BTreeSet, HashMap};

use yuqing_model::ScoredPost;
use yuqing_spike::{Alert, Detector, DetectorConfig};

/// Applies `--set KEY=VALUE` settings to a detector configuration,
/// checked together.
pub(crate) fn apply_settings(
    config: &mut DetectorConfig,
    settings: &[String],
) -> anyhow::Result<()> {
    config
        .set_all(settings)
        .map_err(|e| crate::usage(format!("--set {e}")))
}

/// Refuses per-category detector settings for a category the dictionaries
/// do not have (`--set categories.firex.z=4`, `[spike.categories.firex]`).
pub(crate) fn check_categories(
    config: &DetectorConfig,
    lexicon: &yuqing_lexicon::Lexicon,
) -> anyhow::Result<()> {
    config
        .check_categories(lexicon.categories().iter().map(|c| c.id.as_str()))
        .map_err(anyhow::Error::msg)
}

/// Flagged posts (with their line numbers and normalised texts) and the
/// minutes in which other posts came, gathered while scoring.
#[derive(Default)]
pub(crate) struct Recorded {
    pub flagged: Vec<(usize, ScoredPost, String)>,
    /// Minutes with posts that are not flagged: the stream's clock.
    pub clock: BTreeSet<i64>,
}

impl Recorded {
    /// Counts one scored post: a flagged one is kept, any other moves the
    /// clock.
    pub fn add(&mut self, line: usize, post: ScoredPost, normalized: &str) {
        if post.is_incident() {
            self.flagged.push((line, post, normalized.to_owned()));
        } else {
            let ts = post.post.ts.as_millis();
            self.clock.insert(ts - ts.rem_euclid(60_000));
        }
    }

    pub fn extend(&mut self, other: Recorded) {
        self.flagged.extend(other.flagged);
        self.clock.extend(other.clock);
    }
}

/// The outcome of a replay.
pub(crate) struct Replayed {
    /// Every alert message, in the order a live run would emit them, with
    /// `emitted_at` in stream time.
    pub alerts: Vec<Alert>,
    /// Flagged posts that came after their bucket closed.
    pub late: u64,
}

/// Runs the detector over the recorded posts in time order (lines break
/// ties), as a live pipeline would have seen them, and closes every bucket
/// at the end.
pub(crate) fn replay(
    recorded: &mut Recorded,
    config: DetectorConfig,
    parents: HashMap<String, String>,
) -> Replayed {
    recorded
        .flagged
        .sort_by_key(|(n, p, _)| (p.post.ts.as_millis(), *n));
    let mut detector = Detector::new(config, parents);
    detector.use_event_clock();
    let mut alerts: Vec<Alert> = Vec::new();
    let mut minutes = recorded.clock.iter().copied().peekable();
    for (_, p, normalized) in &recorded.flagged {
        let ts = p.post.ts.as_millis();
        while let Some(m) = minutes.next_if(|m| *m <= ts) {
            detector.observe_time(m);
            alerts.extend(detector.advance());
        }
        detector.observe(p, normalized);
        alerts.extend(detector.advance());
    }
    for m in minutes {
        detector.observe_time(m);
        alerts.extend(detector.advance());
    }
    alerts.extend(detector.finish());
    Replayed {
        alerts,
        late: detector.late(),
    }
}
