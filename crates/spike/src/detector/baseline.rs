//! A key's baseline: how many reports a bucket of it usually holds.
//!
//! Two memories make it. The recent history is an EWMA of the key's past
//! buckets (a half-life of 30 minutes by default); while that history is
//! short, each bucket weighs 1/(prior + buckets seen), so that a handful of
//! early reports do not make a sparse key's baseline jump. The same hour of
//! previous days is the second: once an hour of the day has been seen, the
//! baseline blends the two (`seasonal_weight`), so that the morning rise is
//! expected every morning.
//!
//! Three operations drive it, one per closed bucket of the key:
//! [`Baseline::at`] reads it for a bucket (decaying it over the empty
//! buckets since it was last updated), then either [`Baseline::learn`]
//! learns the bucket's count, or [`Baseline::hold`] lets the bucket pass
//! without learning from it — a burst does not raise its own baseline, and
//! an alert's baseline stays frozen while it is open.

use serde::Serialize;

/// Pseudo-observations the prior counts as, so that a handful of early
/// reports do not make a sparse key's baseline jump.
const PRIOR_WEIGHT: f64 = 60.0;

/// The baseline of one key, in reports per bucket. Its fields are written
/// into detector snapshots as they are named here (flattened into the
/// key's state, and read back by `snapshot::KeyStateWire`), so renaming one
/// changes the snapshot format.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Baseline {
    /// Recent-history baseline (reports per bucket), as of `mu_bucket`.
    pub(super) mu: f64,
    pub(super) mu_bucket: i64,
    /// Buckets of history in `mu` (beyond the prior).
    pub(super) history: f64,
    /// Same-hour-of-day baselines and how many days each has seen.
    pub(super) slots: Vec<f64>,
    pub(super) slot_days: Vec<u32>,
    /// The hour being accumulated (hour index since the epoch) and its sum.
    pub(super) hour: i64,
    pub(super) hour_sum: f64,
}

impl Baseline {
    /// A key first seen in bucket `bucket`, starting from `prior` reports
    /// per bucket.
    pub(super) fn new(prior: f64, bucket: i64) -> Self {
        Baseline {
            mu: prior,
            mu_bucket: bucket - 1,
            history: 0.0,
            slots: vec![0.0; 24],
            slot_days: vec![0; 24],
            hour: i64::MIN,
            hour_sum: 0.0,
        }
    }

    /// The baseline for bucket `b`: the recent-history EWMA decayed over
    /// the empty buckets since it was last updated (unless `frozen`),
    /// blended with the same hour of previous days once there is such
    /// history. Reading it moves the key's clock to `b`: the hours passed
    /// since are closed into the same-hour baselines.
    pub(super) fn at(
        &mut self,
        b: i64,
        alpha: f64,
        seasonal_weight: f64,
        bucket_ms: i64,
        frozen: bool,
    ) -> f64 {
        let gap = b - self.mu_bucket - 1;
        if gap > 0 && !frozen {
            self.decay(gap, alpha);
            self.mu_bucket = b - 1;
        }
        // Hours that passed with nothing (for this key) were quiet hours.
        let hour = b * bucket_ms / 3_600_000;
        if self.hour != i64::MIN && hour > self.hour {
            self.finish_hours(hour, bucket_ms);
        }
        if self.hour == i64::MIN {
            self.hour = hour;
        }
        let slot = hour.rem_euclid(24) as usize;
        if self.slot_days[slot] >= 1 {
            (1.0 - seasonal_weight) * self.mu + seasonal_weight * self.slots[slot]
        } else {
            self.mu
        }
    }

    /// Learns bucket `b`, which held `count` reports.
    pub(super) fn learn(&mut self, b: i64, count: f64, alpha: f64) {
        self.history += 1.0;
        let a = alpha.max(1.0 / (PRIOR_WEIGHT + self.history));
        self.mu += a * (count - self.mu);
        self.mu_bucket = b;
        self.hour_sum += count;
    }

    /// Lets bucket `b` pass without learning from it: the baseline stays
    /// where it is, and the hour counts the bucket as `mu` (the baseline it
    /// was tested against), not as the burst it held.
    pub(super) fn hold(&mut self, b: i64, mu: f64) {
        self.mu_bucket = b;
        self.hour_sum += mu;
    }

    /// Buckets of history the baseline rests on: the prior and the buckets
    /// seen, at most the EWMA's full memory (1/`alpha`).
    pub(super) fn memory(&self, alpha: f64) -> f64 {
        1.0 / alpha.max(1.0 / (PRIOR_WEIGHT + self.history))
    }

    /// Applies `gap` empty buckets to the recent-history baseline.
    fn decay(&mut self, gap: i64, alpha: f64) {
        let mut left = gap;
        // While the history is short, each bucket weighs 1/(prior + history).
        while left > 0 && 1.0 / (PRIOR_WEIGHT + self.history) > alpha {
            self.history += 1.0;
            self.mu *= 1.0 - 1.0 / (PRIOR_WEIGHT + self.history);
            left -= 1;
        }
        if left > 0 {
            self.history += left as f64;
            self.mu *= (1.0 - alpha).powf(left as f64);
        }
    }

    /// Closes the hours before `hour` into the same-hour baselines (the
    /// accumulated one, then empty ones, at most a week of them).
    fn finish_hours(&mut self, hour: i64, bucket_ms: i64) {
        let per_hour = (3_600_000 / bucket_ms).max(1) as f64;
        let mut h = self.hour;
        let mut sum = self.hour_sum;
        let last = hour.min(h + 24 * 7);
        while h < last {
            let slot = h.rem_euclid(24) as usize;
            let rate = sum / per_hour;
            if self.slot_days[slot] == 0 {
                self.slots[slot] = rate;
            } else {
                self.slots[slot] += 0.5 * (rate - self.slots[slot]);
            }
            self.slot_days[slot] = self.slot_days[slot].saturating_add(1);
            sum = 0.0;
            h += 1;
        }
        self.hour = hour;
        self.hour_sum = 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 200-bucket memory: longer than the prior's 60.
    const ALPHA: f64 = 0.005;
    const MINUTE: i64 = 60_000;

    #[test]
    fn a_new_key_starts_at_its_prior_and_learns_its_buckets() {
        let mut base = Baseline::new(0.5, 10);
        assert_eq!(base.at(10, ALPHA, 0.0, MINUTE, false), 0.5);
        base.learn(10, 3.5, ALPHA);
        // The first bucket weighs 1/(prior weight + 1).
        let expected = 0.5 + (3.5 - 0.5) / (PRIOR_WEIGHT + 1.0);
        assert!((base.at(11, ALPHA, 0.0, MINUTE, false) - expected).abs() < 1e-12);
    }

    #[test]
    fn empty_buckets_decay_it_unless_it_is_frozen() {
        let mut base = Baseline::new(1.0, 0);
        let frozen = base.at(50, ALPHA, 0.0, MINUTE, true);
        assert_eq!(frozen, 1.0, "a frozen baseline does not decay");
        let decayed = base.at(50, ALPHA, 0.0, MINUTE, false);
        // Buckets 0 to 49 were empty; each weighs 1/(60 + buckets seen):
        // 60/110 of it is left.
        assert!(
            (decayed - 60.0 / 110.0).abs() < 1e-9,
            "50 empty buckets decay it: {decayed}"
        );
    }

    #[test]
    fn a_held_bucket_teaches_nothing() {
        let mut learnt = Baseline::new(1.0, 0);
        let mut held = learnt.clone();
        learnt.learn(0, 40.0, ALPHA);
        held.hold(0, 1.0);
        assert!(learnt.at(1, ALPHA, 0.0, MINUTE, false) > 1.5);
        assert_eq!(held.at(1, ALPHA, 0.0, MINUTE, false), 1.0);
    }

    #[test]
    fn the_same_hour_of_the_previous_day_blends_in() {
        let mut base = Baseline::new(0.0, 0);
        // An hour of 6 reports a minute, then a day of nothing.
        for b in 0..60 {
            base.at(b, ALPHA, 0.5, MINUTE, false);
            base.learn(b, 6.0, ALPHA);
        }
        let next_day = 24 * 60;
        let blended = base.at(next_day, ALPHA, 0.5, MINUTE, false);
        let recent = base.at(next_day, ALPHA, 0.0, MINUTE, false);
        assert!(recent < 0.01, "a day of silence: {recent}");
        assert!(
            (blended - 3.0).abs() < 0.01,
            "half of 6 a minute: {blended}"
        );
    }

    #[test]
    fn its_memory_grows_with_its_history_up_to_the_ewma_s() {
        let mut base = Baseline::new(1.0, 0);
        assert!((base.memory(ALPHA) - PRIOR_WEIGHT).abs() < 1e-9);
        for b in 0..1000 {
            base.learn(b, 1.0, ALPHA);
        }
        assert!((base.memory(ALPHA) - 1.0 / ALPHA).abs() < 1e-9);
    }
}
