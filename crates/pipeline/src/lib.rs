//! The streaming pipeline: a source, the stages every post goes through
//! (decode → normalise/segment → score → index), and sinks (dead letters,
//! alerts), with offsets committed only with the index.
//!
//! ```text
//! source thread ──batches──► N workers (decode, analyse, score) ──► sink thread (in order)
//!   ▲ pause when full            bounded channels                     index add, dead letters,
//!   └──────── offsets to commit to Kafka ◄── index commit (payload = offsets)
//! ```
//!
//! - **At-least-once in, exactly-once in effect.** The sink commits the index
//!   with the sources' next offsets as the commit payload, and only then tells
//!   the source to commit them to Kafka. On start the source resumes at the
//!   index's offsets. Posts are upserted by id, so whatever is read twice
//!   after a crash is still one document.
//! - **Bounded.** Channels hold at most `runtime.batches_in_flight` batches;
//!   when they are full the source pauses its partitions and keeps polling,
//!   so the group does not evict it.
//! - **Poison messages** become dead letters with a reason and the pipeline
//!   goes on; dead letters are flushed before offsets move past them.

pub mod config;
mod events;
mod latency;
mod positions;
mod reload;
mod runtime;
mod scorer;
mod sequencer;
mod sinks;
mod source;
pub mod watch;

pub use config::{ConfigError, LogFormat, PipelineConfig, SourceKind, TokenConfig};
pub use latency::LatencyHistogram;
pub use positions::{FilePosition, Positions};
pub use reload::Reloader;
pub use runtime::{ALERTS_FILE, Health, Pipeline, RunOutcome, Stats};
pub use scorer::{AnalyzedPost, Dictionaries, Matches, Scorer};
pub use sequencer::Sequencer;
pub use sinks::{AlertSink, DeadLetter, DeadLetters};
pub use source::{MAX_MESSAGE_BYTES, Message, Origin};
pub use watch::{WatchError, WatchOrigin, WatchRegistry, WatchRule, WatchSpec};
pub use yuqing_lexicon::ReloadReport;

/// What stops a pipeline.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A configuration problem found while starting.
    #[error("configuration: {0}")]
    Config(String),
    /// The index failed.
    #[error(transparent)]
    Index(#[from] yuqing_index::IndexError),
    /// Kafka failed.
    #[error(transparent)]
    Kafka(#[from] yuqing_kafka::KafkaError),
    /// A file failed. The message includes the cause (and the error has no
    /// separate source, so a chain prints it once).
    #[error("{context}: {cause}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        cause: std::io::Error,
    },
}

impl PipelineError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        PipelineError::Io {
            context: context.into(),
            cause: source,
        }
    }
}
