//! A local HTTP receiver for the delivery tests.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use yuqing_model::Level;
use yuqing_spike::{Alert, AlertState, SCHEMA_VERSION, Trigger};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    /// Path and query.
    pub target: String,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

/// What the receiver answers.
pub struct Script {
    /// Requests answered 503 first.
    pub refuse_first: usize,
    /// The status of every request after those.
    pub status: u16,
    /// The body of a success.
    pub body: &'static str,
}

pub struct Receiver {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<Request>>>,
    /// Every request, refused ones too.
    pub attempts: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Receiver {
    pub fn start(script: Script) -> Receiver {
        Self::on(
            TcpListener::bind("127.0.0.1:0").expect("a local port"),
            script,
        )
    }

    pub fn on(listener: TcpListener, script: Script) -> Receiver {
        let addr = listener.local_addr().expect("an address");
        listener.set_nonblocking(true).expect("non-blocking");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let attempts = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, a, s) = (requests.clone(), attempts.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let n = a.fetch_add(1, Ordering::SeqCst);
                        if let Some(req) = read_request(&stream) {
                            let status = if n < script.refuse_first {
                                503
                            } else {
                                script.status
                            };
                            if (200..300).contains(&status) {
                                r.lock().unwrap().push(req);
                            }
                            respond(
                                stream,
                                status,
                                if status == 200 { script.body } else { "busy" },
                            );
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Receiver {
            addr,
            requests,
            attempts,
            stop,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn received(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits until `n` requests were accepted.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Request> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.received().len() >= n {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.received()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let target = line.split_whitespace().nth(1)?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        target,
        headers,
        body: String::from_utf8(body).ok()?,
    })
}

fn respond(mut stream: TcpStream, status: u16, body: &str) {
    let reason = if status == 200 { "OK" } else { "Error" };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
}

/// An alert message of `state`.
pub fn alert(id: &str, state: AlertState, level: Level) -> Alert {
    Alert {
        schema_version: SCHEMA_VERSION,
        alert_id: id.into(),
        state,
        seq: 1,
        category: "fire".into(),
        region: Some("浙江省".into()),
        window_start: "2026-03-02T10:00:00Z".into(),
        window_end: "2026-03-02T10:05:00Z".into(),
        count: 12,
        distinct_authors: 11,
        baseline: 0.4,
        z: 6.1,
        level,
        top_terms: vec!["起火".into(), "浓烟".into()],
        sample_post_ids: vec!["p1".into()],
        regions: vec!["浙江省".into()],
        first_post_id: "p1".into(),
        first_seen: "2026-03-02T10:00:05Z".into(),
        emitted_at: "2026-03-02T10:05:00Z".into(),
        window_secs: Some(300),
        trigger: Trigger::Burst,
        confirmed: true,
        watch: None,
    }
}
