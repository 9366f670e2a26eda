//! Count tails for the burst tests: how often a window of a given length
//! would reach a given count by chance.

/// ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms: about 15 digits).
pub(crate) fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    use std::f64::consts::PI;
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 − x) = π / sin(πx).
        return (PI / (PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + G + 0.5;
    let mut a = C[0];
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The distribution of a window's count under the baseline: Poisson with
/// mean `mean`, or, with `dispersion` k > 0, negative binomial with the
/// same mean and variance mean + k·mean².
#[derive(Debug, Clone, Copy)]
pub(crate) struct Counts {
    pub mean: f64,
    pub dispersion: f64,
}

impl Counts {
    /// ln P(X = x).
    fn ln_pmf(self, x: u64) -> f64 {
        let xf = x as f64;
        let m = self.mean;
        if self.dispersion <= 0.0 {
            xf * m.ln() - m - ln_gamma(xf + 1.0)
        } else {
            let r = 1.0 / self.dispersion;
            ln_gamma(xf + r) - ln_gamma(r) - ln_gamma(xf + 1.0)
                + r * (r / (r + m)).ln()
                + xf * (m / (r + m)).ln()
        }
    }

    /// P(X = x + 1) / P(X = x).
    fn ratio(self, x: u64) -> f64 {
        let xf = x as f64;
        if self.dispersion <= 0.0 {
            self.mean / (xf + 1.0)
        } else {
            let r = 1.0 / self.dispersion;
            (xf + r) / (xf + 1.0) * (self.mean / (r + self.mean))
        }
    }

    /// P(X ≥ c), exact up to rounding: the upper terms summed from c when
    /// c is above the mean, else one minus the lower terms.
    pub fn upper_tail(self, c: u64) -> f64 {
        if c == 0 {
            return 1.0;
        }
        if self.mean.is_nan() || self.mean <= 0.0 || !self.mean.is_finite() {
            return 0.0;
        }
        if (c as f64) > self.mean {
            let mut term = self.ln_pmf(c).exp();
            let mut sum = 0.0;
            for x in c..c.saturating_add(1_000_000) {
                sum += term;
                let r = self.ratio(x);
                term *= r;
                if r < 1.0 && term <= sum * 1e-15 {
                    break;
                }
            }
            sum.min(1.0)
        } else {
            // At most the mean: the tail is large; sum the lower terms
            // downwards from c − 1.
            let mut term = self.ln_pmf(c - 1).exp();
            let mut sum = 0.0;
            let mut x = c - 1;
            loop {
                sum += term;
                if x == 0 || term <= sum * 1e-15 {
                    break;
                }
                x -= 1;
                term /= self.ratio(x);
            }
            (1.0 - sum).clamp(0.0, 1.0)
        }
    }
}

/// How many times a day a window of `w` buckets would, by chance, newly
/// reach `c` reports, when its count follows `counts`: the buckets of a day
/// times P(X ≥ c) times the chance that the newest bucket holds one of
/// the c reports (a window that only keeps a count it already had is not
/// a new alert), 1 − (1 − 1/w)^c.
pub(crate) fn chance_per_day(c: u64, counts: Counts, w: i64, buckets_per_day: f64) -> f64 {
    let w = w.max(1) as f64;
    let fresh = 1.0 - (1.0 - 1.0 / w).powf(c as f64);
    buckets_per_day * fresh * counts.upper_tail(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poisson(mean: f64) -> Counts {
        Counts {
            mean,
            dispersion: 0.0,
        }
    }

    #[test]
    fn ln_gamma_matches_factorials() {
        let mut f = 1.0f64;
        for n in 1..30u32 {
            f *= f64::from(n);
            let got = ln_gamma(f64::from(n) + 1.0);
            assert!((got - f.ln()).abs() < 1e-9, "{n}: {got} vs {}", f.ln());
        }
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-12);
    }

    #[test]
    fn poisson_tails_match_direct_sums() {
        for mean in [0.001f64, 0.05, 0.3, 1.0, 4.0, 17.5, 60.0] {
            for c in 0..40u64 {
                // Direct: 1 − Σ_{x<c} e^−m m^x / x!.
                let mut term = (-mean).exp();
                let mut lower = 0.0;
                for x in 0..c {
                    lower += term;
                    term *= mean / (x as f64 + 1.0);
                }
                let direct = 1.0 - lower;
                let got = poisson(mean).upper_tail(c);
                let tol = 1e-9f64.max(direct.abs() * 1e-6);
                if direct > 1e-12 {
                    assert!(
                        (got - direct).abs() < tol,
                        "mean {mean} c {c}: {got} vs {direct}"
                    );
                } else {
                    assert!(got < 1e-9, "mean {mean} c {c}: {got}");
                }
            }
        }
        // Known values: P(X ≥ 3 | 0.01) ≈ 1.6556e-7; P(X ≥ 10 | 2) ≈ 4.6498e-5.
        assert!((poisson(0.01).upper_tail(3) / 1.6556e-7 - 1.0).abs() < 1e-3);
        assert!((poisson(2.0).upper_tail(10) / 4.6498e-5 - 1.0).abs() < 1e-3);
        // Large means stay finite (e^−3000 underflows in a direct sum).
        let t = poisson(3000.0).upper_tail(3300);
        assert!(t > 0.0 && t < 1e-6, "{t}");
        assert!(poisson(3000.0).upper_tail(2900) > 0.9);
    }

    #[test]
    fn overdispersion_fattens_the_tail_and_sums_to_one() {
        for mean in [0.2, 3.0, 25.0] {
            let nb = Counts {
                mean,
                dispersion: 0.5,
            };
            // The probabilities sum to one: P(X ≥ 0) − P(X ≥ 1) = P(X = 0).
            let p0 = nb.ln_pmf(0).exp();
            assert!((1.0 - nb.upper_tail(1) - p0).abs() < 1e-9);
            let c = (mean * 3.0).ceil() as u64 + 3;
            assert!(nb.upper_tail(c) > poisson(mean).upper_tail(c));
        }
    }

    #[test]
    fn a_longer_window_reaches_a_count_anew_less_often_per_bucket() {
        let d = 1440.0;
        // A single bucket: every bucket is a new test.
        let one = chance_per_day(3, poisson(0.01), 1, d);
        assert!((one / (d * poisson(0.01).upper_tail(3)) - 1.0).abs() < 1e-12);
        // Sixty buckets, the same mean over the window: fewer new crossings.
        let sixty = chance_per_day(3, poisson(0.01), 60, d);
        assert!(sixty < one / 10.0, "{sixty} vs {one}");
    }
}
