//! `yuqing run` on the demo stream with webhooks: every alert message the
//! pipeline emits reaches a local receiver, open to resolved, in the
//! webhook's format; a process killed (SIGKILL) with requests in flight
//! delivers them after its restart.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// What a receiver accepted: path and body of each request.
type Received = Arc<Mutex<Vec<(String, String)>>>;

/// A receiver that answers 503 to its first request and 200 (with a robot's
/// `{"errcode":0}`) after; its address and what it accepted.
fn receiver() -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            let mut len = 0;
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        len = v.trim().parse().unwrap();
                    }
                }
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let (status, answer) = if n == 0 {
                ("503 Busy", "")
            } else {
                g.lock()
                    .unwrap()
                    .push((path, String::from_utf8(body).unwrap()));
                ("200 OK", r#"{"errcode":0}"#)
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (format!("http://{addr}"), got)
}

#[test]
fn run_delivers_the_demo_alerts_to_webhooks() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-stream.jsonl");
    let (base, got) = receiver();
    let config = dir.path().join("pipeline.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"data\"\n[source]\nkind = \"file\"\npath = \"{}\"\n\
             [alerts]\nkind = \"file\"\npath = \"alerts.out.jsonl\"\n\
             [[alerts.webhooks]]\nname = \"json\"\nurl = \"{base}/json\"\n\
             [[alerts.webhooks]]\nname = \"wecom\"\nurl = \"{base}/wecom?key=k\"\nformat = \"wecom\"\nstates = [\"open\"]\n\
             [http]\nenabled = false\npublic_url = \"https://yq.example.org\"\n\
             [runtime]\nserve_after_end = false\n",
            demo.display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_yuqing"))
        .args(["run", config.to_str().unwrap()])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");

    let emitted: Vec<Value> = std::fs::read_to_string(dir.path().join("alerts.out.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let states: Vec<&str> = emitted
        .iter()
        .map(|a| a["state"].as_str().unwrap())
        .collect();
    assert_eq!(states.first(), Some(&"open"), "{states:?}");
    assert_eq!(states.last(), Some(&"resolved"), "{states:?}");

    // Delivered before the process exited, the refused first attempt
    // retried: every message to the json webhook, the opens to WeCom.
    let got = got.lock().unwrap().clone();
    let json: Vec<Value> = (got.iter())
        .filter(|(p, _)| p == "/json")
        .map(|(_, b)| serde_json::from_str(b).unwrap())
        .collect();
    assert_eq!(json, emitted, "{stderr}");
    let wecom: Vec<Value> = (got.iter())
        .filter(|(p, _)| p == "/wecom?key=k")
        .map(|(_, b)| serde_json::from_str(b).unwrap())
        .collect();
    assert_eq!(wecom.len(), 1, "{got:?}");
    let content = wecom[0]["markdown"]["content"].as_str().unwrap();
    let id = emitted[0]["alert_id"].as_str().unwrap();
    assert!(content.contains("滁州"), "{content}");
    assert!(
        content.contains(&format!("https://yq.example.org/?alert={id}")),
        "{content}"
    );
    // Nothing left in the outbox.
    let outbox = std::fs::read_to_string(dir.path().join("data/webhooks/outbox.jsonl")).unwrap();
    assert!(outbox.is_empty(), "{outbox}");
}

fn json_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn a_kill_during_delivery_loses_no_message() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-stream.jsonl");
    // First a receiver that takes connections and never answers: every
    // request is in flight when the process is killed.
    let hanging = TcpListener::bind("127.0.0.1:0").unwrap();
    let hanging_url = format!("http://{}", hanging.local_addr().unwrap());
    let held = Arc::new(Mutex::new(Vec::new()));
    let h = held.clone();
    std::thread::spawn(move || {
        for s in hanging.incoming().flatten() {
            h.lock().unwrap().push(s);
        }
    });
    let write_config = |base: &str, serve_after_end: bool| {
        let config = dir.path().join("pipeline.toml");
        std::fs::write(
            &config,
            format!(
                "data_dir = \"data\"\n[source]\nkind = \"file\"\npath = \"{}\"\n\
                 [alerts]\nkind = \"file\"\npath = \"alerts.out.jsonl\"\n\
                 [[alerts.webhooks]]\nname = \"json\"\nurl = \"{base}/json\"\n\
                 [http]\naddr = \"127.0.0.1:0\"\n\
                 [runtime]\nserve_after_end = {serve_after_end}\n",
                demo.display()
            ),
        )
        .unwrap();
        config
    };
    let config = write_config(&hanging_url, true);
    let mut child = Command::new(env!("CARGO_BIN_EXE_yuqing"))
        .args(["run", config.to_str().unwrap()])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Until every emitted message is in the outbox, and one request is in
    // flight.
    let outbox = dir.path().join("data/webhooks/outbox.jsonl");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let emitted = json_lines(&dir.path().join("alerts.out.jsonl"));
        let queued = json_lines(&outbox);
        let done = emitted.last().is_some_and(|a| a["state"] == "resolved")
            && queued.len() >= emitted.len()
            && !held.lock().unwrap().is_empty();
        if done {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no alerts emitted");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let emitted = json_lines(&dir.path().join("alerts.out.jsonl"));

    // The same pipeline again, the webhook now answering.
    let (base, got) = receiver();
    let config = write_config(&base, false);
    let out = Command::new(env!("CARGO_BIN_EXE_yuqing"))
        .args(["run", config.to_str().unwrap()])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let key = |v: &Value| format!("{}/{}", v["alert_id"], v["state"]);
    let delivered: std::collections::BTreeSet<String> = (got.lock().unwrap().iter())
        .map(|(_, b)| key(&serde_json::from_str(b).unwrap()))
        .collect();
    let expected: std::collections::BTreeSet<String> = emitted.iter().map(key).collect();
    assert!(expected.len() >= 2, "{emitted:?}");
    assert_eq!(delivered, expected, "{stderr}");
    assert!(std::fs::read_to_string(&outbox).unwrap().is_empty());
}
