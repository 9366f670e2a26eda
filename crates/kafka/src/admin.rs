//! Topic administration (benchmarks and tools; the pipeline never creates
//! topics).

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;

use crate::KafkaError;

/// Creates a topic with `partitions` partitions and replication factor 1.
/// A topic that already exists is not an error.
pub fn create_topic(brokers: &str, name: &str, partitions: i32) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> =
        crate::client_config(brokers, "yuqing-admin", &BTreeMap::new())
            .create()
            .map_err(|e| KafkaError::new("creating the Kafka admin client", e))?;
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = futures_executor::block_on(admin.create_topics([&topic], &options))
        .map_err(|e| KafkaError::new(format!("creating topic {name}"), e))?;
    for r in results {
        if let Err((t, code)) = r
            && code != rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists
        {
            return Err(KafkaError::Undelivered(format!(
                "creating topic {t}: {code}"
            )));
        }
    }
    Ok(())
}
