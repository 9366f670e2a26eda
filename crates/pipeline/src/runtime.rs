//! The running pipeline.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, SendTimeoutError, bounded};
use prometheus::local::LocalHistogram;
use yuqing_index::{AuthorPolicy, IndexOptions, PostIndex};
use yuqing_kafka::{ConsumerSettings, KafkaProducer};
use yuqing_lexicon::{Lexicon, SharedLexicon};
use yuqing_metrics::metrics;
use yuqing_model::{Post, Timestamp};
use yuqing_spike::{Alert, AlertState, AlertStore, Detector};

use crate::PipelineError;
use crate::config::{PipelineConfig, SourceKind};
use crate::latency::LatencyHistogram;
use crate::positions::Positions;
use crate::scorer::{AnalyzedPost, Scorer, StageClock};
use crate::sinks::{AlertSink, DeadLetter, DeadLetters};
use crate::source::{FileSource, KafkaTopics, MAX_MESSAGE_BYTES, Message, Origin, Polled, Source};

/// How long the stages may stay behind before the source pauses.
const PAUSE_AFTER: Duration = Duration::from_secs(1);

/// Whether the pipeline can take traffic: what `/readyz` reports.
#[derive(Debug, Default)]
pub struct Health {
    connected: AtomicBool,
    draining: AtomicBool,
    /// Why the source reads nothing although messages wait.
    stalled: Mutex<Option<String>>,
}

impl Health {
    /// `Ok` when ready, else why not.
    pub fn check(&self) -> Result<(), String> {
        if self.draining.load(Ordering::Relaxed) {
            return Err("shutting down".into());
        }
        if !self.connected.load(Ordering::Relaxed) {
            return Err("the source is not reachable (Kafka brokers down?)".into());
        }
        if let Some(why) = self.stalled.lock().ok().and_then(|s| s.clone()) {
            return Err(why);
        }
        Ok(())
    }
}

/// Counters, readable while the pipeline runs.
#[derive(Debug, Default)]
pub struct Stats {
    /// Messages taken from the source.
    pub consumed: AtomicU64,
    /// Posts added to the index.
    pub indexed: AtomicU64,
    /// Posts flagged with a category.
    pub flagged: AtomicU64,
    /// Dead letters.
    pub dead_letters: AtomicU64,
    /// Index commits.
    pub commits: AtomicU64,
    /// Alert messages emitted (open, update, resolved).
    pub alerts: AtomicU64,
    /// Flagged posts that came after their bucket closed (not counted by
    /// the burst detector).
    pub late: AtomicU64,
    /// Event-to-searchable latency of Kafka messages (their timestamp to the
    /// commit that made them searchable).
    pub latency: Mutex<LatencyHistogram>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// A file source was read to its end (everything committed).
    SourceEnded,
    /// Asked to stop (signal); drained and committed.
    Stopped,
}

/// A pipeline ready to run: index open, positions loaded.
pub struct Pipeline {
    config: PipelineConfig,
    lexicon: Arc<SharedLexicon>,
    index: Arc<PostIndex>,
    detector: Option<Detector>,
    alert_store: Arc<Mutex<AlertStore>>,
    health: Arc<Health>,
    stats: Arc<Stats>,
}

/// A batch of messages, numbered so that the sink can restore the order.
struct Batch {
    seq: u64,
    messages: Vec<Message>,
}

enum Item {
    Post {
        post: Box<AnalyzedPost>,
        origin: Origin,
    },
    Dead(Box<DeadLetter>),
}

struct Processed {
    seq: u64,
    items: Vec<Item>,
}

/// Offsets for the source to commit, after the index has.
struct CommitRequest {
    positions: Positions,
}

/// Per-worker stage timers, flushed into the metrics after each batch.
struct StageTimers {
    decode: LocalHistogram,
    analyze: LocalHistogram,
    score: LocalHistogram,
}

impl StageTimers {
    fn new() -> Self {
        let stage = |s: &str| metrics().stage_duration.with_label_values(&[s]).local();
        StageTimers {
            decode: stage("decode"),
            analyze: stage("segment"),
            score: stage("score"),
        }
    }

    fn flush(&self) {
        self.decode.flush();
        self.analyze.flush();
        self.score.flush();
    }
}

impl StageClock for StageTimers {
    fn analyzed(&self, started: Instant) {
        self.analyze.observe(started.elapsed().as_secs_f64());
    }

    fn scored(&self, started: Instant) {
        self.score.observe(started.elapsed().as_secs_f64());
    }
}

fn process(scorer: &mut Scorer, timers: &StageTimers, message: Message) -> Item {
    let dead = |message: Message, reason: &'static str, error: String| {
        Item::Dead(Box::new(DeadLetter {
            message,
            reason,
            error,
        }))
    };
    if let Some(n) = message.oversize {
        return dead(
            message,
            "too_large",
            format!("message is {n} bytes, over the limit of {MAX_MESSAGE_BYTES}"),
        );
    }
    if message.payload.len() > MAX_MESSAGE_BYTES {
        let n = message.payload.len();
        return dead(
            message,
            "too_large",
            format!("message is {n} bytes, over the limit of {MAX_MESSAGE_BYTES}"),
        );
    }
    if message.payload.iter().all(u8::is_ascii_whitespace) {
        return dead(message, "empty", "empty message".into());
    }
    let started = Instant::now();
    let decoded = Post::from_json(&message.payload);
    timers.decode.observe(started.elapsed().as_secs_f64());
    match decoded {
        Ok(post) => Item::Post {
            post: Box::new(scorer.score_timed(post, timers)),
            origin: message.origin,
        },
        Err(e) => {
            let reason = e.reason();
            dead(message, reason, e.to_string())
        }
    }
}

impl Pipeline {
    /// Opens the index in `data_dir` (creating it if needed).
    pub fn open(config: PipelineConfig, lexicon: Arc<Lexicon>) -> Result<Pipeline, PipelineError> {
        let index = PostIndex::open_or_create(&config.data_dir, lexicon.shared_analyzer())?;
        let health = Arc::new(Health::default());
        if config.source.kind == SourceKind::File {
            health.connected.store(true, Ordering::Relaxed);
        }
        let positions = Positions::from_payload(index.commit_payload()?.as_deref());
        let categories: Vec<&str> = lexicon.categories().iter().map(|c| c.id.as_str()).collect();
        let levels = yuqing_model::Level::ALL.map(yuqing_model::Level::as_str);
        metrics().init_pipeline(
            source_label(config.source.kind),
            &categories,
            &levels,
            config.spike.enabled,
        );
        let detector = config
            .spike
            .enabled
            .then(|| load_detector(&config, &lexicon, &positions));
        let lexicon = Arc::new(SharedLexicon::new(lexicon));
        let alerts_path = config.data_dir.join(ALERTS_FILE);
        let alert_store = AlertStore::open(&alerts_path, config.alerts.keep)
            .map_err(|e| PipelineError::io(format!("reading {}", alerts_path.display()), e))?;
        Ok(Pipeline {
            config,
            lexicon,
            index: Arc::new(index),
            detector,
            alert_store: Arc::new(Mutex::new(alert_store)),
            health,
            stats: Arc::new(Stats::default()),
        })
    }

    /// The dictionaries in use: swap them (a reload) and the workers and
    /// the index pick the new ones up at their next batch.
    pub fn lexicon(&self) -> Arc<SharedLexicon> {
        Arc::clone(&self.lexicon)
    }

    /// The index, for the HTTP API.
    pub fn index(&self) -> Arc<PostIndex> {
        Arc::clone(&self.index)
    }

    /// The alerts emitted so far (latest message of each), for the HTTP
    /// API.
    pub fn alerts(&self) -> Arc<Mutex<AlertStore>> {
        Arc::clone(&self.alert_store)
    }

    /// Readiness.
    pub fn health(&self) -> Arc<Health> {
        Arc::clone(&self.health)
    }

    /// Counters.
    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.stats)
    }

    /// The positions the index holds (where the sources resume).
    pub fn positions(&self) -> Result<Positions, PipelineError> {
        Ok(Positions::from_payload(
            self.index.commit_payload()?.as_deref(),
        ))
    }

    fn producer(&self) -> Result<KafkaProducer, PipelineError> {
        let k = self
            .config
            .kafka
            .as_ref()
            .ok_or_else(|| PipelineError::Config("a Kafka sink needs [kafka]".into()))?;
        Ok(KafkaProducer::new(&k.brokers, &k.client_id, &k.options)?)
    }

    /// Runs until the source ends (a file without `follow`) or `stop` is
    /// set; then drains what is in flight, commits, and returns.
    pub fn run(mut self, stop: Arc<AtomicBool>) -> Result<RunOutcome, PipelineError> {
        let mut detector = self.detector.take();
        let cfg = &self.config;
        let mut positions = self.positions()?;
        let source: Box<dyn Source> =
            match cfg.source.kind {
                SourceKind::File => {
                    let path = cfg
                        .source
                        .path
                        .clone()
                        .ok_or_else(|| PipelineError::Config("source.path".into()))?;
                    let f = FileSource::open(path.clone(), cfg.source.follow, &positions).map_err(
                        |e| PipelineError::io(format!("opening the source {}", path.display()), e),
                    )?;
                    positions.file = Some(f.position());
                    Box::new(f)
                }
                SourceKind::Kafka => {
                    let k = cfg.kafka.as_ref().ok_or_else(|| {
                        PipelineError::Config("a Kafka source needs [kafka]".into())
                    })?;
                    let settings = ConsumerSettings {
                        brokers: k.brokers.clone(),
                        group_id: cfg.source.group_id.clone(),
                        client_id: k.client_id.clone(),
                        topics: cfg.source.topics.clone(),
                        options: k.options.clone(),
                    };
                    Box::new(KafkaTopics::open(&settings, &positions)?)
                }
            };
        let mut dead_letters = DeadLetters::open(
            cfg.dead_letter.kind,
            cfg.dead_letter.topic.as_deref(),
            cfg.dead_letter.path.as_deref(),
            || self.producer(),
        )?;
        let mut alerts = AlertSink::open(
            cfg.alerts.kind,
            cfg.alerts.topic.as_deref(),
            cfg.alerts.path.as_deref(),
            || self.producer(),
        )?;
        let mut writer = self.index.writer(IndexOptions {
            writer_memory_bytes: cfg.index.writer_memory_mib << 20,
            writer_threads: 1,
            commit_docs: cfg.index.commit_docs,
            commit_interval: Duration::from_millis(cfg.index.commit_interval_ms),
            retention_days: (cfg.index.retention_days > 0).then_some(cfg.index.retention_days),
            authors: match cfg.index.authors.as_str() {
                "raw" => AuthorPolicy::Raw,
                "drop" => AuthorPolicy::Drop,
                _ => AuthorPolicy::Pseudonymise,
            },
        })?;

        let in_flight = cfg.runtime.batches_in_flight;
        let workers = if cfg.runtime.workers > 0 {
            cfg.runtime.workers
        } else {
            thread::available_parallelism()
                .map_or(1, |n| n.get())
                .saturating_sub(1)
                .max(1)
        };
        let (work_tx, work_rx) = bounded::<Batch>(in_flight);
        let (done_tx, done_rx) = bounded::<Processed>(in_flight);
        let (commit_tx, commit_rx) = bounded::<CommitRequest>(16);
        let ended = Arc::new(AtomicBool::new(false));

        let outcome = thread::scope(|scope| -> Result<RunOutcome, PipelineError> {
            // Source: poll, batch, pause when the workers are behind; commit
            // to Kafka what the index has committed.
            {
                let stop = Arc::clone(&stop);
                let ended = Arc::clone(&ended);
                let health = Arc::clone(&self.health);
                let stats = Arc::clone(&self.stats);
                let consumed = metrics()
                    .posts_consumed
                    .with_label_values(&[source_label(cfg.source.kind)]);
                let batch_size = cfg.source.batch_size;
                let brokers = cfg.kafka.as_ref().map(|k| k.brokers.clone());
                let mut source = source;
                scope.spawn(move || {
                    let mut seq = 0u64;
                    let mut pending: Option<Batch> = None;
                    let mut full_since: Option<Instant> = None;
                    let mut reachable = Reachability::default();
                    loop {
                        while let Ok(c) = commit_rx.try_recv() {
                            source.committed(&c.positions, false);
                        }
                        let connected = source.connected();
                        health.connected.store(connected, Ordering::Relaxed);
                        reachable.update(connected, brokers.as_deref().unwrap_or("-"));
                        let stalled = if connected { source.stalled() } else { None };
                        if let Ok(mut s) = health.stalled.lock() {
                            *s = stalled;
                        }
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        if let Some(batch) = pending.take() {
                            match work_tx.send_timeout(batch, Duration::from_millis(100)) {
                                Ok(()) => {
                                    full_since = None;
                                    source.resume();
                                }
                                Err(SendTimeoutError::Timeout(mut batch)) => {
                                    // Back-pressure. A short wait is normal;
                                    // when the stages stay behind, stop
                                    // fetching (pausing drops what the client
                                    // prefetched, so not at every full
                                    // channel) and keep polling so that the
                                    // group does not evict us.
                                    let since = *full_since.get_or_insert_with(Instant::now);
                                    if since.elapsed() >= PAUSE_AFTER {
                                        source.pause();
                                        if let Polled::Messages(more) =
                                            source.poll(batch_size, Duration::from_millis(10))
                                        {
                                            stats
                                                .consumed
                                                .fetch_add(more.len() as u64, Ordering::Relaxed);
                                            consumed.inc_by(more.len() as u64);
                                            batch.messages.extend(more);
                                        }
                                    }
                                    pending = Some(batch);
                                }
                                Err(SendTimeoutError::Disconnected(_)) => break,
                            }
                            continue;
                        }
                        match source.poll(batch_size, Duration::from_millis(100)) {
                            Polled::Messages(messages) => {
                                stats
                                    .consumed
                                    .fetch_add(messages.len() as u64, Ordering::Relaxed);
                                consumed.inc_by(messages.len() as u64);
                                pending = Some(Batch { seq, messages });
                                seq += 1;
                            }
                            Polled::Idle => {}
                            Polled::End => {
                                ended.store(true, Ordering::Relaxed);
                                break;
                            }
                        }
                    }
                    drop(work_tx);
                    // The sink's last commits still reach Kafka; the very
                    // last one is waited for before leaving the group.
                    let mut last: Option<CommitRequest> = None;
                    for c in commit_rx.iter() {
                        if let Some(previous) = last.replace(c) {
                            source.committed(&previous.positions, false);
                        }
                    }
                    if let Some(c) = last {
                        source.committed(&c.positions, true);
                    }
                    source.close();
                });
            }

            // Workers: decode, analyse, score.
            for _ in 0..workers {
                let work_rx = work_rx.clone();
                let done_tx = done_tx.clone();
                let shared = &self.lexicon;
                scope.spawn(move || {
                    let mut scorer = Scorer::current(shared);
                    let timers = StageTimers::new();
                    for batch in work_rx.iter() {
                        // A reload: the next batch uses the new dictionaries.
                        scorer.follow(shared);
                        let span = tracing::debug_span!(
                            "batch",
                            seq = batch.seq,
                            messages = batch.messages.len()
                        );
                        let _entered = span.enter();
                        let items = batch
                            .messages
                            .into_iter()
                            .map(|m| process(&mut scorer, &timers, m))
                            .collect();
                        timers.flush();
                        tracing::trace!("scored");
                        if done_tx
                            .send(Processed {
                                seq: batch.seq,
                                items,
                            })
                            .is_err()
                        {
                            return;
                        }
                    }
                });
            }
            drop(work_rx);
            drop(done_tx);

            // Sink, on this thread: in order; index, dead letters; commit.
            let commit_every = Duration::from_millis(cfg.index.commit_interval_ms);
            let commit_docs = cfg.index.commit_docs;
            let mut next_seq = 0u64;
            let mut reorder: BTreeMap<u64, Vec<Item>> = BTreeMap::new();
            let mut pending = 0usize;
            let mut first_pending: Option<Instant> = None;
            let mut pending_ts: Vec<i64> = Vec::new();
            let mut last_log = Instant::now();
            // Whether the detector changed since its last snapshot.
            let mut detector_dirty = false;
            let mut watermarks = Watermarks::default();
            let mut lexicon_generation = self.lexicon.generation();
            let index_timer = metrics().stage_duration.with_label_values(&["index"]);
            let mut snapshots = SnapshotDir::new(&cfg.data_dir, positions.detector.as_deref());
            // Alerts handed to the sink since its last flush: recorded
            // (for the API, and as delivered) once the flush is done.
            let mut unrecorded: Vec<Alert> = Vec::new();
            let emit = |batch: Vec<Alert>,
                        alerts: &mut AlertSink,
                        unrecorded: &mut Vec<Alert>|
             -> Result<(), PipelineError> {
                for alert in batch {
                    // After a crash the detector replays what it emitted
                    // since the last index commit: an alert whose
                    // `resolved` was delivered does not open or grow again
                    // (its `resolved` message is sent again; at-least-once).
                    // The store holds only what a flush delivered, so what
                    // was lost with the crash is sent again.
                    let concluded = alert.state != AlertState::Resolved
                        && self.alert_store.lock().is_ok_and(|store| {
                            store
                                .get(&alert.alert_id)
                                .is_some_and(|a| a.state == AlertState::Resolved)
                        });
                    if concluded {
                        tracing::debug!(
                            alert_id = %alert.alert_id,
                            state = alert.state.as_str(),
                            "not sent again: the alert was resolved before a restart"
                        );
                        continue;
                    }
                    let json = serde_json::to_vec(&alert).map_err(|e| {
                        PipelineError::io("encoding an alert", std::io::Error::other(e))
                    })?;
                    alerts.emit(&alert.alert_id, &json)?;
                    self.stats.alerts.fetch_add(1, Ordering::Relaxed);
                    metrics()
                        .alerts
                        .with_label_values(&[
                            alert.category.as_str(),
                            alert.level.as_str(),
                            alert.state.as_str(),
                        ])
                        .inc();
                    tracing::info!(
                        alert_id = %alert.alert_id,
                        state = alert.state.as_str(),
                        category = %alert.category,
                        region = alert.region.as_deref().unwrap_or("-"),
                        count = alert.count,
                        trigger = alert.trigger.as_str(),
                        confirmed = alert.confirmed,
                        window_secs = alert.window_secs.unwrap_or(0),
                        "alert"
                    );
                    unrecorded.push(alert);
                }
                Ok(())
            };
            let commit = |writer: &mut yuqing_index::PostWriter,
                          positions: &Positions,
                          pending_ts: &mut Vec<i64>,
                          dead_letters: &mut DeadLetters,
                          alerts: &mut AlertSink,
                          unrecorded: &mut Vec<Alert>|
             -> Result<(), PipelineError> {
                let started = Instant::now();
                dead_letters.flush()?;
                alerts.flush()?;
                if let Ok(mut store) = self.alert_store.lock() {
                    for alert in unrecorded.drain(..) {
                        if let Err(e) = store.record(&alert) {
                            tracing::warn!(error = %e, "could not record an alert for the API");
                        }
                    }
                }
                writer.commit_with_payload(Some(positions.to_payload()))?;
                let m = metrics();
                m.commit_duration.observe(started.elapsed().as_secs_f64());
                m.commits.inc();
                m.last_commit.set(Timestamp::now().as_secs());
                m.index_documents.set(self.index.num_docs() as i64);
                m.index_segments.set(self.index.num_segments() as i64);
                tracing::debug!(
                    ms = started.elapsed().as_millis() as u64,
                    docs = pending_ts.len(),
                    "index commit"
                );
                self.stats.commits.fetch_add(1, Ordering::Relaxed);
                let now = Timestamp::now().as_millis();
                if let Ok(mut h) = self.stats.latency.lock() {
                    for ts in pending_ts.drain(..) {
                        h.record(now - ts);
                        m.event_to_searchable
                            .observe((now - ts).max(0) as f64 / 1000.0);
                    }
                }
                pending_ts.clear();
                // The source commits to Kafka only what the index holds.
                let _ = commit_tx.send(CommitRequest {
                    positions: positions.clone(),
                });
                Ok(())
            };
            loop {
                let got = done_rx.recv_timeout(Duration::from_millis(50));
                match got {
                    Ok(p) => {
                        // A reload: index with the new analyzer's sub-words.
                        if self.lexicon.generation() != lexicon_generation {
                            lexicon_generation = self.lexicon.generation();
                            let lexicon = self.lexicon.load();
                            writer.set_analyzer(lexicon.shared_analyzer());
                            if let Some(d) = detector.as_mut() {
                                d.set_region_parents(lexicon.region_parents());
                            }
                        }
                        reorder.insert(p.seq, p.items);
                        while let Some(items) = reorder.remove(&next_seq) {
                            next_seq += 1;
                            for item in items {
                                match item {
                                    Item::Post { post, origin } => {
                                        let AnalyzedPost {
                                            scored, analyzed, ..
                                        } = *post;
                                        let started = Instant::now();
                                        writer.add(&scored, &analyzed)?;
                                        index_timer.observe(started.elapsed().as_secs_f64());
                                        self.stats.indexed.fetch_add(1, Ordering::Relaxed);
                                        metrics().posts_indexed.inc();
                                        if scored.is_incident() {
                                            self.stats.flagged.fetch_add(1, Ordering::Relaxed);
                                            for c in &scored.categories {
                                                metrics()
                                                    .posts_flagged
                                                    .with_label_values(&[c.id.as_str()])
                                                    .inc();
                                            }
                                        }
                                        if let Some(d) = detector.as_mut() {
                                            detector_dirty = true;
                                            watermarks.observe(&origin, scored.post.ts.as_millis());
                                            if !d.observe(&scored, analyzed.normalized()) {
                                                self.stats.late.fetch_add(1, Ordering::Relaxed);
                                                metrics().late_posts.inc();
                                            }
                                        }
                                        advance(&mut positions, &origin, &mut pending_ts);
                                    }
                                    Item::Dead(d) => {
                                        dead_letters.send(&d)?;
                                        self.stats.dead_letters.fetch_add(1, Ordering::Relaxed);
                                        metrics().dead_letters.with_label_values(&[d.reason]).inc();
                                        advance(&mut positions, &d.message.origin, &mut Vec::new());
                                    }
                                }
                                pending += 1;
                                first_pending.get_or_insert_with(Instant::now);
                            }
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {
                        // A silence: time still passes for a live stream.
                        if let Some(d) = detector.as_mut() {
                            let due = d.tick(Timestamp::now().as_millis());
                            if !due.is_empty() {
                                detector_dirty = true;
                                emit(due, &mut alerts, &mut unrecorded)?;
                                pending += 1;
                                first_pending.get_or_insert_with(Instant::now);
                            }
                        }
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
                // Close the buckets every partition has passed.
                if let Some(d) = detector.as_mut()
                    && let Some(low) = watermarks.low()
                {
                    let due = d.advance_to(low);
                    metrics().alerts_open.set(d.open_alerts() as i64);
                    if !due.is_empty() {
                        detector_dirty = true;
                        emit(due, &mut alerts, &mut unrecorded)?;
                        pending += 1;
                        first_pending.get_or_insert_with(Instant::now);
                    }
                }
                if pending > 0
                    && (pending >= commit_docs
                        || first_pending.is_some_and(|t| t.elapsed() >= commit_every))
                {
                    if let Some(d) = detector.as_ref().filter(|_| detector_dirty) {
                        positions.detector = Some(snapshots.write(d)?);
                        detector_dirty = false;
                    }
                    if let Err(e) = commit(
                        &mut writer,
                        &positions,
                        &mut pending_ts,
                        &mut dead_letters,
                        &mut alerts,
                        &mut unrecorded,
                    ) {
                        match e {
                            // Sinks that cannot deliver: keep the offsets
                            // where they are and try again later.
                            PipelineError::Kafka(_) => {
                                metrics().commit_failures.inc();
                                tracing::warn!(error = %e, "commit postponed")
                            }
                            other => {
                                metrics().commit_failures.inc();
                                return Err(other);
                            }
                        }
                    } else {
                        pending = 0;
                        first_pending = None;
                        snapshots.committed(positions.detector.as_deref());
                    }
                }
                if last_log.elapsed() >= Duration::from_secs(10) {
                    last_log = Instant::now();
                    tracing::info!(
                        consumed = self.stats.consumed.load(Ordering::Relaxed),
                        indexed = self.stats.indexed.load(Ordering::Relaxed),
                        dead_letters = self.stats.dead_letters.load(Ordering::Relaxed),
                        commits = self.stats.commits.load(Ordering::Relaxed),
                        alerts = self.stats.alerts.load(Ordering::Relaxed),
                        "progress"
                    );
                }
            }
            self.health.draining.store(true, Ordering::Relaxed);
            if let Some(d) = detector.as_mut() {
                // A file read to its end: every bucket is complete.
                if ended.load(Ordering::Relaxed) {
                    emit(d.finish(), &mut alerts, &mut unrecorded)?;
                }
                if detector_dirty {
                    positions.detector = Some(snapshots.write(d)?);
                    pending += 1;
                }
            }
            if pending > 0 || self.stats.commits.load(Ordering::Relaxed) == 0 {
                commit(
                    &mut writer,
                    &positions,
                    &mut pending_ts,
                    &mut dead_letters,
                    &mut alerts,
                    &mut unrecorded,
                )?;
                snapshots.committed(positions.detector.as_deref());
            }
            drop(commit_tx);
            Ok(if ended.load(Ordering::Relaxed) {
                RunOutcome::SourceEnded
            } else {
                RunOutcome::Stopped
            })
        });
        writer.finish()?;
        if outcome
            .as_ref()
            .is_ok_and(|o| *o == RunOutcome::SourceEnded)
        {
            // Still serving (the API may stay up): not draining any more.
            self.health.draining.store(false, Ordering::Relaxed);
        }
        outcome
    }
}

/// How long the source may be unreachable before the log says so: longer
/// than the source's own metadata check (every 3 s while unconnected), so
/// that a slow group join at start or a connection the broker closed and
/// librdkafka opened again is not worth a warning.
const UNREACHABLE_AFTER: Duration = Duration::from_secs(5);

/// Says in the log when the source's brokers cannot be reached (readiness
/// is false meanwhile) and when they answer again.
#[derive(Default)]
struct Reachability {
    down_since: Option<Instant>,
    said: bool,
}

impl Reachability {
    fn update(&mut self, connected: bool, brokers: &str) {
        if connected {
            if self.said {
                let secs = self.down_since.map_or(0, |t| t.elapsed().as_secs());
                tracing::info!(
                    brokers,
                    down_secs = secs,
                    "the source's Kafka brokers answer again: reading on, ready"
                );
            }
            *self = Reachability::default();
            return;
        }
        let since = *self.down_since.get_or_insert_with(Instant::now);
        if !self.said && since.elapsed() >= UNREACHABLE_AFTER {
            self.said = true;
            tracing::warn!(
                brokers,
                "the source's Kafka brokers cannot be reached: not ready (/readyz 503); \
                 waiting for them, reading resumes where the index stands"
            );
        }
    }
}

/// The `source` label of `yuqing_posts_consumed_total`.
fn source_label(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::File => "file",
        SourceKind::Kafka => "kafka",
    }
}

/// Moves the positions past a message; collects Kafka timestamps for the
/// latency of the next commit.
fn advance(positions: &mut Positions, origin: &Origin, timestamps: &mut Vec<i64>) {
    match origin {
        Origin::File { line, end } => {
            if let Some(f) = &mut positions.file {
                f.offset = f.offset.max(*end);
                f.line = f.line.max(*line);
            }
        }
        Origin::Kafka {
            topic,
            partition,
            offset,
            timestamp_ms,
        } => {
            positions.advance_kafka(topic, *partition, *offset);
            if let Some(ts) = timestamp_ms {
                timestamps.push(*ts);
            }
        }
    }
}

/// The API's alert log, in the data directory.
pub const ALERTS_FILE: &str = "alerts.jsonl";
/// Where detector snapshots are written, in the data directory.
const SNAPSHOT_DIR: &str = "detector";

/// The detector for a run: restored from the snapshot the last index
/// commit names, or new (with a warning when a snapshot was expected).
fn load_detector(config: &PipelineConfig, lexicon: &Lexicon, positions: &Positions) -> Detector {
    let parents = lexicon.region_parents();
    let Some(name) = positions.detector.as_deref() else {
        return Detector::new(config.spike.clone(), parents);
    };
    let path = config.data_dir.join(SNAPSHOT_DIR).join(name);
    let restored = std::fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| {
            Detector::restore(config.spike.clone(), parents.clone(), &bytes)
                .map_err(|e| e.to_string())
        });
    match restored {
        Ok(d) => {
            tracing::info!(
                snapshot = %path.display(),
                keys = d.keys(),
                open_alerts = d.open_alerts(),
                "burst detector restored"
            );
            d
        }
        Err(e) => {
            tracing::warn!(
                snapshot = %path.display(),
                error = %e,
                "burst detector starts afresh: baselines are relearnt and alerts open \
                 before the restart may open again"
            );
            Detector::new(config.spike.clone(), parents)
        }
    }
}

/// Detector snapshots: each written under a new name before the index
/// commit that names it; older ones are removed once that commit is done,
/// so the snapshot the index names always exists.
struct SnapshotDir {
    dir: std::path::PathBuf,
    next: u64,
}

impl SnapshotDir {
    fn new(data_dir: &std::path::Path, current: Option<&str>) -> Self {
        let next = current
            .and_then(|n| {
                n.strip_prefix("snapshot-")?
                    .strip_suffix(".json")?
                    .parse::<u64>()
                    .ok()
            })
            .map_or(1, |n| n + 1);
        SnapshotDir {
            dir: data_dir.join(SNAPSHOT_DIR),
            next,
        }
    }

    /// Writes a snapshot (fsynced) and returns its name.
    fn write(&mut self, detector: &Detector) -> Result<String, PipelineError> {
        use std::io::Write;
        let name = format!("snapshot-{:010}.json", self.next);
        self.next += 1;
        let path = self.dir.join(&name);
        let io = |e| {
            PipelineError::io(
                format!("writing the detector snapshot {}", path.display()),
                e,
            )
        };
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        let mut f = std::fs::File::create(&path).map_err(io)?;
        f.write_all(&detector.snapshot()).map_err(io)?;
        f.sync_all().map_err(io)?;
        Ok(name)
    }

    /// The index commit naming `current` is done: the others can go.
    fn committed(&self, current: Option<&str>) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("snapshot-") && Some(&*name) != current {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// A source partition: a Kafka topic's partition, or the file (`None`).
type PartitionId = (Option<Arc<str>>, i32);

/// How long a partition may send nothing before the event clock stops
/// waiting for it.
const PARTITION_IDLE: Duration = Duration::from_secs(10);

/// The newest event time of each source partition. The detector's clock is
/// the oldest of them, so that when a backlog is read partitions at
/// different points in time, the one behind does not make its posts late;
/// a partition silent for [`PARTITION_IDLE`] no longer holds the clock
/// back.
///
/// Partitions show up as their first messages arrive: for the first
/// [`PARTITION_IDLE`] after a Kafka message, the clock waits for the others
/// (a backlog is read one partition's fetch at a time).
#[derive(Default)]
struct Watermarks {
    /// (topic, partition) → (newest event time, when last heard from).
    parts: std::collections::HashMap<PartitionId, (i64, Instant)>,
    first_kafka: Option<Instant>,
}

impl Watermarks {
    fn observe(&mut self, origin: &Origin, ts_ms: i64) {
        let key = match origin {
            Origin::Kafka {
                topic, partition, ..
            } => {
                self.first_kafka.get_or_insert_with(Instant::now);
                (Some(Arc::clone(topic)), *partition)
            }
            Origin::File { .. } => (None, 0),
        };
        let e = self.parts.entry(key).or_insert((ts_ms, Instant::now()));
        e.0 = e.0.max(ts_ms);
        e.1 = Instant::now();
    }

    /// The event time every active partition has reached.
    fn low(&self) -> Option<i64> {
        if self
            .first_kafka
            .is_some_and(|t| t.elapsed() < PARTITION_IDLE)
        {
            return None;
        }
        let active = self
            .parts
            .values()
            .filter(|(_, seen)| seen.elapsed() < PARTITION_IDLE)
            .map(|(ts, _)| *ts)
            .min();
        active.or_else(|| self.parts.values().map(|(ts, _)| *ts).max())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(payload: &[u8], oversize: Option<usize>) -> Message {
        Message {
            payload: payload.to_vec(),
            key: None,
            oversize,
            origin: Origin::File { line: 1, end: 1 },
        }
    }

    /// Every reason a message is dead-lettered for is among those the
    /// metrics export from start-up.
    #[test]
    fn dead_letter_reasons_are_the_ones_the_metrics_know() {
        let mut scorer = Scorer::new(Arc::new(Lexicon::builtin().unwrap()));
        let timers = StageTimers::new();
        let cases: [(&[u8], Option<usize>); 8] = [
            (b"\xff\xfe", None),
            (b"{\"id\":", None),
            (b"[1,2]", None),
            (b"{\"id\":\"a\",\"text\":\"x\"}", None),
            (b"{\"id\":\"\",\"text\":\"x\",\"ts\":1}", None),
            (b"", Some(MAX_MESSAGE_BYTES + 1)),
            (b"  ", None),
            (b"nonsense", None),
        ];
        let mut seen = std::collections::BTreeSet::new();
        for (payload, oversize) in cases {
            match process(&mut scorer, &timers, message(payload, oversize)) {
                Item::Dead(d) => {
                    assert!(
                        yuqing_metrics::DEAD_LETTER_REASONS.contains(&d.reason),
                        "{}",
                        d.reason
                    );
                    seen.insert(d.reason);
                }
                Item::Post { .. } => panic!("{payload:?} is not a post"),
            }
        }
        assert_eq!(
            seen.len(),
            yuqing_metrics::DEAD_LETTER_REASONS.len(),
            "{seen:?}"
        );
    }
}
