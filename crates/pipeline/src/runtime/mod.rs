//! The running pipeline.

mod clock;
mod sink;
mod snapshots;
mod source_loop;
mod worker;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use crossbeam_channel::bounded;
use yuqing_alertlog::AlertStore;
use yuqing_index::{IndexOptions, PostIndex};
use yuqing_kafka::KafkaProducer;
use yuqing_lexicon::{Lexicon, SharedLexicon};
use yuqing_metrics::metrics;
use yuqing_spike::Detector;

use crate::PipelineError;
use crate::config::{PipelineConfig, SourceKind};
use crate::latency::LatencyHistogram;
use crate::positions::Positions;
use crate::sinks::{AlertSink, DeadLetters};
use crate::watch::{WatchEngine, WatchRegistry};
use sink::{CommitPolicy, Outputs, Sink};
use snapshots::{SnapshotDir, load_detector};
use source_loop::{SourceLoop, open_source};
use worker::{Batch, Processed};

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
    /// Event-to-consumed latency of Kafka messages (their timestamp to the
    /// moment the source handed them on): the broker's and the consumer's
    /// share of [`Stats::latency`].
    pub consume_latency: Mutex<LatencyHistogram>,
    /// Kafka partitions the source held when it last handed messages on
    /// (0 for a file): the event clock waits for each to be heard from.
    pub partitions: AtomicU64,
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
    watches: Arc<WatchRegistry>,
}

/// Offsets for the source to commit, after the index has.
struct CommitRequest {
    positions: Positions,
}

impl Pipeline {
    /// Opens the index in `data_dir` (creating it if needed).
    pub fn open(config: PipelineConfig, lexicon: Arc<Lexicon>) -> Result<Pipeline, PipelineError> {
        let index = PostIndex::open_or_create(&config.data_dir, lexicon.shared_analyzer())?;
        let health = Arc::new(Health::default());
        if config.source.kind() == SourceKind::File {
            health.connected.store(true, Ordering::Relaxed);
        }
        let positions = Positions::from_payload(index.commit_payload()?.as_deref());
        let categories: Vec<&str> = lexicon.categories().iter().map(|c| c.id.as_str()).collect();
        let levels = yuqing_model::Level::ALL.map(yuqing_model::Level::as_str);
        metrics().init_pipeline(
            source_label(config.source.kind()),
            &categories,
            &levels,
            config.spike.enabled,
        );
        let detector = config.spike.enabled.then(|| {
            load_detector(
                &config.data_dir,
                &config.spike,
                lexicon.region_parents(),
                positions.detector.as_deref(),
            )
        });
        let lexicon = Arc::new(SharedLexicon::new(lexicon));
        let watches = WatchRegistry::open(&config.data_dir, &config.watches, Arc::clone(&lexicon))
            .map_err(PipelineError::Config)?;
        let alerts_path = config.data_dir.join(ALERTS_FILE);
        let alert_store = AlertStore::open(&alerts_path, config.alerts.keep())
            .map_err(|e| PipelineError::io(format!("reading {}", alerts_path.display()), e))?;
        Ok(Pipeline {
            config,
            lexicon,
            index: Arc::new(index),
            detector,
            alert_store: Arc::new(Mutex::new(alert_store)),
            health,
            stats: Arc::new(Stats::default()),
            watches: Arc::new(watches),
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

    /// The keyword watches: the API changes them, the sink evaluates them.
    pub fn watches(&self) -> Arc<WatchRegistry> {
        Arc::clone(&self.watches)
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
    ///
    /// Threads: `yuqing-source` ([`SourceLoop::run`]), `yuqing-worker-N`
    /// ([`worker::run_worker`]), and the sink on the calling thread
    /// ([`Sink::run`], then [`Sink::finish`]).
    pub fn run(mut self, stop: Arc<AtomicBool>) -> Result<RunOutcome, PipelineError> {
        let detector = self.detector.take();
        let cfg = &self.config;
        let mut positions = self.positions()?;
        let source = open_source(cfg, &mut positions)?;
        let outputs = |commits| -> Result<Outputs, PipelineError> {
            Ok(Outputs {
                dead_letters: DeadLetters::open(&cfg.dead_letter, || self.producer())?,
                alerts: AlertSink::open(cfg, &self.lexicon.load(), || self.producer())?,
                alert_store: Arc::clone(&self.alert_store),
                commits,
            })
        };
        let (commit_tx, commit_rx) = bounded::<CommitRequest>(16);
        let outputs = outputs(commit_tx)?;
        let mut writer = self.index.writer(writer_options(cfg))?;

        let in_flight = cfg.runtime.batches_in_flight;
        let (work_tx, work_rx) = bounded::<Batch>(in_flight);
        let (done_tx, done_rx) = bounded::<Processed>(in_flight);
        let ended = Arc::new(AtomicBool::new(false));
        let source_loop = SourceLoop {
            source,
            work: work_tx,
            commits: commit_rx,
            health: Arc::clone(&self.health),
            stats: Arc::clone(&self.stats),
            stop,
            ended: Arc::clone(&ended),
            consumed: metrics()
                .posts_consumed
                .with_label_values(&[source_label(cfg.source.kind())]),
            batch_size: cfg.source.batch_size(),
            brokers: cfg.kafka.as_ref().map(|k| k.brokers.clone()),
        };
        let snapshots = SnapshotDir::new(&cfg.data_dir, positions.detector.as_deref());
        let policy = CommitPolicy {
            docs: cfg.index.commit_docs,
            every: cfg.index.commit_interval,
        };

        let outcome = thread::scope(|scope| -> Result<RunOutcome, PipelineError> {
            spawn(scope, "yuqing-source".into(), move || source_loop.run())?;
            for n in 0..worker_count(cfg) {
                let (work, done) = (work_rx.clone(), done_tx.clone());
                let shared = &self.lexicon;
                spawn(scope, format!("yuqing-worker-{n}"), move || {
                    worker::run_worker(shared, work, done)
                })?;
            }
            drop(work_rx);
            drop(done_tx);
            let mut sink = Sink::new(
                &mut writer,
                Arc::clone(&self.index),
                self.lexicon.generation(),
                positions,
                outputs,
                detector,
                snapshots,
                policy,
                Arc::clone(&self.stats),
            );
            let mut watches = WatchEngine::new(Arc::clone(&self.watches));
            if let Ok(store) = self.alert_store.lock() {
                watches.adopt(store.unresolved());
            }
            sink.set_watches(watches);
            sink.run(done_rx)?;
            self.health.draining.store(true, Ordering::Relaxed);
            let ended = ended.load(Ordering::Relaxed);
            sink.finish(ended)?;
            Ok(if ended {
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

/// Starts a named thread of the pipeline.
fn spawn<'scope>(
    scope: &'scope thread::Scope<'scope, '_>,
    name: String,
    body: impl FnOnce() + Send + 'scope,
) -> Result<(), PipelineError> {
    thread::Builder::new()
        .name(name.clone())
        .spawn_scoped(scope, body)
        .map(drop)
        .map_err(|e| PipelineError::io(format!("starting the thread {name}"), e))
}

/// Worker threads: as configured, else one per core but one (at least
/// one).
fn worker_count(cfg: &PipelineConfig) -> usize {
    if cfg.runtime.workers > 0 {
        return cfg.runtime.workers;
    }
    thread::available_parallelism()
        .map_or(1, |n| n.get())
        .saturating_sub(1)
        .max(1)
}

/// The index writer's settings from the configuration.
fn writer_options(cfg: &PipelineConfig) -> IndexOptions {
    IndexOptions {
        writer_memory_bytes: cfg.index.writer_memory_mib << 20,
        writer_threads: 1,
        commit_docs: cfg.index.commit_docs,
        commit_interval: cfg.index.commit_interval,
        retention_days: (cfg.index.retention_days > 0).then_some(cfg.index.retention_days),
        authors: cfg.index.authors,
    }
}

/// The `source` label of `yuqing_posts_consumed_total`.
fn source_label(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::File => "file",
        SourceKind::Kafka => "kafka",
    }
}

/// The API's alert log, in the data directory.
pub const ALERTS_FILE: &str = "alerts.jsonl";
