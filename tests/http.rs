//! The analysts' HTTP API on a real on-disk index: `yuqing index` builds
//! it, `yuqing serve` answers over real HTTP.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

fn yuqing() -> Command {
    Command::new(env!("CARGO_BIN_EXE_yuqing"))
}

/// A `yuqing serve` process, stopped when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(data_dir: &Path) -> Server {
        let mut child = yuqing()
            .args([
                "serve",
                "--data-dir",
                data_dir.to_str().unwrap(),
                "--addr",
                "127.0.0.1:0",
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("yuqing serve starts");
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let base = loop {
            let line = lines
                .next()
                .expect("yuqing serve says where it listens")
                .expect("stderr is readable");
            if let Some(rest) = line.strip_prefix("yuqing serve: listening on ") {
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        // Keep draining stderr so the server never blocks on it.
        std::thread::spawn(move || for _ in lines {});
        Server { child, base }
    }

    fn get(&self, path: &str, params: &[(&str, &str)]) -> (u16, Value) {
        let mut url = format!("{}{}", self.base, path);
        if !params.is_empty() {
            let mut q = form_urlencoded::Serializer::new(String::new());
            for (k, v) in params {
                q.append_pair(k, v);
            }
            url.push('?');
            url.push_str(&q.finish());
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut res = agent.get(&url).call().expect("HTTP request");
        let status = res.status().as_u16();
        let body: Value = res.body_mut().read_json().expect("a JSON body");
        (status, body)
    }

    fn ids(&self, params: &[(&str, &str)]) -> Vec<String> {
        let (status, body) = self.get("/api/v1/search", params);
        assert_eq!(status, 200, "{body}");
        body["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].as_str().unwrap().to_string())
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn index(data_dir: &Path, posts: &[Value]) {
    let file = data_dir.join(format!("posts-{}.jsonl", posts.len()));
    let body: String = posts.iter().map(|p| format!("{p}\n")).collect();
    std::fs::write(&file, body).unwrap();
    let out = yuqing()
        .args([
            "index",
            "--data-dir",
            data_dir.to_str().unwrap(),
            file.to_str().unwrap(),
        ])
        .output()
        .expect("yuqing index runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn post(id: &str, ts: &str, text: &str) -> Value {
    serde_json::json!({"id": id, "ts": ts, "text": text, "platform": "weibo", "author": "u-42"})
}

fn fixture() -> Vec<Value> {
    vec![
        post(
            "river",
            "2024-07-01T01:00:00Z",
            "滁河水污染严重，河面漂着大量死鱼",
        ),
        post(
            "blast",
            "2024-07-01T02:00:00Z",
            "滁州一化工厂发生爆炸，造成3人死亡、12人受伤",
        ),
        post(
            "blast-tw",
            "2024-07-01T02:05:00Z",
            "滁州一化工廠發生爆炸，現場濃煙滾滾",
        ),
        post(
            "crash",
            "2024-07-02T08:00:00Z",
            "成都绕城高速发生多车相撞事故，2人受伤",
        ),
        post(
            "chat",
            "2024-07-02T09:00:00Z",
            "今天和朋友去吃火锅，水很好喝",
        ),
        post(
            "flood",
            "2024-07-03T10:00:00Z",
            "武汉暴雨致城区严重内涝，多条道路积水",
        ),
    ]
}

#[test]
fn search_histogram_facets_and_posts_over_http() {
    let dir = tempfile::tempdir().unwrap();
    index(dir.path(), &fixture());
    let s = Server::start(dir.path());

    // A phrase finds the river post; the word inside a longer one does too.
    assert_eq!(s.ids(&[("q", "\"水污染\"")]), vec!["river"]);
    assert_eq!(s.ids(&[("q", "水污染")]), vec!["river"]);
    assert_eq!(s.ids(&[("q", "死鱼 滁河")]), vec!["river"]);
    // Unquoted Chinese means every word: 滁州 AND 爆炸.
    assert_eq!(s.ids(&[("q", "滁州爆炸")]), vec!["blast-tw", "blast"]);
    // A traditional query finds simplified posts, and the other way round.
    assert_eq!(
        s.ids(&[("q", "化工廠 爆炸"), ("sort", "time")]),
        vec!["blast-tw", "blast"]
    );
    assert_eq!(s.ids(&[("q", "浓烟")]), vec!["blast-tw"]);

    // Highlights wrap the matching words, HTML-escaped around them.
    let (_, body) = s.get("/api/v1/search", &[("q", "爆炸"), ("limit", "1")]);
    assert_eq!(body["total"], 2);
    assert!(
        body["hits"][0]["highlight"]
            .as_str()
            .unwrap()
            .contains("<em>爆炸</em>"),
        "{body}"
    );
    let hit = &body["hits"][0];
    for key in [
        "id",
        "text",
        "ts",
        "categories",
        "regions",
        "level",
        "highlight",
    ] {
        assert!(hit.get(key).is_some(), "hit lacks `{key}`: {hit}");
    }

    // Filters: category, region (an alias resolves), time, level, score.
    assert_eq!(s.ids(&[("category", "traffic")]), vec!["crash"]);
    assert_eq!(s.ids(&[("region", "滁州")]), vec!["blast-tw", "blast"]);
    assert_eq!(
        s.ids(&[("region", "安徽省"), ("category", "pollution")]),
        Vec::<String>::new()
    );
    assert_eq!(
        s.ids(&[
            ("from", "2024-07-02T00:00:00Z"),
            ("to", "2024-07-03T00:00:00Z")
        ]),
        vec!["chat", "crash"]
    );
    assert_eq!(s.ids(&[("level", "yellow")]), vec!["blast"]);
    assert_eq!(
        s.ids(&[
            ("category", "explosion"),
            ("min_score", "2.5"),
            ("sort", "score")
        ]),
        vec!["blast", "blast-tw"]
    );
    assert_eq!(
        s.ids(&[("platform", "weibo"), ("limit", "2"), ("offset", "1")])
            .len(),
        2
    );

    // Histogram: exactly the requested range, empty buckets included.
    let (status, body) = s.get(
        "/api/v1/histogram",
        &[
            ("interval", "1d"),
            ("from", "2024-07-01T00:00:00Z"),
            ("to", "2024-07-05T00:00:00Z"),
        ],
    );
    assert_eq!(status, 200, "{body}");
    let counts: Vec<u64> = body["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, vec![3, 2, 1, 0]);
    assert_eq!(body["buckets"][0]["start"], "2024-07-01T00:00:00Z");
    let (_, body) = s.get("/api/v1/histogram", &[("q", "爆炸"), ("interval", "1h")]);
    assert_eq!(
        body["buckets"],
        serde_json::json!([{"start": "2024-07-01T02:00:00Z", "count": 2}])
    );

    // Facets.
    let (status, body) = s.get("/api/v1/facets", &[("q", "滁州")]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 2);
    assert_eq!(
        body["regions"][0],
        serde_json::json!({"key": "安徽省", "count": 2})
    );
    assert!(
        body["categories"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!({"key": "explosion", "count": 2}))
    );

    // The stored post, with a pseudonymous author.
    let (status, body) = s.get("/api/v1/posts/blast", &[]);
    assert_eq!(status, 200);
    assert_eq!(body["severity"]["dead"], 3);
    assert_eq!(body["regions"], serde_json::json!(["安徽省", "滁州市"]));
    let author = body["author"].as_str().unwrap();
    assert!(
        author.starts_with("a-") && !author.contains("u-42"),
        "{author}"
    );
    let (status, body) = s.get("/api/v1/posts/nope", &[]);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );

    // Health.
    assert_eq!(s.get("/healthz", &[]).0, 200);
    let (status, body) = s.get("/readyz", &[]);
    assert_eq!((status, body["posts"].as_u64()), (200, Some(6)));
}

#[test]
fn bad_parameters_get_400_with_a_message_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    index(dir.path(), &fixture());
    let s = Server::start(dir.path());
    // (route, parameters, what the message must say)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (
            "/api/v1/search",
            &[("limit", "0")],
            "parameter `limit`: must be from 1 to 500",
        ),
        (
            "/api/v1/search",
            &[("limit", "501")],
            "parameter `limit`: must be from 1 to 500",
        ),
        (
            "/api/v1/search",
            &[("limit", "ten")],
            "parameter `limit`: `ten` is not a whole number",
        ),
        (
            "/api/v1/search",
            &[("offset", "20000")],
            "parameter `offset`: must be at most 10000",
        ),
        (
            "/api/v1/search",
            &[("sort", "newest")],
            "parameter `sort`: `newest`: expected time, relevance or score",
        ),
        (
            "/api/v1/search",
            &[("from", "yesterday")],
            "parameter `from`: `yesterday` is not an RFC 3339 timestamp",
        ),
        (
            "/api/v1/search",
            &[
                ("from", "2024-07-02T00:00:00Z"),
                ("to", "2024-07-01T00:00:00Z"),
            ],
            "parameter `from`",
        ),
        (
            "/api/v1/search",
            &[("category", "weather")],
            "parameter `category`: unknown category `weather`",
        ),
        (
            "/api/v1/search",
            &[("region", "火星")],
            "parameter `region`: unknown region `火星`",
        ),
        (
            "/api/v1/search",
            &[("level", "purple")],
            "parameter `level`: unknown level `purple`",
        ),
        (
            "/api/v1/search",
            &[("min_score", "-1")],
            "parameter `min_score`: must be a number of at least 0",
        ),
        (
            "/api/v1/search",
            &[("colour", "red")],
            "parameter `colour`: unknown parameter",
        ),
        (
            "/api/v1/search",
            &[("q", "\"unclosed")],
            "query `\"unclosed`: not valid query syntax",
        ),
        (
            "/api/v1/search",
            &[("q", "nosuchfield:x")],
            "query `nosuchfield:x`",
        ),
        (
            "/api/v1/histogram",
            &[("interval", "2h")],
            "parameter `interval`: `2h`: expected 1m, 5m, 1h or 1d",
        ),
        (
            "/api/v1/histogram",
            &[
                ("interval", "1m"),
                ("from", "2000-01-01T00:00:00Z"),
                ("to", "2024-01-01T00:00:00Z"),
            ],
            "buckets",
        ),
        (
            "/api/v1/facets",
            &[("size", "1000")],
            "parameter `size`: must be from 1 to 100",
        ),
    ];
    for (path, params, message) in cases {
        let (status, body) = s.get(path, params);
        assert_eq!(status, 400, "{path} {params:?}: {body}");
        let got = body["error"]["message"].as_str().unwrap_or_default();
        assert!(got.contains(message), "{path} {params:?}: {got}");
    }
    let long_q = "火".repeat(1500);
    let (status, body) = s.get("/api/v1/search", &[("q", &long_q)]);
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("over the limit of 4096"),
        "{body}"
    );
    let (status, body) = s.get("/api/v1/nothing", &[]);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
}

#[test]
fn a_post_indexed_twice_is_one_post_and_the_index_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    index(dir.path(), &fixture());
    // The same id again, with a new text: it replaces the first.
    index(
        dir.path(),
        &[post(
            "river",
            "2024-07-01T01:00:00Z",
            "滁河水污染已经治理，河水变清",
        )],
    );
    {
        let s = Server::start(dir.path());
        assert_eq!(s.ids(&[("q", "水污染")]), vec!["river"]);
        let (_, body) = s.get("/api/v1/search", &[("q", "水污染")]);
        assert_eq!(body["total"], 1);
        assert!(
            body["hits"][0]["text"].as_str().unwrap().contains("治理"),
            "{body}"
        );
        assert_eq!(s.get("/readyz", &[]).1["posts"], 6);
    }
    // A new process on the same directory finds the same posts.
    let s = Server::start(dir.path());
    assert_eq!(s.ids(&[("q", "水污染")]), vec!["river"]);
    assert_eq!(s.ids(&[("region", "滁州市")]), vec!["blast-tw", "blast"]);
    assert_eq!(s.get("/readyz", &[]).1["posts"], 6);
}

#[test]
fn serve_refuses_a_missing_or_incompatible_index() {
    let dir = tempfile::tempdir().unwrap();
    let out = yuqing()
        .args([
            "serve",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--addr",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no index in") && err.contains("yuqing index --data-dir"),
        "{err}"
    );

    index(dir.path(), &fixture());
    std::fs::write(
        dir.path().join("index/yuqing-index.json"),
        r#"{"format_version": 99, "created_by": "a future yuqing"}"#,
    )
    .unwrap();
    let out = yuqing()
        .args([
            "search",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "水污染",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("has format version 99, this yuqing reads version 1"),
        "{err}"
    );
}

#[test]
fn search_from_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    index(dir.path(), &fixture());
    let out = yuqing()
        .args([
            "search",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "爆炸",
            "--region",
            "滁州",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("2 posts match; showing 2"), "{text}");
    assert!(text.contains("blast") && text.contains("[爆炸]"), "{text}");
    let out = yuqing()
        .args([
            "search",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--limit",
            "0",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "a bad option value is a bad command line"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("parameter `limit`"));
}

#[test]
fn serve_lists_the_alerts_a_pipeline_writes_and_follows_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    index(dir.path(), &fixture());
    let alert = |id: &str, state: &str, category: &str, end: &str| {
        serde_json::json!({
            "schema_version": 1, "alert_id": id, "state": state, "category": category,
            "region": "滁州市", "window_start": "2024-07-01T02:00:00Z", "window_end": end,
            "count": 12, "distinct_authors": 11, "baseline": 0.2, "z": 5.1, "level": "yellow",
            "top_terms": ["爆炸"], "sample_post_ids": ["blast"], "first_post_id": "blast",
            "first_seen": "2024-07-01T02:00:00Z", "emitted_at": "2024-07-01T02:06:30Z"
        })
        .to_string()
            + "\n"
    };
    let log = dir.path().join("alerts.jsonl");
    std::fs::write(
        &log,
        alert(
            "al-00000000000000a1",
            "open",
            "explosion",
            "2024-07-01T02:06:00Z",
        ),
    )
    .unwrap();
    let s = Server::start(dir.path());
    let (status, body) = s.get("/api/v1/alerts", &[]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 1);
    assert_eq!(body["alerts"][0]["alert_id"], "al-00000000000000a1");

    // Its posts come from the index: the category in the region during the
    // window.
    let (status, body) = s.get("/api/v1/alerts/al-00000000000000a1", &[]);
    assert_eq!(status, 200, "{body}");
    let ids: Vec<&str> = body["posts"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["blast", "blast-tw"], "{body}");

    // A running pipeline appends: resolved, and a new one.
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    std::io::Write::write_all(
        &mut f,
        (alert(
            "al-00000000000000a1",
            "resolved",
            "explosion",
            "2024-07-01T02:36:00Z",
        ) + &alert(
            "al-00000000000000b2",
            "open",
            "fire",
            "2024-07-01T05:00:00Z",
        ))
            .as_bytes(),
    )
    .unwrap();
    drop(f);
    let (_, body) = s.get("/api/v1/alerts", &[]);
    assert_eq!(body["total"], 2, "{body}");
    assert_eq!(
        body["alerts"][0]["alert_id"], "al-00000000000000b2",
        "open first"
    );
    assert_eq!(body["alerts"][1]["state"], "resolved");
    let (_, body) = s.get("/api/v1/alerts", &[("state", "open")]);
    assert_eq!(body["total"], 1);
    let (_, body) = s.get("/api/v1/alerts", &[("category", "explosion")]);
    assert_eq!(body["alerts"][0]["state"], "resolved");
    let (_, body) = s.get("/api/v1/alerts", &[("since", "2024-07-01T03:00:00Z")]);
    assert_eq!(body["total"], 1, "{body}");
    let (status, body) = s.get("/api/v1/alerts", &[("category", "weather")]);
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown category `weather`")
    );
    let (status, _) = s.get("/api/v1/alerts", &[("limit", "0")]);
    assert_eq!(status, 400);
    let (status, _) = s.get("/api/v1/alerts/al-ffffffffffffffff", &[]);
    assert_eq!(status, 404);
}

/// A recorded history bulk-loaded with `yuqing index` gets the alerts a
/// live run would have raised on it: the detector runs in the posts' own
/// time and writes the API's alert store.
#[test]
fn a_history_loaded_with_index_shows_its_alerts_in_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("history.jsonl");
    let out = yuqing()
        .args([
            "gen",
            "--seed",
            "11",
            "--burst",
            "explosion@合肥@120",
            "--out",
            file.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let data = dir.path().join("data");
    let out = yuqing()
        .args([
            "index",
            "--data-dir",
            data.to_str().unwrap(),
            file.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("burst detection: 1 alerts opened"),
        "{stderr}"
    );

    // The same alert a backtest of the file finds (ids are a function of
    // the stream).
    let out = yuqing()
        .args(["backtest", file.to_str().unwrap()])
        .output()
        .unwrap();
    let backtest: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let last = backtest.last().expect("the backtest raises the alert");

    let s = Server::start(&data);
    let (status, body) = s.get("/api/v1/alerts", &[]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 1, "{body}");
    let alert = &body["alerts"][0];
    assert_eq!(alert["alert_id"], last["alert_id"], "{alert}");
    assert_eq!(alert["state"], "resolved", "{alert}");
    assert_eq!(alert["category"], "explosion");
    assert_eq!(alert["region"], "合肥市");
    assert_eq!(alert["window_start"], "2024-07-01T02:00:00Z");
    // Stamped in the posts' time, not the wall clock of the load.
    assert!(
        alert["emitted_at"].as_str().unwrap() < "2024-07-01T05:00:00Z",
        "{alert}"
    );
    let id = alert["alert_id"].as_str().unwrap();
    let (status, body) = s.get(&format!("/api/v1/alerts/{id}"), &[]);
    assert_eq!(status, 200, "{body}");
    assert!(body["posts"]["total"].as_u64().unwrap() >= 20, "{body}");
    drop(s);

    // Loading it again changes nothing: the same alert, once.
    let out = yuqing()
        .args([
            "index",
            "--data-dir",
            data.to_str().unwrap(),
            file.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let s = Server::start(&data);
    let (_, body) = s.get("/api/v1/alerts", &[]);
    assert_eq!(body["total"], 1, "{body}");
    drop(s);

    // Without detection, no alert store is written.
    let bare = dir.path().join("bare");
    let out = yuqing()
        .args([
            "index",
            "--no-alerts",
            "--data-dir",
            bare.to_str().unwrap(),
            file.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!bare.join("alerts.jsonl").exists());
}
