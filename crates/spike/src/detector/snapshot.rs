//! The detector's state as JSON, written with each index commit so that a
//! restart carries on where the commit left off: baselines, the buckets
//! still open, the closed ones the windows reach back over, and the open
//! alerts (which stay open: a restart sends no second `open`).
//!
//! The format is versioned ([`SNAPSHOT_VERSION`]); a snapshot of an older
//! format is migrated, one of a newer format refused.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::config::DetectorConfig;

use super::baseline::Baseline;
use super::bucket::{Closed, Tally};
use super::open_alert::OpenAlert;
use super::{Detector, Key, KeyState};

/// The snapshot format written; 0 (no version) is the format before
/// multi-scale windows, which is read as well.
const SNAPSHOT_VERSION: u32 = 2;

/// Why a snapshot cannot be taken or restored.
#[derive(Debug, thiserror::Error)]
#[error("detector snapshot: {0}")]
pub struct SnapshotError(String);

/// Everything the detector keeps, for snapshots.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    #[serde(default)]
    version: u32,
    bucket_ms: i64,
    keys: Vec<(Key, KeyState)>,
    max_ts: Option<i64>,
    next_close: Option<i64>,
    started: Option<i64>,
    late: u64,
}

/// A key's state as a snapshot holds it: the baseline's fields at the
/// level of the others.
#[derive(Deserialize)]
pub(super) struct KeyStateWire {
    mu: f64,
    mu_bucket: i64,
    history: f64,
    slots: Vec<f64>,
    slot_days: Vec<u32>,
    hour: i64,
    hour_sum: f64,
    open: BTreeMap<i64, Tally>,
    closed: VecDeque<Closed>,
    alert: Option<OpenAlert>,
    cooldown_until: i64,
    last_seen: i64,
    recent: VecDeque<(u64, i64)>,
}

impl From<KeyStateWire> for KeyState {
    fn from(w: KeyStateWire) -> Self {
        KeyState {
            baseline: Baseline {
                mu: w.mu,
                mu_bucket: w.mu_bucket,
                history: w.history,
                slots: w.slots,
                slot_days: w.slot_days,
                hour: w.hour,
                hour_sum: w.hour_sum,
            },
            open: w.open,
            closed: w.closed,
            alert: w.alert,
            cooldown_until: w.cooldown_until,
            last_seen: w.last_seen,
            recent: w.recent,
        }
    }
}

impl Detector {
    /// The detector's state, for a snapshot written with the index commit.
    /// An error (the state cannot be written as JSON) leaves the previous
    /// snapshot the one to restore from; the caller says so.
    pub fn snapshot(&self) -> Result<Vec<u8>, SnapshotError> {
        let window = i64::from(self.config.dedup_window_mins) * 60_000 / self.bucket_ms;
        let now = self.max_ts.map_or(i64::MIN, |t| self.bucket(t));
        let mut keys: Vec<(Key, KeyState)> = self
            .keys
            .iter()
            .map(|(k, s)| {
                let mut s = s.clone();
                s.recent.retain(|(_, b)| *b >= now - window);
                (k.clone(), s)
            })
            .collect();
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        serde_json::to_vec(&State {
            version: SNAPSHOT_VERSION,
            bucket_ms: self.bucket_ms,
            keys,
            max_ts: self.max_ts,
            next_close: self.next_close,
            started: self.started,
            late: self.late,
        })
        .map_err(|e| SnapshotError(e.to_string()))
    }

    /// A detector restored from [`Detector::snapshot`]: open alerts stay
    /// open (no second `open`), baselines are kept. A snapshot of the
    /// format before multi-scale windows is migrated: its baselines, open
    /// buckets and open alerts carry over (an alert it had open counts as
    /// opened by a burst, window unknown).
    pub fn restore(
        config: DetectorConfig,
        parents: HashMap<String, String>,
        snapshot: &[u8],
    ) -> Result<Self, SnapshotError> {
        let state: State =
            serde_json::from_slice(snapshot).map_err(|e| SnapshotError(e.to_string()))?;
        if state.version > SNAPSHOT_VERSION {
            return Err(SnapshotError(format!(
                "format {} is newer than this yuqing reads ({SNAPSHOT_VERSION})",
                state.version
            )));
        }
        let mut d = Detector::new(config, parents);
        if state.bucket_ms != d.bucket_ms {
            return Err(SnapshotError(format!(
                "taken with {} s buckets, configured {} s: the baselines do not carry over",
                state.bucket_ms / 1000,
                d.bucket_ms / 1000
            )));
        }
        for (k, s) in state.keys {
            for b in s.open.keys() {
                d.data.entry(*b).or_default().insert(k.clone());
            }
            if s.alert.is_some() {
                d.alerting.insert(k.clone());
            }
            d.keys.insert(k, s);
        }
        d.max_ts = state.max_ts;
        d.next_close = state.next_close;
        d.started = state.started;
        d.late = state.late;
        Ok(d)
    }
}
