//! Where dead letters and alerts go.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::time::Duration;

use yuqing_kafka::{KafkaProducer, Outgoing};
use yuqing_model::Timestamp;

use crate::PipelineError;
use crate::config::{AlertsConfig, DeadLetterConfig};
use crate::source::{Message, Origin};

/// A message that is not a valid post, and why.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// The message as received.
    pub message: Message,
    /// Reason code: `invalid_utf8`, `malformed_json`, `not_an_object`,
    /// `missing_field`, `invalid_field`, `too_large`, `empty`.
    pub reason: &'static str,
    /// The full message (`field \`ts\`: …`).
    pub error: String,
}

impl DeadLetter {
    /// Where it came from, in words.
    pub fn origin_text(&self) -> String {
        match &self.message.origin {
            Origin::File { line, .. } => format!("line {line}"),
            Origin::Kafka {
                topic,
                partition,
                offset,
                ..
            } => format!("{topic}/{partition}@{offset}"),
        }
    }
}

/// Dead letters out.
pub enum DeadLetters {
    /// Dropped.
    None,
    /// Logged (`line 7: missing required field \`ts\``).
    Log,
    /// JSON lines in a file.
    File(BufWriter<File>),
    /// A Kafka topic, with headers.
    Kafka {
        /// The producer.
        producer: KafkaProducer,
        /// The topic.
        topic: String,
    },
}

fn append(path: &std::path::Path) -> Result<BufWriter<File>, PipelineError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| PipelineError::io(format!("creating {}", parent.display()), e))?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(BufWriter::new)
        .map_err(|e| PipelineError::io(format!("opening {}", path.display()), e))
}

impl DeadLetters {
    /// From the configuration.
    pub fn open(
        config: &DeadLetterConfig,
        producer: impl FnOnce() -> Result<KafkaProducer, PipelineError>,
    ) -> Result<Self, PipelineError> {
        Ok(match config {
            DeadLetterConfig::None(_) => DeadLetters::None,
            DeadLetterConfig::Log(_) => DeadLetters::Log,
            DeadLetterConfig::File(f) => DeadLetters::File(append(&f.path)?),
            DeadLetterConfig::Kafka(k) => DeadLetters::Kafka {
                producer: producer()?,
                topic: k.topic.clone(),
            },
        })
    }

    /// Sends one dead letter.
    pub fn send(&mut self, d: &DeadLetter) -> Result<(), PipelineError> {
        match self {
            DeadLetters::None => Ok(()),
            DeadLetters::Log => {
                tracing::warn!(origin = %d.origin_text(), reason = d.reason, "dead letter: {}", d.error);
                Ok(())
            }
            DeadLetters::File(w) => {
                let (source, line, topic, partition, offset) = match &d.message.origin {
                    Origin::File { line, .. } => ("file", Some(*line), None, None, None),
                    Origin::Kafka {
                        topic,
                        partition,
                        offset,
                        ..
                    } => (
                        "kafka",
                        None,
                        Some(topic.to_string()),
                        Some(*partition),
                        Some(*offset),
                    ),
                };
                let record = serde_json::json!({
                    "reason": d.reason,
                    "error": d.error,
                    "source": source,
                    "line": line,
                    "topic": topic,
                    "partition": partition,
                    "offset": offset,
                    "failed_at": Timestamp::now().to_string(),
                    "payload": String::from_utf8_lossy(&d.message.payload),
                });
                serde_json::to_writer(&mut *w, &record)
                    .map_err(|e| PipelineError::io("writing a dead letter", e.into()))?;
                w.write_all(b"\n")
                    .map_err(|e| PipelineError::io("writing a dead letter", e))
            }
            DeadLetters::Kafka { producer, topic } => {
                let mut headers = vec![
                    ("yuqing.reason".to_string(), d.reason.as_bytes().to_vec()),
                    ("yuqing.error".to_string(), d.error.as_bytes().to_vec()),
                    (
                        "yuqing.failed_at".to_string(),
                        Timestamp::now().to_string().into_bytes(),
                    ),
                ];
                if let Origin::Kafka {
                    topic: t,
                    partition,
                    offset,
                    ..
                } = &d.message.origin
                {
                    headers.push(("yuqing.source.topic".into(), t.as_bytes().to_vec()));
                    headers.push((
                        "yuqing.source.partition".into(),
                        partition.to_string().into_bytes(),
                    ));
                    headers.push((
                        "yuqing.source.offset".into(),
                        offset.to_string().into_bytes(),
                    ));
                }
                producer
                    .send(&Outgoing {
                        topic: topic.clone(),
                        key: d.message.key.clone(),
                        payload: d.message.payload.clone(),
                        headers,
                    })
                    .map_err(PipelineError::Kafka)
            }
        }
    }

    /// Makes everything sent durable before offsets are committed past it.
    pub fn flush(&mut self) -> Result<(), PipelineError> {
        match self {
            DeadLetters::File(w) => w
                .flush()
                .map_err(|e| PipelineError::io("flushing dead letters", e)),
            DeadLetters::Kafka { producer, .. } => producer
                .flush(Duration::from_secs(30))
                .map_err(PipelineError::Kafka),
            _ => Ok(()),
        }
    }
}

/// Alerts out: JSON lines (alert messages are defined by the detector).
pub enum AlertSink {
    /// Dropped.
    None,
    /// stdout, one JSON per line.
    Stdout,
    /// Logged.
    Log,
    /// Appended to a file.
    File(BufWriter<File>),
    /// A Kafka topic, keyed by `alert_id`.
    Kafka {
        /// The producer.
        producer: KafkaProducer,
        /// The topic.
        topic: String,
    },
}

impl AlertSink {
    /// From the configuration.
    pub fn open(
        config: &AlertsConfig,
        producer: impl FnOnce() -> Result<KafkaProducer, PipelineError>,
    ) -> Result<Self, PipelineError> {
        Ok(match config {
            AlertsConfig::None(_) => AlertSink::None,
            AlertsConfig::Stdout(_) => AlertSink::Stdout,
            AlertsConfig::Log(_) => AlertSink::Log,
            AlertsConfig::File(f) => AlertSink::File(append(&f.path)?),
            AlertsConfig::Kafka(k) => AlertSink::Kafka {
                producer: producer()?,
                topic: k.topic.clone(),
            },
        })
    }

    /// Emits one alert (`key` is its `alert_id`).
    pub fn emit(&mut self, key: &str, json: &[u8]) -> Result<(), PipelineError> {
        match self {
            AlertSink::None => Ok(()),
            AlertSink::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(json)
                    .and_then(|()| out.write_all(b"\n"))
                    .and_then(|()| out.flush())
                    .map_err(|e| PipelineError::io("writing an alert to stdout", e))
            }
            AlertSink::Log => {
                tracing::info!(alert = %String::from_utf8_lossy(json), "alert");
                Ok(())
            }
            AlertSink::File(w) => w
                .write_all(json)
                .and_then(|()| w.write_all(b"\n"))
                .and_then(|()| w.flush())
                .map_err(|e| PipelineError::io("writing an alert", e)),
            AlertSink::Kafka { producer, topic } => producer
                .send(&Outgoing {
                    topic: topic.clone(),
                    key: Some(key.as_bytes().to_vec()),
                    payload: json.to_vec(),
                    headers: vec![("content-type".into(), b"application/json".to_vec())],
                })
                .map_err(PipelineError::Kafka),
        }
    }

    /// Makes emitted alerts durable.
    pub fn flush(&mut self) -> Result<(), PipelineError> {
        match self {
            AlertSink::Kafka { producer, .. } => producer
                .flush(Duration::from_secs(30))
                .map_err(PipelineError::Kafka),
            AlertSink::File(w) => w
                .flush()
                .map_err(|e| PipelineError::io("flushing alerts", e)),
            _ => Ok(()),
        }
    }
}
