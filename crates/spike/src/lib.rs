//! Burst detection and the alert lifecycle.
//!
//! **Counting.** Every flagged post counts for its category, and for the
//! category in each region it names (`fire`, `fire × 安徽省`,
//! `fire × 合肥市`), in event-time buckets (one minute by default). A bucket
//! closes when the watermark — the newest event time minus the allowed
//! lateness — passes its end; posts for a closed bucket are counted as late,
//! not silently lost. What is counted is independent reports: a post whose
//! SimHash (on the normalised text) is within a few bits of a recent report
//! of the same key (a repost, a copy, a 繁體 copy) does not count, nor does
//! a second post of one author in one bucket.
//!
//! **Detection.** Each key has a baseline μ: an EWMA of its past buckets
//! (a 30-minute half-life by default), blended with the same hour of
//! previous days once it has that history, and frozen while an alert is
//! open. A bucket with c reports exceeds when z = 2(√c − √μ) (Anscombe's
//! transform of a Poisson count) reaches the threshold, c reaches a minimum
//! count and c/μ a minimum ratio; an alert opens when k of the last n
//! buckets exceed. Every parameter can be set per category.
//!
//! **Lifecycle.** `open` → `update` (the count grew by half, or the level
//! rose) → `resolved` (no exceeding bucket for a while), then a cooldown so
//! that one incident is one alert. The most specific region wins: a key
//! does not open while a related key (same category, ancestor or descendant
//! region) has an alert open. Alert ids are a hash of the key and the
//! burst's first bucket, so they are stable across restarts.
//!
//! **Restarts.** [`Detector::snapshot`] / [`Detector::restore`] keep
//! baselines and open alerts; the pipeline writes the snapshot with each
//! index commit.

mod alert;
mod config;
mod detector;
mod simhash;
mod stats;

pub use alert::{Alert, AlertState, SCHEMA_VERSION, Trigger, alert_id_of};
pub use config::{DetectorConfig, MAX_WINDOW_BUCKETS, MAX_WINDOWS, ThresholdOverrides, Thresholds};
pub use detector::{Detector, Key, SnapshotError};
pub use simhash::{distance, report_text, simhash};
