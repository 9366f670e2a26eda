//! What the pipeline counts, in one place.
//!
//! A run keeps two tallies of what happens to posts: the [`Stats`] of the
//! run (read by the progress line of `yuqing run` and summed up at its end)
//! and the process's Prometheus metrics (`/metrics`). Each event below
//! updates both in one call, so the two never disagree and a new counter
//! is added in one place. (Vector's `emit!` does the same for its
//! components.)

use std::sync::atomic::Ordering;
use std::time::Duration;

use prometheus::IntCounter;
use yuqing_metrics::metrics;
use yuqing_model::ScoredPost;
use yuqing_spike::Alert;

use crate::Stats;

impl Stats {
    /// `n` messages were taken from the source; `consumed` is the source's
    /// series of `yuqing_posts_consumed_total`.
    pub(crate) fn consumed(&self, n: u64, consumed: &IntCounter) {
        self.consumed.fetch_add(n, Ordering::Relaxed);
        consumed.inc_by(n);
    }

    /// Kafka messages handed on by the source now: how long after their
    /// timestamps (the run's consume-latency histogram).
    pub(crate) fn consumed_at(&self, messages: &[crate::Message]) {
        let now = yuqing_model::Timestamp::now().as_millis();
        if let Ok(mut h) = self.consume_latency.lock() {
            for m in messages {
                if let crate::Origin::Kafka {
                    timestamp_ms: Some(ts),
                    ..
                } = m.origin
                {
                    h.record(now - ts);
                }
            }
        }
    }

    /// A post was added to the index (`yuqing_posts_indexed_total`); a
    /// flagged one also counts for each of its categories
    /// (`yuqing_posts_flagged_total`).
    pub(crate) fn indexed(&self, scored: &ScoredPost) {
        self.indexed.fetch_add(1, Ordering::Relaxed);
        let m = metrics();
        m.posts_indexed.inc();
        if scored.is_incident() {
            self.flagged.fetch_add(1, Ordering::Relaxed);
            for c in &scored.categories {
                m.posts_flagged.with_label_values(&[c.id.as_str()]).inc();
            }
        }
    }

    /// A flagged post came after its bucket closed: the burst detector did
    /// not count it (`yuqing_late_posts_total`).
    pub(crate) fn late(&self) {
        self.late.fetch_add(1, Ordering::Relaxed);
        metrics().late_posts.inc();
    }

    /// A message became a dead letter (`yuqing_dead_letters_total`, by
    /// reason).
    pub(crate) fn dead_letter(&self, reason: &str) {
        self.dead_letters.fetch_add(1, Ordering::Relaxed);
        metrics().dead_letters.with_label_values(&[reason]).inc();
    }

    /// An alert message went to the alert sink (`yuqing_alerts_total`, by
    /// category, level and state).
    pub(crate) fn alert(&self, alert: &Alert) {
        self.alerts.fetch_add(1, Ordering::Relaxed);
        metrics()
            .alerts
            .with_label_values(&[
                alert.category.as_str(),
                alert.level.as_str(),
                alert.state.as_str(),
            ])
            .inc();
    }

    /// The index committed in `took`, and holds `documents` posts in
    /// `segments` segments after it.
    pub(crate) fn committed(&self, took: Duration, documents: u64, segments: usize) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        let m = metrics();
        m.commit_duration.observe(took.as_secs_f64());
        m.commits.inc();
        m.last_commit.set(yuqing_model::Timestamp::now().as_secs());
        m.index_documents.set(documents as i64);
        m.index_segments.set(segments as i64);
    }

    /// The Kafka messages with these timestamps (ms) became searchable now
    /// (`yuqing_event_to_searchable_seconds`, and the run's latency
    /// histogram).
    pub(crate) fn searchable(&self, event_ms: &[i64]) {
        let now = yuqing_model::Timestamp::now().as_millis();
        let m = metrics();
        if let Ok(mut h) = self.latency.lock() {
            for ts in event_ms {
                h.record(now - ts);
                m.event_to_searchable
                    .observe((now - ts).max(0) as f64 / 1000.0);
            }
        }
    }

    /// A commit failed or was postponed (`yuqing_index_commit_failures_total`;
    /// the run has no tally of its own for it).
    pub(crate) fn commit_failed(&self) {
        metrics().commit_failures.inc();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use yuqing_metrics::metrics;
    use yuqing_model::{CategoryHit, Post, ScoredPost, Timestamp};

    use crate::Stats;

    fn post(categories: &[&str]) -> ScoredPost {
        let ts = Timestamp::from_epoch(1_719_792_000).unwrap();
        ScoredPost {
            post: Post::new("p", "text", ts),
            categories: categories
                .iter()
                .map(|c| CategoryHit {
                    id: (*c).to_string(),
                    score: 2.0,
                    terms: vec![],
                })
                .collect(),
            regions: vec![],
            severity: None,
        }
    }

    #[test]
    fn an_event_moves_the_run_s_tally_and_the_metric_together() {
        let stats = Stats::default();
        let m = metrics();
        let flagged = || m.posts_flagged.with_label_values(&["events_test"]).get();
        let indexed = m.posts_indexed.get();
        let before = flagged();
        stats.indexed(&post(&[]));
        stats.indexed(&post(&["events_test"]));
        assert_eq!(stats.indexed.load(Ordering::Relaxed), 2);
        assert_eq!(stats.flagged.load(Ordering::Relaxed), 1);
        // (Other tests of the crate share the registry: at least ours.)
        assert!(m.posts_indexed.get() >= indexed + 2);
        assert_eq!(flagged(), before + 1);

        let reason = m.dead_letters.with_label_values(&["events_test"]).get();
        stats.dead_letter("events_test");
        assert_eq!(stats.dead_letters.load(Ordering::Relaxed), 1);
        assert_eq!(
            m.dead_letters.with_label_values(&["events_test"]).get(),
            reason + 1
        );

        let source = m.posts_consumed.with_label_values(&["events_test"]);
        stats.consumed(5, &source);
        assert_eq!(stats.consumed.load(Ordering::Relaxed), 5);
        assert_eq!(source.get(), 5);
    }
}
