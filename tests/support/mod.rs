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

/// A tansu broker on loopback with SQLite storage in its own directory, so
/// that it can be stopped and started again with its data.
pub struct Broker {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Broker {
    pub fn start() -> Broker {
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
            .args(["--storage-engine", "sqlite://tansu.db"])
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
