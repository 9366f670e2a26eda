//! The source thread: poll, batch, hand batches to the workers (pausing
//! when they stay behind), and commit to the source what the index has
//! committed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, SendTimeoutError, Sender};
use prometheus::IntCounter;
use yuqing_kafka::ConsumerSettings;

use super::worker::Batch;
use super::{CommitRequest, Health, Stats};
use crate::PipelineError;
use crate::config::{PipelineConfig, SourceConfig};
use crate::positions::Positions;
use crate::source::{FileSource, KafkaTopics, Polled, Source};

/// How long the stages may stay behind before the source pauses.
const PAUSE_AFTER: Duration = Duration::from_secs(1);

/// How long the source may be unreachable before the log says so: longer
/// than the source's own metadata check (every 3 s while unconnected), so
/// that a slow group join at start or a connection the broker closed and
/// librdkafka opened again is not worth a warning.
const UNREACHABLE_AFTER: Duration = Duration::from_secs(5);

/// The Kafka source's group membership record in the data directory
/// (see [`yuqing_kafka::Membership`]).
pub const MEMBER_FILE: &str = "kafka-member.json";

/// Opens the configured source at `positions` (a file source records its
/// starting position there).
pub(super) fn open_source(
    cfg: &PipelineConfig,
    positions: &mut Positions,
) -> Result<Box<dyn Source>, PipelineError> {
    match &cfg.source {
        SourceConfig::File(file) => {
            let path = file.path.clone();
            let f = FileSource::open(path.clone(), file.follow, positions).map_err(|e| {
                PipelineError::io(format!("opening the source {}", path.display()), e)
            })?;
            positions.file = Some(f.position());
            Ok(Box::new(f))
        }
        SourceConfig::Kafka(kafka) => {
            let k = cfg
                .kafka
                .as_ref()
                .ok_or_else(|| PipelineError::Config("a Kafka source needs [kafka]".into()))?;
            let settings = ConsumerSettings {
                brokers: k.brokers.clone(),
                // A replica's own group: `<group_id>-<replica>`.
                group_id: cfg
                    .consumer_group()
                    .unwrap_or_else(|| kafka.group_id.clone()),
                client_id: k.client_id.clone(),
                topics: kafka.topics.clone(),
                options: k.options.clone(),
                member_file: Some(cfg.data_dir.join(MEMBER_FILE)),
            };
            Ok(Box::new(KafkaTopics::open(&settings, positions)?))
        }
    }
}

/// The source thread's state.
pub(super) struct SourceLoop {
    pub(super) source: Box<dyn Source>,
    pub(super) work: Sender<Batch>,
    pub(super) commits: Receiver<CommitRequest>,
    pub(super) health: Arc<Health>,
    pub(super) stats: Arc<Stats>,
    /// Set to stop reading (a signal).
    pub(super) stop: Arc<AtomicBool>,
    /// Set when a file source is read to its end.
    pub(super) ended: Arc<AtomicBool>,
    /// `yuqing_posts_consumed_total` for this source.
    pub(super) consumed: IntCounter,
    pub(super) batch_size: usize,
    /// For the log, when they cannot be reached.
    pub(super) brokers: Option<String>,
}

impl SourceLoop {
    /// The thread's body: reads until stopped or at the end, then passes
    /// on the sink's last commits (waiting for the very last) and closes
    /// the source.
    pub(super) fn run(mut self) {
        self.read();
        let SourceLoop {
            mut source,
            work,
            commits,
            ..
        } = self;
        drop(work);
        // The sink's last commits still reach Kafka; the very last one is
        // waited for before leaving the group.
        let mut last: Option<CommitRequest> = None;
        for c in commits.iter() {
            if let Some(previous) = last.replace(c) {
                source.committed(&previous.positions, false);
            }
        }
        if let Some(c) = last {
            source.committed(&c.positions, true);
        }
        source.close();
    }

    fn read(&mut self) {
        let mut seq = 0u64;
        let mut pending: Option<Batch> = None;
        let mut full_since: Option<Instant> = None;
        let mut reachable = Reachability::default();
        loop {
            while let Ok(c) = self.commits.try_recv() {
                self.source.committed(&c.positions, false);
            }
            self.check_health(&mut reachable);
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            if let Some(batch) = pending.take() {
                match self.hand_on(batch, &mut full_since) {
                    Ok(None) => {}
                    Ok(Some(batch)) => pending = Some(batch),
                    Err(Disconnected) => return,
                }
                continue;
            }
            match self
                .source
                .poll(self.batch_size, Duration::from_millis(100))
            {
                Polled::Messages(messages) => {
                    self.count(messages.len());
                    self.stats.consumed_at(&messages);
                    if let Some(n) = self.source.partitions() {
                        self.stats.partitions.store(n as u64, Ordering::Relaxed);
                    }
                    pending = Some(Batch { seq, messages });
                    seq += 1;
                }
                Polled::Idle => {}
                Polled::End => {
                    self.ended.store(true, Ordering::Relaxed);
                    return;
                }
            }
        }
    }

    /// Readiness from the source's state; the log when it changes.
    fn check_health(&mut self, reachable: &mut Reachability) {
        let connected = self.source.connected();
        self.health.connected.store(connected, Ordering::Relaxed);
        reachable.update(connected, self.brokers.as_deref().unwrap_or("-"));
        let stalled = if connected {
            self.source.stalled()
        } else {
            None
        };
        if let Ok(mut s) = self.health.stalled.lock() {
            *s = stalled;
        }
    }

    /// Sends `batch` to the workers; gives it back when they are behind
    /// (with whatever a poll while paused added to it).
    fn hand_on(
        &mut self,
        batch: Batch,
        full_since: &mut Option<Instant>,
    ) -> Result<Option<Batch>, Disconnected> {
        match self.work.send_timeout(batch, Duration::from_millis(100)) {
            Ok(()) => {
                *full_since = None;
                self.source.resume();
                Ok(None)
            }
            Err(SendTimeoutError::Timeout(mut batch)) => {
                // Back-pressure. A short wait is normal; when the stages
                // stay behind, stop fetching (pausing drops what the client
                // prefetched, so not at every full channel) and keep
                // polling so that the group does not evict us.
                let since = *full_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= PAUSE_AFTER {
                    self.source.pause();
                    if let Polled::Messages(more) =
                        self.source.poll(self.batch_size, Duration::from_millis(10))
                    {
                        self.count(more.len());
                        batch.messages.extend(more);
                    }
                }
                Ok(Some(batch))
            }
            Err(SendTimeoutError::Disconnected(_)) => Err(Disconnected),
        }
    }

    fn count(&self, n: usize) {
        self.stats.consumed(n as u64, &self.consumed);
    }
}

/// The workers are gone.
struct Disconnected;

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

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::positions::FilePosition;

    #[test]
    fn reads_a_file_in_numbered_batches_and_passes_commits_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("posts.jsonl");
        let mut f = std::fs::File::create(&path).unwrap();
        for i in 0..25 {
            writeln!(f, "line {i}").unwrap();
        }
        drop(f);
        let source = FileSource::open(path.clone(), false, &Positions::new()).unwrap();
        let (work_tx, work_rx) = crossbeam_channel::bounded(2);
        let (commit_tx, commit_rx) = crossbeam_channel::bounded(4);
        let ended = Arc::new(AtomicBool::new(false));
        let health = Arc::new(Health::default());
        let stats = Arc::new(Stats::default());
        let source_loop = SourceLoop {
            source: Box::new(source),
            work: work_tx,
            commits: commit_rx,
            health: Arc::clone(&health),
            stats: Arc::clone(&stats),
            stop: Arc::new(AtomicBool::new(false)),
            ended: Arc::clone(&ended),
            consumed: IntCounter::new("test_consumed", "test").unwrap(),
            batch_size: 10,
            brokers: None,
        };
        let thread = std::thread::spawn(move || source_loop.run());
        let batches: Vec<Batch> = work_rx.iter().collect();
        let seqs: Vec<u64> = batches.iter().map(|b| b.seq).collect();
        assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>());
        let messages: Vec<&[u8]> = batches
            .iter()
            .flat_map(|b| b.messages.iter().map(|m| &m.payload[..]))
            .collect();
        assert_eq!(messages.len(), 25);
        assert_eq!(messages[24], b"line 24");
        assert!(batches.iter().all(|b| b.messages.len() <= 10));
        assert!(ended.load(Ordering::Relaxed));
        assert_eq!(stats.consumed.load(Ordering::Relaxed), 25);
        assert!(health.check().is_ok());
        // The thread waits for the sink's commits before it closes.
        assert!(!thread.is_finished());
        let mut positions = Positions::new();
        positions.file = Some(FilePosition {
            path: path.display().to_string(),
            offset: 10,
            line: 2,
        });
        commit_tx.send(CommitRequest { positions }).unwrap();
        drop(commit_tx);
        thread.join().unwrap();
    }
}
