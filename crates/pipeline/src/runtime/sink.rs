//! The sink: in input order, posts into the index and the burst detector,
//! dead letters out, alerts out; the index committed with the positions
//! and the detector's snapshot, and only then the offsets to the source.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use prometheus::Histogram;
use yuqing_alertlog::AlertStore;
use yuqing_index::{PostIndex, PostWriter};
use yuqing_metrics::metrics;
use yuqing_model::Timestamp;
use yuqing_spike::{Alert, AlertState, Detector};

use super::clock::Watermarks;
use super::snapshots::SnapshotDir;
use super::worker::{Item, Processed};
use super::{CommitRequest, Stats};
use crate::PipelineError;
use crate::positions::Positions;
use crate::scorer::{AnalyzedPost, Dictionaries};
use crate::sequencer::Sequencer;
use crate::sinks::{AlertSink, DeadLetter, DeadLetters};
use crate::source::Origin;
use crate::watch::WatchEngine;

/// Things handed to the sinks since the last commit: posts, dead letters,
/// alert batches, snapshots.
#[derive(Default)]
struct Pending {
    count: usize,
    since: Option<Instant>,
}

impl Pending {
    fn add(&mut self) {
        self.count += 1;
        self.since.get_or_insert_with(Instant::now);
    }

    fn due(&self, docs: usize, every: Duration) -> bool {
        self.count > 0 && (self.count >= docs || self.since.is_some_and(|t| t.elapsed() >= every))
    }
}

/// Where the sink's output goes, and what it shares with the API.
pub(super) struct Outputs {
    pub(super) dead_letters: DeadLetters,
    pub(super) alerts: AlertSink,
    /// The latest message of each alert, for the API; what is recorded
    /// there counts as delivered.
    pub(super) alert_store: Arc<Mutex<AlertStore>>,
    /// Positions to commit to the source, after the index has.
    pub(super) commits: Sender<CommitRequest>,
}

/// When to commit.
pub(super) struct CommitPolicy {
    pub(super) docs: usize,
    pub(super) every: Duration,
}

/// The sink thread's state.
pub(super) struct Sink<'w> {
    writer: &'w mut PostWriter,
    index: Arc<PostIndex>,
    /// The generation of the dictionaries whose analyzer the writer uses.
    generation: u64,
    positions: Positions,
    out: Outputs,
    detector: Option<Detector>,
    /// Whether the detector changed since its last snapshot.
    detector_dirty: bool,
    watermarks: Watermarks,
    snapshots: SnapshotDir,
    /// Alerts handed to the sink since its last flush: recorded (for the
    /// API, and as delivered) once the flush is done.
    unrecorded: Vec<Alert>,
    pending: Pending,
    /// Kafka timestamps of the posts since the last commit (latency).
    pending_ts: Vec<i64>,
    policy: CommitPolicy,
    stats: Arc<Stats>,
    index_timer: Histogram,
    last_log: Instant,
    /// Keyword watches, evaluated on every post.
    watches: Option<WatchEngine>,
}

impl<'w> Sink<'w> {
    /// A sink writing to `writer` (whose analyzer is of dictionary
    /// generation `generation`), from `positions` on.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        writer: &'w mut PostWriter,
        index: Arc<PostIndex>,
        generation: u64,
        positions: Positions,
        out: Outputs,
        detector: Option<Detector>,
        snapshots: SnapshotDir,
        policy: CommitPolicy,
        stats: Arc<Stats>,
    ) -> Self {
        Sink {
            writer,
            index,
            generation,
            positions,
            out,
            detector,
            detector_dirty: false,
            watermarks: Watermarks::default(),
            snapshots,
            unrecorded: Vec::new(),
            pending: Pending::default(),
            pending_ts: Vec::new(),
            policy,
            stats,
            index_timer: metrics().stage_duration.with_label_values(&["index"]),
            last_log: Instant::now(),
            watches: None,
        }
    }

    /// Evaluates keyword watches on every post from now on.
    pub(super) fn set_watches(&mut self, watches: WatchEngine) {
        self.watches = Some(watches);
    }

    /// The thread's body: processed batches in, in their input order,
    /// until the workers are done; commits when due. Does not do the last
    /// commit ([`Sink::finish`]).
    pub(super) fn run(&mut self, done: Receiver<Processed>) -> Result<(), PipelineError> {
        let mut order = Sequencer::new();
        loop {
            match done.recv_timeout(Duration::from_millis(50)) {
                Ok(p) => {
                    order.insert(p.seq, p.items);
                    while let Some(items) = order.pop() {
                        for item in items {
                            self.handle(item)?;
                        }
                    }
                }
                // A silence: time still passes for a live stream.
                Err(RecvTimeoutError::Timeout) => self.tick()?,
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
            self.advance_clock()?;
            self.commit_if_due()?;
            self.log_progress();
        }
    }

    /// One message, in input order: a post to the index and the detector,
    /// or a dead letter out; the positions move past it.
    pub(super) fn handle(&mut self, item: Item) -> Result<(), PipelineError> {
        match item {
            Item::Post { post, origin } => {
                self.index_post(*post, &origin)?;
                // The detector's clock moves after every post, not after
                // every batch: what is late and when an alert opens on
                // arrival depend on the stream only, not on how a
                // replica's fetches cut it into batches (the same as
                // `yuqing backtest` on the same posts).
                self.advance_clock()?;
            }
            Item::Dead(d) => self.dead_letter(&d)?,
        }
        self.pending.add();
        Ok(())
    }

    fn index_post(&mut self, post: AnalyzedPost, origin: &Origin) -> Result<(), PipelineError> {
        if post.dictionaries.generation() != self.generation {
            self.take_dictionaries(&post.dictionaries);
        }
        let AnalyzedPost {
            scored,
            analyzed,
            dictionaries,
        } = post;
        let started = Instant::now();
        self.writer.add(&scored, &analyzed)?;
        self.index_timer.observe(started.elapsed().as_secs_f64());
        self.stats.indexed(&scored);
        if let Some(d) = self.detector.as_mut() {
            self.detector_dirty = true;
            self.watermarks.observe(origin, scored.post.ts.as_millis());
            if !d.observe(&scored, analyzed.normalized()) {
                self.stats.late();
            }
        }
        advance(&mut self.positions, origin, &mut self.pending_ts);
        if let Some(w) = self.watches.as_mut() {
            let raised = w.observe(
                &scored,
                &analyzed,
                dictionaries.lexicon(),
                dictionaries.generation(),
            );
            self.watched(raised)?;
        }
        Ok(())
    }

    /// Alert messages the watches raised: out, and a commit is pending.
    fn watched(&mut self, raised: Vec<Alert>) -> Result<(), PipelineError> {
        if !raised.is_empty() {
            self.emit(raised)?;
            self.pending.add();
        }
        Ok(())
    }

    /// A reload: posts scored with other dictionaries are indexed with
    /// their analyzer's sub-words, and regions roll up by their gazetteer.
    fn take_dictionaries(&mut self, dictionaries: &Dictionaries) {
        self.generation = dictionaries.generation();
        let lexicon = dictionaries.lexicon();
        self.writer.set_analyzer(lexicon.shared_analyzer());
        if let Some(d) = self.detector.as_mut() {
            d.set_region_parents(lexicon.region_parents());
        }
    }

    fn dead_letter(&mut self, d: &DeadLetter) -> Result<(), PipelineError> {
        self.out.dead_letters.send(d)?;
        self.stats.dead_letter(d.reason);
        advance(&mut self.positions, &d.message.origin, &mut Vec::new());
        Ok(())
    }

    /// A silence: the detector's clock moves with the wall clock.
    fn tick(&mut self) -> Result<(), PipelineError> {
        if let Some(d) = self.detector.as_mut() {
            let due = d.tick(Timestamp::now().as_millis());
            self.emitted(due)?;
        }
        if let Some(w) = self.watches.as_mut() {
            let due = w.tick(Timestamp::now().as_millis());
            self.watched(due)?;
        }
        Ok(())
    }

    /// Closes the buckets every partition has passed.
    fn advance_clock(&mut self) -> Result<(), PipelineError> {
        if let Some(d) = self.detector.as_mut()
            && let Some(low) = self
                .watermarks
                .low(self.stats.partitions.load(Ordering::Relaxed) as usize)
        {
            let due = d.advance_to(low);
            metrics().alerts_open.set(d.open_alerts() as i64);
            self.emitted(due)?;
        }
        Ok(())
    }

    /// Alerts the detector returned: out, and a commit is pending.
    fn emitted(&mut self, due: Vec<Alert>) -> Result<(), PipelineError> {
        if !due.is_empty() {
            self.detector_dirty = true;
            self.emit(due)?;
            self.pending.add();
        }
        Ok(())
    }

    /// Sends alert messages to the alert sink (and the log, and the
    /// metrics); the store records them at the next commit.
    pub(super) fn emit(&mut self, alerts: Vec<Alert>) -> Result<(), PipelineError> {
        for alert in alerts {
            // After a crash the detector replays what it emitted since the
            // last index commit. The store holds what a flush delivered:
            // a message it already holds (its `seq` or an earlier one) is
            // not sent again, and an alert whose `resolved` was delivered
            // does not open or grow again, so `seq` never goes back. What
            // was lost with the crash before its flush is sent again
            // (at-least-once).
            let delivered = self
                .out
                .alert_store
                .lock()
                .ok()
                .and_then(|store| store.get(&alert.alert_id).map(|a| (a.state, a.seq)));
            let skip = match delivered {
                Some((AlertState::Resolved, _)) if alert.state != AlertState::Resolved => {
                    Some("the alert was resolved before a restart")
                }
                Some((_, seq)) if alert.seq > 0 && alert.seq <= seq => {
                    Some("delivered before a restart")
                }
                _ => None,
            };
            if let Some(why) = skip {
                tracing::debug!(
                    alert_id = %alert.alert_id,
                    state = alert.state.as_str(),
                    seq = alert.seq,
                    "not sent again: {why}"
                );
                continue;
            }
            let json = serde_json::to_vec(&alert)
                .map_err(|e| PipelineError::io("encoding an alert", std::io::Error::other(e)))?;
            self.out.alerts.emit(&alert.alert_id, &json)?;
            self.stats.alert(&alert);
            log_alert(&alert);
            self.unrecorded.push(alert);
        }
        Ok(())
    }

    /// Commits when enough is pending or the oldest has waited long
    /// enough. A sink that cannot deliver (Kafka) postpones the commit:
    /// the offsets stay where they are and it is tried again later.
    pub(super) fn commit_if_due(&mut self) -> Result<(), PipelineError> {
        if !self.pending.due(self.policy.docs, self.policy.every) {
            return Ok(());
        }
        if self.detector_dirty
            && let Some(d) = self.detector.as_ref()
        {
            self.positions.detector = self.snapshots.write(d)?;
            self.detector_dirty = false;
        }
        match self.commit() {
            Ok(()) => {
                self.pending = Pending::default();
                self.snapshots.committed(self.positions.detector.as_deref());
                Ok(())
            }
            Err(e @ PipelineError::Kafka(_)) => {
                self.stats.commit_failed();
                tracing::warn!(error = %e, "commit postponed");
                Ok(())
            }
            Err(other) => {
                self.stats.commit_failed();
                Err(other)
            }
        }
    }

    /// The end of a run: with `ended` (a file read to its end) every
    /// bucket is complete; the last snapshot and commit.
    pub(super) fn finish(&mut self, ended: bool) -> Result<(), PipelineError> {
        if let Some(d) = self.detector.as_mut() {
            if ended {
                let last = d.finish();
                self.emit(last)?;
            }
        }
        if ended && let Some(w) = self.watches.as_mut() {
            let last = w.finish();
            self.watched(last)?;
        }
        if self.detector_dirty
            && let Some(d) = self.detector.as_ref()
        {
            self.positions.detector = self.snapshots.write(d)?;
            self.pending.count += 1;
        }
        if self.pending.count > 0 || self.stats.commits.load(Ordering::Relaxed) == 0 {
            self.commit()?;
            self.snapshots.committed(self.positions.detector.as_deref());
        }
        Ok(())
    }

    /// Flushes dead letters and alerts, records the alerts, commits the
    /// index with the positions, and tells the source.
    fn commit(&mut self) -> Result<(), PipelineError> {
        let started = Instant::now();
        self.out.dead_letters.flush()?;
        self.out.alerts.flush()?;
        if let Ok(mut store) = self.out.alert_store.lock() {
            for alert in self.unrecorded.drain(..) {
                if let Err(e) = store.record(&alert) {
                    tracing::warn!(error = %e, "could not record an alert for the API");
                }
            }
        }
        self.writer
            .commit_with_payload(Some(self.positions.to_payload()))?;
        self.stats.committed(
            started.elapsed(),
            self.index.num_docs(),
            self.index.num_segments(),
        );
        tracing::debug!(
            ms = started.elapsed().as_millis() as u64,
            docs = self.pending_ts.len(),
            "index commit"
        );
        self.stats.searchable(&self.pending_ts);
        self.pending_ts.clear();
        // The source commits to Kafka only what the index holds.
        let _ = self.out.commits.send(CommitRequest {
            positions: self.positions.clone(),
        });
        Ok(())
    }

    fn log_progress(&mut self) {
        if self.last_log.elapsed() < Duration::from_secs(10) {
            return;
        }
        self.last_log = Instant::now();
        let s = &self.stats;
        tracing::info!(
            consumed = s.consumed.load(Ordering::Relaxed),
            indexed = s.indexed.load(Ordering::Relaxed),
            dead_letters = s.dead_letters.load(Ordering::Relaxed),
            commits = s.commits.load(Ordering::Relaxed),
            alerts = s.alerts.load(Ordering::Relaxed),
            "progress"
        );
    }
}

fn log_alert(alert: &Alert) {
    tracing::info!(
        alert_id = %alert.alert_id,
        state = alert.state.as_str(),
        seq = alert.seq,
        category = %alert.category,
        region = alert.region.as_deref().unwrap_or("-"),
        count = alert.count,
        trigger = alert.trigger.as_str(),
        confirmed = alert.confirmed,
        window_secs = alert.window_secs.unwrap_or(0),
        "alert"
    );
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use yuqing_index::IndexOptions;
    use yuqing_lexicon::{Lexicon, SharedLexicon};
    use yuqing_model::Post;

    use super::*;
    use crate::positions::FilePosition;
    use crate::scorer::Scorer;
    use crate::source::Message;

    fn alert(id: &str, state: &str) -> Alert {
        serde_json::from_value(serde_json::json!({
            "schema_version": 1, "alert_id": id, "state": state, "category": "fire",
            "region": null, "window_start": "2024-07-01T00:00:00Z",
            "window_end": "2024-07-01T00:10:00Z", "count": 5, "distinct_authors": 5,
            "baseline": 0.1, "z": 9.0, "level": "yellow", "top_terms": [],
            "sample_post_ids": [], "regions": [], "first_post_id": "a",
            "first_seen": "2024-07-01T00:00:00Z", "emitted_at": "2024-07-01T00:10:00Z"
        }))
        .unwrap()
    }

    struct Fixture {
        _dir: tempfile::TempDir,
        data: std::path::PathBuf,
        index: Arc<PostIndex>,
        store: Arc<Mutex<AlertStore>>,
        commits: Receiver<CommitRequest>,
        commit_tx: Sender<CommitRequest>,
        stats: Arc<Stats>,
    }

    fn fixture(lexicon: &Lexicon) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_path_buf();
        let index = Arc::new(PostIndex::open_or_create(&data, lexicon.shared_analyzer()).unwrap());
        let store = AlertStore::open(&data.join("alerts.jsonl"), 100).unwrap();
        let (commit_tx, commits) = crossbeam_channel::unbounded();
        Fixture {
            _dir: dir,
            data,
            index,
            store: Arc::new(Mutex::new(store)),
            commits,
            commit_tx,
            stats: Arc::new(Stats::default()),
        }
    }

    fn sink<'w>(f: &Fixture, writer: &'w mut PostWriter, docs: usize) -> Sink<'w> {
        let mut positions = Positions::new();
        positions.file = Some(FilePosition {
            path: "posts.jsonl".into(),
            offset: 0,
            line: 0,
        });
        let out = Outputs {
            dead_letters: DeadLetters::File(std::io::BufWriter::new(
                std::fs::File::create(f.data.join("dead.jsonl")).unwrap(),
            )),
            alerts: AlertSink::none(),
            alert_store: Arc::clone(&f.store),
            commits: f.commit_tx.clone(),
        };
        Sink::new(
            writer,
            Arc::clone(&f.index),
            0,
            positions,
            out,
            None,
            SnapshotDir::new(&f.data, None),
            CommitPolicy {
                docs,
                every: Duration::from_secs(3600),
            },
            Arc::clone(&f.stats),
        )
    }

    fn post_item(scorer: &mut Scorer, id: &str, line: u64) -> Item {
        let json = format!(r#"{{"id":"{id}","text":"仓库发生火灾","ts":1719792000}}"#);
        Item::Post {
            post: Box::new(scorer.score(Post::from_json(json.as_bytes()).unwrap())),
            origin: Origin::File {
                line,
                end: line * 100,
            },
        }
    }

    fn dead_item(line: u64) -> Item {
        Item::Dead(Box::new(DeadLetter {
            message: Message {
                payload: b"[1]".to_vec(),
                key: None,
                oversize: None,
                origin: Origin::File {
                    line,
                    end: line * 100,
                },
            },
            reason: "not_an_object",
            error: "not an object".into(),
        }))
    }

    #[test]
    fn commits_posts_and_dead_letters_with_their_positions_when_due() {
        let lexicon = Arc::new(Lexicon::builtin().unwrap());
        let f = fixture(&lexicon);
        let mut writer = f.index.writer(IndexOptions::default()).unwrap();
        let mut scorer = Scorer::new(Arc::clone(&lexicon));
        {
            let mut sink = sink(&f, &mut writer, 3);
            sink.handle(post_item(&mut scorer, "a", 1)).unwrap();
            sink.handle(dead_item(2)).unwrap();
            // Two of three: not due yet.
            sink.commit_if_due().unwrap();
            assert!(f.commits.try_recv().is_err());
            sink.handle(post_item(&mut scorer, "b", 3)).unwrap();
            sink.commit_if_due().unwrap();
            let c = f.commits.try_recv().expect("a commit");
            let file = c.positions.file.unwrap();
            assert_eq!((file.line, file.offset), (3, 300));
            // Nothing pending: the end of the run commits nothing more.
            sink.finish(true).unwrap();
            assert!(f.commits.try_recv().is_err());
        }
        f.index.reload().unwrap();
        assert_eq!(f.index.num_docs(), 2);
        assert_eq!(f.stats.indexed.load(Ordering::Relaxed), 2);
        assert_eq!(f.stats.flagged.load(Ordering::Relaxed), 2);
        assert_eq!(f.stats.dead_letters.load(Ordering::Relaxed), 1);
        assert_eq!(f.stats.commits.load(Ordering::Relaxed), 1);
        let dead = std::fs::read_to_string(f.data.join("dead.jsonl")).unwrap();
        assert_eq!(dead.lines().count(), 1, "{dead}");
        assert!(dead.contains("not_an_object"), "{dead}");
        let committed = Positions::from_payload(f.index.commit_payload().unwrap().as_deref());
        assert_eq!(committed.file.map(|p| p.line), Some(3));
    }

    #[test]
    fn alerts_are_recorded_at_the_commit_and_a_resolved_one_is_not_reopened() {
        let lexicon = Arc::new(Lexicon::builtin().unwrap());
        let f = fixture(&lexicon);
        let mut writer = f.index.writer(IndexOptions::default()).unwrap();
        let mut sink = sink(&f, &mut writer, 1000);
        sink.emit(vec![alert("x", "open"), alert("y", "open")])
            .unwrap();
        // Handed to the sink, not yet delivered: not in the store.
        assert!(f.store.lock().unwrap().get("x").is_none());
        sink.emit(vec![alert("x", "resolved")]).unwrap();
        sink.finish(false).unwrap();
        assert_eq!(f.stats.alerts.load(Ordering::Relaxed), 3);
        let state = |id: &str| f.store.lock().unwrap().get(id).map(|a| a.state);
        assert_eq!(state("x"), Some(AlertState::Resolved));
        assert_eq!(state("y"), Some(AlertState::Open));
        // A replay after a restart: the resolved alert does not open again.
        sink.emit(vec![alert("x", "open"), alert("y", "update")])
            .unwrap();
        assert_eq!(f.stats.alerts.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn a_replay_sends_only_the_messages_after_the_delivered_seq() {
        let lexicon = Arc::new(Lexicon::builtin().unwrap());
        let f = fixture(&lexicon);
        let mut writer = f.index.writer(IndexOptions::default()).unwrap();
        let mut sink = sink(&f, &mut writer, 1000);
        let numbered = |state: &str, seq: u64| Alert {
            seq,
            ..alert("x", state)
        };
        sink.emit(vec![numbered("open", 1), numbered("update", 2)])
            .unwrap();
        sink.finish(false).unwrap();
        assert_eq!(f.stats.alerts.load(Ordering::Relaxed), 2);
        // A detector restored from an older snapshot emits them again, and
        // one more: only the new one goes out, and the store never goes
        // back to an earlier message.
        sink.emitted(vec![numbered("open", 1)]).unwrap();
        sink.finish(false).unwrap();
        let seq = || f.store.lock().unwrap().get("x").map(|a| (a.state, a.seq));
        assert_eq!(seq(), Some((AlertState::Update, 2)));
        sink.emitted(vec![numbered("update", 2), numbered("update", 3)])
            .unwrap();
        sink.finish(false).unwrap();
        assert_eq!(f.stats.alerts.load(Ordering::Relaxed), 3);
        assert_eq!(seq(), Some((AlertState::Update, 3)));
    }

    #[test]
    fn a_post_of_other_dictionaries_switches_the_writer_to_them() {
        let first = Arc::new(Lexicon::builtin().unwrap());
        let f = fixture(&first);
        let shared = SharedLexicon::new(Arc::clone(&first));
        let mut writer = f.index.writer(IndexOptions::default()).unwrap();
        let mut sink = sink(&f, &mut writer, 1000);
        let mut scorer = Scorer::current(&shared);
        sink.handle(post_item(&mut scorer, "a", 1)).unwrap();
        assert_eq!(sink.generation, 0);
        shared.store(Arc::new(Lexicon::builtin().unwrap()));
        // A post scored before the reload is indexed as it was scored.
        sink.handle(post_item(&mut scorer, "b", 2)).unwrap();
        assert_eq!(sink.generation, 0);
        scorer.follow(&shared);
        sink.handle(post_item(&mut scorer, "c", 3)).unwrap();
        assert_eq!(sink.generation, 1);
        assert_eq!(f.stats.indexed.load(Ordering::Relaxed), 3);
    }
}
