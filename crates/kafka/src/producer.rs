//! A producer for dead letters and alerts.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};

use crate::KafkaError;

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Topic.
    pub topic: String,
    /// Key (partitioning, compaction).
    pub key: Option<Vec<u8>>,
    /// Payload.
    pub payload: Vec<u8>,
    /// Headers, in order.
    pub headers: Vec<(String, Vec<u8>)>,
}

#[derive(Default)]
struct Failed {
    messages: Vec<Outgoing>,
    errors: Vec<String>,
}

/// Delivery reports: what failed, for re-sending.
pub struct ProducerCallbacks {
    failed: Arc<Mutex<Failed>>,
}

impl ClientContext for ProducerCallbacks {}

impl ProducerContext for ProducerCallbacks {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, m)) = result {
            let headers = m
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|x| {
                            (
                                x.key.to_string(),
                                x.value.map(<[u8]>::to_vec).unwrap_or_default(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            if let Ok(mut f) = self.failed.lock() {
                f.errors.push(e.to_string());
                f.messages.push(Outgoing {
                    topic: m.topic().to_string(),
                    key: m.key().map(<[u8]>::to_vec),
                    payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                    headers,
                });
            }
        }
    }
}

/// An idempotent producer with a background poll thread.
pub struct KafkaProducer {
    producer: ThreadedProducer<ProducerCallbacks>,
    failed: Arc<Mutex<Failed>>,
}

impl KafkaProducer {
    /// A producer for `brokers`.
    pub fn new(
        brokers: &str,
        client_id: &str,
        options: &BTreeMap<String, String>,
    ) -> Result<Self, KafkaError> {
        let failed = Arc::new(Mutex::new(Failed::default()));
        let mut config = crate::client_config(brokers, client_id, &BTreeMap::new());
        config
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .set("message.timeout.ms", "60000");
        for (k, v) in options {
            // Consumer-only properties would make the producer fail.
            if !k.starts_with("group.") && !k.starts_with("session.") && !k.starts_with("auto.") {
                config.set(k, v);
            }
        }
        let producer = config
            .create_with_context(ProducerCallbacks {
                failed: Arc::clone(&failed),
            })
            .map_err(|e| KafkaError::new("creating the Kafka producer", e))?;
        Ok(KafkaProducer { producer, failed })
    }

    /// Asks the cluster for metadata: `Ok` when a broker answers within
    /// `timeout`.
    pub fn check_connection(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.producer
            .client()
            .fetch_metadata(None, timeout)
            .map(|_| ())
            .map_err(|e| KafkaError::new("asking the brokers for metadata", e))
    }

    /// Queues a message; waits while librdkafka's queue is full.
    pub fn send(&self, m: &Outgoing) -> Result<(), KafkaError> {
        let mut headers = OwnedHeaders::new_with_capacity(m.headers.len());
        for (k, v) in &m.headers {
            headers = headers.insert(Header {
                key: k.as_str(),
                value: Some(v.as_slice()),
            });
        }
        let mut record = BaseRecord::to(&m.topic)
            .payload(&m.payload)
            .headers(headers);
        if let Some(k) = &m.key {
            record = record.key(k);
        }
        let mut record = record;
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((e, r))
                    if e.rdkafka_error_code()
                        == Some(rdkafka::types::RDKafkaErrorCode::QueueFull) =>
                {
                    std::thread::sleep(Duration::from_millis(5));
                    record = r;
                }
                Err((e, _)) => return Err(KafkaError::new(format!("sending to {}", m.topic), e)),
            }
        }
    }

    /// Waits until everything sent is acknowledged; re-sends what failed
    /// (up to three rounds). An error means some message is still not
    /// delivered: do not commit offsets past it.
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        for round in 0..3 {
            self.producer
                .flush(timeout)
                .map_err(|e| KafkaError::new("waiting for the Kafka producer", e))?;
            let (messages, errors) = match self.failed.lock() {
                Ok(mut f) => (
                    std::mem::take(&mut f.messages),
                    std::mem::take(&mut f.errors),
                ),
                Err(_) => (Vec::new(), Vec::new()),
            };
            if messages.is_empty() {
                return Ok(());
            }
            tracing::warn!(count = messages.len(), round, first_error = %errors.first().cloned().unwrap_or_default(), "re-sending undelivered messages");
            for m in &messages {
                self.send(m)?;
            }
        }
        self.producer
            .flush(timeout)
            .map_err(|e| KafkaError::new("waiting for the Kafka producer", e))?;
        let still = self.failed.lock().map(|f| f.messages.len()).unwrap_or(0);
        if still > 0 {
            return Err(KafkaError::Undelivered(format!(
                "{still} messages could not be delivered"
            )));
        }
        Ok(())
    }
}
