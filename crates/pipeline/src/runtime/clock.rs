//! The event clock: how far in event time the stream has come.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::source::Origin;

/// A source partition: a Kafka topic's partition, or the file (`None`).
type PartitionId = (Option<Arc<str>>, i32);

/// How long a partition may send nothing before the event clock stops
/// waiting for it.
const PARTITION_IDLE: Duration = Duration::from_secs(10);

/// The newest event time of each source partition. The detector's clock is
/// the oldest of them, so that when a backlog is read partitions at
/// different points in time, the one behind does not make its posts late;
/// a partition silent for [`PARTITION_IDLE`] no longer holds the clock
/// back.
///
/// Partitions show up as their first messages arrive: for the first
/// [`PARTITION_IDLE`] after a Kafka message, the clock waits for the others
/// (a backlog is read one partition's fetch at a time).
#[derive(Default)]
pub(super) struct Watermarks {
    /// (topic, partition) → (newest event time, when last heard from).
    parts: std::collections::HashMap<PartitionId, (i64, Instant)>,
    first_kafka: Option<Instant>,
}

impl Watermarks {
    pub(super) fn observe(&mut self, origin: &Origin, ts_ms: i64) {
        let key = match origin {
            Origin::Kafka {
                topic, partition, ..
            } => {
                self.first_kafka.get_or_insert_with(Instant::now);
                (Some(Arc::clone(topic)), *partition)
            }
            Origin::File { .. } => (None, 0),
        };
        let e = self.parts.entry(key).or_insert((ts_ms, Instant::now()));
        e.0 = e.0.max(ts_ms);
        e.1 = Instant::now();
    }

    /// The event time every active partition has reached, when the
    /// source holds `assigned` Kafka partitions (0: not known, or a file).
    /// Until each assigned partition has been heard from, the clock waits
    /// (at most [`PARTITION_IDLE`]); a source of one partition does not
    /// wait at all, so where the clock is depends on the stream only.
    pub(super) fn low(&self, assigned: usize) -> Option<i64> {
        let heard = self.parts.keys().filter(|(t, _)| t.is_some()).count();
        let all_heard = assigned > 0 && heard >= assigned;
        if !all_heard
            && self
                .first_kafka
                .is_some_and(|t| t.elapsed() < PARTITION_IDLE)
        {
            return None;
        }
        let active = self
            .parts
            .values()
            .filter(|(_, seen)| seen.elapsed() < PARTITION_IDLE)
            .map(|(ts, _)| *ts)
            .min();
        active.or_else(|| self.parts.values().map(|(ts, _)| *ts).max())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kafka(partition: i32) -> Origin {
        Origin::Kafka {
            topic: Arc::from("posts"),
            partition,
            offset: 0,
            timestamp_ms: None,
        }
    }

    #[test]
    fn a_file_moves_the_clock_to_its_newest_event() {
        let mut w = Watermarks::default();
        assert_eq!(w.low(0), None);
        let file = Origin::File { line: 1, end: 10 };
        w.observe(&file, 5_000);
        assert_eq!(w.low(0), Some(5_000));
        // An older event does not move the clock back.
        w.observe(&file, 3_000);
        assert_eq!(w.low(0), Some(5_000));
        w.observe(&file, 9_000);
        assert_eq!(w.low(0), Some(9_000));
    }

    #[test]
    fn the_clock_waits_only_until_every_assigned_partition_is_heard_from() {
        let mut w = Watermarks::default();
        // One partition assigned: no wait.
        w.observe(&kafka(0), 7_000);
        assert_eq!(w.low(1), Some(7_000));
        // Three: the clock waits for the other two …
        assert_eq!(w.low(3), None);
        w.observe(&kafka(2), 5_000);
        assert_eq!(w.low(3), None);
        // … and moves once each has sent something.
        w.observe(&kafka(1), 6_000);
        assert_eq!(w.low(3), Some(5_000));
    }

    #[test]
    fn kafka_partitions_hold_the_clock_until_the_others_can_show_up() {
        let mut w = Watermarks::default();
        w.observe(&kafka(0), 7_000);
        w.observe(&kafka(1), 4_000);
        // For the first seconds after a Kafka message, the clock waits.
        assert_eq!(w.low(0), None);
        // Once that time has passed, it is the oldest active partition.
        w.first_kafka = Some(Instant::now() - PARTITION_IDLE);
        assert_eq!(w.low(0), Some(4_000));
        // A partition silent for too long no longer holds it back …
        w.parts.get_mut(&(Some(Arc::from("posts")), 1)).unwrap().1 =
            Instant::now() - PARTITION_IDLE;
        assert_eq!(w.low(0), Some(7_000));
        // … and when every partition is silent, the newest event counts.
        w.parts.get_mut(&(Some(Arc::from("posts")), 0)).unwrap().1 =
            Instant::now() - PARTITION_IDLE;
        assert_eq!(w.low(0), Some(7_000));
    }
}
