//! What a bucket of a key holds: its independent reports, tallied
//! ([`Tally`]), and once it has closed, the outcome of its window tests
//! ([`Closed`]). An alert tallies its buckets the same way.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use yuqing_model::Level;

/// Reports kept as samples per bucket and per alert.
const SAMPLES: usize = 10;
/// Distinct terms counted per bucket and per alert.
const TERMS: usize = 64;
/// Authors remembered per alert (distinct-author counts above it are
/// lower bounds).
const AUTHORS: usize = 100_000;
/// Distinct regions counted per bucket and per alert.
const REGIONS: usize = 64;

/// The independent reports of a bucket (or of an alert), tallied.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Tally {
    pub(super) count: u64,
    pub(super) authors: HashSet<u64>,
    /// (score, post id), highest first.
    pub(super) sample: Vec<(f32, String)>,
    pub(super) terms: HashMap<String, u32>,
    /// (ts ms, post id) of the earliest report.
    pub(super) first: Option<(i64, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) max_level: Option<Level>,
    /// Reports naming each region.
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub(super) regions: HashMap<String, u32>,
    /// Reports graded orange or red, and red.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(super) orange: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(super) red: u32,
}

impl Tally {
    pub(super) fn add_report(&mut self, r: &Report<'_>, score: f32, terms: &[String]) {
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
    pub(super) fn regions_with(&self, min: u32) -> BTreeSet<String> {
        self.regions
            .iter()
            .filter(|(_, n)| **n >= min.max(1))
            .map(|(r, _)| r.clone())
            .collect()
    }

    pub(super) fn merge(&mut self, other: &Tally) {
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

/// A flagged post, as it is counted.
pub(super) struct Report<'a> {
    pub(super) id: &'a str,
    pub(super) ts_ms: i64,
    pub(super) author: Option<u64>,
    pub(super) level: Option<Level>,
    pub(super) regions: &'a [String],
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
pub(super) struct Closed {
    pub(super) bucket: i64,
    pub(super) tally: Tally,
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub(super) z: f64,
    #[serde(default, skip_serializing_if = "is_false")]
    pub(super) exceed: bool,
    /// Counted by an alert of a related key (the same incident): not
    /// counted again towards an alert of this one.
    #[serde(default, skip_serializing_if = "is_false")]
    pub(super) absorbed: bool,
    /// The key's baseline when the bucket closed, before learning from it
    /// (0: not known, from an older snapshot).
    #[serde(default)]
    pub(super) mu: f64,
}
