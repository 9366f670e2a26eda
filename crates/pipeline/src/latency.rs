//! Event-to-searchable latency: a histogram in milliseconds.

/// Counts per millisecond up to 60 s, and an overflow count.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    counts: Vec<u64>,
    overflow: u64,
    total: u64,
}

const MAX_MS: usize = 60_000;

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            counts: vec![0; MAX_MS + 1],
            overflow: 0,
            total: 0,
        }
    }
}

impl LatencyHistogram {
    /// Records a latency.
    pub fn record(&mut self, ms: i64) {
        let ms = ms.max(0) as usize;
        match self.counts.get_mut(ms) {
            Some(c) => *c += 1,
            None => self.overflow += 1,
        }
        self.total += 1;
    }

    /// Samples recorded.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The `q` quantile (0..=1) in ms; `None` when empty or beyond 60 s.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (ms, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(ms as u64);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles() {
        let mut h = LatencyHistogram::default();
        for ms in 1..=100 {
            h.record(ms);
        }
        assert_eq!(h.quantile(0.5), Some(50));
        assert_eq!(h.quantile(0.99), Some(99));
        assert_eq!(h.quantile(1.0), Some(100));
        h.record(1_000_000);
        assert_eq!(h.len(), 101);
    }
}
