//! Kafka adapters for the pipeline, over rdkafka (librdkafka 2.12).
//!
//! - [`KafkaSource`]: a consumer-group member with auto-commit off. On
//!   partition assignment it seeks to the offsets the search index last
//!   committed (passed in, kept current with [`KafkaSource::set_start`]), so
//!   what the index holds decides where reading resumes; offsets are
//!   committed to Kafka only after the index commit that contains them, so
//!   lag shows in standard tools.
//! - [`KafkaProducer`]: dead letters and alerts, with headers, and a flush
//!   that re-sends what failed before the pipeline commits.
//! - [`replay`]: a producer for backfills and load tests.

pub mod admin;
mod producer;
pub mod replay;
mod source;

pub use producer::{KafkaProducer, Outgoing};
pub use source::{
    ConsumerSettings, DEFAULT_SESSION_TIMEOUT_MS, KafkaMessage, KafkaSource, Membership,
    TopicPartition,
};

/// A Kafka adapter error, with what was being done.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// librdkafka reported an error. The message includes the cause (and
    /// the error has no separate source, so a chain prints it once).
    #[error("{context}: {cause}")]
    Kafka {
        /// What was being done.
        context: String,
        /// librdkafka's error.
        cause: rdkafka::error::KafkaError,
    },
    /// Reading input failed (the message includes the cause).
    #[error("{context}: {cause}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        cause: std::io::Error,
    },
    /// Messages could not be delivered.
    #[error("{0}")]
    Undelivered(String),
    /// No broker answered in time.
    #[error(
        "cannot reach the Kafka brokers at {brokers} (no answer in {secs} s; last error: {last})"
    )]
    Unreachable {
        /// The bootstrap brokers.
        brokers: String,
        /// How long we waited, seconds.
        secs: u64,
        /// librdkafka's last error.
        last: String,
    },
}

impl KafkaError {
    pub(crate) fn new(context: impl Into<String>, source: rdkafka::error::KafkaError) -> Self {
        KafkaError::Kafka {
            context: context.into(),
            cause: source,
        }
    }
}

/// Client properties shared by consumers and producers: the brokers, a
/// client id and pass-through librdkafka properties.
pub(crate) fn client_config(
    brokers: &str,
    client_id: &str,
    options: &std::collections::BTreeMap<String, String>,
) -> rdkafka::ClientConfig {
    let mut c = rdkafka::ClientConfig::new();
    c.set("bootstrap.servers", brokers)
        .set("client.id", client_id);
    for (k, v) in options {
        c.set(k, v);
    }
    c
}
