//! Where each source stands, stored in the index's commit payload so that
//! the index itself says which messages it holds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Payload format version.
const VERSION: u32 = 1;

/// Next position of every source partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Positions {
    /// Format version.
    pub v: u32,
    /// Kafka: topic → partition → next offset to read.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kafka: BTreeMap<String, BTreeMap<i32, i64>>,
    /// File: the file and the byte offset to read next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FilePosition>,
    /// The burst detector's snapshot written with this commit (a file
    /// name in `<data_dir>/detector/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detector: Option<String>,
}

/// A file source's position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilePosition {
    /// The file, as configured.
    pub path: String,
    /// Next byte to read.
    pub offset: u64,
    /// Lines read so far (for messages).
    pub line: u64,
}

impl Default for Positions {
    fn default() -> Self {
        Positions {
            v: VERSION,
            kafka: BTreeMap::new(),
            file: None,
            detector: None,
        }
    }
}

impl Positions {
    /// Empty positions.
    pub fn new() -> Self {
        Positions::default()
    }

    /// From a commit payload; anything unreadable counts as no position
    /// (the source then starts from its beginning, and upserts make the
    /// replay harmless).
    pub fn from_payload(payload: Option<&str>) -> Positions {
        payload
            .and_then(|p| serde_json::from_str::<Positions>(p).ok())
            .filter(|p| p.v == VERSION)
            .unwrap_or_default()
    }

    /// As a commit payload.
    pub fn to_payload(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Kafka next offsets as a flat map.
    pub fn kafka_offsets(&self) -> BTreeMap<(String, i32), i64> {
        self.kafka
            .iter()
            .flat_map(|(t, ps)| ps.iter().map(move |(p, o)| ((t.clone(), *p), *o)))
            .collect()
    }

    /// Records that `offset` of a partition is done.
    pub fn advance_kafka(&mut self, topic: &str, partition: i32, offset: i64) {
        let next = self
            .kafka
            .entry(topic.to_string())
            .or_default()
            .entry(partition)
            .or_insert(0);
        *next = (*next).max(offset + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_advances() {
        let mut p = Positions::new();
        p.advance_kafka("posts", 0, 41);
        p.advance_kafka("posts", 0, 7);
        p.advance_kafka("posts", 2, 0);
        let q = Positions::from_payload(Some(&p.to_payload()));
        assert_eq!(p, q);
        assert_eq!(q.kafka_offsets()[&("posts".to_string(), 0)], 42);
        assert_eq!(Positions::from_payload(Some("garbage")), Positions::new());
        assert_eq!(Positions::from_payload(None), Positions::new());
    }
}
