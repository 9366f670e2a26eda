//! Error paths of the Kafka adapters against librdkafka's in-process mock
//! cluster: fast, and able to refuse requests on cue, which a real broker
//! cannot be made to do. The end-to-end behaviour against a real broker
//! (exactly-once restarts, a broker down at start, dead letters) is tested in
//! the root package's `tests/kafka.rs`.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use yuqing_kafka::{
    ConsumerSettings, DEFAULT_SESSION_TIMEOUT_MS, KafkaError, KafkaMessage, KafkaProducer,
    KafkaSource, Membership, Outgoing,
};

/// How long a test waits for the cluster before it gives up: a guard
/// against hanging, not a measurement.
const PATIENCE: Duration = Duration::from_secs(60);

fn cluster(topics: &[(&str, i32)]) -> MockCluster<'static, DefaultProducerContext> {
    let cluster = MockCluster::new(1).expect("a mock cluster");
    for (topic, partitions) in topics {
        cluster
            .create_topic(topic, *partitions, 1)
            .expect("a mock topic");
    }
    cluster
}

fn producer(brokers: &str, options: &[(&str, &str)]) -> KafkaProducer {
    let options: BTreeMap<String, String> = options
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    KafkaProducer::new(brokers, "yuqing-test", &options).expect("a producer")
}

fn message(topic: &str, n: usize) -> Outgoing {
    Outgoing {
        topic: topic.to_string(),
        key: Some(format!("k{n}").into_bytes()),
        payload: format!("{{\"n\":{n}}}").into_bytes(),
        headers: vec![("yuqing-test".to_string(), b"1".to_vec())],
    }
}

fn source(brokers: &str, topics: &[&str], start: HashMap<(String, i32), i64>) -> KafkaSource {
    let settings = ConsumerSettings {
        brokers: brokers.to_string(),
        group_id: "yuqing-test".to_string(),
        client_id: "yuqing-test".to_string(),
        topics: topics.iter().map(|t| t.to_string()).collect(),
        options: BTreeMap::new(),
        member_file: None,
    };
    KafkaSource::new(&settings, start).expect("a consumer")
}

/// Polls until `want` messages arrived (or the patience runs out).
fn consume(source: &mut KafkaSource, want: usize) -> Vec<KafkaMessage> {
    let deadline = Instant::now() + PATIENCE;
    let mut got = Vec::new();
    while got.len() < want && Instant::now() < deadline {
        got.extend(source.poll_batch(want - got.len(), Duration::from_millis(200)));
    }
    got
}

#[test]
fn each_partition_starts_at_the_offset_the_index_committed_and_others_at_the_earliest() {
    let cluster = cluster(&[("posts", 1), ("other", 1)]);
    let brokers = cluster.bootstrap_servers();
    let p = producer(&brokers, &[]);
    for n in 0..10 {
        p.send(&message("posts", n)).expect("queued");
    }
    for n in 0..4 {
        p.send(&message("other", n)).expect("queued");
    }
    p.flush(PATIENCE).expect("delivered");

    // The index holds posts 0..=5 of `posts`; nothing of `other`.
    let start = HashMap::from([(("posts".to_string(), 0), 6)]);
    let mut s = source(&brokers, &["posts", "other"], start);
    let got = consume(&mut s, 8);
    let offsets = |topic: &str| {
        let mut o: Vec<i64> = got
            .iter()
            .filter(|m| &*m.topic == topic)
            .map(|m| m.offset)
            .collect();
        o.sort_unstable();
        o
    };
    assert_eq!(
        offsets("posts"),
        vec![6, 7, 8, 9],
        "resumes after the index"
    );
    assert_eq!(
        offsets("other"),
        vec![0, 1, 2, 3],
        "unknown partitions from the start"
    );
    let first = got.iter().find(|m| &*m.topic == "posts").expect("a post");
    assert_eq!(first.payload, b"{\"n\":6}");
    assert_eq!(first.key.as_deref(), Some(&b"k6"[..]));
    assert!(first.timestamp_ms.is_some(), "the producer's create time");
    let mut assigned = s.assigned();
    assigned.sort();
    assert_eq!(
        assigned,
        vec![("other".to_string(), 0), ("posts".to_string(), 0)]
    );
    assert!(s.connected());
    s.commit(&BTreeMap::from([(("posts".to_string(), 0), 10)]), true)
        .expect("the coordinator takes the offsets");
    s.close();
}

#[test]
fn a_refused_produce_is_sent_again_by_flush() {
    let cluster = cluster(&[("alerts", 1)]);
    let brokers = cluster.bootstrap_servers();
    // The first produce request is refused with a permanent error: the
    // delivery report fails and flush must send the alert again.
    cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE],
    );
    let p = producer(&brokers, &[]);
    p.send(&message("alerts", 1)).expect("queued");
    p.flush(PATIENCE).expect("delivered on the second attempt");

    let mut s = source(&brokers, &["alerts"], HashMap::new());
    let got = consume(&mut s, 1);
    assert_eq!(got.len(), 1, "exactly one copy arrives");
    assert_eq!(got[0].payload, b"{\"n\":1}");
    // Nothing more is waiting (a duplicate would be here by now: it was
    // acknowledged before flush returned).
    assert!(s.poll_batch(10, Duration::from_secs(2)).is_empty());
    s.close();
}

#[test]
fn flush_reports_messages_that_stay_undelivered() {
    let cluster = cluster(&[("posts.dlq", 1)]);
    let brokers = cluster.bootstrap_servers();
    // More refusals than flush has rounds.
    cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE; 16],
    );
    let p = producer(&brokers, &[]);
    p.send(&message("posts.dlq", 1)).expect("queued");
    p.send(&message("posts.dlq", 2)).expect("queued");
    match p.flush(PATIENCE) {
        Err(KafkaError::Undelivered(what)) => {
            assert!(what.contains("could not be delivered"), "{what}")
        }
        other => panic!("expected undelivered messages, got {other:?}"),
    }
}

#[test]
fn the_source_notices_the_brokers_going_away_and_coming_back() {
    let cluster = cluster(&[("posts", 1)]);
    let brokers = cluster.bootstrap_servers();
    let p = producer(&brokers, &[]);
    p.send(&message("posts", 0)).expect("queued");
    p.flush(PATIENCE).expect("delivered");
    let mut s = source(&brokers, &["posts"], HashMap::new());
    assert_eq!(consume(&mut s, 1).len(), 1);
    assert!(s.connected());

    cluster.broker_down(1).expect("broker 1 down");
    let deadline = Instant::now() + PATIENCE;
    while s.connected() && Instant::now() < deadline {
        s.poll_batch(10, Duration::from_millis(200));
    }
    assert!(!s.connected(), "all brokers down is noticed");
    assert!(!s.check_connection(Duration::from_millis(500)));

    cluster.broker_up(1).expect("broker 1 up");
    let deadline = Instant::now() + PATIENCE;
    while !s.check_connection(Duration::from_secs(1)) && Instant::now() < deadline {
        s.poll_batch(10, Duration::from_millis(200));
    }
    assert!(s.connected(), "the cluster answers again");

    // And what is produced now still arrives.
    p.send(&message("posts", 1)).expect("queued");
    p.flush(PATIENCE).expect("delivered");
    let got = consume(&mut s, 1);
    assert_eq!(got.iter().map(|m| m.offset).collect::<Vec<_>>(), vec![1]);
    s.close();
}

/// A run killed without leaving its group leaves its membership record
/// behind; the next run waits out the recorded session before it joins,
/// writes its own record, and removes it when it leaves cleanly.
#[test]
fn a_start_after_a_kill_joins_once_the_dead_members_session_has_ended() {
    let cluster = cluster(&[("posts", 1)]);
    let brokers = cluster.bootstrap_servers();
    let p = producer(&brokers, &[]);
    for n in 0..5 {
        p.send(&message("posts", n)).expect("queued");
    }
    p.flush(PATIENCE).expect("delivered");

    let dir = tempfile::tempdir().expect("a temporary directory");
    let record = dir.path().join("kafka-member.json");
    let settings = ConsumerSettings {
        brokers: brokers.clone(),
        group_id: "yuqing-test".to_string(),
        client_id: "yuqing-test".to_string(),
        topics: vec!["posts".to_string()],
        options: BTreeMap::new(),
        member_file: Some(record.clone()),
    };
    // What a killed predecessor with a 3 s session left behind.
    let dead = Membership {
        group_id: "yuqing-test".into(),
        brokers: brokers.clone(),
        session_timeout_ms: 3_000,
    };
    std::fs::write(&record, serde_json::to_vec(&dead).expect("json")).expect("written");
    assert_eq!(
        Membership::join_delay(Some(&dead), &settings),
        Duration::from_secs(4)
    );

    let mut s = KafkaSource::new(&settings, HashMap::new()).expect("a consumer");
    let mine: Membership =
        serde_json::from_slice(&std::fs::read(&record).expect("a record")).expect("valid");
    assert_eq!(mine.session_timeout_ms, DEFAULT_SESSION_TIMEOUT_MS);
    // For the first 3 s (of the 4 it waits) it has not joined: nothing read.
    let started = Instant::now();
    let mut early = Vec::new();
    while started.elapsed() < Duration::from_secs(3) {
        early.extend(s.poll_batch(5, Duration::from_millis(200)));
    }
    assert!(early.is_empty(), "read {} before joining", early.len());
    assert!(s.assigned().is_empty());
    assert_eq!(consume(&mut s, 5).len(), 5, "then it joins and reads");
    s.close();
    assert!(!record.exists(), "a clean leave removes the record");
}

#[test]
fn the_wait_is_only_for_a_member_of_the_same_group_on_the_same_brokers() {
    let settings = ConsumerSettings {
        brokers: "127.0.0.1:9092".into(),
        group_id: "yuqing".into(),
        client_id: "yuqing".into(),
        topics: vec!["posts".into()],
        options: BTreeMap::new(),
        member_file: None,
    };
    let record = |group: &str, brokers: &str, ms: u64| Membership {
        group_id: group.into(),
        brokers: brokers.into(),
        session_timeout_ms: ms,
    };
    assert_eq!(Membership::join_delay(None, &settings), Duration::ZERO);
    assert_eq!(
        Membership::join_delay(Some(&record("other", "127.0.0.1:9092", 6_000)), &settings),
        Duration::ZERO
    );
    assert_eq!(
        Membership::join_delay(Some(&record("yuqing", "10.0.0.1:9092", 6_000)), &settings),
        Duration::ZERO
    );
    assert_eq!(
        Membership::join_delay(Some(&record("yuqing", "127.0.0.1:9092", 6_000)), &settings),
        Duration::from_secs(7)
    );
    assert_eq!(
        Membership::join_delay(
            Some(&record("yuqing", "127.0.0.1:9092", 3_600_000)),
            &settings
        ),
        Duration::from_secs(300),
        "at most five minutes"
    );
}
