//! Counting independent reports per key in event-time buckets, and the
//! alert lifecycle.
//!
//! The parts, one file each:
//!
//! - [`key`]: what is counted, a category or a category in a region.
//! - [`bucket`]: what a bucket of a key holds (its reports, tallied), and
//!   once closed, what its window tests found.
//! - [`baseline`]: how many reports a bucket of a key usually holds.
//! - [`window`]: the window tests against the baseline, and the gate a
//!   key passes to open an alert (warm-up, cooldown, `k` of `n`).
//! - [`open_alert`]: an alert being reported, and its messages.
//! - [`snapshot`]: the state written with each index commit, and restored
//!   from it.
//!
//! This file holds the [`Detector`] itself: reports arrive
//! ([`Detector::observe`]); as the watermark passes a bucket, each key with
//! reports in it (or an alert open) closes it ([`Detector::close_key`]:
//! an open alert takes the reports in, updates or resolves; a key without
//! one is tested for a burst); then the keys whose tests passed open their
//! alerts, the most specific region first ([`Detector::open_candidates`]).
//! With `open_on_arrival`, a key whose still-open bucket already exceeds
//! opens as the report arrives ([`Detector::open_on_arrival`]); the close
//! then finds the alert open.

mod baseline;
mod bucket;
mod key;
mod open_alert;
mod snapshot;
mod window;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use serde::{Deserialize, Serialize};
use yuqing_model::{ScoredPost, Timestamp};

use crate::alert::{Alert, AlertState, Trigger};
use crate::config::{DetectorConfig, MAX_WINDOWS, Thresholds};
use crate::simhash::{distance, simhash};

use baseline::Baseline;
use bucket::{Closed, Report, Tally};
pub use key::Key;
use open_alert::{OpenAlert, alert_level, message, rfc3339};
pub use snapshot::SnapshotError;
use window::{Gate, Hit, Tester};

/// Recent report hashes kept per key for near-duplicate detection.
const RECENT: usize = 4_096;
/// The region keys of a category share half its false-alert budget, in
/// as many parts as the hierarchy has regions (the shipped gazetteer: 370
/// or so), and at least this many, for a detector given a small hierarchy
/// or none.
const MIN_REGIONS: usize = 100;
/// How far back the baseline a window is tested against is taken from: as
/// the window began, but at most this long ago (15 minutes). Long enough
/// that a slow burn stays out of its own baseline for as long as it takes
/// to find it; short enough that on a rising day a long window is not
/// tested against the quieter hour before.
const BASELINE_LOOKBACK_MS: i64 = 15 * 60_000;

/// One key's state: its baseline, its buckets, its alert. In a snapshot,
/// the baseline's fields are written at the level of the others, and read
/// back through [`snapshot::KeyStateWire`] (a plain struct is read without
/// the buffering `flatten` costs).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "snapshot::KeyStateWire")]
struct KeyState {
    #[serde(flatten)]
    baseline: Baseline,
    /// Buckets not yet closed.
    open: BTreeMap<i64, Tally>,
    /// The closed buckets with reports within the longest window (and the
    /// last `n`, and the severity window).
    closed: VecDeque<Closed>,
    alert: Option<OpenAlert>,
    cooldown_until: i64,
    last_seen: i64,
    /// Recent report hashes and their buckets (near-duplicates of these
    /// do not count).
    recent: VecDeque<(u64, i64)>,
}

impl KeyState {
    fn new(prior: f64, bucket: i64) -> Self {
        KeyState {
            baseline: Baseline::new(prior, bucket),
            open: BTreeMap::new(),
            closed: VecDeque::new(),
            alert: None,
            cooldown_until: i64::MIN,
            last_seen: bucket,
            recent: VecDeque::new(),
        }
    }

    /// Takes bucket `b`'s reports out of the open buckets, with those of
    /// any older open bucket (a late arrival after a skip) folded in.
    fn take_open(&mut self, b: i64) -> Tally {
        let mut tally = self.open.remove(&b).unwrap_or_default();
        let older: Vec<i64> = self.open.range(..b).map(|(k, _)| *k).collect();
        for o in older {
            if let Some(t) = self.open.remove(&o) {
                tally.merge(&t);
            }
        }
        tally
    }
}

/// What closing a key's bucket found that may open or confirm an alert,
/// acted on once every key has closed the bucket.
enum Found {
    /// The key may open an alert: by the window test that passed, or by
    /// severity (`None`).
    Candidate(Option<Hit>),
    /// A window test passed while a related key's alert is open: it
    /// confirms that alert if severity opened it.
    Confirmation(Hit),
}

/// What closing one bucket of one key works with.
struct Closing<'a> {
    key: &'a Key,
    b: i64,
    /// The key's baseline for the bucket, and whether it is frozen (an
    /// alert opened recently).
    mu: f64,
    frozen: bool,
    /// The bucket's reports, and whether one was graded orange or red.
    count: u64,
    severe: bool,
    tester: Tester,
    gate: Gate,
    thresholds: Thresholds,
    /// Whether a related key's alert is open.
    related_open: bool,
    alpha: f64,
    bucket_ms: i64,
    now: &'a str,
}

/// The burst detector. Feed it scored posts in (roughly) event-time order
/// with [`Detector::observe`]; [`Detector::advance`] closes the buckets
/// the watermark has passed and returns the alert messages due.
pub struct Detector {
    config: DetectorConfig,
    bucket_ms: i64,
    alpha: f64,
    parents: HashMap<String, String>,
    keys: HashMap<Key, KeyState>,
    /// Keys with an alert open.
    alerting: BTreeSet<Key>,
    /// Buckets holding reports of some key, and which keys.
    data: BTreeMap<i64, BTreeSet<Key>>,
    max_ts: Option<i64>,
    next_close: Option<i64>,
    started: Option<i64>,
    late: u64,
    last_event_wall: Option<i64>,
    last_evict: i64,
    event_clock: bool,
    /// Thresholds of the categories with overrides.
    resolved: HashMap<String, Thresholds>,
    /// The windows, in buckets, shortest first.
    windows: Vec<i64>,
    /// Distinct regions of the hierarchy: the region keys of a category
    /// share half its false-alert budget.
    regions: usize,
    /// Keys that received a report since their windows were last tested
    /// on arrival (`open_on_arrival`).
    touched: BTreeSet<Key>,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("keys", &self.keys.len())
            .field("max_ts", &self.max_ts)
            .field("late", &self.late)
            .finish()
    }
}

impl Detector {
    /// A detector. `parents` maps each region to its parent region
    /// (prefecture → province): alerts prefer the most specific region, and
    /// a key does not open while a related key (same category, ancestor or
    /// descendant region) has an alert open.
    pub fn new(config: DetectorConfig, parents: HashMap<String, String>) -> Self {
        let bucket_ms = i64::from(config.bucket_secs.max(1)) * 1000;
        let halflife_buckets =
            (f64::from(config.baseline_halflife_mins) * 60_000.0 / bucket_ms as f64).max(1.0);
        let resolved = config
            .categories
            .keys()
            .map(|c| (c.clone(), config.thresholds(c)))
            .collect();
        let mut windows: Vec<i64> = config
            .windows_secs
            .iter()
            .map(|w| ((i64::from(*w) * 1000 + bucket_ms - 1) / bucket_ms).max(1))
            .collect();
        windows.sort_unstable();
        windows.dedup();
        windows.truncate(MAX_WINDOWS);
        if windows.is_empty() {
            windows.push(1);
        }
        let regions = count_regions(&parents);
        Detector {
            windows,
            regions,
            alpha: 1.0 - 0.5f64.powf(1.0 / halflife_buckets),
            bucket_ms,
            config,
            parents,
            keys: HashMap::new(),
            alerting: BTreeSet::new(),
            data: BTreeMap::new(),
            max_ts: None,
            next_close: None,
            started: None,
            late: 0,
            last_event_wall: None,
            last_evict: i64::MIN / 2,
            event_clock: false,
            resolved,
            touched: BTreeSet::new(),
        }
    }

    /// Replaces the region hierarchy (after a dictionary reload changed the
    /// gazetteer). Counts, baselines and open alerts stay; keys of regions
    /// no longer known simply stop receiving reports and are evicted when
    /// idle.
    pub fn set_region_parents(&mut self, parents: HashMap<String, String>) {
        self.regions = count_regions(&parents);
        self.parents = parents;
    }

    /// The windows every key is tested over, seconds, shortest first.
    pub fn windows_secs(&self) -> Vec<u32> {
        self.windows
            .iter()
            .map(|w| u32::try_from(w * self.bucket_ms / 1000).unwrap_or(u32::MAX))
            .collect()
    }

    /// The fewest independent reports a window of `window_secs` needs to
    /// open an alert for `key` when the key's baseline is `baseline`
    /// reports per bucket: the minimum the false-alert budget calibrates
    /// (with `min_count`, `min_ratio` and `z`). `None` when no such window
    /// is configured.
    pub fn minimum_count(&self, key: &Key, baseline: f64, window_secs: u32) -> Option<u64> {
        let w = ((i64::from(window_secs) * 1000 + self.bucket_ms - 1) / self.bucket_ms).max(1);
        if !self.windows.contains(&w) {
            return None;
        }
        let t = self.tester(key, &self.thresholds(&key.category));
        Some(t.minimum(w, t.model(baseline, w)))
    }

    /// The parameters of the window tests of one key.
    fn tester(&self, key: &Key, t: &Thresholds) -> Tester {
        // Half of a category's budget for the category as a whole, half
        // shared by its regions; each share split evenly over the windows.
        let share = match key.region {
            None => 0.5,
            Some(_) => 0.5 / self.regions.max(1) as f64,
        };
        let mut windows = [0i64; MAX_WINDOWS];
        let n = self.windows.len().min(MAX_WINDOWS);
        windows[..n].copy_from_slice(&self.windows[..n]);
        Tester {
            windows,
            n,
            floor: self.config.baseline_floor,
            buckets_per_day: 86_400_000.0 / self.bucket_ms as f64,
            budget: t.false_alerts_per_day * share / n.max(1) as f64,
            dispersion: t.dispersion,
            z: t.z,
            min_count: u64::from(t.min_count.max(1)),
            min_ratio: t.min_ratio,
            // A key with a long history (its baseline's full memory).
            memory: 1.0 / self.alpha,
            lookback: (BASELINE_LOOKBACK_MS / self.bucket_ms).max(1),
        }
    }

    /// Stamps `emitted_at` with the stream's own time (the newest event
    /// seen) instead of the wall clock: for replays and backtests, where it
    /// says when a live run would have emitted the message.
    pub fn use_event_clock(&mut self) {
        self.event_clock = true;
    }

    /// The configuration.
    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    /// Posts that arrived after their bucket was closed (not counted).
    pub fn late(&self) -> u64 {
        self.late
    }

    /// Keys tracked.
    pub fn keys(&self) -> usize {
        self.keys.len()
    }

    /// Alerts currently open.
    pub fn open_alerts(&self) -> usize {
        self.alerting.len()
    }

    fn bucket(&self, ts_ms: i64) -> i64 {
        ts_ms.div_euclid(self.bucket_ms)
    }

    fn thresholds(&self, category: &str) -> Thresholds {
        match self.resolved.get(category) {
            Some(t) => t.clone(),
            None => self.config.thresholds.clone(),
        }
    }

    /// Counts a scored post: a flagged one as a report (unless it repeats a
    /// recent one), any post as the passing of time. Returns false when a
    /// flagged post arrived too late for its bucket.
    ///
    /// `normalized` is the post's normalised text, as the scoring stage
    /// analysed it: repeats are recognised on it, so a 繁體 or full-width
    /// copy of a report is the same report. (Text that needs no folding may
    /// be passed as it is.)
    pub fn observe(&mut self, post: &ScoredPost, normalized: &str) -> bool {
        if !self.config.enabled {
            return true;
        }
        let ts = post.post.ts.as_millis();
        if post.categories.is_empty() {
            self.observe_time(ts);
            return true;
        }
        if !self.observe_time(ts) {
            self.late += 1;
            return false;
        }
        let b = self.bucket(ts);
        let hash = simhash(normalized);
        let author = post.post.author.as_deref().map(|a| {
            u64::from_le_bytes(
                blake3::hash(a.as_bytes()).as_bytes()[..8]
                    .try_into()
                    .unwrap_or([0; 8]),
            )
        });
        let report = Report {
            id: &post.post.id,
            ts_ms: ts,
            author,
            level: post.severity.as_ref().map(|s| s.level),
            regions: &post.regions,
        };
        let window = i64::from(self.config.dedup_window_mins) * 60_000 / self.bucket_ms;
        let bits = self.config.dedup_bits;
        let prior = self.config.prior;
        for c in &post.categories {
            let keys = std::iter::once(None).chain(post.regions.iter().map(|r| Some(r.clone())));
            for region in keys {
                let key = Key {
                    category: c.id.clone(),
                    region,
                };
                let state = self
                    .keys
                    .entry(key.clone())
                    .or_insert_with(|| KeyState::new(prior, b));
                state.last_seen = state.last_seen.max(b);
                // A repost or copy of a recent report of this key is not a
                // new report.
                while state.recent.front().is_some_and(|(_, rb)| *rb < b - window) {
                    state.recent.pop_front();
                }
                if state.recent.iter().any(|(h, _)| distance(*h, hash) <= bits) {
                    continue;
                }
                let tally = state.open.entry(b).or_default();
                // One author counts once per bucket.
                if let Some(a) = author
                    && tally.authors.contains(&a)
                {
                    continue;
                }
                state.recent.push_back((hash, b));
                if state.recent.len() > RECENT {
                    state.recent.pop_front();
                }
                tally.add_report(&report, c.score, &c.terms);
                if self.config.open_on_arrival {
                    self.touched.insert(key.clone());
                }
                self.data.entry(b).or_default().insert(key);
            }
        }
        true
    }

    /// Moves the stream's clock to an event at `ts_ms` (any post counts,
    /// flagged or not: the warm-up and the watermark follow the whole
    /// stream). Returns false when that time's bucket is already closed.
    pub fn observe_time(&mut self, ts_ms: i64) -> bool {
        let b = self.bucket(ts_ms);
        if let Some(nc) = self.next_close
            && b < nc
        {
            return false;
        }
        self.max_ts = Some(self.max_ts.map_or(ts_ms, |m| m.max(ts_ms)));
        if self.next_close.is_none() {
            self.next_close = Some(b);
            self.started = Some(b);
        }
        self.last_event_wall = Some(Timestamp::now().as_millis());
        true
    }

    /// Closes every bucket the watermark (newest event − allowed lateness)
    /// has passed; returns the alert messages due, in order.
    pub fn advance(&mut self) -> Vec<Alert> {
        match self.max_ts {
            Some(max_ts) => self.advance_to(max_ts),
            None => Vec::new(),
        }
    }

    /// Like [`Detector::advance`], with the stream's time given: for a
    /// source of several partitions, the oldest of their newest event
    /// times, so that a partition read behind the others is not late.
    pub fn advance_to(&mut self, event_ms: i64) -> Vec<Alert> {
        let Some(max_ts) = self.max_ts else {
            return Vec::new();
        };
        let watermark = event_ms.min(max_ts) - i64::from(self.config.allowed_lateness_secs) * 1000;
        let mut out = self.close_until(watermark.div_euclid(self.bucket_ms));
        if self.config.open_on_arrival {
            out.extend(self.open_on_arrival());
        }
        out
    }

    /// Tests the windows of the keys that received reports, with their
    /// newest bucket still open, and opens the alerts whose windows
    /// already exceed: the alert the bucket's close would open, opened as
    /// soon as its report arrived. (Counts only grow while a bucket is
    /// open, and the baseline a window is tested against does not move
    /// until it closes, so an alert opened here is one the close would
    /// have opened; only earlier.)
    fn open_on_arrival(&mut self) -> Vec<Alert> {
        let mut out = Vec::new();
        let Some(next_close) = self.next_close else {
            return out;
        };
        let touched = std::mem::take(&mut self.touched);
        let (alpha, w, bucket_ms) = (self.alpha, self.config.seasonal_weight, self.bucket_ms);
        let warm_from = self.warm_from();
        // Each with its closed buckets and, last, the open one (as tested).
        let mut candidates: Vec<(Key, i64, Hit, VecDeque<Closed>)> = Vec::new();
        for key in touched {
            if self.alerting.contains(&key) || self.related_open(&key) {
                continue;
            }
            let thresholds = self.thresholds(&key.category);
            let mut tester = self.tester(&key, &thresholds);
            let gate = Gate::new(warm_from, &thresholds);
            let Some(state) = self.keys.get_mut(&key) else {
                continue;
            };
            // One open bucket: the newest. With an older one still open
            // (within the allowed lateness), the older closes first; the
            // key is tested again then.
            let b = match (state.open.len(), state.open.keys().next()) {
                (1, Some(&b)) => b,
                (0, _) => continue,
                _ => {
                    self.touched.insert(key);
                    continue;
                }
            };
            if b < next_close || !gate.in_time(b, state.cooldown_until) || state.alert.is_some() {
                continue;
            }
            let Some(tally) = state.open.get(&b).cloned() else {
                continue;
            };
            let mu = state.baseline.at(b, alpha, w, bucket_ms, false).max(1e-3);
            tester.memory = state.baseline.memory(alpha);
            let mut closed = state.closed.clone();
            closed.push_back(Closed {
                bucket: b,
                tally,
                z: 0.0,
                exceed: true,
                absorbed: false,
                mu,
            });
            let Some(hit) = tester.exceeding(&closed, b, mu, tester.longest(), false) else {
                continue;
            };
            // This bucket exceeds; `k` of the last `n` must.
            if gate.k_of_n(&closed, b) {
                candidates.push((key, b, hit, closed));
            }
        }
        if candidates.is_empty() {
            return out;
        }
        let now = match (self.event_clock, self.max_ts) {
            (true, Some(max_ts)) => rfc3339(max_ts),
            _ => Timestamp::now().to_string(),
        };
        // The most specific key first, as when buckets close.
        candidates.sort_by_key(|(k, ..)| std::cmp::Reverse(self.depth(k)));
        for (key, b, hit, closed) in candidates {
            if self.related_open(&key) || self.narrower_holds_most(&key, b, &hit) {
                continue;
            }
            out.extend(self.open(key, b, Some(hit), Some(closed), &now));
        }
        out
    }

    /// For a live stream in a silence: moves event time on by the wall
    /// clock since the last event (when `idle_advance` is on), so that
    /// quiet alerts resolve.
    pub fn tick(&mut self, now_ms: i64) -> Vec<Alert> {
        if !self.config.idle_advance {
            return Vec::new();
        }
        let (Some(max_ts), Some(last)) = (self.max_ts, self.last_event_wall) else {
            return Vec::new();
        };
        if now_ms - last < self.bucket_ms {
            return Vec::new();
        }
        self.max_ts = Some(max_ts + (now_ms - last));
        self.last_event_wall = Some(now_ms);
        self.advance()
    }

    /// Closes every bucket (end of a replay); alerts still quiet enough
    /// stay open.
    pub fn finish(&mut self) -> Vec<Alert> {
        let Some(max_ts) = self.max_ts else {
            return Vec::new();
        };
        self.close_until(max_ts.div_euclid(self.bucket_ms) + 1)
    }

    fn resolve_buckets(&self, category: &str) -> i64 {
        (i64::from(self.thresholds(category).resolve_after_mins) * 60_000 / self.bucket_ms).max(1)
    }

    /// Closes the buckets before `limit`, skipping those where nothing
    /// happens.
    fn close_until(&mut self, limit: i64) -> Vec<Alert> {
        let mut out = Vec::new();
        let Some(mut nc) = self.next_close else {
            return out;
        };
        while nc < limit {
            let next_data = self.data.range(nc..).next().map(|(b, _)| *b);
            let next_resolve = self
                .alerting
                .iter()
                .filter_map(|k| {
                    let a = self.keys.get(k)?.alert.as_ref()?;
                    Some(a.last_active + self.resolve_buckets(&k.category))
                })
                .min();
            let b = [next_data, next_resolve]
                .into_iter()
                .flatten()
                .min()
                .map_or(limit, |b| b.max(nc));
            if b >= limit {
                nc = limit;
                break;
            }
            out.extend(self.close_bucket(b));
            nc = b + 1;
            if b - self.last_evict >= 60 {
                self.last_evict = b;
                self.evict(b);
            }
        }
        self.next_close = Some(nc);
        out
    }

    /// Whether most of the reports in `hit`'s window of `key` (a category
    /// or a province) name one narrower region: then the alert is that
    /// region's, and it opens when that region's own window exceeds (on
    /// arrival or when the bucket closes), not now for the wider key.
    fn narrower_holds_most(&self, key: &Key, b: i64, hit: &Hit) -> bool {
        let depth = self.depth(key);
        self.keys.iter().any(|(k, state)| {
            if k == key || self.depth(k) <= depth || !self.is_related(k, key) {
                return false;
            }
            let closed: u64 = state
                .closed
                .iter()
                .filter(|c| c.bucket > b - hit.window)
                .map(|c| c.tally.count)
                .sum();
            let open: u64 = state
                .open
                .range(b - hit.window + 1..)
                .map(|(_, t)| t.count)
                .sum();
            2 * (closed + open) > hit.count
        })
    }

    fn is_related(&self, a: &Key, b: &Key) -> bool {
        if a.category != b.category {
            return false;
        }
        match (&a.region, &b.region) {
            (None, _) | (_, None) => true,
            (Some(x), Some(y)) => {
                x == y || self.parents.get(x) == Some(y) || self.parents.get(y) == Some(x)
            }
        }
    }

    fn depth(&self, k: &Key) -> u8 {
        match &k.region {
            None => 0,
            Some(r) if self.parents.contains_key(r) => 2,
            Some(_) => 1,
        }
    }

    /// Whether an alert of a key related to `key` (not `key` itself) is
    /// open.
    fn related_open(&self, key: &Key) -> bool {
        self.alerting
            .iter()
            .any(|k| k != key && self.is_related(k, key))
    }

    /// The keys related to `key` (not `key` itself) with an alert open.
    fn related_alerting(&self, key: &Key) -> Vec<Key> {
        self.alerting
            .iter()
            .filter(|k| *k != key && self.is_related(k, key))
            .cloned()
            .collect()
    }

    /// The first bucket after the stream's warm-up.
    fn warm_from(&self) -> Option<i64> {
        self.started
            .map(|s| s + i64::from(self.config.warmup_buckets))
    }

    /// Closes bucket `b` of every key with reports in it or an alert open,
    /// then acts on what the keys found: confirmations of related alerts,
    /// then the alerts that open.
    fn close_bucket(&mut self, b: i64) -> Vec<Alert> {
        let mut keys: BTreeSet<Key> = self.data.remove(&b).unwrap_or_default();
        keys.extend(self.alerting.iter().cloned());
        let now = if self.event_clock {
            // When the watermark passed the bucket's end: when a live run
            // would have closed it.
            let closed_at =
                (b + 1) * self.bucket_ms + i64::from(self.config.allowed_lateness_secs) * 1000;
            rfc3339(self.max_ts.map_or(closed_at, |m| m.min(closed_at)))
        } else {
            Timestamp::now().to_string()
        };
        let mut out = Vec::new();
        let mut candidates: Vec<(Key, Option<Hit>)> = Vec::new();
        let mut confirmations: Vec<(Key, Hit)> = Vec::new();
        for key in keys {
            match self.close_key(&key, b, &now, &mut out) {
                Some(Found::Candidate(hit)) => candidates.push((key, hit)),
                Some(Found::Confirmation(hit)) => confirmations.push((key, hit)),
                None => {}
            }
        }
        // A burst of a key whose related key has a severity alert open
        // confirms that alert.
        for (key, hit) in confirmations {
            for r in self.related_alerting(&key) {
                out.extend(self.confirm(&r, &hit, b, &now));
            }
        }
        self.open_candidates(b, candidates, &now, &mut out);
        out
    }

    /// Closes bucket `b` of `key`: the bucket's reports join the key's
    /// closed buckets; then its open alert takes them in and is updated or
    /// resolves ([`Closing::carry_alert`]), or, without one, the key is
    /// tested for a burst ([`Closing::test_quiet`]). Messages go to `out`;
    /// what may open or confirm an alert is returned.
    fn close_key(&mut self, key: &Key, b: i64, now: &str, out: &mut Vec<Alert>) -> Option<Found> {
        let thresholds = self.thresholds(&key.category);
        let resolve = self.resolve_buckets(&key.category);
        let tester = self.tester(key, &thresholds);
        let gate = Gate::new(self.warm_from(), &thresholds);
        // A related key's alert is open: this key's reports are part of
        // that incident.
        let related_open = self.related_open(key);
        let bucket_ms = self.bucket_ms;
        let keep = tester
            .longest()
            .max(i64::from(thresholds.n))
            .max(severity_window(&thresholds, bucket_ms));
        let (alpha, w) = (self.alpha, self.config.seasonal_weight);
        let freeze = (i64::from(self.config.max_freeze_mins) * 60_000 / bucket_ms).max(1);
        let state = self.keys.get_mut(key)?;
        let tally = state.take_open(b);
        let frozen = state
            .alert
            .as_ref()
            .is_some_and(|a| b - a.start_bucket < freeze);
        let mu = state.baseline.at(b, alpha, w, bucket_ms, frozen).max(1e-3);
        let mut cx = Closing {
            key,
            b,
            mu,
            frozen,
            count: tally.count,
            severe: tally.orange > 0,
            tester,
            gate,
            thresholds,
            related_open,
            alpha,
            bucket_ms,
            now,
        };
        cx.tester.memory = state.baseline.memory(alpha);
        if cx.count > 0 {
            state.closed.push_back(Closed {
                bucket: b,
                tally,
                z: 0.0,
                exceed: false,
                absorbed: related_open,
                mu,
            });
        }
        while state.closed.front().is_some_and(|c| c.bucket <= b - keep) {
            state.closed.pop_front();
        }
        if state.alert.is_none() {
            return cx.test_quiet(state);
        }
        if let Some(msg) = cx.carry_alert(state, resolve) {
            if msg.state == AlertState::Resolved {
                self.alerting.remove(key);
            }
            out.push(msg);
        }
        None
    }

    /// Opens the alerts of the candidates of bucket `b`, the most specific
    /// keys first; a key does not open while a related one is open (a
    /// burst of a related key confirms it).
    fn open_candidates(
        &mut self,
        b: i64,
        mut candidates: Vec<(Key, Option<Hit>)>,
        now: &str,
        out: &mut Vec<Alert>,
    ) {
        candidates.sort_by_key(|(k, _)| std::cmp::Reverse(self.depth(k)));
        for (key, hit) in candidates {
            let related = self.related_alerting(&key);
            if related.is_empty() {
                out.extend(self.open(key, b, hit, None, now));
                continue;
            }
            if let Some(h) = hit {
                for r in related {
                    out.extend(self.confirm(&r, &h, b, now));
                }
            }
            if let Some(last) = self
                .keys
                .get_mut(&key)
                .and_then(|s| s.closed.back_mut())
                .filter(|c| c.bucket == b)
            {
                last.absorbed = true;
            }
        }
    }

    /// Opens `key`'s alert at bucket `b`, by the window test `hit` or by
    /// severity (`None`), and returns its `open` message. On arrival,
    /// `arrival` holds the key's closed buckets followed by the still-open
    /// bucket `b`, as the window test saw them: the message counts that
    /// bucket too, and the alert takes it in when it closes.
    fn open(
        &mut self,
        key: Key,
        b: i64,
        hit: Option<Hit>,
        mut arrival: Option<VecDeque<Closed>>,
        now: &str,
    ) -> Option<Alert> {
        let thresholds = self.thresholds(&key.category);
        let tester = self.tester(&key, &thresholds);
        let bucket_ms = self.bucket_ms;
        let (alpha, w) = (self.alpha, self.config.seasonal_weight);
        let severity_window = severity_window(&thresholds, bucket_ms);
        let state = self.keys.get_mut(&key)?;
        let start = match &hit {
            Some(h) => tester.start(arrival.as_ref().unwrap_or(&state.closed), b, h),
            // From the first severe report in the severity window.
            None => state
                .closed
                .iter()
                .find(|c| c.bucket > b - severity_window && c.tally.orange > 0)
                .map_or(b, |c| c.bucket),
        };
        let pending = arrival.as_mut().and_then(VecDeque::pop_back);
        // The alert holds the closed buckets of the burst.
        let mut tally = Tally::default();
        for c in arrival
            .as_ref()
            .unwrap_or(&state.closed)
            .iter()
            .filter(|c| c.bucket >= start && !c.absorbed)
        {
            tally.merge(&c.tally);
        }
        let baseline = state.baseline.at(b, alpha, w, bucket_ms, true);
        let mut alert = OpenAlert::new(&key, start, b, tally, baseline, hit.as_ref(), bucket_ms);
        let shown = pending.map(|p| {
            let mut shown = alert.clone();
            shown.tally.merge(&p.tally);
            shown
        });
        let view = shown.as_ref().unwrap_or(&alert);
        let msg = message(&key, view, AlertState::Open, bucket_ms, now);
        let emitted = (
            view.tally.count,
            alert_level(&view.tally),
            view.tally.regions_with(thresholds.update_region_reports),
        );
        (
            alert.emitted_count,
            alert.emitted_level,
            alert.emitted_regions,
        ) = emitted;
        state.alert = Some(alert);
        self.mark_open(key, start);
        Some(msg)
    }

    /// Records that `key` has an alert open from bucket `start`: the
    /// related keys' reports since then are this incident's, and do not
    /// open another alert later.
    fn mark_open(&mut self, key: Key, start: i64) {
        let related: Vec<Key> = self
            .keys
            .keys()
            .filter(|k| *k != &key && self.is_related(k, &key))
            .cloned()
            .collect();
        for r in related {
            if let Some(s) = self.keys.get_mut(&r) {
                for c in s.closed.iter_mut().filter(|c| c.bucket >= start) {
                    c.absorbed = true;
                }
            }
        }
        self.alerting.insert(key);
    }

    /// A burst test passed for a key related to `key`, whose alert is
    /// open: if that alert was opened by severity and not yet confirmed,
    /// this confirms it.
    fn confirm(&mut self, key: &Key, hit: &Hit, b: i64, now: &str) -> Option<Alert> {
        let bucket_ms = self.bucket_ms;
        let alert = self.keys.get_mut(key)?.alert.as_mut()?;
        if alert.confirmed {
            return None;
        }
        alert.confirmed = true;
        alert.window_secs = Some(hit.secs(bucket_ms));
        alert.last_active = alert.last_active.max(b);
        alert.emitted_count = alert.tally.count;
        alert.emitted_level = alert_level(&alert.tally);
        alert.emitted_bucket = b;
        Some(alert.next(key, AlertState::Update, bucket_ms, now))
    }

    fn evict(&mut self, b: i64) {
        let idle = i64::from(self.config.evict_idle_hours) * 3_600_000 / self.bucket_ms;
        self.keys
            .retain(|_, s| s.alert.is_some() || !s.open.is_empty() || s.last_seen >= b - idle);
        if self.keys.len() > self.config.max_keys {
            let mut idle: Vec<(i64, Key)> = self
                .keys
                .iter()
                .filter(|(_, s)| s.alert.is_none() && s.open.is_empty())
                .map(|(k, s)| (s.last_seen, k.clone()))
                .collect();
            idle.sort();
            let excess = self.keys.len() - self.config.max_keys;
            for (_, k) in idle.into_iter().take(excess) {
                self.keys.remove(&k);
            }
        }
    }
}

impl Closing<'_> {
    /// Carries `state`'s open alert over the bucket: it takes the bucket's
    /// reports in, stays active while a window no longer than the one that
    /// opened it exceeds, and resolves after `resolve` quiet buckets;
    /// returns the `update` or `resolved` message due, if any.
    fn carry_alert(&self, state: &mut KeyState, resolve: i64) -> Option<Alert> {
        let (b, bucket_ms) = (self.b, self.bucket_ms);
        let reported = self.count > 0;
        let KeyState {
            closed,
            alert,
            baseline,
            ..
        } = &mut *state;
        let alert = alert.as_mut()?;
        if reported && let Some(last) = closed.back() {
            alert.tally.merge(&last.tally);
        }
        alert.last_bucket = b;
        // Still going on: a window no longer than the one that opened the
        // alert exceeds (a severity alert: any window, or another severe
        // report).
        let longest = match (alert.confirmed, alert.window_secs) {
            (true, Some(secs)) => (i64::from(secs) * 1000 / bucket_ms).max(1),
            _ => self.tester.longest(),
        };
        let hit = if reported {
            self.tester.exceeding(closed, b, self.mu, longest, true)
        } else {
            None
        };
        if let (Some(h), Some(last)) = (&hit, closed.back_mut()) {
            last.exceed = true;
            last.z = h.z;
        }
        if hit.is_some() || (alert.trigger == Trigger::Severity && self.severe) {
            alert.last_active = b;
        }
        if let Some(h) = &hit {
            alert.z_max = alert.z_max.max(h.z);
        }
        let confirmation = match &hit {
            Some(h) if !alert.confirmed => {
                alert.confirmed = true;
                alert.window_secs = Some(h.secs(bucket_ms));
                true
            }
            _ => false,
        };
        if self.frozen {
            baseline.hold(b, self.mu);
        } else {
            baseline.learn(b, self.count as f64, self.alpha);
        }
        let t = &self.thresholds;
        if !confirmation && b - alert.last_active >= resolve {
            let msg = alert.next(self.key, AlertState::Resolved, bucket_ms, self.now);
            state.cooldown_until = b + i64::from(t.cooldown_mins) * 60_000 / bucket_ms;
            state.alert = None;
            return Some(msg);
        }
        let level = alert_level(&alert.tally);
        let grew = alert.tally.count as f64 >= (1.0 + t.update_growth) * alert.emitted_count as f64;
        let spaced =
            b - alert.emitted_bucket >= i64::from(t.update_every_mins) * 60_000 / bucket_ms;
        let regions = if t.update_region_reports > 0 {
            alert.tally.regions_with(t.update_region_reports)
        } else {
            BTreeSet::new()
        };
        let spread = !regions.is_subset(&alert.emitted_regions);
        if !(confirmation || (spaced && (grew || level > alert.emitted_level || spread))) {
            return None;
        }
        alert.emitted_count = alert.tally.count;
        alert.emitted_level = level;
        alert.emitted_bucket = b;
        alert.emitted_regions = regions;
        Some(alert.next(self.key, AlertState::Update, bucket_ms, self.now))
    }

    /// Tests a key without an alert open for a burst over the bucket, and
    /// for a severity trigger; learns the bucket into its baseline unless
    /// it is a burst (a burst does not raise its own baseline).
    fn test_quiet(&self, state: &mut KeyState) -> Option<Found> {
        let b = self.b;
        let reported = self.count > 0;
        let t = &self.thresholds;
        // While a related alert is open, a burst here confirms it (and
        // cannot open another).
        let hit = if reported {
            self.tester.exceeding(
                &state.closed,
                b,
                self.mu,
                self.tester.longest(),
                self.related_open,
            )
        } else {
            None
        };
        if let (Some(h), Some(last)) = (&hit, state.closed.back_mut()) {
            last.exceed = true;
            last.z = h.z;
        }
        let warming = self.gate.warming(b);
        let burst = hit.is_some()
            && self.gate.in_time(b, state.cooldown_until)
            && self.gate.k_of_n(&state.closed, b);
        let severity = t.severity_trigger && self.severe && b >= state.cooldown_until && {
            let window = severity_window(t, self.bucket_ms);
            let (orange, red) = state
                .closed
                .iter()
                .rev()
                .take_while(|c| c.bucket > b - window)
                .fold((0, 0), |(o, r), c| (o + c.tally.orange, r + c.tally.red));
            (t.severity_red > 0 && red >= t.severity_red)
                || (t.severity_orange > 0 && orange >= t.severity_orange)
        };
        if warming || hit.is_none() {
            state.baseline.learn(b, self.count as f64, self.alpha);
        } else {
            state.baseline.hold(b, self.mu);
        }
        if self.related_open {
            hit.filter(|_| !warming).map(Found::Confirmation)
        } else if burst || severity {
            Some(Found::Candidate(if burst { hit } else { None }))
        } else {
            None
        }
    }
}

/// How far back severe reports are counted for a severity trigger, buckets.
fn severity_window(t: &Thresholds, bucket_ms: i64) -> i64 {
    (i64::from(t.severity_window_mins) * 60_000 / bucket_ms).max(1)
}

/// Distinct regions in a hierarchy (prefectures and provinces), and at
/// least [`MIN_REGIONS`].
fn count_regions(parents: &HashMap<String, String>) -> usize {
    let all: HashSet<&String> = parents.keys().chain(parents.values()).collect();
    all.len().max(MIN_REGIONS)
}
