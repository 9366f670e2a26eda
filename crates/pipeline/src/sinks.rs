//! Where dead letters and alerts go.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::time::Duration;

use yuqing_kafka::{KafkaProducer, Outgoing};
use yuqing_lexicon::Lexicon;
use yuqing_model::Timestamp;
use yuqing_notify::{Notifier, NotifierOptions, RenderOptions};
use yuqing_spike::Alert;

use crate::PipelineError;
use crate::config::{AlertsConfig, DeadLetterConfig, PipelineConfig};
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

/// Alerts out: to the sink of `[alerts]`, and to each of
/// `[[alerts.webhooks]]` whose filters take them (handed to a
/// [`Notifier`], which writes them to its outbox and delivers them on its
/// own thread: the pipeline never waits for a webhook).
pub struct AlertSink {
    out: AlertOut,
    webhooks: Option<Notifier>,
}

/// Where `[alerts]` sends alert messages (JSON lines; alert messages are
/// defined by the detector).
enum AlertOut {
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
    /// A sink that drops every message (for the sink's own tests).
    #[cfg(test)]
    pub(crate) fn none() -> AlertSink {
        AlertSink {
            out: AlertOut::None,
            webhooks: None,
        }
    }

    /// From the configuration: `[alerts]`, and the webhooks (their outbox
    /// in the data directory; summaries name categories as `lexicon` does,
    /// times in `[display]`'s zone, links to `http.public_url`).
    pub fn open(
        config: &PipelineConfig,
        lexicon: &Lexicon,
        producer: impl FnOnce() -> Result<KafkaProducer, PipelineError>,
    ) -> Result<Self, PipelineError> {
        let out = AlertOut::open(&config.alerts, producer)?;
        let hooks = config.alerts.webhooks();
        let webhooks = if hooks.is_empty() {
            None
        } else {
            let render = RenderOptions {
                public_url: config.http.public_url.clone(),
                offset_secs: config.display.offset_secs,
                category_names: (lexicon.categories().iter())
                    .map(|c| (c.id.clone(), c.name_zh.clone()))
                    .collect(),
            };
            let notifier = Notifier::start(
                &config.data_dir,
                hooks.to_vec(),
                render,
                NotifierOptions::default(),
            )
            .map_err(PipelineError::Config)?;
            Some(notifier)
        };
        Ok(AlertSink { out, webhooks })
    }

    /// Emits one alert (`key` is its `alert_id`, `json` the message).
    pub fn emit(&mut self, key: &str, json: &[u8]) -> Result<(), PipelineError> {
        self.out.emit(key, json)?;
        if let Some(n) = &self.webhooks {
            let alert: Alert = serde_json::from_slice(json)
                .map_err(|e| PipelineError::io("reading an alert", std::io::Error::other(e)))?;
            n.notify(&alert)
                .map_err(|e| PipelineError::io("writing an alert to the webhook outbox", e))?;
        }
        Ok(())
    }

    /// Makes emitted alerts durable (the webhook outbox is written as each
    /// alert is emitted).
    pub fn flush(&mut self) -> Result<(), PipelineError> {
        self.out.flush()
    }
}

impl AlertOut {
    fn open(
        config: &AlertsConfig,
        producer: impl FnOnce() -> Result<KafkaProducer, PipelineError>,
    ) -> Result<Self, PipelineError> {
        Ok(match config {
            AlertsConfig::None(_) => AlertOut::None,
            AlertsConfig::Stdout(_) => AlertOut::Stdout,
            AlertsConfig::Log(_) => AlertOut::Log,
            AlertsConfig::File(f) => AlertOut::File(append(&f.path)?),
            AlertsConfig::Kafka(k) => AlertOut::Kafka {
                producer: producer()?,
                topic: k.topic.clone(),
            },
        })
    }

    fn emit(&mut self, key: &str, json: &[u8]) -> Result<(), PipelineError> {
        match self {
            AlertOut::None => Ok(()),
            AlertOut::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(json)
                    .and_then(|()| out.write_all(b"\n"))
                    .and_then(|()| out.flush())
                    .map_err(|e| PipelineError::io("writing an alert to stdout", e))
            }
            AlertOut::Log => {
                tracing::info!(alert = %String::from_utf8_lossy(json), "alert");
                Ok(())
            }
            AlertOut::File(w) => w
                .write_all(json)
                .and_then(|()| w.write_all(b"\n"))
                .and_then(|()| w.flush())
                .map_err(|e| PipelineError::io("writing an alert", e)),
            AlertOut::Kafka { producer, topic } => producer
                .send(&Outgoing {
                    topic: topic.clone(),
                    key: Some(key.as_bytes().to_vec()),
                    payload: json.to_vec(),
                    headers: vec![("content-type".into(), b"application/json".to_vec())],
                })
                .map_err(PipelineError::Kafka),
        }
    }

    fn flush(&mut self) -> Result<(), PipelineError> {
        match self {
            AlertOut::Kafka { producer, .. } => producer
                .flush(Duration::from_secs(30))
                .map_err(PipelineError::Kafka),
            AlertOut::File(w) => w
                .flush()
                .map_err(|e| PipelineError::io("flushing alerts", e)),
            _ => Ok(()),
        }
    }
}
