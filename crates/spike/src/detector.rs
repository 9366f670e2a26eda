//! Counting independent reports per key in event-time buckets, baselines,
//! and the alert lifecycle.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use serde::{Deserialize, Serialize};
use yuqing_model::{Level, ScoredPost, Timestamp};

use crate::alert::{Alert, AlertState, SCHEMA_VERSION, Trigger};
use crate::config::{DetectorConfig, MAX_WINDOWS, Thresholds};
use crate::simhash::{distance, simhash};
use crate::stats::{Counts, chance_per_day};

/// What is counted: a category, or a category in a region.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key {
    /// Category id.
    pub category: String,
    /// Canonical region name; `None` for the category as a whole.
    pub region: Option<String>,
}

/// Pseudo-observations the prior counts as, so that a handful of early
/// reports do not make a sparse key's baseline jump.
const PRIOR_WEIGHT: f64 = 60.0;
/// Reports kept as samples per bucket and per alert.
const SAMPLES: usize = 10;
/// Distinct terms counted per bucket and per alert.
const TERMS: usize = 64;
/// Authors remembered per alert (distinct-author counts above it are
/// lower bounds).
const AUTHORS: usize = 100_000;
/// Recent report hashes kept per key for near-duplicate detection.
const RECENT: usize = 4_096;
/// Distinct regions counted per bucket and per alert.
const REGIONS: usize = 64;
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
/// The snapshot format written; 0 (no version) is the format before
/// multi-scale windows, which is read as well.
const SNAPSHOT_VERSION: u32 = 2;
/// Regions listed in an alert message.
const LISTED_REGIONS: usize = 20;

/// One report, as a bucket or an alert keeps it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Tally {
    count: u64,
    authors: HashSet<u64>,
    /// (score, post id), highest first.
    sample: Vec<(f32, String)>,
    terms: HashMap<String, u32>,
    /// (ts ms, post id) of the earliest report.
    first: Option<(i64, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_level: Option<Level>,
    /// Reports naming each region.
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    regions: HashMap<String, u32>,
    /// Reports graded orange or red, and red.
    #[serde(default, skip_serializing_if = "is_zero")]
    orange: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    red: u32,
}

impl Tally {
    fn add_report(&mut self, r: &Report<'_>, score: f32, terms: &[String]) {
        self.count += 1;
        if let Some(a) = r.author
            && self.authors.len() < AUTHORS
        {
            self.authors.insert(a);
        }
        if self.sample.len() < SAMPLES || self.sample.last().is_some_and(|(s, _)| score > *s) {
            let at = self.sample.partition_point(|(s, _)| *s >= score);
            self.sample.insert(at, (score, r.id.to_string()));
            self.sample.truncate(SAMPLES);
        }
        for t in terms {
            bump(&mut self.terms, t, 1, TERMS);
        }
        if self.first.as_ref().is_none_or(|(ts, _)| r.ts_ms < *ts) {
            self.first = Some((r.ts_ms, r.id.to_string()));
        }
        self.max_level = self.max_level.max(r.level);
        if r.level >= Some(Level::Orange) {
            self.orange += 1;
        }
        if r.level == Some(Level::Red) {
            self.red += 1;
        }
        for region in r.regions {
            bump(&mut self.regions, region, 1, REGIONS);
        }
    }

    /// Regions named by at least `min` reports.
    fn regions_with(&self, min: u32) -> BTreeSet<String> {
        self.regions
            .iter()
            .filter(|(_, n)| **n >= min.max(1))
            .map(|(r, _)| r.clone())
            .collect()
    }

    fn merge(&mut self, other: &Tally) {
        self.count += other.count;
        for a in &other.authors {
            if self.authors.len() >= AUTHORS {
                break;
            }
            self.authors.insert(*a);
        }
        for (s, id) in &other.sample {
            if !self.sample.iter().any(|(_, x)| x == id) {
                self.sample.push((*s, id.clone()));
            }
        }
        self.sample
            .sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        self.sample.truncate(SAMPLES);
        for (t, n) in &other.terms {
            bump(&mut self.terms, t, *n, TERMS);
        }
        if let Some((ts, id)) = &other.first
            && self.first.as_ref().is_none_or(|(t, _)| ts < t)
        {
            self.first = Some((*ts, id.clone()));
        }
        self.max_level = self.max_level.max(other.max_level);
        self.orange += other.orange;
        self.red += other.red;
        for (r, n) in &other.regions {
            bump(&mut self.regions, r, *n, REGIONS);
        }
    }
}

/// Adds `n` to `key`'s count; a new key only while the map holds fewer
/// than `cap`.
fn bump(counts: &mut HashMap<String, u32>, key: &str, n: u32, cap: usize) {
    if let Some(m) = counts.get_mut(key) {
        *m += n;
    } else if counts.len() < cap {
        counts.insert(key.to_string(), n);
    }
}

struct Report<'a> {
    id: &'a str,
    ts_ms: i64,
    author: Option<u64>,
    level: Option<Level>,
    regions: &'a [String],
}

/// A burst being reported.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct OpenAlert {
    id: String,
    start_bucket: i64,
    last_bucket: i64,
    last_active: i64,
    tally: Tally,
    baseline: f64,
    z_max: f64,
    emitted_count: u64,
    emitted_level: Level,
    emitted_bucket: i64,
    /// Regions named by `update_region_reports` reports as of the last
    /// message.
    #[serde(default)]
    emitted_regions: BTreeSet<String>,
    /// What opened it.
    #[serde(default)]
    trigger: Trigger,
    /// Whether a burst test has passed for it (always for a burst alert).
    #[serde(default = "yes")]
    confirmed: bool,
    /// The window that opened (or confirmed) it, seconds.
    #[serde(default)]
    window_secs: Option<u32>,
}

fn yes() -> bool {
    true
}

// Defaults left out of snapshots (they are read back as defaults).
fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_zero_f64(x: &f64) -> bool {
    *x == 0.0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A closed bucket with reports, kept for the longest window (and for the
/// alert that may open on it).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Closed {
    bucket: i64,
    tally: Tally,
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    z: f64,
    #[serde(default, skip_serializing_if = "is_false")]
    exceed: bool,
    /// Counted by an alert of a related key (the same incident): not
    /// counted again towards an alert of this one.
    #[serde(default, skip_serializing_if = "is_false")]
    absorbed: bool,
    /// The key's baseline when the bucket closed, before learning from it
    /// (0: not known, from an older snapshot).
    #[serde(default)]
    mu: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct KeyState {
    /// Recent-history baseline (reports per bucket), as of `mu_bucket`.
    mu: f64,
    mu_bucket: i64,
    /// Buckets of history in `mu` (beyond the prior).
    history: f64,
    /// Same-hour-of-day baselines and how many days each has seen.
    slots: Vec<f64>,
    slot_days: Vec<u32>,
    /// The hour being accumulated (hour index since the epoch) and its sum.
    hour: i64,
    hour_sum: f64,
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
            mu: prior,
            mu_bucket: bucket - 1,
            history: 0.0,
            slots: vec![0.0; 24],
            slot_days: vec![0; 24],
            hour: i64::MIN,
            hour_sum: 0.0,
            open: BTreeMap::new(),
            closed: VecDeque::new(),
            alert: None,
            cooldown_until: i64::MIN,
            last_seen: bucket,
            recent: VecDeque::new(),
        }
    }
}

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

/// Why a snapshot cannot be restored.
#[derive(Debug, thiserror::Error)]
#[error("detector snapshot: {0}")]
pub struct SnapshotError(String);

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
        let mut candidates: Vec<(Key, i64, Hit, Closed)> = Vec::new();
        for key in touched {
            if self.alerting.contains(&key)
                || self
                    .alerting
                    .iter()
                    .any(|k| k != &key && self.is_related(k, &key))
            {
                continue;
            }
            let thresholds = self.thresholds(&key.category);
            let mut tester = self.tester(&key, &thresholds);
            let warmup = i64::from(self.config.warmup_buckets);
            let started = self.started;
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
            if b < next_close
                || b < state.cooldown_until
                || started.is_some_and(|s| b < s + warmup)
                || state.alert.is_some()
            {
                continue;
            }
            let Some(tally) = state.open.get(&b).cloned() else {
                continue;
            };
            let mu = baseline_at(state, b, alpha, w, bucket_ms, false).max(1e-3);
            tester.memory = 1.0 / alpha.max(1.0 / (PRIOR_WEIGHT + state.history));
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
            // `k` of the last `n` buckets must exceed (this one does).
            let n = i64::from(thresholds.n);
            let exceeding = closed
                .iter()
                .rev()
                .take_while(|c| c.bucket > b - n)
                .filter(|c| c.exceed)
                .count() as u32;
            if exceeding < thresholds.k {
                continue;
            }
            if let Some(last) = closed.pop_back() {
                candidates.push((key, b, hit, last));
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
        for (key, b, hit, open) in candidates {
            if self
                .alerting
                .iter()
                .any(|k| k != &key && self.is_related(k, &key))
                || self.narrower_holds_most(&key, b, &hit)
            {
                continue;
            }
            let thresholds = self.thresholds(&key.category);
            let tester = self.tester(&key, &thresholds);
            let Some(state) = self.keys.get_mut(&key) else {
                continue;
            };
            let mut closed = state.closed.clone();
            closed.push_back(open.clone());
            let start = tester.start(&closed, b, &hit);
            // The alert holds the closed buckets of the burst; the open
            // one joins it when it closes. The message counts both.
            let mut tally = Tally::default();
            for c in state
                .closed
                .iter()
                .filter(|c| c.bucket >= start && !c.absorbed)
            {
                tally.merge(&c.tally);
            }
            let baseline = baseline_at(state, b, alpha, w, bucket_ms, true);
            let mut alert = OpenAlert {
                id: alert_id(&key, start * bucket_ms),
                start_bucket: start,
                last_bucket: b,
                last_active: b,
                tally,
                baseline,
                z_max: hit.z,
                emitted_count: 0,
                emitted_level: Level::Blue,
                emitted_bucket: b,
                emitted_regions: BTreeSet::new(),
                trigger: Trigger::Burst,
                confirmed: true,
                window_secs: Some(hit.secs(bucket_ms)),
            };
            let mut shown = alert.clone();
            shown.tally.merge(&open.tally);
            shown.emitted_count = shown.tally.count;
            alert.emitted_count = shown.tally.count;
            alert.emitted_level = alert_level(&shown.tally);
            alert.emitted_regions = shown.tally.regions_with(thresholds.update_region_reports);
            out.push(message(&key, &shown, AlertState::Open, bucket_ms, &now));
            state.alert = Some(alert);
            self.mark_open(key, start);
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

    fn close_bucket(&mut self, b: i64) -> Vec<Alert> {
        let with_data = self.data.remove(&b).unwrap_or_default();
        let mut keys: BTreeSet<Key> = with_data;
        keys.extend(self.alerting.iter().cloned());
        let warming = self
            .started
            .is_some_and(|s| b < s + i64::from(self.config.warmup_buckets));
        let mut out = Vec::new();
        let mut candidates: Vec<(Key, Option<Hit>)> = Vec::new();
        let mut confirmations: Vec<(Key, Hit)> = Vec::new();
        let now = if self.event_clock {
            // When the watermark passed the bucket's end: when a live run
            // would have closed it.
            let closed_at =
                (b + 1) * self.bucket_ms + i64::from(self.config.allowed_lateness_secs) * 1000;
            rfc3339(self.max_ts.map_or(closed_at, |m| m.min(closed_at)))
        } else {
            Timestamp::now().to_string()
        };
        let (alpha, w, bucket_ms) = (self.alpha, self.config.seasonal_weight, self.bucket_ms);
        let freeze = (i64::from(self.config.max_freeze_mins) * 60_000 / bucket_ms).max(1);
        for key in keys {
            let thresholds = self.thresholds(&key.category);
            let resolve = self.resolve_buckets(&key.category);
            let tester = self.tester(&key, &thresholds);
            // A related key's alert is open: this key's reports are part
            // of that incident.
            let related_open = self
                .alerting
                .iter()
                .any(|k| k != &key && self.is_related(k, &key));
            let severity_window =
                (i64::from(thresholds.severity_window_mins) * 60_000 / bucket_ms).max(1);
            let keep = tester
                .longest()
                .max(i64::from(thresholds.n))
                .max(severity_window);
            let Some(state) = self.keys.get_mut(&key) else {
                continue;
            };
            let mut tally = state.open.remove(&b).unwrap_or_default();
            // Buckets of this key older than b (a late arrival after a
            // skip) are folded into this one.
            let older: Vec<i64> = state.open.range(..b).map(|(k, _)| *k).collect();
            for o in older {
                if let Some(t) = state.open.remove(&o) {
                    tally.merge(&t);
                }
            }
            let c = tally.count as f64;
            let frozen = state
                .alert
                .as_ref()
                .is_some_and(|a| b - a.start_bucket < freeze);
            let mu = baseline_at(state, b, alpha, w, bucket_ms, frozen).max(1e-3);
            let mut tester = tester;
            tester.memory = 1.0 / alpha.max(1.0 / (PRIOR_WEIGHT + state.history));
            let reported = tally.count > 0;
            let severe = tally.orange > 0;
            if reported {
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
            let KeyState { closed, alert, .. } = &mut *state;
            match alert {
                Some(alert) => {
                    if reported && let Some(last) = closed.back() {
                        alert.tally.merge(&last.tally);
                    }
                    alert.last_bucket = b;
                    // Still going on: a window no longer than the one that
                    // opened the alert exceeds (a severity alert: any
                    // window, or another severe report).
                    let longest = match (alert.confirmed, alert.window_secs) {
                        (true, Some(secs)) => (i64::from(secs) * 1000 / bucket_ms).max(1),
                        _ => tester.longest(),
                    };
                    let hit = if reported {
                        tester.exceeding(closed, b, mu, longest, true)
                    } else {
                        None
                    };
                    if let (Some(h), Some(last)) = (&hit, closed.back_mut()) {
                        last.exceed = true;
                        last.z = h.z;
                    }
                    if hit.is_some() || (alert.trigger == Trigger::Severity && severe) {
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
                    if frozen {
                        // The baseline stays; the hour counts it, not the burst.
                        state.mu_bucket = b;
                        state.hour_sum += mu;
                    } else {
                        learn_fields(
                            &mut state.mu,
                            &mut state.history,
                            b,
                            &mut state.mu_bucket,
                            &mut state.hour_sum,
                            c,
                            alpha,
                        );
                    }
                    let Some(alert) = state.alert.as_mut() else {
                        continue;
                    };
                    if !confirmation && b - alert.last_active >= resolve {
                        let msg = message(&key, alert, AlertState::Resolved, bucket_ms, &now);
                        state.cooldown_until =
                            b + i64::from(thresholds.cooldown_mins) * 60_000 / bucket_ms;
                        state.alert = None;
                        self.alerting.remove(&key);
                        out.push(msg);
                    } else {
                        let level = alert_level(&alert.tally);
                        let grew = alert.tally.count as f64
                            >= (1.0 + thresholds.update_growth) * alert.emitted_count as f64;
                        let spaced = b - alert.emitted_bucket
                            >= i64::from(thresholds.update_every_mins) * 60_000 / bucket_ms;
                        let regions = if thresholds.update_region_reports > 0 {
                            alert.tally.regions_with(thresholds.update_region_reports)
                        } else {
                            BTreeSet::new()
                        };
                        let spread = !regions.is_subset(&alert.emitted_regions);
                        if confirmation
                            || (spaced && (grew || level > alert.emitted_level || spread))
                        {
                            alert.emitted_count = alert.tally.count;
                            alert.emitted_level = level;
                            alert.emitted_bucket = b;
                            alert.emitted_regions = regions;
                            out.push(message(&key, alert, AlertState::Update, bucket_ms, &now));
                        }
                    }
                }
                None => {
                    // While a related alert is open, a burst here confirms
                    // it (and cannot open another).
                    let hit = if reported {
                        tester.exceeding(closed, b, mu, tester.longest(), related_open)
                    } else {
                        None
                    };
                    if let (Some(h), Some(last)) = (&hit, closed.back_mut()) {
                        last.exceed = true;
                        last.z = h.z;
                    }
                    let n = i64::from(thresholds.n);
                    let exceeding = closed
                        .iter()
                        .rev()
                        .take_while(|c| c.bucket > b - n)
                        .filter(|c| c.exceed)
                        .count() as u32;
                    let burst = !warming && hit.is_some() && exceeding >= thresholds.k;
                    let severity = thresholds.severity_trigger && severe && {
                        let (orange, red) = closed
                            .iter()
                            .rev()
                            .take_while(|c| c.bucket > b - severity_window)
                            .fold((0, 0), |(o, r), c| (o + c.tally.orange, r + c.tally.red));
                        (thresholds.severity_red > 0 && red >= thresholds.severity_red)
                            || (thresholds.severity_orange > 0
                                && orange >= thresholds.severity_orange)
                    };
                    if related_open {
                        if let Some(h) = hit.filter(|_| !warming) {
                            confirmations.push((key.clone(), h));
                        }
                    } else if (burst || severity) && b >= state.cooldown_until {
                        candidates.push((key.clone(), if burst { hit } else { None }));
                    }
                    if warming || hit.is_none() {
                        learn(state, b, c, alpha);
                    } else {
                        // A burst does not raise its own baseline.
                        state.mu_bucket = b;
                        state.hour_sum += mu;
                    }
                }
            }
        }
        // A burst of a key whose related key has a severity alert open
        // confirms that alert.
        for (key, hit) in confirmations {
            let related: Vec<Key> = self
                .alerting
                .iter()
                .filter(|k| *k != &key && self.is_related(k, &key))
                .cloned()
                .collect();
            for r in related {
                out.extend(self.confirm(&r, &hit, b, &now));
            }
        }
        // Open the most specific keys first; a key does not open while a
        // related one is open (a burst of a related key confirms it).
        candidates.sort_by_key(|(k, _)| std::cmp::Reverse(self.depth(k)));
        for (key, hit) in candidates {
            let related: Vec<Key> = self
                .alerting
                .iter()
                .filter(|k| *k != &key && self.is_related(k, &key))
                .cloned()
                .collect();
            if !related.is_empty() {
                if let Some(h) = hit {
                    for r in related {
                        out.extend(self.confirm(&r, &h, b, &now));
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
                continue;
            }
            let bucket_ms = self.bucket_ms;
            let open_thresholds = self.thresholds(&key.category);
            let tester = self.tester(&key, &open_thresholds);
            let severity_window =
                (i64::from(open_thresholds.severity_window_mins) * 60_000 / bucket_ms).max(1);
            let (alpha, w) = (self.alpha, self.config.seasonal_weight);
            let Some(state) = self.keys.get_mut(&key) else {
                continue;
            };
            let (start, trigger, window_secs, z) = match &hit {
                Some(h) => (
                    tester.start(&state.closed, b, h),
                    Trigger::Burst,
                    Some(h.secs(bucket_ms)),
                    h.z,
                ),
                None => {
                    // From the first severe report in the severity window.
                    let start = state
                        .closed
                        .iter()
                        .find(|c| c.bucket > b - severity_window && c.tally.orange > 0)
                        .map_or(b, |c| c.bucket);
                    (start, Trigger::Severity, None, 0.0)
                }
            };
            let mut tally = Tally::default();
            for c in state
                .closed
                .iter()
                .filter(|c| c.bucket >= start && !c.absorbed)
            {
                tally.merge(&c.tally);
            }
            let baseline = baseline_at(state, b, alpha, w, bucket_ms, true);
            let level = alert_level(&tally);
            let mut alert = OpenAlert {
                id: alert_id(&key, start * bucket_ms),
                start_bucket: start,
                last_bucket: b,
                last_active: b,
                tally,
                baseline,
                z_max: z,
                emitted_count: 0,
                emitted_level: level,
                emitted_bucket: b,
                emitted_regions: BTreeSet::new(),
                trigger,
                confirmed: trigger == Trigger::Burst,
                window_secs,
            };
            alert.emitted_count = alert.tally.count;
            alert.emitted_regions = alert
                .tally
                .regions_with(open_thresholds.update_region_reports);
            out.push(message(&key, &alert, AlertState::Open, bucket_ms, &now));
            state.alert = Some(alert);
            self.mark_open(key, start);
        }
        out
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
        Some(message(key, alert, AlertState::Update, bucket_ms, now))
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

    /// The detector's state, for a snapshot written with the index commit.
    pub fn snapshot(&self) -> Vec<u8> {
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
        .unwrap_or_default()
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

/// Distinct regions in a hierarchy (prefectures and provinces), and at
/// least [`MIN_REGIONS`].
fn count_regions(parents: &HashMap<String, String>) -> usize {
    let all: HashSet<&String> = parents.keys().chain(parents.values()).collect();
    all.len().max(MIN_REGIONS)
}

/// A window that exceeds.
#[derive(Debug, Clone, Copy)]
struct Hit {
    /// Its length, buckets.
    window: i64,
    /// Its independent reports.
    count: u64,
    /// What the window's count is tested against.
    counts: Counts,
    /// z = 2(√c − √λ).
    z: f64,
}

impl Hit {
    fn secs(&self, bucket_ms: i64) -> u32 {
        u32::try_from(self.window * bucket_ms / 1000).unwrap_or(u32::MAX)
    }
}

/// The window tests of one key: its windows, its share of the false-alert
/// budget and the floors.
#[derive(Debug, Clone, Copy)]
struct Tester {
    windows: [i64; MAX_WINDOWS],
    n: usize,
    floor: f64,
    buckets_per_day: f64,
    /// Chance crossings a day allowed to each window of this key.
    budget: f64,
    dispersion: f64,
    z: f64,
    min_count: u64,
    min_ratio: f64,
    /// Buckets of history the key's baseline rests on.
    memory: f64,
    /// How far back a window's baseline is taken from, buckets.
    lookback: i64,
}

impl Tester {
    fn windows(&self) -> &[i64] {
        &self.windows[..self.n]
    }

    fn longest(&self) -> i64 {
        self.windows().last().copied().unwrap_or(1)
    }

    /// What the count of a window of `w` buckets is tested against when
    /// the key's baseline is `mu` per bucket: a mean of the baseline (at
    /// least the floor) times the window's length; and since the baseline
    /// is itself estimated from about `memory` buckets, the rate is
    /// uncertain (a Gamma of shape rate × memory + 1 around it), which
    /// makes the count negative binomial — close to Poisson for a short
    /// window or a busy key, wider for a long window on a sparse one —
    /// with the configured dispersion on top.
    fn model(&self, mu: f64, w: i64) -> Counts {
        let rate = mu.max(self.floor);
        let shape = rate * self.memory + 1.0;
        Counts {
            mean: rate * w as f64,
            dispersion: self.dispersion + 1.0 / shape,
        }
    }

    /// Whether `c` reports in a window of `w` buckets exceed; with the
    /// window's z = 2(√c − √λ).
    fn passes(&self, c: u64, counts: Counts, w: i64) -> Option<f64> {
        let lambda = counts.mean;
        if c < self.min_count || (c as f64) < self.min_ratio * lambda {
            return None;
        }
        let z = 2.0 * ((c as f64).sqrt() - lambda.sqrt());
        if z < self.z {
            return None;
        }
        (chance_per_day(c, counts, w, self.buckets_per_day) <= self.budget).then_some(z)
    }

    /// The smallest count that exceeds in a window of `w` buckets.
    fn minimum(&self, w: i64, counts: Counts) -> u64 {
        let mut c = self.min_count;
        while c < 10_000_000 && self.passes(c, counts, w).is_none() {
            c = if c < 1000 { c + 1 } else { c + c / 100 };
        }
        c
    }

    /// The shortest window, at most `longest` buckets, that exceeds at
    /// bucket `b` with baseline `mu` per bucket.
    /// Buckets absorbed by a related key's alert count only with
    /// `absorbed`.
    fn exceeding(
        &self,
        closed: &VecDeque<Closed>,
        b: i64,
        mu: f64,
        longest: i64,
        absorbed: bool,
    ) -> Option<Hit> {
        let mut sums = [0u64; MAX_WINDOWS];
        // Each window's baseline: the key's as the window began (its
        // oldest bucket with reports), at most `lookback` ago, so that a
        // burst building up slowly does not raise the baseline it is
        // tested against, while a long window on a rising day (the
        // morning) is not tested against the night's.
        let mut before = [mu; MAX_WINDOWS];
        let windows = self.windows();
        for c in closed.iter().rev() {
            let age = b - c.bucket;
            if age >= self.longest() {
                break;
            }
            if c.absorbed && !absorbed {
                continue;
            }
            for ((sum, first), w) in sums.iter_mut().zip(before.iter_mut()).zip(windows) {
                if age < *w {
                    *sum += c.tally.count;
                    if c.mu > 0.0 && age < self.lookback {
                        *first = c.mu;
                    }
                }
            }
        }
        windows
            .iter()
            .zip(sums.into_iter().zip(before))
            .filter(|(w, _)| **w <= longest)
            .find_map(|(&w, (c, mu))| {
                let counts = self.model(mu, w);
                self.passes(c, counts, w).map(|z| Hit {
                    window: w,
                    count: c,
                    counts,
                    z,
                })
            })
    }

    /// Where a burst found by `hit` at bucket `b` starts: the latest
    /// bucket of its window from which on the window still holds the
    /// count that exceeds (reports long before the burst are not part of
    /// it).
    fn start(&self, closed: &VecDeque<Closed>, b: i64, hit: &Hit) -> i64 {
        let needed = self.minimum(hit.window, hit.counts);
        let mut left = hit.count;
        for c in closed
            .iter()
            .filter(|c| c.bucket > b - hit.window && !c.absorbed)
        {
            if left.saturating_sub(c.tally.count) < needed {
                return c.bucket;
            }
            left -= c.tally.count;
        }
        b
    }
}

/// The baseline of a key for bucket `b`: the recent-history EWMA decayed
/// over the empty buckets since it was last updated, blended with the same
/// hour of previous days once there is such history.
fn baseline_at(
    state: &mut KeyState,
    b: i64,
    alpha: f64,
    seasonal_weight: f64,
    bucket_ms: i64,
    frozen: bool,
) -> f64 {
    let gap = b - state.mu_bucket - 1;
    if gap > 0 && !frozen {
        decay(state, gap, alpha);
        state.mu_bucket = b - 1;
    }
    // Hours that passed with nothing (for this key) were quiet hours.
    let hour = b * bucket_ms / 3_600_000;
    if state.hour != i64::MIN && hour > state.hour {
        finish_hours(state, hour, bucket_ms);
    }
    if state.hour == i64::MIN {
        state.hour = hour;
    }
    let slot = hour.rem_euclid(24) as usize;
    if state.slot_days[slot] >= 1 {
        (1.0 - seasonal_weight) * state.mu + seasonal_weight * state.slots[slot]
    } else {
        state.mu
    }
}

/// Applies `gap` empty buckets to the recent-history baseline.
fn decay(state: &mut KeyState, gap: i64, alpha: f64) {
    let mut left = gap;
    // While the history is short, each bucket weighs 1/(prior + history).
    while left > 0 && 1.0 / (PRIOR_WEIGHT + state.history) > alpha {
        state.history += 1.0;
        state.mu *= 1.0 - 1.0 / (PRIOR_WEIGHT + state.history);
        left -= 1;
    }
    if left > 0 {
        state.history += left as f64;
        state.mu *= (1.0 - alpha).powf(left as f64);
    }
}

/// Learns a non-burst bucket.
fn learn(state: &mut KeyState, b: i64, c: f64, alpha: f64) {
    learn_fields(
        &mut state.mu,
        &mut state.history,
        b,
        &mut state.mu_bucket,
        &mut state.hour_sum,
        c,
        alpha,
    );
}

/// [`learn`] on the fields, for when the key's alert is borrowed.
fn learn_fields(
    mu: &mut f64,
    history: &mut f64,
    b: i64,
    mu_bucket: &mut i64,
    hour_sum: &mut f64,
    c: f64,
    alpha: f64,
) {
    *history += 1.0;
    let a = alpha.max(1.0 / (PRIOR_WEIGHT + *history));
    *mu += a * (c - *mu);
    *mu_bucket = b;
    *hour_sum += c;
}

/// Closes the hours before `hour` into the same-hour baselines (the
/// accumulated one, then empty ones, at most a week of them).
fn finish_hours(state: &mut KeyState, hour: i64, bucket_ms: i64) {
    let per_hour = (3_600_000 / bucket_ms).max(1) as f64;
    let mut h = state.hour;
    let mut sum = state.hour_sum;
    let last = hour.min(h + 24 * 7);
    while h < last {
        let slot = h.rem_euclid(24) as usize;
        let rate = sum / per_hour;
        if state.slot_days[slot] == 0 {
            state.slots[slot] = rate;
        } else {
            state.slots[slot] += 0.5 * (rate - state.slots[slot]);
        }
        state.slot_days[slot] = state.slot_days[slot].saturating_add(1);
        sum = 0.0;
        h += 1;
    }
    state.hour = hour;
    state.hour_sum = 0.0;
}

/// A level for a burst: the reports' own highest level, raised by size.
fn alert_level(t: &Tally) -> Level {
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
    let h = blake3::hash(seed.as_bytes());
    let hex: String = h.as_bytes()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("al-{hex}")
}

fn rfc3339(ms: i64) -> String {
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

fn message(key: &Key, a: &OpenAlert, state: AlertState, bucket_ms: i64, now: &str) -> Alert {
    let (first_ts, first_id) = a
        .tally
        .first
        .clone()
        .unwrap_or((a.start_bucket * bucket_ms, String::new()));
    Alert {
        schema_version: SCHEMA_VERSION,
        alert_id: a.id.clone(),
        state,
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
    }
}
