//! `yuqing run` with the shipped demo pipeline and a file source, and
//! `yuqing gen` reproducing the demo stream.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::wait_for;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_demo_stream_is_what_yuqing_gen_makes() {
    let out = Command::new(env!("CARGO_BIN_EXE_yuqing"))
        .args(["gen", "--seed", "7"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let shipped = std::fs::read(root().join("examples/demo-stream.jsonl")).unwrap();
    assert!(
        out.stdout == shipped,
        "examples/demo-stream.jsonl differs from `yuqing gen --seed 7`: regenerate it"
    );
}

#[test]
fn the_demo_pipeline_indexes_the_stream_and_serves_it() {
    let dir = tempfile::tempdir().unwrap();
    // The shipped file, with the data directory and port from the environment.
    let mut child = Command::new(env!("CARGO_BIN_EXE_yuqing"))
        .args(["run", root().join("pipelines/demo.toml").to_str().unwrap()])
        .env("YUQING_DATA_DIR", dir.path())
        .env("YUQING_HTTP_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Alerts on stdout, one JSON per line.
    let stdout = child.stdout.take().unwrap();
    let (alert_tx, alert_rx) = std::sync::mpsc::channel::<serde_json::Value>();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
            let line = line.unwrap();
            alert_tx
                .send(serde_json::from_str(&line).expect("an alert is JSON"))
                .unwrap();
        }
    });
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    let api = loop {
        let line = lines
            .next()
            .expect("yuqing run prints its address")
            .unwrap();
        if let Some(rest) = line.strip_prefix("yuqing run: API on ") {
            break rest.trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    wait_for(
        Duration::from_secs(60),
        "the demo stream to be indexed",
        || support::get(&format!("{api}/api/v1/search?limit=1")).1["total"] == 1560,
    );
    let (_, body) = support::get(&format!(
        "{api}/api/v1/search?q=%E7%88%86%E7%82%B8&region=%E6%BB%81%E5%B7%9E&limit=1"
    ));
    assert!(body["total"].as_u64().unwrap() >= 60, "{body}");
    let (status, _) = support::get(&format!("{api}/readyz"));
    assert_eq!(status, 200);

    // The explosion in 滁州 three hours in is one alert: opened on stdout,
    // updated as it grows, resolved once quiet.
    let open = alert_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("an alert on stdout");
    assert_eq!(open["schema_version"], 1, "{open}");
    assert_eq!(open["state"], "open", "{open}");
    assert_eq!(open["category"], "explosion", "{open}");
    assert_eq!(open["region"], "滁州市", "{open}");
    assert_eq!(open["window_start"], "2024-07-01T03:00:00Z", "{open}");
    // Opened on arrival of the report that makes the minute exceed, as
    // `yuqing backtest` opens it (the clock moves after every post).
    assert!(open["count"].as_u64().unwrap() >= 4, "{open}");
    assert_eq!(open["seq"], 1, "{open}");
    let id = open["alert_id"].as_str().unwrap().to_string();
    let mut states = vec!["open".to_string()];
    while let Ok(a) = alert_rx.recv_timeout(Duration::from_secs(2)) {
        assert_eq!(a["alert_id"], id.as_str(), "one incident, one alert: {a}");
        states.push(a["state"].as_str().unwrap().to_string());
    }
    assert_eq!(
        states.last().map(String::as_str),
        Some("resolved"),
        "{states:?}"
    );

    // The API has it, with its posts.
    let (status, body) = support::get(&format!("{api}/api/v1/alerts?category=explosion"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 1, "{body}");
    assert_eq!(body["alerts"][0]["alert_id"], id.as_str());
    assert_eq!(body["alerts"][0]["state"], "resolved");
    let (_, body) = support::get(&format!("{api}/api/v1/alerts?state=open"));
    assert_eq!(body["total"], 0, "{body}");
    let (status, body) = support::get(&format!("{api}/api/v1/alerts/{id}"));
    assert_eq!(status, 200, "{body}");
    let hits = body["posts"]["hits"].as_array().unwrap();
    assert!(hits.len() >= 10, "{body}");
    assert!(
        hits.iter()
            .all(|h| h["text"].as_str().unwrap().contains("滁州")),
        "{body}"
    );
    let first = body["alert"]["first_post_id"].as_str().unwrap();
    let (status, _) = support::get(&format!("{api}/api/v1/posts/{first}"));
    assert_eq!(status, 200, "the first report is in the index");
    let (status, body) = support::get(&format!("{api}/api/v1/alerts?state=opened"));
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`state`"),
        "{body}"
    );
    let (status, _) = support::get(&format!("{api}/api/v1/alerts/al-0000"));
    assert_eq!(status, 404);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_file_pipeline_resumes_where_its_index_stopped_and_reports_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let posts = dir.path().join("posts.jsonl");
    let line = |i: usize| {
        format!(
            r#"{{"id":"f-{i}","text":"滁州发生爆炸{i}","ts":{}}}"#,
            1_719_792_000 + i
        )
    };
    let mut body: String = (0..100).map(|i| line(i) + "\n").collect();
    body.push_str("{\"broken\n");
    std::fs::write(&posts, &body).unwrap();
    std::fs::write(
        dir.path().join("p.toml"),
        "data_dir = \"data\"\n[source]\nkind = \"file\"\npath = \"posts.jsonl\"\n[dead_letter]\nkind = \"file\"\npath = \"dead.jsonl\"\n[alerts]\nkind = \"none\"\n[http]\nenabled = false\n[runtime]\nserve_after_end = false\n",
    )
    .unwrap();
    let run = |dir: &Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_yuqing"))
            .args(["run", dir.join("p.toml").to_str().unwrap()])
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let first = run(dir.path());
    assert!(first.contains("yuqing run: 101 messages"), "{first}");
    assert!(
        first.contains("100 indexed") && first.contains("1 dead letters"),
        "{first}"
    );
    let dead = std::fs::read_to_string(dir.path().join("dead.jsonl")).unwrap();
    let d: serde_json::Value = serde_json::from_str(dead.lines().next().unwrap()).unwrap();
    assert_eq!(
        (d["reason"].as_str(), d["line"].as_u64()),
        (Some("malformed_json"), Some(101))
    );

    // Appended lines are read on the next run, and only they.
    let mut more = std::fs::OpenOptions::new()
        .append(true)
        .open(&posts)
        .unwrap();
    for i in 100..150 {
        std::io::Write::write_all(&mut more, (line(i) + "\n").as_bytes()).unwrap();
    }
    let second = run(dir.path());
    assert!(second.contains("yuqing run: 50 messages"), "{second}");
    let out = Command::new(env!("CARGO_BIN_EXE_yuqing"))
        .args([
            "search",
            "--data-dir",
            dir.path().join("data").to_str().unwrap(),
            "爆炸",
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("150 posts match"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // A configuration mistake names the key and the line.
    std::fs::write(
        dir.path().join("bad.toml"),
        "data_dir = \"d\"\n[source]\nkind = \"file\"\npath = \"p\"\nfollw = true\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_yuqing"))
        .args(["run", dir.path().join("bad.toml").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:5: unknown field `follw`"), "{err}");
}

#[test]
fn a_file_pipeline_reads_a_byte_order_mark_and_dead_letters_bad_lines_as_score_reports_them() {
    let dir = tempfile::tempdir().unwrap();
    let good = |i: usize| format!(r#"{{"id":"b-{i}","text":"滁州发生爆炸","ts":1719792000}}"#);
    let bad = [
        "nonsense",
        "tru",
        "[1,2]",
        "true",
        r#"{"id":7,"text":"t","ts":1}"#,
    ];
    let mut body = format!("\u{feff}{}\n", good(1));
    for b in bad {
        body.push_str(b);
        body.push('\n');
    }
    body.push_str(&good(2));
    body.push('\n');
    std::fs::write(dir.path().join("posts.jsonl"), &body).unwrap();
    std::fs::write(
        dir.path().join("p.toml"),
        "data_dir = \"data\"\n[source]\nkind = \"file\"\npath = \"posts.jsonl\"\n[dead_letter]\nkind = \"file\"\npath = \"dead.jsonl\"\n[alerts]\nkind = \"none\"\n[http]\nenabled = false\n[runtime]\nserve_after_end = false\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_yuqing"))
        .args(["run", dir.path().join("p.toml").to_str().unwrap()])
        .env("RUST_LOG", "warn")
        .env("YUQING_PROGRESS_SECS", "0.05")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("2 indexed") && err.contains("5 dead letters"),
        "{err}"
    );
    let dead: Vec<serde_json::Value> = std::fs::read_to_string(dir.path().join("dead.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let reasons: Vec<(&str, u64)> = dead
        .iter()
        .map(|d| (d["reason"].as_str().unwrap(), d["line"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("malformed_json", 2),
            ("malformed_json", 3),
            ("not_an_object", 4),
            ("not_an_object", 5),
            ("invalid_field", 6)
        ]
    );
    // The same messages as `yuqing score` gives for the same lines.
    let score = Command::new(env!("CARGO_BIN_EXE_yuqing"))
        .args([
            "score",
            "--quiet",
            dir.path().join("posts.jsonl").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let score_err = String::from_utf8_lossy(&score.stderr);
    for d in &dead {
        let line = format!("line {}: {}", d["line"], d["error"].as_str().unwrap());
        assert!(score_err.contains(&line), "{line} not in {score_err}");
    }
}

#[test]
fn a_pipeline_reports_progress_in_full_lines_when_stderr_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let body: String = (0..3000)
        .map(|i| {
            format!(
                "{{\"id\":\"g-{i}\",\"text\":\"今天和朋友去吃了火锅，好开心{i}\",\"ts\":{}}}\n",
                1_719_792_000 + i
            )
        })
        .collect();
    std::fs::write(dir.path().join("posts.jsonl"), &body).unwrap();
    std::fs::write(
        dir.path().join("p.toml"),
        "data_dir = \"data\"\n[source]\nkind = \"file\"\npath = \"posts.jsonl\"\n[alerts]\nkind = \"none\"\n[http]\nenabled = false\n[runtime]\nserve_after_end = false\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_yuqing"))
        .args(["run", dir.path().join("p.toml").to_str().unwrap()])
        .env("RUST_LOG", "warn")
        .env("YUQING_PROGRESS_SECS", "0.05")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains('\r'), "{err}");
    assert!(
        err.lines().any(|l| l.starts_with("yuqing run: ")
            && l.contains(" messages/s, ")
            && l.contains(" indexed, ")),
        "{err}"
    );
}
