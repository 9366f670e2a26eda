//! Shared by the integration tests: a real tansu broker per test, a
//! `yuqing run` process, HTTP and Kafka helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use serde_json::Value;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The tansu binary: `YUQING_TANSU`, `.tools/tansu/bin/tansu`, or PATH.
pub fn tansu() -> PathBuf {
    if let Some(p) = std::env::var_os("YUQING_TANSU") {
        return PathBuf::from(p);
    }
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/tansu/bin/tansu");
    if local.exists() {
        return local;
    }
    let on_path = Command::new("sh")
        .args(["-c", "command -v tansu"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    on_path.unwrap_or_else(|| {
        panic!(
            "no tansu broker binary: run `scripts/kafka-broker.sh install` (or set YUQING_TANSU)"
        )
    })
}

/// The broker's storage: `YUQING_TANSU_STORAGE` (`sqlite`, the default, or
/// `memory`) as a tansu storage URL and a name for messages.
pub fn storage() -> (&'static str, &'static str) {
    match std::env::var("YUQING_TANSU_STORAGE").as_deref() {
        Ok("memory") => ("memory://tansu/", "tansu memory storage"),
        Ok("sqlite") | Err(_) => ("sqlite://tansu.db", "tansu sqlite storage"),
        Ok(other) => panic!("YUQING_TANSU_STORAGE must be sqlite or memory, got {other:?}"),
    }
}

/// A tansu broker on loopback with its storage (SQLite unless
/// `YUQING_TANSU_STORAGE` says otherwise) in its own directory, so that it
/// can be stopped and started again with its data.
pub struct Broker {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Broker {
    /// A broker that passed the conformance check ([`conformance`], run
    /// once per test process): a broker that does not fails every test
    /// that starts one, saying why.
    pub fn start() -> Broker {
        static CHECKED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
        if let Err(why) = CHECKED.get_or_init(conformance) {
            panic!("{why}");
        }
        Broker::start_unchecked()
    }

    /// A broker, without the conformance check.
    pub fn start_unchecked() -> Broker {
        let mut b = Broker {
            port: free_port(),
            dir: tempfile::tempdir().expect("temp dir"),
            child: None,
        };
        b.restart();
        b
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port and storage.
    pub fn restart(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let child = Command::new(tansu())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", storage().0])
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu starts");
        self.child = Some(child);
        wait_for(Duration::from_secs(20), "the broker to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
        });
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn create_topic(&self, name: &str, partitions: u32) {
        let out = Command::new(tansu())
            .args([
                "topic",
                "create",
                "--broker",
                &format!("tcp://127.0.0.1:{}", self.port),
            ])
            .args(["--partitions", &partitions.to_string(), name])
            .output()
            .expect("tansu topic create runs");
        assert!(
            out.status.success(),
            "creating topic {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether the broker given to the tests is a fair stand-in for Kafka, on
/// the two points the crash tests depend on:
///
/// 1. a fetch from an offset inside a record batch returns the batch that
///    holds it, so that the consumer starts at that offset (a broker that
///    answers with the next batch skips records on every resume);
/// 2. a group member killed with SIGKILL loses its partitions within the
///    session timeout, so that a replacement reads on.
///
/// `Err` names the broker and every point it failed.
pub fn conformance() -> Result<(), String> {
    let (_, name) = storage();
    let binary = tansu();
    let broker = Broker::start_unchecked();
    let mut failed = Vec::new();
    if let Err(e) = fetch_from_inside_a_batch(&broker) {
        failed.push(e);
    }
    if let Err(e) = killed_member_loses_its_partitions(&broker) {
        failed.push(e);
    }
    if failed.is_empty() {
        return Ok(());
    }
    Err(format!(
        "the test broker ({} with {name}) does not honour the Kafka protocol, so the Kafka tests \
         cannot be trusted:\n- {}\nUse a broker and storage that pass (YUQING_TANSU_STORAGE=sqlite, \
         the default; see docs/config.md).",
        binary.display(),
        failed.join("\n- ")
    ))
}

/// Batches of 100 records produced at once, read from offset 37.
fn fetch_from_inside_a_batch(broker: &Broker) -> Result<(), String> {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    broker.create_topic("conformance.fetch", 1);
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.brokers())
        .set("linger.ms", "200")
        .create()
        .map_err(|e| format!("creating a producer: {e}"))?;
    // Two batches of 100 (a flush between them), so that a broker that
    // answers with the batch after the one asked for is seen doing so.
    for batch in 0..2 {
        for i in 0..100 {
            let payload = format!("record {}", batch * 100 + i);
            producer
                .send(
                    BaseRecord::<(), str>::to("conformance.fetch")
                        .partition(0)
                        .payload(&payload),
                )
                .map_err(|(e, _)| format!("producing: {e}"))?;
        }
        producer
            .flush(Duration::from_secs(20))
            .map_err(|e| format!("producing a batch: {e}"))?;
    }
    let c = consumer(&broker.brokers(), Some("conformance-fetch"));
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("conformance.fetch", 0, Offset::Offset(37))
        .map_err(|e| e.to_string())?;
    c.assign(&tpl).map_err(|e| format!("assigning: {e}"))?;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
            return if m.offset() == 37 {
                Ok(())
            } else {
                Err(format!(
                    "a consumer assigned offset 37 of a 100-record batch received offset {} \
                     first: a fetch inside a batch must return that batch, the records before \
                     37 skipped by the client (records are lost on every resume)",
                    m.offset()
                ))
            };
        }
    }
    Err("a consumer assigned offset 37 of a 100-record batch received nothing in 20 s".into())
}

/// A `yuqing run` group member killed with SIGKILL; another member must
/// have every partition within the session timeout (6 s in
/// [`kafka_config`]) and a few seconds to rejoin.
fn killed_member_loses_its_partitions(broker: &Broker) -> Result<(), String> {
    const SESSION: Duration = Duration::from_secs(6);
    const REJOIN: Duration = Duration::from_secs(6);
    broker.create_topic("conformance.group", 3);
    broker.create_topic("conformance.group.dlq", 1);
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let config = kafka_config(
        dir.path(),
        &broker.brokers(),
        "conformance.group",
        "conformance-group",
    );
    let run = Run::start_logging(&config, "info");
    let start = Instant::now();
    while !run.stderr().contains("partitions assigned") {
        if start.elapsed() > Duration::from_secs(60) {
            return Err("a `yuqing run` member got no partitions within 60 s".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    run.kill9();
    let killed = Instant::now();
    let c = consumer(&broker.brokers(), Some("conformance-group"));
    c.subscribe(&["conformance.group"])
        .map_err(|e| format!("subscribing: {e}"))?;
    while killed.elapsed() < SESSION + REJOIN + Duration::from_secs(30) {
        let _ = c.poll(Duration::from_millis(100));
        if c.assignment().map(|a| a.count()).unwrap_or(0) == 3 {
            let took = killed.elapsed();
            return if took <= SESSION + REJOIN {
                Ok(())
            } else {
                Err(format!(
                    "a member killed with SIGKILL kept its partitions for {took:?}; \
                     the session timeout is {SESSION:?} (allowed: {:?} with the rejoin)",
                    SESSION + REJOIN
                ))
            };
        }
    }
    Err(format!(
        "a member killed with SIGKILL still held its partitions {:?} later (session timeout {SESSION:?})",
        killed.elapsed()
    ))
}

pub fn wait_for(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A `yuqing run` process; its stderr is kept for assertions.
pub struct Run {
    child: Option<Child>,
    pub api: String,
    /// The operations listener (`[http] ops_addr`), when there is one.
    pub ops: Option<String>,
    pub stderr: Arc<Mutex<String>>,
}

impl Run {
    pub fn start(config: &Path) -> Run {
        Run::start_logging(config, "warn")
    }

    /// [`Run::start`] with another `RUST_LOG`.
    pub fn start_logging(config: &Path, rust_log: &str) -> Run {
        Run::start_env(config, rust_log, &[])
    }

    /// [`Run::start`] with another `RUST_LOG` and more environment.
    pub fn start_env(config: &Path, rust_log: &str, env: &[(&str, &str)]) -> Run {
        let mut child = Command::new(env!("CARGO_BIN_EXE_yuqing"))
            .args(["run", config.to_str().expect("UTF-8 path")])
            .envs(env.iter().copied())
            .env("RUST_LOG", rust_log)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("yuqing run starts");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let ops = Arc::new(Mutex::new(None));
        {
            let stderr = Arc::clone(&stderr);
            let ops = Arc::clone(&ops);
            let pipe = child.stderr.take().expect("stderr");
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if let Some(rest) = line.strip_prefix("yuqing run: metrics and health on ")
                        && let Ok(mut o) = ops.lock()
                    {
                        *o = Some(rest.trim().to_string());
                    }
                    if let Some(rest) = line.strip_prefix("yuqing run: API on ") {
                        let _ = tx.send(rest.trim().to_string());
                    }
                    if let Ok(mut s) = stderr.lock() {
                        s.push_str(&line);
                        s.push('\n');
                    }
                }
            });
        }
        let api = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "yuqing run did not start its API: {}",
                    stderr.lock().map(|s| s.clone()).unwrap_or_default()
                );
            }
        };
        let ops = ops.lock().ok().and_then(|o| o.clone());
        Run {
            child: Some(child),
            api,
            ops,
            stderr,
        }
    }

    pub fn get(&self, path_and_query: &str) -> (u16, Value) {
        get(&format!("{}{}", self.api, path_and_query))
    }

    /// Posts in the index, as the API counts them.
    pub fn total(&self) -> u64 {
        let (_, v) = self.get("/api/v1/search?limit=1");
        v["total"].as_u64().unwrap_or(0)
    }

    /// SIGTERM, and the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        child.wait().expect("yuqing run exits")
    }

    /// SIGHUP: reload the dictionaries.
    pub fn hangup(&self) {
        let child = self.child.as_ref().expect("running");
        let _ = Command::new("kill")
            .args(["-HUP", &child.id().to_string()])
            .status();
    }

    /// SIGKILL: no chance to commit.
    pub fn kill9(mut self) {
        let mut child = self.child.take().expect("running");
        let _ = child.kill();
        let _ = child.wait();
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A request with an optional bearer token: status, headers' `www-authenticate`,
/// and the body as text.
pub fn request(method: &str, url: &str, token: Option<&str>) -> (u16, Option<String>, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let result = match method {
        "POST" => {
            let mut r = agent.post(url);
            if let Some(t) = token {
                r = r.header("Authorization", &format!("Bearer {t}"));
            }
            r.send_empty()
        }
        _ => {
            let mut r = agent.get(url);
            if let Some(t) = token {
                r = r.header("Authorization", &format!("Bearer {t}"));
            }
            r.call()
        }
    };
    match result {
        Ok(mut res) => {
            let status = res.status().as_u16();
            let challenge = res
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = res.body_mut().read_to_string().unwrap_or_default();
            (status, challenge, body)
        }
        Err(e) => (0, None, e.to_string()),
    }
}

pub fn get(url: &str) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    match agent.get(url).call() {
        Ok(mut res) => {
            let status = res.status().as_u16();
            let body = res.body_mut().read_json().unwrap_or(Value::Null);
            (status, body)
        }
        Err(_) => (0, Value::Null),
    }
}

/// Writes `lines` and sends them with `yuqing replay`.
pub fn replay(brokers: &str, topic: &str, dir: &Path, name: &str, lines: &[Vec<u8>]) {
    let file = dir.join(name);
    let mut body = Vec::new();
    for l in lines {
        body.extend_from_slice(l);
        body.push(b'\n');
    }
    std::fs::write(&file, body).expect("write the replay file");
    let out = Command::new(env!("CARGO_BIN_EXE_yuqing"))
        .args([
            "replay",
            file.to_str().unwrap(),
            "--brokers",
            brokers,
            "--topic",
            topic,
        ])
        .output()
        .expect("yuqing replay runs");
    assert!(
        out.status.success(),
        "replay: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn consumer(brokers: &str, group: Option<&str>) -> BaseConsumer {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers)
        .set("enable.auto.commit", "false");
    c.set("group.id", group.unwrap_or("yuqing-test-reader"));
    c.create().expect("a Kafka consumer")
}

/// The end (high watermark) offset of every partition.
pub fn end_offsets(brokers: &str, topic: &str, partitions: i32) -> Vec<i64> {
    let c = consumer(brokers, None);
    (0..partitions)
        .map(|p| {
            c.fetch_watermarks(topic, p, Duration::from_secs(10))
                .expect("watermarks")
                .1
        })
        .collect()
}

/// The group's committed offset of every partition (-1: none).
pub fn committed_offsets(brokers: &str, group: &str, topic: &str, partitions: i32) -> Vec<i64> {
    let c = consumer(brokers, Some(group));
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let got = c
        .committed_offsets(tpl, Duration::from_secs(10))
        .expect("committed offsets");
    (0..partitions)
        .map(|p| match got.find_partition(topic, p).map(|e| e.offset()) {
            Some(Offset::Offset(o)) => o,
            _ => -1,
        })
        .collect()
}

/// A consumer assigned every partition of `topic`, from its first message.
fn from_the_beginning(brokers: &str, topic: &str, partitions: i32) -> BaseConsumer {
    let c = consumer(brokers, None);
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("partition");
    }
    c.assign(&tpl).expect("assign");
    c
}

/// A consumed message: payload and headers.
pub type Consumed = (Vec<u8>, Vec<(String, String)>);

/// Every message of a topic: payload and headers.
pub fn read_all(brokers: &str, topic: &str, partitions: i32, expect: usize) -> Vec<Consumed> {
    let c = from_the_beginning(brokers, topic, partitions);
    let mut out = Vec::new();
    let start = Instant::now();
    while out.len() < expect && start.elapsed() < Duration::from_secs(30) {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
            let headers = m
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|x| {
                            (
                                x.key.to_string(),
                                String::from_utf8_lossy(x.value.unwrap_or_default()).into_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.push((m.payload().unwrap_or_default().to_vec(), headers));
        }
    }
    out
}

/// Keys and payloads of a topic's messages, until `until` holds for what
/// was read (or 60 s pass).
pub fn read_keyed(
    brokers: &str,
    topic: &str,
    partitions: i32,
    until: impl Fn(&[(Option<String>, Vec<u8>)]) -> bool,
) -> Vec<(Option<String>, Vec<u8>)> {
    let c = from_the_beginning(brokers, topic, partitions);
    let mut out = Vec::new();
    let start = Instant::now();
    while !until(&out) && start.elapsed() < Duration::from_secs(60) {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
            out.push((
                m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                m.payload().unwrap_or_default().to_vec(),
            ));
        }
    }
    out
}

/// A pipeline configuration for a Kafka source.
pub fn kafka_config(dir: &Path, brokers: &str, topic: &str, group: &str) -> PathBuf {
    let config = format!(
        r#"data_dir = "data"

[source]
kind = "kafka"
topics = ["{topic}"]
group_id = "{group}"

[kafka]
brokers = "{brokers}"

[kafka.options]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "500"
"reconnect.backoff.max.ms" = "1000"

[index]
commit_interval_ms = 300

[dead_letter]
kind = "kafka"
topic = "{topic}.dlq"

[alerts]
kind = "none"

[http]
addr = "127.0.0.1:0"

[runtime]
shutdown_timeout_secs = 20
"#
    );
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, config).expect("write the pipeline config");
    path
}

/// `n` valid posts with ids `{prefix}-{i}`.
pub fn posts(prefix: &str, n: usize) -> Vec<Vec<u8>> {
    let mut g = yuqing_gen::Generator::new(9);
    (0..n)
        .map(|i| {
            let text = if i % 10 == 0 { g.incident().1 } else { g.chatter() };
            serde_json::json!({"id": format!("{prefix}-{i}"), "text": text, "ts": 1_719_792_000 + i as i64})
                .to_string()
                .into_bytes()
        })
        .collect()
}

/// `n` malformed messages, five kinds in turn, with their expected reason.
pub fn malformed(n: usize) -> Vec<(Vec<u8>, &'static str)> {
    (0..n)
        .map(|i| match i % 5 {
            0 => (
                format!(r#"{{"id":"bad-{i}","text":"#).into_bytes(),
                "malformed_json",
            ),
            1 => (
                format!(r#"{{"id":"bad-{i}","text":"no time"}}"#).into_bytes(),
                "missing_field",
            ),
            2 => {
                let mut v = format!(r#"{{"id":"bad-{i}","text":""#).into_bytes();
                v.extend_from_slice(b"\xff\xfe");
                v.extend_from_slice(br#"","ts":1}"#);
                (v, "invalid_utf8")
            }
            3 => (b"[1,2,3]".to_vec(), "not_an_object"),
            _ => (
                format!(r#"{{"id":"","text":"x{i}","ts":1}}"#).into_bytes(),
                "invalid_field",
            ),
        })
        .collect()
}
