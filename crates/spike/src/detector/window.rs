//! The window tests: whether the reports of a key's last few buckets are
//! more than its baseline explains.
//!
//! A key is tested over several windows (one minute to an hour by
//! default, [`Tester::windows`]); each window's count is compared with a
//! negative binomial model of what the baseline predicts for it
//! ([`Tester::model`]), and passes when its z = 2(√c − √λ), its count, its
//! ratio to the mean and its chance of happening by itself in a day all
//! clear their thresholds ([`Tester::passes`]). The key's share of the
//! false-alert budget is split evenly over its windows, so testing more
//! windows does not raise the false-alert rate.
//!
//! A window passing is not yet an alert: [`Gate`] says whether the key may
//! open one (past the warm-up and its cooldown, `k` of its last `n`
//! buckets exceeding), for the bucket's close and for an opening on
//! arrival alike.

use std::collections::VecDeque;

use crate::config::{MAX_WINDOWS, Thresholds};
use crate::stats::{Counts, chance_per_day};

use super::bucket::Closed;

/// A window that exceeds.
#[derive(Debug, Clone, Copy)]
pub(super) struct Hit {
    /// Its length, buckets.
    pub(super) window: i64,
    /// Its independent reports.
    pub(super) count: u64,
    /// What the window's count is tested against.
    pub(super) counts: Counts,
    /// z = 2(√c − √λ).
    pub(super) z: f64,
}

impl Hit {
    pub(super) fn secs(&self, bucket_ms: i64) -> u32 {
        u32::try_from(self.window * bucket_ms / 1000).unwrap_or(u32::MAX)
    }
}

/// The window tests of one key: its windows, its share of the false-alert
/// budget and the floors.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tester {
    pub(super) windows: [i64; MAX_WINDOWS],
    pub(super) n: usize,
    pub(super) floor: f64,
    pub(super) buckets_per_day: f64,
    /// Chance crossings a day allowed to each window of this key.
    pub(super) budget: f64,
    pub(super) dispersion: f64,
    pub(super) z: f64,
    pub(super) min_count: u64,
    pub(super) min_ratio: f64,
    /// Buckets of history the key's baseline rests on.
    pub(super) memory: f64,
    /// How far back a window's baseline is taken from, buckets.
    pub(super) lookback: i64,
}

impl Tester {
    pub(super) fn windows(&self) -> &[i64] {
        &self.windows[..self.n]
    }

    pub(super) fn longest(&self) -> i64 {
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
    pub(super) fn model(&self, mu: f64, w: i64) -> Counts {
        let rate = mu.max(self.floor);
        let shape = rate * self.memory + 1.0;
        Counts {
            mean: rate * w as f64,
            dispersion: self.dispersion + 1.0 / shape,
        }
    }

    /// Whether `c` reports in a window of `w` buckets exceed; with the
    /// window's z = 2(√c − √λ).
    pub(super) fn passes(&self, c: u64, counts: Counts, w: i64) -> Option<f64> {
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
    pub(super) fn minimum(&self, w: i64, counts: Counts) -> u64 {
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
    pub(super) fn exceeding(
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
    pub(super) fn start(&self, closed: &VecDeque<Closed>, b: i64, hit: &Hit) -> i64 {
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

/// When a key whose window test passed may open an alert: the stream's
/// warm-up is over, so is the key's cooldown, and `k` of its last `n`
/// buckets exceed. One test for the bucket's close and for the opening on
/// arrival.
#[derive(Debug, Clone, Copy)]
pub(super) struct Gate {
    /// The first bucket after the stream's warm-up (`None`: no stream yet).
    warm_from: Option<i64>,
    k: u32,
    n: i64,
}

impl Gate {
    /// The gate of a key with thresholds `t`.
    pub(super) fn new(warm_from: Option<i64>, t: &Thresholds) -> Self {
        Gate {
            warm_from,
            k: t.k,
            n: i64::from(t.n),
        }
    }

    /// Whether bucket `b` is in the stream's warm-up (baselines are being
    /// learnt; nothing opens).
    pub(super) fn warming(&self, b: i64) -> bool {
        self.warm_from.is_some_and(|w| b < w)
    }

    /// Whether a key in cooldown until `cooldown_until` may open at bucket
    /// `b` as far as time goes.
    pub(super) fn in_time(&self, b: i64, cooldown_until: i64) -> bool {
        !self.warming(b) && b >= cooldown_until
    }

    /// Whether `k` of the last `n` buckets up to `b` exceed (`closed` ends
    /// with `b`'s).
    pub(super) fn k_of_n(&self, closed: &VecDeque<Closed>, b: i64) -> bool {
        let exceeding = closed
            .iter()
            .rev()
            .take_while(|c| c.bucket > b - self.n)
            .filter(|c| c.exceed)
            .count() as u32;
        exceeding >= self.k
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detector::bucket::Tally;

    /// Closed buckets `(bucket, reports, exceeded)`.
    fn closed(buckets: &[(i64, u64, bool)]) -> VecDeque<Closed> {
        buckets
            .iter()
            .map(|&(bucket, count, exceed)| Closed {
                bucket,
                tally: Tally {
                    count,
                    ..Tally::default()
                },
                z: 0.0,
                exceed,
                absorbed: false,
                mu: 0.0,
            })
            .collect()
    }

    fn gate(warm_from: Option<i64>, k: u32, n: u32) -> Gate {
        let t = Thresholds {
            k,
            n,
            ..Thresholds::default()
        };
        Gate::new(warm_from, &t)
    }

    #[test]
    fn k_of_the_last_n_buckets_must_exceed() {
        let g = gate(None, 2, 3);
        // Buckets 7 and 10 exceed; 7 is not among the last three of 10.
        let history = closed(&[(7, 5, true), (9, 1, false), (10, 6, true)]);
        assert!(!g.k_of_n(&history, 10));
        let history = closed(&[(8, 5, true), (9, 1, false), (10, 6, true)]);
        assert!(g.k_of_n(&history, 10));
    }

    #[test]
    fn nothing_opens_in_the_warm_up_or_the_cooldown() {
        let g = gate(Some(30), 1, 1);
        assert!(g.warming(29));
        assert!(!g.in_time(29, i64::MIN));
        assert!(g.in_time(30, i64::MIN));
        assert!(!g.in_time(40, 41), "in cooldown until 41");
        assert!(g.in_time(41, 41));
        assert!(!gate(None, 1, 1).warming(0), "no stream, no warm-up");
    }

    #[test]
    fn the_shortest_window_that_exceeds_is_the_hit() {
        let mut windows = [0; MAX_WINDOWS];
        windows[..2].copy_from_slice(&[1, 5]);
        let tester = Tester {
            windows,
            n: 2,
            floor: 0.01,
            buckets_per_day: 1440.0,
            budget: 0.25,
            dispersion: 0.0,
            z: 0.0,
            min_count: 3,
            min_ratio: 3.0,
            memory: 1000.0,
            lookback: 15,
        };
        // Two reports a bucket for five buckets on a baseline of 0.1: no
        // one bucket exceeds (too few), the five-bucket window does.
        let history = closed(&[
            (1, 2, false),
            (2, 2, false),
            (3, 2, false),
            (4, 2, false),
            (5, 2, false),
        ]);
        let hit = tester.exceeding(&history, 5, 0.1, tester.longest(), false);
        assert_eq!(hit.map(|h| (h.window, h.count)), Some((5, 10)));
        // Ten in the last bucket: the one-bucket window.
        let history = closed(&[(5, 10, false)]);
        let hit = tester.exceeding(&history, 5, 0.1, tester.longest(), false);
        assert_eq!(hit.map(|h| (h.window, h.count)), Some((1, 10)));
        // No more than the baseline predicts: nothing.
        let history = closed(&[(5, 1, false)]);
        assert!(
            tester
                .exceeding(&history, 5, 0.1, tester.longest(), false)
                .is_none()
        );
    }
}
