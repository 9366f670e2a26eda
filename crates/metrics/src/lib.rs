//! The Prometheus metrics of a yuqing process.
//!
//! One registry per process, reached with [`metrics()`]; every crate that
//! has something to count updates it, and `GET /metrics` encodes it in the
//! text exposition format. Every metric is documented in `docs/metrics.md`;
//! [`Metrics::names`] lists them (the shipped dashboard and alerting rules
//! are checked against it).
//!
//! ```
//! let m = yuqing_metrics::metrics();
//! m.posts_indexed.inc();
//! assert!(yuqing_metrics::encode().contains("yuqing_posts_indexed_total"));
//! ```

use std::sync::OnceLock;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder, core::Collector,
};

/// Buckets for per-post stage durations, seconds (1 µs to 100 ms).
const STAGE_BUCKETS: &[f64] = &[
    1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 1e-2, 1e-1,
];
/// Buckets for end-to-end latencies and commits, seconds (1 ms to 5 min).
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];
/// Buckets for HTTP requests, seconds.
const HTTP_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Why a message is a dead letter: the values of
/// `yuqing_dead_letters_total{reason}`.
pub const DEAD_LETTER_REASONS: [&str; 7] = [
    "invalid_utf8",
    "malformed_json",
    "not_an_object",
    "missing_field",
    "invalid_field",
    "too_large",
    "empty",
];

/// The stages of `yuqing_stage_duration_seconds{stage}`.
pub const STAGES: [&str; 4] = ["decode", "segment", "score", "index"];

/// The states of `yuqing_alerts_total{state}`.
pub const ALERT_STATES: [&str; 3] = ["open", "update", "resolved"];

/// The verdicts of `yuqing_alert_verdicts_total{category, verdict}`.
pub const VERDICTS: [&str; 4] = ["confirmed", "false_alarm", "duplicate", "monitoring"];

/// Buckets for the time from an alert's open to its first
/// acknowledgement, seconds (1 minute to 3 days).
const ACK_BUCKETS: &[f64] = &[
    60.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0, 259200.0,
];

/// Every metric of the process.
pub struct Metrics {
    registry: Registry,
    names: Vec<String>,
    /// `yuqing_build_info{version}`: always 1.
    pub build_info: IntGaugeVec,
    /// `yuqing_posts_consumed_total{source}`: messages taken from a source.
    pub posts_consumed: IntCounterVec,
    /// `yuqing_posts_indexed_total`: posts added to the index.
    pub posts_indexed: IntCounter,
    /// `yuqing_dead_letters_total{reason}`.
    pub dead_letters: IntCounterVec,
    /// `yuqing_posts_flagged_total{category}`.
    pub posts_flagged: IntCounterVec,
    /// `yuqing_stage_duration_seconds{stage}`: per post.
    pub stage_duration: HistogramVec,
    /// `yuqing_event_to_searchable_seconds`.
    pub event_to_searchable: Histogram,
    /// `yuqing_index_commit_duration_seconds`.
    pub commit_duration: Histogram,
    /// `yuqing_index_commits_total`.
    pub commits: IntCounter,
    /// `yuqing_index_commit_failures_total`.
    pub commit_failures: IntCounter,
    /// `yuqing_detector_snapshot_failures_total`: commits written without
    /// a detector snapshot (its state could not be serialised).
    pub snapshot_failures: IntCounter,
    /// `yuqing_index_last_commit_timestamp_seconds`.
    pub last_commit: IntGauge,
    /// `yuqing_index_documents`.
    pub index_documents: IntGauge,
    /// `yuqing_index_segments`.
    pub index_segments: IntGauge,
    /// `yuqing_consumer_lag{topic, partition}`: messages behind the
    /// partition's end.
    pub consumer_lag: IntGaugeVec,
    /// `yuqing_consumer_assigned_partitions`: partitions the Kafka source
    /// holds now.
    pub consumer_assigned: IntGauge,
    /// `yuqing_consumer_last_message_age_seconds`: since the last message
    /// was consumed (since the source started, before the first).
    pub consumer_last_message_age: IntGauge,
    /// `yuqing_consumer_stalled`: 1 while the source holds no partitions
    /// and its topics have messages no group member reads.
    pub consumer_stalled: IntGauge,
    /// `yuqing_alerts_total{category, level, state}`: alert messages.
    pub alerts: IntCounterVec,
    /// `yuqing_alerts_open`: alerts open now.
    pub alerts_open: IntGauge,
    /// `yuqing_late_posts_total`: flagged posts after their bucket closed.
    pub late_posts: IntCounter,
    /// `yuqing_dictionary_reloads_total`.
    pub dictionary_reloads: IntCounter,
    /// `yuqing_dictionary_reload_failures_total{reason}`: `errors` (the
    /// set has errors) or `shrinks` (it would drop regions or a category of
    /// the running set).
    pub dictionary_reload_failures: IntCounterVec,
    /// `yuqing_http_requests_total{route, status}`.
    pub http_requests: IntCounterVec,
    /// `yuqing_http_request_duration_seconds{route}`.
    pub http_duration: HistogramVec,
    /// `yuqing_exports_total{format, outcome}`.
    pub exports: IntCounterVec,
    /// `yuqing_export_rows_total{format}`.
    pub export_rows: IntCounterVec,
    /// `yuqing_webhook_deliveries_total{webhook, outcome}`: attempts to
    /// deliver alert messages to webhooks (`delivered`, `retried`, `dead`:
    /// written to the dead-letter file after the retry budget).
    pub webhook_deliveries: IntCounterVec,
    /// `yuqing_webhook_pending`: messages in the webhook outbox not yet
    /// delivered.
    pub webhook_pending: IntGauge,
    /// `yuqing_alert_ack_seconds`: from an alert's open to its first
    /// acknowledgement.
    pub alert_ack_seconds: Histogram,
    /// `yuqing_alert_verdicts_total{category, verdict}`: acknowledgements
    /// recorded.
    pub alert_verdicts: IntCounterVec,
}

fn histogram(name: &str, help: &str, buckets: &[f64]) -> Histogram {
    Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))
        .expect("a valid histogram definition")
}

// The definitions are constants: a failure in these is a bug, found by the
// first test that touches metrics.

fn histogram_vec(name: &str, help: &str, buckets: &[f64], labels: &[&str]) -> HistogramVec {
    HistogramVec::new(
        HistogramOpts::new(name, help).buckets(buckets.to_vec()),
        labels,
    )
    .expect("a valid histogram definition")
}

fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::new(name, help).expect("a valid counter")
}

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("a valid counter")
}

fn gauge(name: &str, help: &str) -> IntGauge {
    IntGauge::new(name, help).expect("a valid gauge")
}

fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    IntGaugeVec::new(Opts::new(name, help), labels).expect("a valid gauge")
}

/// The Kafka source's metrics: consumer_lag, consumer_assigned, consumer_last_message_age, consumer_stalled.
fn consumer_metrics() -> (IntGaugeVec, IntGauge, IntGauge, IntGauge) {
    (
        gauge_vec(
            "yuqing_consumer_lag",
            "Messages between the consumer's position and the end of the partition (librdkafka statistics).",
            &["topic", "partition"],
        ),
        gauge(
            "yuqing_consumer_assigned_partitions",
            "Partitions the Kafka source holds now.",
        ),
        gauge(
            "yuqing_consumer_last_message_age_seconds",
            "Seconds since the Kafka source consumed its last message (since it started, before the first).",
        ),
        gauge(
            "yuqing_consumer_stalled",
            "1 while the Kafka source has held no partitions for longer than the session timeout and its topics have unread messages whose committed offsets do not move.",
        ),
    )
}

/// The webhooks' metrics: webhook_deliveries, webhook_pending.
fn webhook_metrics() -> (IntCounterVec, IntGauge) {
    (
        counter_vec(
            "yuqing_webhook_deliveries_total",
            "Attempts to deliver alert messages to webhooks, by webhook and outcome (delivered; retried: failed, tried again later; dead: failed after the retry budget, written to the dead-letter file).",
            &["webhook", "outcome"],
        ),
        gauge(
            "yuqing_webhook_pending",
            "Alert messages in the webhook outbox not yet delivered (or dead-lettered).",
        ),
    )
}

/// The acknowledgements' metrics: alert_ack_seconds, alert_verdicts.
fn ack_metrics() -> (Histogram, IntCounterVec) {
    (
        histogram(
            "yuqing_alert_ack_seconds",
            "Seconds from an alert's open (the emitted_at of its open message) to its first acknowledgement (the server's clock).",
            ACK_BUCKETS,
        ),
        counter_vec(
            "yuqing_alert_verdicts_total",
            "Acknowledgements recorded, by the alert's category and the verdict (confirmed, false_alarm, duplicate, monitoring).",
            &["category", "verdict"],
        ),
    )
}

impl Metrics {
    fn new() -> Metrics {
        let (consumer_lag, consumer_assigned, consumer_last_message_age, consumer_stalled) =
            consumer_metrics();
        let (webhook_deliveries, webhook_pending) = webhook_metrics();
        let (alert_ack_seconds, alert_verdicts) = ack_metrics();
        let m = Metrics {
            registry: Registry::new(),
            names: Vec::new(),
            build_info: gauge_vec(
                "yuqing_build_info",
                "Always 1; the version of the running binary is in the label.",
                &["version"],
            ),
            posts_consumed: counter_vec(
                "yuqing_posts_consumed_total",
                "Messages taken from a source (file lines or Kafka messages), valid or not.",
                &["source"],
            ),
            posts_indexed: counter(
                "yuqing_posts_indexed_total",
                "Posts added to the index (an upsert counts once).",
            ),
            dead_letters: counter_vec(
                "yuqing_dead_letters_total",
                "Messages that were not valid posts, by reason.",
                &["reason"],
            ),
            posts_flagged: counter_vec(
                "yuqing_posts_flagged_total",
                "Posts flagged with a category (a post with two categories counts for both).",
                &["category"],
            ),
            stage_duration: histogram_vec(
                "yuqing_stage_duration_seconds",
                "Time one post spends in a stage: decode (JSON and validation), segment (normalise and segment), score (matching), index (building and adding the document).",
                STAGE_BUCKETS,
                &["stage"],
            ),
            event_to_searchable: histogram(
                "yuqing_event_to_searchable_seconds",
                "From a Kafka message's timestamp to the index commit that made it searchable.",
                LATENCY_BUCKETS,
            ),
            commit_duration: histogram(
                "yuqing_index_commit_duration_seconds",
                "Duration of an index commit (with the sinks flushed before it).",
                LATENCY_BUCKETS,
            ),
            commits: counter("yuqing_index_commits_total", "Index commits."),
            commit_failures: counter(
                "yuqing_index_commit_failures_total",
                "Index commits that failed or were postponed (a sink could not deliver).",
            ),
            snapshot_failures: counter(
                "yuqing_detector_snapshot_failures_total",
                "Index commits written without a burst detector snapshot (its state could not be serialised).",
            ),
            last_commit: gauge(
                "yuqing_index_last_commit_timestamp_seconds",
                "Unix time of the last successful index commit.",
            ),
            index_documents: gauge(
                "yuqing_index_documents",
                "Posts in the index after the last commit.",
            ),
            index_segments: gauge(
                "yuqing_index_segments",
                "Segments in the index after the last commit.",
            ),
            consumer_lag,
            consumer_assigned,
            consumer_last_message_age,
            consumer_stalled,
            alerts: counter_vec(
                "yuqing_alerts_total",
                "Alert messages emitted, by category, level and state (open, update, resolved).",
                &["category", "level", "state"],
            ),
            alerts_open: gauge("yuqing_alerts_open", "Alerts open now."),
            late_posts: counter(
                "yuqing_late_posts_total",
                "Flagged posts that arrived after their bucket was closed (not counted by the burst detector).",
            ),
            dictionary_reloads: counter(
                "yuqing_dictionary_reloads_total",
                "Successful dictionary reloads.",
            ),
            dictionary_reload_failures: counter_vec(
                "yuqing_dictionary_reload_failures_total",
                "Dictionary reloads rejected (the old dictionaries kept serving), by reason: errors in the set, or a set that would drop regions or a category of the running one.",
                &["reason"],
            ),
            http_requests: counter_vec(
                "yuqing_http_requests_total",
                "HTTP requests by route (the matched pattern) and status code.",
                &["route", "status"],
            ),
            http_duration: histogram_vec(
                "yuqing_http_request_duration_seconds",
                "HTTP request duration by route.",
                HTTP_BUCKETS,
                &["route"],
            ),
            exports: counter_vec(
                "yuqing_exports_total",
                "Exports by format and outcome (complete, cancelled: the client went away, failed).",
                &["format", "outcome"],
            ),
            export_rows: counter_vec(
                "yuqing_export_rows_total",
                "Posts written by exports, by format.",
                &["format"],
            ),
            webhook_deliveries,
            webhook_pending,
            alert_ack_seconds,
            alert_verdicts,
        };
        m.register()
    }

    fn register(mut self) -> Metrics {
        let collectors: Vec<Box<dyn Collector>> = vec![
            Box::new(self.build_info.clone()),
            Box::new(self.posts_consumed.clone()),
            Box::new(self.posts_indexed.clone()),
            Box::new(self.dead_letters.clone()),
            Box::new(self.posts_flagged.clone()),
            Box::new(self.stage_duration.clone()),
            Box::new(self.event_to_searchable.clone()),
            Box::new(self.commit_duration.clone()),
            Box::new(self.commits.clone()),
            Box::new(self.commit_failures.clone()),
            Box::new(self.snapshot_failures.clone()),
            Box::new(self.last_commit.clone()),
            Box::new(self.index_documents.clone()),
            Box::new(self.index_segments.clone()),
            Box::new(self.consumer_lag.clone()),
            Box::new(self.consumer_assigned.clone()),
            Box::new(self.consumer_last_message_age.clone()),
            Box::new(self.consumer_stalled.clone()),
            Box::new(self.alerts.clone()),
            Box::new(self.alerts_open.clone()),
            Box::new(self.late_posts.clone()),
            Box::new(self.dictionary_reloads.clone()),
            Box::new(self.dictionary_reload_failures.clone()),
            Box::new(self.http_requests.clone()),
            Box::new(self.http_duration.clone()),
            Box::new(self.exports.clone()),
            Box::new(self.export_rows.clone()),
            Box::new(self.webhook_deliveries.clone()),
            Box::new(self.webhook_pending.clone()),
            Box::new(self.alert_ack_seconds.clone()),
            Box::new(self.alert_verdicts.clone()),
        ];
        for c in collectors {
            for d in c.desc() {
                self.names.push(d.fq_name.clone());
            }
            self.registry.register(c).expect("metric names are unique");
        }
        self.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        for reason in ["errors", "shrinks"] {
            self.dictionary_reload_failures.with_label_values(&[reason]);
        }
        self
    }

    /// Creates at zero every labelled series of a pipeline whose label
    /// values are known at start-up, so that a healthy pipeline exports
    /// them from the first scrape (a dashboard shows 0, not "No data", and
    /// `rate()` has a start): messages consumed from `source`, dead letters
    /// by every reason, the stage durations, posts flagged in each of
    /// `categories`, and, with `alerts`, alert messages for every category,
    /// level and state and verdicts for every category. Series already
    /// there keep their values.
    pub fn init_pipeline(&self, source: &str, categories: &[&str], levels: &[&str], alerts: bool) {
        self.posts_consumed.with_label_values(&[source]);
        for reason in DEAD_LETTER_REASONS {
            self.dead_letters.with_label_values(&[reason]);
        }
        for stage in STAGES {
            self.stage_duration.with_label_values(&[stage]);
        }
        for category in categories {
            self.posts_flagged.with_label_values(&[category]);
            if !alerts {
                continue;
            }
            for level in levels {
                for state in ALERT_STATES {
                    self.alerts.with_label_values(&[category, level, state]);
                }
            }
            for verdict in VERDICTS {
                self.alert_verdicts.with_label_values(&[category, verdict]);
            }
        }
    }

    /// The name of every metric (histograms also export `_bucket`, `_sum`
    /// and `_count` series).
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// Every metric in the Prometheus text exposition format (version 0.0.4).
pub fn encode() -> String {
    let mut out = Vec::new();
    let families = metrics().registry.gather();
    if TextEncoder::new().encode(&families, &mut out).is_err() {
        return String::new();
    }
    String::from_utf8(out).unwrap_or_default()
}

/// The content type of [`encode`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_exported_with_help_and_the_yuqing_prefix() {
        let m = metrics();
        m.dead_letters.with_label_values(&["malformed_json"]).inc();
        m.stage_duration.with_label_values(&["score"]).observe(2e-5);
        let text = encode();
        assert!(
            text.contains("yuqing_dead_letters_total{reason=\"malformed_json\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "yuqing_stage_duration_seconds_bucket{stage=\"score\",le=\"0.000025\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains(&format!(
            "yuqing_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )));
        assert_eq!(m.names().len(), 31);
        for n in m.names() {
            assert!(n.starts_with("yuqing_"), "{n}");
        }
        m.init_pipeline("file", &["fire"], &["blue", "red"], true);
        let text = encode();
        assert!(
            text.contains("yuqing_dead_letters_total{reason=\"malformed_json\"} 1"),
            "an existing series keeps its value: {text}"
        );
        for line in [
            "yuqing_dead_letters_total{reason=\"empty\"} 0",
            "yuqing_posts_consumed_total{source=\"file\"} 0",
            "yuqing_posts_flagged_total{category=\"fire\"} 0",
            "yuqing_stage_duration_seconds_count{stage=\"decode\"} 0",
            "yuqing_alerts_total{category=\"fire\",level=\"red\",state=\"resolved\"} 0",
            "yuqing_alert_verdicts_total{category=\"fire\",verdict=\"false_alarm\"} 0",
        ] {
            assert!(text.contains(line), "{line}: {text}");
        }
        // Counters end in _total, per the conventions.
        for n in m.names().iter().filter(|n| n.ends_with("_total")) {
            assert!(!n.contains("_seconds"), "{n}");
        }
    }
}
