//! Detector parameters. Every one can be set for all categories and
//! overridden per category (`[spike.categories.fire]` in a pipeline).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Most windows a key is tested over.
pub const MAX_WINDOWS: usize = 8;
/// Longest window, in buckets.
pub const MAX_WINDOW_BUCKETS: u32 = 1440;

/// Parameters of one category's detection (and the defaults for all).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// The false-alert budget: alerts a day that the burst test may open
    /// by chance for this category, over all its keys (the category as a
    /// whole and every region) and all the windows. Each test's threshold
    /// is derived from it (docs/alerts.md).
    pub false_alerts_per_day: f64,
    /// Over-dispersion of the counts: 0 tests against Poisson tails; k > 0
    /// against negative binomial ones with variance μ + k·μ² (for a
    /// category whose background comes in clumps).
    pub dispersion: f64,
    /// A window also needs z = 2(√c − √λ) (Anscombe) of at least this;
    /// 0: the tail test alone decides.
    pub z: f64,
    /// A window also needs at least this many independent reports (a
    /// floor under the minimum the budget calibrates) …
    pub min_count: u32,
    /// … and at least this many times the baseline of the window.
    pub min_ratio: f64,
    /// An alert opens when a window exceeds in `k` of the last `n` buckets
    /// (1 of 1: at once).
    pub k: u32,
    /// See `k`.
    pub n: u32,
    /// Open an alert at once on severe reports (`trigger: "severity"`,
    /// `confirmed: false` until the burst test confirms it).
    pub severity_trigger: bool,
    /// … on this many independent reports graded red (0: never) …
    pub severity_red: u32,
    /// … or this many graded orange or red (0: never) …
    pub severity_orange: u32,
    /// … within this many minutes.
    pub severity_window_mins: u32,
    /// Resolve an alert after this many minutes without an exceeding
    /// window (of the length that opened it, or shorter).
    pub resolve_after_mins: u32,
    /// After a resolution, no new alert for the same key for this many
    /// minutes (one incident, one alert).
    pub cooldown_mins: u32,
    /// Send an `update` when the count grew by this fraction since the last
    /// message (0.5: by half), or the level rose.
    pub update_growth: f64,
    /// … or when a region the last message did not list is named by at
    /// least this many of the alert's reports (the incident spread, or was
    /// located). 0: regions never cause an update.
    pub update_region_reports: u32,
    /// At least this many minutes between two updates of one alert.
    pub update_every_mins: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            false_alerts_per_day: 0.5,
            dispersion: 0.0,
            z: 0.0,
            min_count: 3,
            min_ratio: 3.0,
            k: 1,
            n: 1,
            severity_trigger: true,
            severity_red: 1,
            severity_orange: 2,
            severity_window_mins: 10,
            resolve_after_mins: 30,
            cooldown_mins: 60,
            update_growth: 0.5,
            update_region_reports: 3,
            update_every_mins: 5,
        }
    }
}

/// Detector configuration (`[spike]` in a pipeline).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorConfig {
    /// Run burst detection at all.
    pub enabled: bool,
    /// Bucket width, seconds (event time).
    pub bucket_secs: u32,
    /// How late (behind the newest event) a post may arrive and still be
    /// counted, seconds. Later posts are counted as late, not in a bucket.
    pub allowed_lateness_secs: u32,
    /// Half-life of the recent-history baseline (EWMA), minutes.
    pub baseline_halflife_mins: u32,
    /// A baseline is frozen while its key has an alert open, for at most
    /// this many minutes; a level that lasts longer becomes the new normal
    /// (the alert then resolves as the baseline catches up).
    pub max_freeze_mins: u32,
    /// Weight of the same hour of previous days in the baseline, once a
    /// key has a day of history (0: recent history only).
    pub seasonal_weight: f64,
    /// Baseline of a key never seen before, reports per bucket.
    pub prior: f64,
    /// The lowest baseline a window is tested against, reports per bucket:
    /// a key that is almost never reported (most regions) needs the count
    /// the false-alert budget calibrates at this rate.
    pub baseline_floor: f64,
    /// The windows every key is tested over, seconds (each rounded up to
    /// whole buckets), each against the baseline for its length.
    pub windows_secs: Vec<u32>,
    /// Buckets after the detector starts from nothing during which it only
    /// learns (no alert).
    pub warmup_buckets: u32,
    /// Near-duplicates: posts whose SimHash differs in at most this many
    /// bits from a recent one of the same key count once.
    pub dedup_bits: u32,
    /// How far back near-duplicates are looked for, minutes.
    pub dedup_window_mins: u32,
    /// Most keys kept; the idlest are evicted beyond.
    pub max_keys: usize,
    /// Keys without a report for this many hours are evicted.
    pub evict_idle_hours: u32,
    /// In a running pipeline, advance event time by the wall clock when
    /// no event arrives for a bucket's time, so that alerts resolve in a
    /// silence. `yuqing backtest` never does.
    pub idle_advance: bool,
    /// Test a key's windows as each report arrives, with the minute still
    /// open, and open an alert the moment one exceeds, instead of when the
    /// minute closes (up to a bucket plus the allowed lateness later). The
    /// same alert either way: a window that exceeds with part of its last
    /// bucket exceeds with all of it.
    pub open_on_arrival: bool,
    /// Defaults for every category.
    pub thresholds: Thresholds,
    /// Overrides per category id: the keys given replace those of
    /// `thresholds`, the others are inherited.
    pub categories: BTreeMap<String, ThresholdOverrides>,
}

/// Some of [`Thresholds`], for one category (`[spike.categories.fire]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct ThresholdOverrides {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub false_alerts_per_day: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispersion: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub z: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ratio: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity_trigger: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity_red: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity_orange: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity_window_mins: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolve_after_mins: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown_mins: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_growth: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_region_reports: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_every_mins: Option<u32>,
}

impl ThresholdOverrides {
    /// `base` with these overrides applied.
    pub fn apply(&self, base: &Thresholds) -> Thresholds {
        Thresholds {
            false_alerts_per_day: self
                .false_alerts_per_day
                .unwrap_or(base.false_alerts_per_day),
            dispersion: self.dispersion.unwrap_or(base.dispersion),
            z: self.z.unwrap_or(base.z),
            min_count: self.min_count.unwrap_or(base.min_count),
            min_ratio: self.min_ratio.unwrap_or(base.min_ratio),
            k: self.k.unwrap_or(base.k),
            n: self.n.unwrap_or(base.n),
            severity_trigger: self.severity_trigger.unwrap_or(base.severity_trigger),
            severity_red: self.severity_red.unwrap_or(base.severity_red),
            severity_orange: self.severity_orange.unwrap_or(base.severity_orange),
            severity_window_mins: self
                .severity_window_mins
                .unwrap_or(base.severity_window_mins),
            resolve_after_mins: self.resolve_after_mins.unwrap_or(base.resolve_after_mins),
            cooldown_mins: self.cooldown_mins.unwrap_or(base.cooldown_mins),
            update_growth: self.update_growth.unwrap_or(base.update_growth),
            update_region_reports: self
                .update_region_reports
                .unwrap_or(base.update_region_reports),
            update_every_mins: self.update_every_mins.unwrap_or(base.update_every_mins),
        }
    }
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            enabled: true,
            bucket_secs: 60,
            allowed_lateness_secs: 15,
            baseline_halflife_mins: 30,
            max_freeze_mins: 180,
            seasonal_weight: 0.5,
            prior: 0.02,
            baseline_floor: 0.02,
            windows_secs: vec![60, 120, 300, 900, 3600],
            warmup_buckets: 60,
            dedup_bits: 3,
            dedup_window_mins: 60,
            max_keys: 20_000,
            evict_idle_hours: 48,
            idle_advance: true,
            open_on_arrival: true,
            thresholds: Thresholds::default(),
            categories: BTreeMap::new(),
        }
    }
}

impl DetectorConfig {
    /// The thresholds of a category: the defaults with its overrides.
    pub fn thresholds(&self, category: &str) -> Thresholds {
        match self.categories.get(category) {
            Some(o) => o.apply(&self.thresholds),
            None => self.thresholds.clone(),
        }
    }

    /// Sets one key by its dotted name below `spike` (`bucket_secs`,
    /// `thresholds.min_count`, `categories.fire.z`) from a TOML-like value
    /// (`3600`, `2.5`, `true`); the error names the key. For tuning from a
    /// command line (`yuqing backtest --set`).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let mut config = self.clone();
        config.set_unchecked(key, value)?;
        config.validate()?;
        *self = config;
        Ok(())
    }

    /// Several settings at once, `KEY=VALUE` each, checked together at the
    /// end (so that `thresholds.k=2 thresholds.n=3` works in either order);
    /// on an error nothing changes.
    pub fn set_all<S: AsRef<str>>(&mut self, settings: &[S]) -> Result<(), String> {
        let mut config = self.clone();
        for kv in settings {
            let kv = kv.as_ref();
            let Some((k, v)) = kv.split_once('=') else {
                return Err(format!(
                    "`{kv}`: expected KEY=VALUE, e.g. thresholds.false_alerts_per_day=0.2"
                ));
            };
            config.set_unchecked(k.trim(), v.trim())?;
        }
        config.validate()?;
        *self = config;
        Ok(())
    }

    /// [`DetectorConfig::set`] without the range checks (the types are
    /// checked).
    fn set_unchecked(&mut self, key: &str, value: &str) -> Result<(), String> {
        let mut root = serde_json::to_value(&*self).map_err(|e| e.to_string())?;
        let parts: Vec<&str> = key.split('.').collect();
        let unknown = || format!("`spike.{key}`: no such setting (see docs/config.md, [spike])");
        let mut at = &mut root;
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            let obj = at.as_object_mut().ok_or_else(unknown)?;
            if !last && i == 1 && parts[0] == "categories" && !obj.contains_key(*part) {
                obj.insert(part.to_string(), serde_json::json!({}));
            }
            let known_override = i == 2 && parts[0] == "categories";
            if last {
                if !obj.contains_key(*part) && !known_override {
                    return Err(unknown());
                }
                let v = serde_json::from_str(value)
                    .unwrap_or_else(|_| serde_json::Value::String(value.to_string()));
                obj.insert(part.to_string(), v);
                break;
            }
            at = obj.get_mut(*part).ok_or_else(unknown)?;
        }
        *self =
            serde_json::from_value(root).map_err(|e| format!("`spike.{key}` = {value}: {e}"))?;
        Ok(())
    }

    /// Checks that every per-category section (`[spike.categories.<id>]`,
    /// `--set categories.<id>.z=4`) names a category of the dictionaries in
    /// use, whose ids are `known`: a misspelt id would otherwise be a
    /// setting that silently never applies. The error names the unknown id
    /// and lists the known ones.
    pub fn check_categories<'a, I>(&self, known: I) -> Result<(), String>
    where
        I: IntoIterator<Item = &'a str>,
    {
        let known: Vec<&str> = known.into_iter().collect();
        let unknown: Vec<&str> = self
            .categories
            .keys()
            .map(String::as_str)
            .filter(|id| !known.contains(id))
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let named: Vec<String> = unknown
            .iter()
            .map(|id| format!("`spike.categories.{id}`"))
            .collect();
        Err(format!(
            "{}: no such category in the dictionaries (they have: {})",
            named.join(", "),
            known.join(", ")
        ))
    }

    /// Checks ranges; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.bucket_secs == 0 || self.bucket_secs > 86_400 {
            return Err(format!(
                "`spike.bucket_secs` must be from 1 to 86400, got {}",
                self.bucket_secs
            ));
        }
        if !(0.0..=1.0).contains(&self.seasonal_weight) {
            return Err(format!(
                "`spike.seasonal_weight` must be from 0 to 1, got {}",
                self.seasonal_weight
            ));
        }
        if !(self.prior > 0.0 && self.prior.is_finite()) {
            return Err("`spike.prior` must be above 0".into());
        }
        if !(self.baseline_floor > 0.0 && self.baseline_floor.is_finite()) {
            return Err("`spike.baseline_floor` must be above 0".into());
        }
        if self.baseline_halflife_mins == 0 {
            return Err("`spike.baseline_halflife_mins` must be at least 1".into());
        }
        if self.windows_secs.is_empty() || self.windows_secs.len() > MAX_WINDOWS {
            return Err(format!(
                "`spike.windows_secs` must list 1 to {MAX_WINDOWS} windows, got {}",
                self.windows_secs.len()
            ));
        }
        for &w in &self.windows_secs {
            if w == 0 || w.div_ceil(self.bucket_secs) > MAX_WINDOW_BUCKETS {
                return Err(format!(
                    "`spike.windows_secs`: {w} must be from 1 to {MAX_WINDOW_BUCKETS} buckets of {} s",
                    self.bucket_secs
                ));
            }
        }
        let all = std::iter::once(("thresholds".to_string(), self.thresholds.clone())).chain(
            self.categories
                .iter()
                .map(|(k, v)| (format!("categories.{k}"), v.apply(&self.thresholds))),
        );
        for (name, t) in all {
            let at = format!("spike.{name}");
            if t.n == 0 || t.k == 0 || t.k > t.n || t.n > 60 {
                return Err(format!(
                    "`{at}`: need 1 ≤ k ≤ n ≤ 60, got k = {}, n = {}",
                    t.k, t.n
                ));
            }
            if !(t.z.is_finite()
                && t.min_ratio.is_finite()
                && t.min_ratio >= 0.0
                && t.update_growth >= 0.0)
            {
                return Err(format!(
                    "`{at}`: z, min_ratio and update_growth must be numbers (min_ratio, update_growth ≥ 0)"
                ));
            }
            if t.resolve_after_mins == 0 {
                return Err(format!("`{at}.resolve_after_mins` must be at least 1"));
            }
            if !(t.false_alerts_per_day > 0.0 && t.false_alerts_per_day.is_finite()) {
                return Err(format!(
                    "`{at}.false_alerts_per_day` must be above 0, got {}",
                    t.false_alerts_per_day
                ));
            }
            if !(t.dispersion >= 0.0 && t.dispersion.is_finite()) {
                return Err(format!(
                    "`{at}.dispersion` must be 0 or more, got {}",
                    t.dispersion
                ));
            }
        }
        Ok(())
    }
}
