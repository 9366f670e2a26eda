//! Delivery through a local HTTP receiver: retries, restarts, dead letters,
//! rate limits, the DingTalk signature.

mod common;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Receiver, Script, alert};
use yuqing_model::Level;
use yuqing_notify::{Format, Notifier, NotifierOptions, RenderOptions, WebhookConfig};
use yuqing_spike::AlertState;

fn fast() -> NotifierOptions {
    NotifierOptions {
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        request_timeout: Duration::from_secs(5),
        close_grace: Duration::ZERO,
    }
}

fn ok() -> Script {
    Script {
        refuse_first: 0,
        status: 200,
        body: "{}",
    }
}

fn start(dir: &Path, hooks: Vec<WebhookConfig>) -> Notifier {
    Notifier::start(dir, hooks, RenderOptions::default(), fast()).expect("a notifier")
}

/// `(alert_id, state)` of each JSON body received.
fn messages(r: &Receiver) -> BTreeSet<(String, String)> {
    r.received()
        .iter()
        .map(|q| {
            let v = q.json();
            (
                v["alert_id"].as_str().unwrap().to_string(),
                v["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn lifecycle() -> Vec<yuqing_spike::Alert> {
    let mut out = Vec::new();
    for id in ["a1", "a2"] {
        for state in [AlertState::Open, AlertState::Update, AlertState::Resolved] {
            out.push(alert(id, state, Level::Yellow));
        }
    }
    out
}

fn expected() -> BTreeSet<(String, String)> {
    lifecycle()
        .iter()
        .map(|a| (a.alert_id.clone(), a.state.as_str().to_string()))
        .collect()
}

#[test]
fn a_receiver_that_refuses_twice_still_gets_every_message_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let r = Receiver::start(Script {
        refuse_first: 2,
        ..ok()
    });
    let n = start(
        dir.path(),
        vec![WebhookConfig::new(&r.url("/hook"), Format::Json)],
    );
    for a in lifecycle() {
        n.notify(&a).unwrap();
    }
    assert!(
        n.wait_idle(Duration::from_secs(20)),
        "pending: {}",
        n.pending()
    );
    assert_eq!(messages(&r), expected());
    assert_eq!(r.attempts.load(std::sync::atomic::Ordering::SeqCst), 8);
    // In the order emitted: a refused message holds back the ones after it.
    let order: Vec<String> = (r.received().iter())
        .map(|q| {
            format!(
                "{}/{}",
                q.json()["alert_id"].as_str().unwrap(),
                q.json()["state"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(order[0], "a1/open");
    assert_eq!(order[2], "a1/resolved");
    // The json format is the message as is.
    assert_eq!(
        r.received()[0].json(),
        serde_json::to_value(&lifecycle()[0]).unwrap()
    );
    assert_eq!(
        r.received()[0].header("content-type"),
        Some("application/json; charset=utf-8")
    );
    // Each request names its message, the same id at every attempt.
    assert_eq!(
        r.received()[0].header(yuqing_notify::MESSAGE_ID_HEADER),
        Some("a1/open/2026-03-02T10:05:00Z")
    );
    // Everything delivered: the outbox is emptied.
    let outbox = std::fs::read_to_string(dir.path().join("webhooks/outbox.jsonl")).unwrap();
    assert!(outbox.is_empty(), "{outbox}");
}

#[test]
fn messages_left_undelivered_are_delivered_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    // A port with nothing listening: every attempt fails.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let url = format!("http://{addr}/hook");
    let n = start(dir.path(), vec![WebhookConfig::new(&url, Format::Json)]);
    for a in lifecycle() {
        n.notify(&a).unwrap();
    }
    assert_eq!(n.pending(), 6);
    n.close();

    // A new process over the same data directory, the receiver up.
    let r = Receiver::on(TcpListener::bind(addr).unwrap(), ok());
    let n = start(dir.path(), vec![WebhookConfig::new(&url, Format::Json)]);
    assert!(
        n.wait_idle(Duration::from_secs(20)),
        "pending: {}",
        n.pending()
    );
    assert_eq!(messages(&r), expected());
    assert_eq!(r.received().len(), 6, "each message once");
    n.close();

    // Nothing is sent a third time.
    let n = start(dir.path(), vec![WebhookConfig::new(&url, Format::Json)]);
    assert_eq!(n.pending(), 0);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(r.received().len(), 6);
}

#[test]
fn what_fails_after_the_retry_budget_goes_to_the_dead_letter_file() {
    let dir = tempfile::tempdir().unwrap();
    let r = Receiver::start(Script {
        refuse_first: 0,
        status: 500,
        body: "",
    });
    let mut hook = WebhookConfig::new(&r.url("/hook"), Format::Json);
    hook.name = Some("ops".into());
    hook.max_attempts = 3;
    let before = yuqing_metrics::metrics()
        .webhook_deliveries
        .with_label_values(&["ops", "dead"])
        .get();
    let n = start(dir.path(), vec![hook]);
    n.notify(&alert("a9", AlertState::Open, Level::Red))
        .unwrap();
    assert!(n.wait_idle(Duration::from_secs(20)));
    assert_eq!(r.attempts.load(std::sync::atomic::Ordering::SeqCst), 3);
    let dead = std::fs::read_to_string(dir.path().join("webhooks/dead.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = dead
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["webhook"], "ops");
    assert_eq!(lines[0]["attempts"], 3);
    assert_eq!(lines[0]["id"], "a9/open/2026-03-02T10:05:00Z");
    assert!(
        lines[0]["error"].as_str().unwrap().contains("500"),
        "{dead}"
    );
    let body: serde_json::Value = serde_json::from_str(lines[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["alert_id"], "a9");
    let after = yuqing_metrics::metrics()
        .webhook_deliveries
        .with_label_values(&["ops", "dead"])
        .get();
    assert_eq!(after - before, 1);
}

#[test]
fn a_robot_that_answers_200_with_an_error_code_is_tried_again() {
    let dir = tempfile::tempdir().unwrap();
    let r = Receiver::start(Script {
        refuse_first: 0,
        status: 200,
        body: r#"{"errcode":310000,"errmsg":"sign not match"}"#,
    });
    let mut hook = WebhookConfig::new(&r.url("/robot/send?access_token=t"), Format::Dingtalk);
    hook.max_attempts = 2;
    let n = start(dir.path(), vec![hook]);
    n.notify(&alert("a1", AlertState::Open, Level::Blue))
        .unwrap();
    assert!(n.wait_idle(Duration::from_secs(20)));
    let dead = std::fs::read_to_string(dir.path().join("webhooks/dead.jsonl")).unwrap();
    assert!(dead.contains("310000"), "{dead}");
}

#[test]
fn notify_does_not_wait_for_a_slow_webhook() {
    let dir = tempfile::tempdir().unwrap();
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let n = start(dir.path(), vec![WebhookConfig::new(&url, Format::Json)]);
    let t = Instant::now();
    for i in 0..50 {
        n.notify(&alert(&format!("a{i}"), AlertState::Open, Level::Blue))
            .unwrap();
    }
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(n.pending(), 50);
    drop(listener);
}

#[test]
fn the_rate_limit_holds_back_what_is_over_it() {
    let dir = tempfile::tempdir().unwrap();
    let r = Receiver::start(ok());
    let mut hook = WebhookConfig::new(&r.url("/hook"), Format::Json);
    hook.rate_per_minute = 3;
    let n = start(dir.path(), vec![hook]);
    for a in lifecycle() {
        n.notify(&a).unwrap();
    }
    let got = r.wait_for(3, Duration::from_secs(10));
    assert_eq!(got.len(), 3);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(r.received().len(), 3, "no more than 3 a minute");
    assert_eq!(n.pending(), 3);
}

#[test]
fn filters_choose_the_messages_each_webhook_gets() {
    let dir = tempfile::tempdir().unwrap();
    let r = Receiver::start(ok());
    let mut severe = WebhookConfig::new(&r.url("/severe"), Format::Json);
    severe.name = Some("severe".into());
    severe.min_level = Some(Level::Orange);
    severe.states = vec![AlertState::Open];
    let mut other = WebhookConfig::new(&r.url("/other"), Format::Json);
    other.name = Some("other".into());
    other.categories = vec!["flood".into()];
    let n = start(dir.path(), vec![severe, other]);
    n.notify(&alert("low", AlertState::Open, Level::Yellow))
        .unwrap();
    n.notify(&alert("high", AlertState::Open, Level::Red))
        .unwrap();
    n.notify(&alert("high", AlertState::Resolved, Level::Red))
        .unwrap();
    assert!(n.wait_idle(Duration::from_secs(10)));
    let got: Vec<(String, String)> = r
        .received()
        .iter()
        .map(|q| {
            (
                q.target.clone(),
                q.json()["alert_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(got, vec![("/severe".to_string(), "high".to_string())]);
}

#[test]
fn headers_are_sent() {
    let dir = tempfile::tempdir().unwrap();
    let r = Receiver::start(ok());
    let mut hook = WebhookConfig::new(&r.url("/hook"), Format::Json);
    hook.headers
        .insert("Authorization".into(), "Bearer abc".into());
    let n = start(dir.path(), vec![hook]);
    n.notify(&alert("a1", AlertState::Open, Level::Blue))
        .unwrap();
    let got = r.wait_for(1, Duration::from_secs(10));
    assert_eq!(got[0].header("authorization"), Some("Bearer abc"));
}

/// HMAC-SHA256 (RFC 2104) on SHA-256 alone, for an independent check.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut k = if key.len() > 64 {
        Sha256::digest(key).to_vec()
    } else {
        key.to_vec()
    };
    k.resize(64, 0);
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&ipad)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(&opad)
        .chain_update(inner)
        .finalize()
        .to_vec()
}

/// Base64 (RFC 4648, padded) then percent-encoded as a query value.
fn b64_urlencoded(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s.replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

#[test]
fn the_dingtalk_signature_is_the_documented_one() {
    // A value computed with the formula of DingTalk's robot documentation
    // (Python: quote_plus(b64encode(hmac.new(secret, f"{ts}\n{secret}",
    // sha256).digest()))).
    let secret = "SEC0123456789abcdef";
    assert_eq!(
        yuqing_notify::dingtalk_sign(secret, 1_700_000_000_000),
        "TSZbRFUuvaSQaRKUpF970OPCb2%2FLcQAP3wOvwZIzBZk%3D"
    );

    // And each request carries a signature of its own timestamp.
    let dir = tempfile::tempdir().unwrap();
    let r = Receiver::start(Script {
        refuse_first: 0,
        status: 200,
        body: r#"{"errcode":0,"errmsg":"ok"}"#,
    });
    let mut hook = WebhookConfig::new(&r.url("/robot/send?access_token=tok"), Format::Dingtalk);
    hook.secret = Some(secret.into());
    let n = start(dir.path(), vec![hook]);
    n.notify(&alert("a1", AlertState::Open, Level::Blue))
        .unwrap();
    let got = r.wait_for(1, Duration::from_secs(10));
    let target = &got[0].target;
    let query = target.strip_prefix("/robot/send?").expect(target);
    let params: Vec<(&str, &str)> = query.split('&').filter_map(|p| p.split_once('=')).collect();
    assert_eq!(params[0], ("access_token", "tok"));
    assert_eq!(params[1].0, "timestamp");
    assert_eq!(params[2].0, "sign");
    let ts: i64 = params[1].1.parse().unwrap();
    let now = yuqing_model::Timestamp::now().as_millis();
    assert!(
        (now - ts).abs() < 60_000,
        "a timestamp in milliseconds: {ts}"
    );
    let mac = hmac_sha256(secret.as_bytes(), format!("{ts}\n{secret}").as_bytes());
    assert_eq!(params[2].1, b64_urlencoded(&mac));
}

#[test]
fn a_bad_webhook_is_refused_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut hook = WebhookConfig::new("ftp://example.com", Format::Json);
    let e = Notifier::start(
        dir.path(),
        vec![hook.clone()],
        RenderOptions::default(),
        fast(),
    )
    .err()
    .unwrap();
    assert!(e.contains("`alerts.webhooks[0].url`"), "{e}");
    hook.url = "https://example.com/a".into();
    hook.secret = Some("SEC1".into());
    let e = Notifier::start(
        dir.path(),
        vec![hook.clone()],
        RenderOptions::default(),
        fast(),
    )
    .err()
    .unwrap();
    assert!(
        e.contains("`alerts.webhooks[0].secret` is for `format = \"dingtalk\"`"),
        "{e}"
    );
    hook.secret = None;
    let e = Notifier::start(
        dir.path(),
        vec![hook.clone(), hook],
        RenderOptions::default(),
        fast(),
    )
    .err()
    .unwrap();
    assert!(e.contains("same name"), "{e}");
}

#[test]
fn https_urls_are_spoken_to_in_tls() {
    // The first bytes the server gets are a TLS handshake record (0x16,
    // version 3.x), not an HTTP request line.
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut first = [0u8; 2];
            let _ = std::io::Read::read_exact(&mut s, &mut first);
            let _ = tx.send(first);
        }
    });
    let mut hook = WebhookConfig::new(
        &format!("https://localhost:{}/hook", addr.port()),
        Format::Json,
    );
    hook.max_attempts = 1;
    let n = start(dir.path(), vec![hook]);
    n.notify(&alert("a1", AlertState::Open, Level::Blue))
        .unwrap();
    let first = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(first, [0x16, 0x03], "a TLS ClientHello");
}

#[test]
fn at_start_the_outbox_keeps_only_what_is_not_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let r = Receiver::start(ok());
    let mut up = WebhookConfig::new(&r.url("/up"), Format::Json);
    up.name = Some("up".into());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut down = WebhookConfig::new(
        &format!("http://{}/down", listener.local_addr().unwrap()),
        Format::Json,
    );
    drop(listener);
    down.name = Some("down".into());
    down.max_attempts = 1000;
    let hooks = vec![up, down];
    let n = start(dir.path(), hooks.clone());
    for a in lifecycle() {
        n.notify(&a).unwrap();
    }
    r.wait_for(6, Duration::from_secs(10));
    // The receiver answered before the acknowledgement is written.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(n.pending(), 6, "the down webhook's");
    n.close();
    let outbox = dir.path().join("webhooks/outbox.jsonl");
    assert_eq!(
        std::fs::read_to_string(&outbox).unwrap().lines().count(),
        12
    );

    let n = start(dir.path(), hooks);
    assert_eq!(n.pending(), 6);
    let left = std::fs::read_to_string(&outbox).unwrap();
    assert_eq!(left.lines().count(), 6, "{left}");
    assert!(
        left.lines().all(|l| l.contains("\"webhook\":\"down\"")),
        "{left}"
    );
    let acked = std::fs::read_to_string(dir.path().join("webhooks/acked.jsonl")).unwrap();
    assert!(acked.is_empty(), "{acked}");
    assert_eq!(r.received().len(), 6, "nothing delivered twice");
}
