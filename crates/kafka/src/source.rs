//! The consumer-group source.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError as RdError;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::{RDKafkaErrorCode, RDKafkaRespErr};
use rdkafka::{ClientContext, Statistics, Timestamp};

use crate::KafkaError;

/// `session.timeout.ms` unless `[kafka.options]` sets it.
pub const DEFAULT_SESSION_TIMEOUT_MS: u64 = 6_000;

/// The longest a start waits for the session of a killed predecessor to
/// end (brokers allow session timeouts up to 30 minutes; a longer wait is
/// an operator's call, not a default).
const MAX_JOIN_DELAY: Duration = Duration::from_secs(300);

/// Added to the predecessor's session timeout: its last heartbeat came
/// before this process started, so its session has surely ended then.
const JOIN_MARGIN: Duration = Duration::from_secs(1);

/// How often a source that holds no partitions looks at its topics' ends
/// and its group's committed offsets.
const STALL_CHECK: Duration = Duration::from_secs(5);

/// A topic and a partition.
pub type TopicPartition = (String, i32);

/// What the source needs to join the group.
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    /// Bootstrap brokers.
    pub brokers: String,
    /// Consumer group.
    pub group_id: String,
    /// Client id.
    pub client_id: String,
    /// Topics to consume.
    pub topics: Vec<String>,
    /// Pass-through librdkafka properties (applied last).
    pub options: BTreeMap<String, String>,
    /// The membership file (see [`Membership`]): `None` joins at once.
    pub member_file: Option<PathBuf>,
}

/// A record, kept in the data directory while the source is a member of
/// its group, that says a run is (or was) a member: written when the
/// source starts, removed when it leaves the group cleanly. Found at a
/// start, it means the previous run was killed without leaving, and its
/// member may still hold the partitions until its session times out.
///
/// Joining while that dead member is still in the group gains nothing on
/// any broker (the group cannot rebalance before the dead member's session
/// ends), and on some it is harmful: tansu 0.6 can settle such a rebalance
/// with no partitions assigned to anyone, for good. So a source that finds
/// the record waits out the recorded session timeout (plus a second, at
/// most five minutes) before it subscribes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Membership {
    /// The group the run was a member of.
    pub group_id: String,
    /// Its bootstrap brokers.
    pub brokers: String,
    /// Its session timeout, ms.
    pub session_timeout_ms: u64,
}

impl Membership {
    /// How long a run with `settings` should wait before joining, given the
    /// record `found` at its start: the recorded session timeout plus a
    /// margin when it is of the same group on the same brokers, else zero.
    pub fn join_delay(found: Option<&Membership>, settings: &ConsumerSettings) -> Duration {
        match found {
            Some(m) if m.group_id == settings.group_id && m.brokers == settings.brokers => {
                (Duration::from_millis(m.session_timeout_ms) + JOIN_MARGIN).min(MAX_JOIN_DELAY)
            }
            _ => Duration::ZERO,
        }
    }

    /// The record in `path`, if there is one. One that cannot be read is
    /// logged and treated as a record with the default session timeout of
    /// this group: a crash may have left it torn.
    fn read(path: &Path, settings: &ConsumerSettings) -> Option<Membership> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(path = %path.display(), %e, "reading the group membership record");
                Vec::new()
            }
        };
        Some(serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(path = %path.display(), %e, "the group membership record is not valid: read as one with the default session timeout");
            Membership {
                group_id: settings.group_id.clone(),
                brokers: settings.brokers.clone(),
                session_timeout_ms: DEFAULT_SESSION_TIMEOUT_MS,
            }
        }))
    }

    /// Writes the record to `path` (through a temporary file and a rename,
    /// so that it is whole or absent).
    fn write(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("tmp");
        let body = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, body)?;
        std::fs::rename(&tmp, path)
    }
}

/// One consumed message.
#[derive(Debug, Clone)]
pub struct KafkaMessage {
    /// Topic.
    pub topic: Arc<str>,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// The message timestamp (producer create time or broker append time),
    /// ms since the epoch.
    pub timestamp_ms: Option<i64>,
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Payload (empty for a message without one).
    pub payload: Vec<u8>,
}

struct Shared {
    /// Where to start each partition when it is assigned (next offsets).
    start: Mutex<HashMap<TopicPartition, i64>>,
    /// Whether the brokers answered lately.
    connected: AtomicBool,
    /// Partitions currently assigned.
    assigned: Mutex<Vec<TopicPartition>>,
}

/// Partitions assigned now (for the metrics as well).
fn set_assigned(shared: &Shared, parts: Vec<TopicPartition>) {
    yuqing_metrics::metrics()
        .consumer_assigned
        .set(parts.len() as i64);
    if let Ok(mut a) = shared.assigned.lock() {
        *a = parts;
    }
}

/// Callbacks from librdkafka.
pub struct SourceContext {
    shared: Arc<Shared>,
}

impl ClientContext for SourceContext {
    fn error(&self, error: RdError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            self.shared.connected.store(false, Ordering::Relaxed);
        }
        tracing::warn!(%error, reason, "kafka");
    }

    /// librdkafka's statistics (every `statistics.interval.ms`): the lag of
    /// each assigned partition, for `yuqing_consumer_lag`.
    fn stats(&self, statistics: Statistics) {
        let lag = &yuqing_metrics::metrics().consumer_lag;
        let assigned = self
            .shared
            .assigned
            .lock()
            .map(|a| a.clone())
            .unwrap_or_default();
        for (topic, t) in &statistics.topics {
            for p in t.partitions.values() {
                if p.partition < 0 {
                    continue;
                }
                let partition = p.partition.to_string();
                let mine = assigned
                    .iter()
                    .any(|(at, ap)| at == topic && *ap == p.partition);
                if mine && p.consumer_lag >= 0 {
                    lag.with_label_values(&[topic.as_str(), partition.as_str()])
                        .set(p.consumer_lag);
                } else if !mine {
                    let _ = lag.remove_label_values(&[topic.as_str(), partition.as_str()]);
                }
            }
        }
    }
}

impl ConsumerContext for SourceContext {
    /// Assigns partitions starting at the offsets the index committed (the
    /// rest start at the group's committed offset, or the earliest).
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let parts: Vec<TopicPartition> = tpl
                    .elements()
                    .iter()
                    .map(|e| (e.topic().to_string(), e.partition()))
                    .collect();
                let start = self
                    .shared
                    .start
                    .lock()
                    .map(|m| m.clone())
                    .unwrap_or_default();
                for (topic, partition) in &parts {
                    if let Some(&offset) = start.get(&(topic.clone(), *partition))
                        && let Err(e) =
                            tpl.set_partition_offset(topic, *partition, Offset::Offset(offset))
                    {
                        tracing::warn!(%e, topic, partition, "cannot set the start offset");
                    }
                }
                tracing::info!(partitions = ?parts, "partitions assigned");
                if let Err(e) = consumer.assign(tpl) {
                    tracing::error!(%e, "assigning partitions failed");
                }
                set_assigned(&self.shared, parts);
                self.shared.connected.store(true, Ordering::Relaxed);
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                tracing::info!("partitions revoked");
                if let Err(e) = consumer.unassign() {
                    tracing::error!(%e, "unassigning partitions failed");
                }
                set_assigned(&self.shared, Vec::new());
            }
            other => {
                tracing::error!(error = ?other, "rebalance failed");
                let _ = consumer.unassign();
                set_assigned(&self.shared, Vec::new());
            }
        }
    }

    fn pre_rebalance(&self, _: &BaseConsumer<Self>, _: &Rebalance<'_>) {}
}

/// A consumer-group member with manual offsets.
pub struct KafkaSource {
    consumer: BaseConsumer<SourceContext>,
    shared: Arc<Shared>,
    paused: bool,
    topics: Vec<String>,
    session_timeout: Duration,
    /// When the last message was consumed (or the source started).
    last_message: Instant,
    /// Since when no partition has been held (`None`: some are).
    unassigned_since: Option<Instant>,
    /// The last look at the group's committed offsets while holding
    /// nothing: when, and what they were.
    last_check: Option<(Instant, HashMap<TopicPartition, i64>)>,
    /// Why the source is stalled, as of the last check.
    stalled: Option<String>,
    /// Not subscribed yet: when to (see [`Membership`]).
    join_at: Option<Instant>,
    /// The membership record, removed on a clean leave.
    member_file: Option<PathBuf>,
}

impl KafkaSource {
    /// Joins the group and subscribes. `start` holds the next offset to read
    /// per partition, as the index last committed them. Succeeds even when
    /// no broker answers yet: librdkafka keeps retrying (see
    /// [`KafkaSource::connected`]).
    pub fn new(
        settings: &ConsumerSettings,
        start: HashMap<TopicPartition, i64>,
    ) -> Result<Self, KafkaError> {
        let mut config =
            crate::client_config(&settings.brokers, &settings.client_id, &BTreeMap::new());
        config
            .set("group.id", &settings.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            // A fetch waits at most this long for data: bounds the latency
            // on brokers that hold fetches to the limit rather than answer
            // when data arrives (ten idle fetches a second cost nothing).
            .set("fetch.wait.max.ms", "100")
            // Consumer lag for the metrics.
            .set("statistics.interval.ms", "5000")
            // A member that dies (kill -9, a lost host) keeps its
            // partitions until the group coordinator has missed its
            // heartbeats for the session timeout: librdkafka's 45 s default
            // would leave them unread that long after a crash. 6 s is the
            // least brokers accept by default (group.min.session.timeout.ms);
            // heartbeats come from librdkafka's own thread, so slow batches
            // do not delay them.
            .set("session.timeout.ms", DEFAULT_SESSION_TIMEOUT_MS.to_string())
            .set("heartbeat.interval.ms", "1000");
        for (k, v) in &settings.options {
            config.set(k, v);
        }
        let shared = Arc::new(Shared {
            start: Mutex::new(start),
            connected: AtomicBool::new(false),
            assigned: Mutex::new(Vec::new()),
        });
        let consumer: BaseConsumer<SourceContext> = config
            .create_with_context(SourceContext {
                shared: Arc::clone(&shared),
            })
            .map_err(|e| KafkaError::new("creating the Kafka consumer", e))?;
        let session_timeout = settings
            .options
            .get("session.timeout.ms")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(DEFAULT_SESSION_TIMEOUT_MS);
        let mut join_at = None;
        if let Some(path) = &settings.member_file {
            let found = Membership::read(path, settings);
            let delay = Membership::join_delay(found.as_ref(), settings);
            if !delay.is_zero() {
                tracing::info!(
                    group = %settings.group_id,
                    "the previous run was stopped without leaving the group (killed?): joining in {} s, once its member's session has ended",
                    delay.as_secs_f64().ceil()
                );
                join_at = Some(Instant::now() + delay);
            }
            let record = Membership {
                group_id: settings.group_id.clone(),
                brokers: settings.brokers.clone(),
                session_timeout_ms: session_timeout,
            };
            record.write(path).map_err(|cause| KafkaError::Io {
                context: format!("writing the group membership record {}", path.display()),
                cause,
            })?;
        }
        yuqing_metrics::metrics().consumer_assigned.set(0);
        yuqing_metrics::metrics().consumer_stalled.set(0);
        let mut source = KafkaSource {
            consumer,
            shared,
            paused: false,
            topics: settings.topics.clone(),
            session_timeout: Duration::from_millis(session_timeout),
            last_message: Instant::now(),
            unassigned_since: Some(Instant::now()),
            last_check: None,
            stalled: None,
            join_at,
            member_file: settings.member_file.clone(),
        };
        if source.join_at.is_none() {
            source.subscribe()?;
        }
        Ok(source)
    }

    /// Subscribes to the topics (joins the group).
    fn subscribe(&mut self) -> Result<(), KafkaError> {
        let topics: Vec<&str> = self.topics.iter().map(String::as_str).collect();
        self.consumer.subscribe(&topics).map_err(|e| {
            KafkaError::new(format!("subscribing to {}", self.topics.join(", ")), e)
        })?;
        self.join_at = None;
        Ok(())
    }

    /// Subscribes once the wait for a predecessor's session is over; `true`
    /// while still waiting (after sleeping at most `timeout`).
    fn waiting_to_join(&mut self, timeout: Duration) -> bool {
        let Some(at) = self.join_at else {
            return false;
        };
        let now = Instant::now();
        if now < at {
            std::thread::sleep(timeout.min(at - now));
            return true;
        }
        tracing::info!("joining the group");
        if let Err(e) = self.subscribe() {
            tracing::warn!(%e, "joining the group: trying again in 1 s");
            self.join_at = Some(Instant::now() + Duration::from_secs(1));
            return true;
        }
        false
    }

    /// Up to `max` messages: waits up to `timeout` for the first, then takes
    /// what is already fetched. Errors reported by the client are logged
    /// and do not end the batch.
    pub fn poll_batch(&mut self, max: usize, timeout: Duration) -> Vec<KafkaMessage> {
        let mut out = Vec::new();
        if self.waiting_to_join(timeout) {
            self.report_message_age();
            return out;
        }
        let mut wait = timeout;
        while out.len() < max {
            match self.consumer.poll(wait) {
                None => break,
                Some(Ok(m)) => {
                    self.shared.connected.store(true, Ordering::Relaxed);
                    out.push(KafkaMessage {
                        topic: Arc::from(m.topic()),
                        partition: m.partition(),
                        offset: m.offset(),
                        timestamp_ms: match m.timestamp() {
                            Timestamp::NotAvailable => None,
                            Timestamp::CreateTime(t) | Timestamp::LogAppendTime(t) => Some(t),
                        },
                        key: m.key().map(<[u8]>::to_vec),
                        payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                    });
                }
                Some(Err(e)) => {
                    tracing::warn!(%e, "kafka consumer");
                }
            }
            wait = Duration::ZERO;
        }
        if !out.is_empty() {
            self.last_message = Instant::now();
        }
        self.report_message_age();
        out
    }

    /// `yuqing_consumer_last_message_age_seconds`, now.
    fn report_message_age(&self) {
        yuqing_metrics::metrics()
            .consumer_last_message_age
            .set(self.last_message.elapsed().as_secs() as i64);
    }

    /// Why the source is stalled, or `None`: it has held no partitions for
    /// longer than the session timeout while its topics have messages past
    /// the group's committed offsets, and those offsets did not move since
    /// the previous look (every 5 s), so no other member reads them either
    /// (e.g. a killed member still holds them). A member left without
    /// partitions because the group has more members than partitions is
    /// not stalled: the others commit. Also sets `yuqing_consumer_stalled`.
    pub fn stalled(&mut self) -> Option<String> {
        let held = !self.assigned().is_empty();
        if held {
            self.unassigned_since = None;
            self.last_check = None;
            self.set_stalled(None);
            return None;
        }
        let since = *self.unassigned_since.get_or_insert_with(Instant::now);
        if since.elapsed() <= self.session_timeout {
            self.set_stalled(None);
            return None;
        }
        if self
            .last_check
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() < STALL_CHECK)
        {
            return self.stalled.clone();
        }
        let Some((unread, committed)) = self.unread() else {
            // The cluster does not answer: readiness says so already.
            self.last_check = None;
            self.set_stalled(None);
            return None;
        };
        let unmoved = self
            .last_check
            .as_ref()
            .is_some_and(|(_, before)| *before == committed);
        let why = (unread > 0 && unmoved).then(|| {
            format!(
                "the Kafka source has held no partitions for {} s (session timeout {} s) while \
                 {unread} messages of {} wait unread and the group's committed offsets do not \
                 move (a dead member still holding them?)",
                since.elapsed().as_secs(),
                self.session_timeout.as_secs(),
                self.topics.join(", ")
            )
        });
        self.last_check = Some((Instant::now(), committed));
        self.set_stalled(why);
        self.stalled.clone()
    }

    fn set_stalled(&mut self, why: Option<String>) {
        if why.is_some() != self.stalled.is_some() {
            match &why {
                Some(w) => tracing::warn!("{w}: not ready (/readyz 503)"),
                None => tracing::info!("the Kafka source reads again: ready"),
            }
        }
        yuqing_metrics::metrics()
            .consumer_stalled
            .set(i64::from(why.is_some()));
        self.stalled = why;
    }

    /// Messages past the group's committed offsets (the partition's start
    /// where none is committed) over every partition of the topics, and the
    /// committed offsets; `None` when the cluster does not answer.
    fn unread(&self) -> Option<(i64, HashMap<TopicPartition, i64>)> {
        let timeout = Duration::from_secs(2);
        let mut tpl = TopicPartitionList::new();
        for topic in &self.topics {
            let metadata = self.consumer.fetch_metadata(Some(topic), timeout).ok()?;
            for t in metadata.topics() {
                for p in t.partitions() {
                    tpl.add_partition(t.name(), p.id());
                }
            }
        }
        let got = self.consumer.committed_offsets(tpl.clone(), timeout).ok()?;
        let mut unread = 0;
        let mut committed = HashMap::new();
        for e in tpl.elements() {
            let (low, high) = self
                .consumer
                .fetch_watermarks(e.topic(), e.partition(), timeout)
                .ok()?;
            let at = match got
                .find_partition(e.topic(), e.partition())
                .map(|c| c.offset())
            {
                Some(Offset::Offset(o)) => o.max(low),
                _ => low,
            };
            unread += (high - at).max(0);
            committed.insert((e.topic().to_string(), e.partition()), at);
        }
        Some((unread, committed))
    }

    /// Commits next offsets to Kafka and makes them the start of any later
    /// assignment. `wait`: block until the group coordinator has them (for
    /// the last commit before leaving); otherwise asynchronous.
    pub fn commit(
        &self,
        next: &BTreeMap<TopicPartition, i64>,
        wait: bool,
    ) -> Result<(), KafkaError> {
        if next.is_empty() {
            return Ok(());
        }
        self.set_start(next);
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), offset) in next {
            tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset))
                .map_err(|e| KafkaError::new("building the offsets to commit", e))?;
        }
        let mode = if wait {
            CommitMode::Sync
        } else {
            CommitMode::Async
        };
        self.consumer
            .commit(&tpl, mode)
            .map_err(|e| KafkaError::new("committing offsets to Kafka", e))
    }

    /// Records start offsets for later assignments.
    pub fn set_start(&self, next: &BTreeMap<TopicPartition, i64>) {
        if let Ok(mut start) = self.shared.start.lock() {
            for (tp, o) in next {
                start.insert(tp.clone(), *o);
            }
        }
    }

    /// Stops fetching from every assigned partition (group membership and
    /// heartbeats go on while [`KafkaSource::poll_batch`] is still called).
    pub fn pause(&mut self) {
        if self.paused {
            return;
        }
        if let Ok(a) = self.consumer.assignment()
            && self.consumer.pause(&a).is_ok()
        {
            self.paused = true;
        }
    }

    /// Resumes fetching.
    pub fn resume(&mut self) {
        if !self.paused {
            return;
        }
        if let Ok(a) = self.consumer.assignment() {
            let _ = self.consumer.resume(&a);
        }
        self.paused = false;
    }

    /// Whether fetching is paused.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Whether the brokers answered lately (false after librdkafka reports
    /// all brokers down, until a message, an assignment or a successful
    /// [`KafkaSource::check_connection`]).
    pub fn connected(&self) -> bool {
        self.shared.connected.load(Ordering::Relaxed)
    }

    /// Asks the cluster for metadata, to learn whether it answers.
    pub fn check_connection(&self, timeout: Duration) -> bool {
        let ok = self.consumer.fetch_metadata(None, timeout).is_ok();
        self.shared.connected.store(ok, Ordering::Relaxed);
        ok
    }

    /// Partitions currently assigned.
    pub fn assigned(&self) -> Vec<TopicPartition> {
        self.shared
            .assigned
            .lock()
            .map(|a| a.clone())
            .unwrap_or_default()
    }

    /// Leaves the group cleanly, and removes the membership record.
    pub fn close(self) {
        self.consumer.unsubscribe();
        if let Some(path) = &self.member_file
            && let Err(e) = std::fs::remove_file(path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %path.display(), %e, "removing the group membership record");
        }
    }
}
