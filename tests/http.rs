//! The analysts' HTTP API on a real on-disk index: `yuqing index` builds
//! it, `yuqing serve` answers over real HTTP.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
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
        Server::start_with(data_dir, &[])
    }

    /// With more options of `yuqing serve`.
    fn start_with(data_dir: &Path, extra: &[&str]) -> Server {
        let mut child = yuqing()
            .args([
                "serve",
                "--data-dir",
                data_dir.to_str().unwrap(),
                "--addr",
                "127.0.0.1:0",
            ])
            .args(extra)
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

    /// A GET whose body is read as text, with the status and headers.
    fn get_text(
        &self,
        path: &str,
        params: &[(&str, &str)],
    ) -> (u16, String, Vec<(String, String)>) {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            q.append_pair(k, v);
        }
        let url = format!("{}{}?{}", self.base, path, q.finish());
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut res = agent.get(&url).call().expect("HTTP request");
        let status = res.status().as_u16();
        let headers = res
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let body = res
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_string()
            .expect("a text body");
        (status, body, headers)
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
fn search_hits_and_the_stored_post_share_one_shape() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = post(
        "blast",
        "2024-07-01T02:00:00Z",
        "滁州一化工厂发生爆炸，造成3人死亡、12人受伤",
    );
    p["url"] = "https://example.org/p/blast".into();
    p["reposts"] = 5.into();
    p["comments"] = 6.into();
    p["likes"] = 7.into();
    index(dir.path(), &[p]);
    let s = Server::start(dir.path());
    let (status, body) = s.get("/api/v1/search", &[("q", "爆炸"), ("sort", "score")]);
    assert_eq!(status, 200, "{body}");
    let mut hit = body["hits"][0].clone();
    assert!(hit["highlight"].as_str().unwrap().contains("<em>"), "{hit}");
    hit.as_object_mut().unwrap().remove("highlight");
    let (status, stored) = s.get("/api/v1/posts/blast", &[]);
    assert_eq!(status, 200, "{stored}");
    // The same fields under the same names: a hit is the stored post.
    assert_eq!(hit, stored);
    assert_eq!(stored["schema_version"], 1);
    assert_eq!(stored["url"], "https://example.org/p/blast");
    assert_eq!(
        (&stored["reposts"], &stored["comments"], &stored["likes"]),
        (&5.into(), &6.into(), &7.into())
    );
    assert!(stored["author"].as_str().unwrap().starts_with("a-"));
    let category = &stored["categories"][0];
    assert!(category["id"].is_string() && category["score"].as_f64().unwrap() > 0.0);
    assert!(!category["terms"].as_array().unwrap().is_empty());
    assert_eq!(stored["severity"]["level"], "yellow");
    // Every field is one the shipped JSON Schema lists, and the required
    // ones are there.
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/post.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        stored["schema_version"],
        schema["properties"]["schema_version"]["const"]
    );
    for r in schema["required"].as_array().unwrap() {
        assert!(stored.get(r.as_str().unwrap()).is_some(), "`{r}` missing");
    }
    for k in body["hits"][0].as_object().unwrap().keys() {
        assert!(
            schema["properties"].get(k).is_some(),
            "`{k}` not in the schema"
        );
    }
}

/// Posts with many ties: ten share each minute, and the texts repeat, so
/// that times, text scores and category scores tie across pages.
fn many_posts(n: usize) -> Vec<Value> {
    let texts = [
        "滁州一化工厂发生爆炸，造成3人死亡",
        "化工厂爆炸",
        "合肥一小区发生火灾，浓烟滚滚",
        "今天天气不错，出去走走",
        "高速公路发生车祸，两车相撞",
    ];
    (0..n)
        .map(|i| {
            post(
                &format!("p-{i:04}"),
                &format!("2024-07-01T{:02}:{:02}:00Z", i / 600, (i / 10) % 60),
                texts[i % texts.len()],
            )
        })
        .collect()
}

#[test]
fn a_cursor_walk_returns_every_post_once_for_each_sort() {
    let dir = tempfile::tempdir().unwrap();
    index(dir.path(), &many_posts(137));
    let s = Server::start(dir.path());
    let walks: &[&[(&str, &str)]] = &[
        &[("sort", "time")],
        &[("sort", "relevance"), ("q", "爆炸 OR 火灾 OR 天气")],
        &[("sort", "score")],
        &[("sort", "score"), ("category", "explosion")],
        &[("sort", "time"), ("region", "安徽省")],
    ];
    for walk in walks {
        let (_, first) = s.get("/api/v1/search", walk);
        let total = first["total"].as_u64().unwrap() as usize;
        assert!(total > 20, "{walk:?}: {total}");
        let mut seen = std::collections::HashSet::new();
        let mut times = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut params: Vec<(&str, &str)> = walk.to_vec();
            params.push(("limit", "7"));
            if let Some(c) = &cursor {
                params.push(("cursor", c));
            }
            let (status, body) = s.get("/api/v1/search", &params);
            assert_eq!(status, 200, "{walk:?}: {body}");
            assert_eq!(body["total"].as_u64().unwrap() as usize, total);
            for h in body["hits"].as_array().unwrap() {
                let id = h["id"].as_str().unwrap().to_string();
                assert!(seen.insert(id.clone()), "{walk:?}: {id} twice");
                times.push(h["ts"].as_str().unwrap().to_string());
            }
            pages += 1;
            match body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
            assert!(pages <= total, "{walk:?}: the walk does not end");
        }
        assert_eq!(seen.len(), total, "{walk:?}");
        if walk[0].1 == "time" {
            assert!(
                times.windows(2).all(|w| w[0] >= w[1]),
                "{walk:?}: {times:?}"
            );
        }
    }
    // A page's cursor continues the offset paging too.
    let (_, page) = s.get("/api/v1/search", &[("limit", "5"), ("offset", "5")]);
    let (_, next) = s.get(
        "/api/v1/search",
        &[
            ("limit", "5"),
            ("cursor", page["next_cursor"].as_str().unwrap()),
        ],
    );
    let (_, by_offset) = s.get("/api/v1/search", &[("limit", "5"), ("offset", "10")]);
    assert_eq!(next["hits"], by_offset["hits"]);
    // Bad cursors name the parameter.
    let cursor = page["next_cursor"].as_str().unwrap();
    for params in [
        vec![("cursor", "nope")],
        vec![("cursor", cursor), ("sort", "score")],
        vec![("cursor", cursor), ("offset", "5")],
    ] {
        let (status, body) = s.get("/api/v1/search", &params);
        assert_eq!(status, 400, "{params:?}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("`cursor`"),
            "{body}"
        );
    }
}

/// Splits CSV text into records of cells (quotes, doubled quotes and line
/// breaks inside quotes).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut cell)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut cell));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => cell.push(c),
        }
    }
    records
}

#[test]
fn export_streams_every_match_as_csv_and_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    // More posts than one pass of the export reads.
    let mut posts = many_posts(3_500);
    posts[1]["url"] = "https://example.org/p/1".into();
    posts[1]["likes"] = 9.into();
    posts[1]["text"] = "滁州化工厂爆炸, \"据说\"\n=1+1".into();
    posts[2]["text"] = "=1+1 化工厂爆炸".into();
    index(dir.path(), &posts);
    let s = Server::start(dir.path());
    let filter = [("q", "爆炸 OR 火灾 OR 天气"), ("platform", "weibo")];
    let (_, search) = s.get("/api/v1/search", &filter);
    let total = search["total"].as_u64().unwrap() as usize;
    assert!(total > 2_000, "{total}");

    let mut params = filter.to_vec();
    params.push(("format", "csv"));
    let (status, body, headers) = s.get_text("/api/v1/export", &params);
    assert_eq!(status, 200, "{body}");
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert!(header("content-type").starts_with("text/csv"));
    assert!(header("content-disposition").starts_with("attachment"));
    assert_eq!(header("x-total-count"), total.to_string());
    let text = body
        .strip_prefix('\u{feff}')
        .expect("a UTF-8 byte-order mark");
    let records = parse_csv(text);
    assert_eq!(
        records[0],
        [
            "id",
            "time",
            "platform",
            "author",
            "url",
            "text",
            "categories",
            "regions",
            "level",
            "reposts",
            "comments",
            "likes",
            "views"
        ]
    );
    let rows = &records[1..];
    assert_eq!(rows.len(), total);
    let ids: std::collections::HashSet<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(ids.len(), total, "each post once");
    // Newest first, in Beijing time with the offset written out.
    assert!(rows.windows(2).all(|w| w[0][1] >= w[1][1]));
    let one = rows.iter().find(|r| r[0] == "p-0001").unwrap();
    assert_eq!(one[1], "2024-07-01T08:00:00+08:00");
    assert_eq!(one[4], "https://example.org/p/1");
    assert_eq!(one[5], "滁州化工厂爆炸, \"据说\"\n=1+1");
    // A cell a spreadsheet would run as a formula is defused.
    let two = rows.iter().find(|r| r[0] == "p-0002").unwrap();
    assert_eq!(two[5], "'=1+1 化工厂爆炸");
    assert_eq!(one[11], "9");
    assert!(one[3].starts_with("a-"), "{one:?}");
    assert!(one[6].split(';').any(|c| c == "explosion"), "{one:?}");
    assert_eq!(one[7], "安徽省;滁州市");

    // JSON lines: the post shape, the same posts.
    params.pop();
    params.push(("format", "jsonl"));
    let (status, body, _) = s.get_text("/api/v1/export", &params);
    assert_eq!(status, 200, "{body}");
    let lines: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), total);
    assert!(lines.iter().all(|p| p["schema_version"] == 1));
    let (_, stored) = s.get("/api/v1/posts/p-0001", &[]);
    assert_eq!(lines.iter().find(|p| p["id"] == "p-0001"), Some(&stored));

    // Bad parameters are 400s before anything streams.
    for bad in [
        vec![("format", "xlsx")],
        vec![("limit", "5")],
        vec![("q", "(爆炸")],
    ] {
        let (status, body) = s.get("/api/v1/export", &bad);
        assert_eq!(status, 400, "{bad:?}: {body}");
    }

    // Counted in /metrics.
    let (_, metrics, _) = s.get_text("/metrics", &[]);
    assert!(
        metrics.contains(&format!(
            "yuqing_export_rows_total{{format=\"csv\"}} {total}"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("yuqing_exports_total{format=\"jsonl\",outcome=\"complete\"} 1"),
        "{metrics}"
    );

    // The same from the terminal.
    let out = yuqing()
        .args(["export", "--data-dir", dir.path().to_str().unwrap()])
        .args([
            "爆炸 OR 火灾 OR 天气",
            "--platform",
            "weibo",
            "--format",
            "csv",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli = String::from_utf8(out.stdout).unwrap();
    assert_eq!(cli, body_csv(&s, &filter));
    let out = yuqing()
        .args(["export", "--data-dir", dir.path().to_str().unwrap()])
        .args(["--format", "xlsx"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("`--format`"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn body_csv(s: &Server, filter: &[(&str, &str)]) -> String {
    let mut params = filter.to_vec();
    params.push(("format", "csv"));
    s.get_text("/api/v1/export", &params).1
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
        "schema_version",
        "id",
        "text",
        "ts",
        "categories",
        "regions",
        "severity",
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
    assert_eq!(
        body["platforms"],
        serde_json::json!([{"key": "weibo", "count": 2}])
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
            "parameter `offset`: must be at most 10000, got 20000: page further with `cursor`",
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
        err.contains("has format version 99, this yuqing reads version 2"),
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
    // Times in the display zone, Beijing time unless told otherwise.
    assert!(text.contains("2024-07-01T10:00:00+08:00  blast"), "{text}");
    let out = yuqing()
        .args(["search", "--data-dir", dir.path().to_str().unwrap(), "爆炸"])
        .args(["--region", "滁州", "--timezone", "UTC"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("2024-07-01T02:00:00+00:00  blast"), "{text}");
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

/// A generated history (seed 11) with `bursts` (`CATEGORY@REGION@MINUTE`),
/// loaded with `yuqing index` into `dir/data`: the data directory and the
/// command's stderr.
fn indexed_history(dir: &Path, bursts: &[&str]) -> (PathBuf, String) {
    let file = dir.join("history.jsonl");
    let mut generate = yuqing();
    generate.args(["gen", "--seed", "11"]);
    for b in bursts {
        generate.args(["--burst", b]);
    }
    let out = generate
        .args(["--out", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let data = dir.join("data");
    let stderr = load_history(&data, &file);
    (data, stderr)
}

/// `yuqing index --data-dir data file`, which must succeed: its stderr.
fn load_history(data: &Path, file: &Path) -> String {
    let out = yuqing()
        .args([
            "index",
            "--data-dir",
            data.to_str().unwrap(),
            file.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    stderr
}

/// A recorded history bulk-loaded with `yuqing index` gets the alerts a
/// live run would have raised on it: the detector runs in the posts' own
/// time and writes the API's alert store.
#[test]
fn a_history_loaded_with_index_shows_its_alerts_in_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let (data, stderr) = indexed_history(dir.path(), &["explosion@合肥@120"]);
    let file = dir.path().join("history.jsonl");
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
    load_history(&data, &file);
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

/// A POST with a JSON body (and an optional bearer token): status and
/// body.
fn post_json(url: &str, body: &str, token: Option<&str>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent.post(url).header("Content-Type", "application/json");
    if let Some(t) = token {
        r = r.header("Authorization", &format!("Bearer {t}"));
    }
    let mut res = r.send(body).expect("HTTP request");
    let status = res.status().as_u16();
    let body: Value = res.body_mut().read_json().expect("a JSON body");
    (status, body)
}

fn alert_ids(s: &Server, params: &[(&str, &str)]) -> Vec<String> {
    let (status, body) = s.get("/api/v1/alerts", params);
    assert_eq!(status, 200, "{body}");
    body["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["alert_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn an_acknowledgement_is_recorded_shown_filtered_and_kept_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = indexed_history(dir.path(), &["explosion@合肥@60", "fire@杭州@240"]);
    let file = dir.path().join("history.jsonl");

    let s = Server::start(&data);
    let (_, body) = s.get("/api/v1/alerts", &[]);
    let alerts = body["alerts"].as_array().unwrap().clone();
    assert!(alerts.len() >= 2, "{body}");
    for a in &alerts {
        assert!(a["ack"].is_null(), "not acknowledged yet: {a}");
    }
    let by_category = |c: &str| {
        alerts
            .iter()
            .find(|a| a["category"] == c)
            .unwrap_or_else(|| panic!("an alert of {c}: {body}"))["alert_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let explosion = by_category("explosion");
    let fire = by_category("fire");
    let ack_url = |id: &str| format!("{}/api/v1/alerts/{id}/ack", s.base);

    // Two acknowledgements of one alert: the latest is shown, both are
    // in its history.
    let (status, first) = post_json(
        &ack_url(&explosion),
        r#"{"by": "值班员 王芳", "verdict": "monitoring"}"#,
        None,
    );
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["ack"]["verdict"], "monitoring");
    assert_eq!(first["ack"]["note"], Value::Null);
    let (status, second) = post_json(
        &ack_url(&explosion),
        r#"{"by": "李雷", "verdict": "confirmed", "note": "现场已核实，消防到场"}"#,
        None,
    );
    assert_eq!(status, 201, "{second}");
    assert_eq!(second["acks"].as_array().unwrap().len(), 2, "{second}");
    let at = second["ack"]["at"].as_str().unwrap().to_string();
    assert!(
        yuqing_model::Timestamp::parse_rfc3339(&at).is_ok(),
        "the server's time, RFC 3339: {at}"
    );
    let (status, _) = post_json(
        &ack_url(&fire),
        r#"{"by": "王芳", "verdict": "false_alarm", "note": null}"#,
        None,
    );
    assert_eq!(status, 201);

    let check = |s: &Server| {
        let (status, body) = s.get(&format!("/api/v1/alerts/{explosion}"), &[]);
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["alert"]["ack"]["by"], "李雷", "{body}");
        assert_eq!(body["alert"]["ack"]["verdict"], "confirmed");
        assert_eq!(body["alert"]["ack"]["note"], "现场已核实，消防到场");
        assert_eq!(body["alert"]["ack"]["at"], at.as_str());
        let history = body["acks"].as_array().unwrap();
        assert_eq!(history.len(), 2, "{body}");
        assert_eq!(history[0]["by"], "值班员 王芳");
        assert_eq!(history[0]["verdict"], "monitoring");
        assert!(body["posts"]["total"].as_u64().unwrap() > 0);

        let (_, list) = s.get("/api/v1/alerts", &[]);
        let listed = list["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["alert_id"] == explosion.as_str())
            .unwrap()
            .clone();
        assert_eq!(listed["ack"]["verdict"], "confirmed", "{listed}");
        assert_eq!(
            listed["state"], "resolved",
            "the message itself is there too"
        );

        let mut acked = alert_ids(s, &[("acked", "true")]);
        acked.sort();
        let mut expected = vec![explosion.clone(), fire.clone()];
        expected.sort();
        assert_eq!(acked, expected);
        let not_acked = alert_ids(s, &[("acked", "false")]);
        assert_eq!(not_acked.len(), alerts.len() - 2);
        assert!(!not_acked.contains(&explosion) && !not_acked.contains(&fire));
        assert_eq!(alert_ids(s, &[("verdict", "false_alarm")]), [fire.as_str()]);
        assert_eq!(
            alert_ids(s, &[("verdict", "confirmed"), ("category", "explosion")]),
            [explosion.as_str()]
        );
        assert!(alert_ids(s, &[("verdict", "duplicate")]).is_empty());
    };
    check(&s);

    // The metrics: a verdict per category, and the time to the first
    // acknowledgement once per alert.
    let (_, metrics, _) = s.get_text("/metrics", &[]);
    for line in [
        "yuqing_alert_verdicts_total{category=\"explosion\",verdict=\"confirmed\"} 1",
        "yuqing_alert_verdicts_total{category=\"explosion\",verdict=\"monitoring\"} 1",
        "yuqing_alert_verdicts_total{category=\"fire\",verdict=\"false_alarm\"} 1",
        "yuqing_alert_ack_seconds_count 2",
    ] {
        assert!(metrics.contains(line), "{line}: {metrics}");
    }

    // Bad input: 400 naming the field or parameter, 404 for an unknown
    // alert; nothing recorded.
    for (body, field) in [
        (r#"{"by": "", "verdict": "confirmed"}"#, "`by`"),
        (r#"{"verdict": "confirmed"}"#, "`by`"),
        (r#"{"by": "王芳", "verdict": "wrong"}"#, "`verdict`"),
        (r#"{"by": "王芳"}"#, "`verdict`"),
        (r#"{"by": 7, "verdict": "confirmed"}"#, "`by`"),
        (r#"{"by": "王芳", "verdict": "confirmed", "x": 1}"#, "`x`"),
        (
            r#"{"by": "王芳", "verdict": "confirmed", "note": 3}"#,
            "`note`",
        ),
        ("[1]", "JSON object"),
        ("{\"by\": ", "JSON object"),
    ] {
        let (status, answer) = post_json(&ack_url(&fire), body, None);
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], "bad_request");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{body}: {message}");
    }
    let long_note = format!(
        r#"{{"by": "王芳", "verdict": "confirmed", "note": "{}"}}"#,
        "长".repeat(2_001)
    );
    let (status, answer) = post_json(&ack_url(&fire), &long_note, None);
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`note`"),
        "{answer}"
    );
    let (status, answer) = post_json(
        &ack_url("no-such-alert"),
        r#"{"by": "王芳", "verdict": "confirmed"}"#,
        None,
    );
    assert_eq!(status, 404, "{answer}");
    assert_eq!(answer["error"]["code"], "not_found");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no-such-alert")
    );
    for (param, value) in [("acked", "yes"), ("verdict", "wrong")] {
        let (status, answer) = s.get("/api/v1/alerts", &[(param, value)]);
        assert_eq!(status, 400, "{answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&format!("`{param}`")),
            "{answer}"
        );
    }
    let (_, body) = s.get(&format!("/api/v1/alerts/{fire}"), &[]);
    assert_eq!(body["acks"].as_array().unwrap().len(), 1, "{body}");
    drop(s);

    // Restarted on the same data directory, and after the alert log is
    // loaded again (`yuqing index` rewrites its messages): the same
    // acknowledgements.
    load_history(&data, &file);
    let s = Server::start(&data);
    check(&s);
    drop(s);

    // With tokens, an analyst token may acknowledge; none may not.
    let (analyst, entry) = new_token("duty", "analyst");
    let tokens = dir.path().join("tokens.toml");
    std::fs::write(&tokens, entry).unwrap();
    let s = Server::start_with(&data, &["--tokens", tokens.to_str().unwrap()]);
    let url = format!("{}/api/v1/alerts/{fire}/ack", s.base);
    let body = r#"{"by": "王芳", "verdict": "duplicate"}"#;
    let (status, _) = post_json(&url, body, None);
    assert_eq!(status, 401);
    let (status, answer) = post_json(&url, body, Some(&analyst));
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["acks"].as_array().unwrap().len(), 2);
}

/// `host:port` of a server's base URL.
fn host_port(s: &Server) -> String {
    s.base.trim_start_matches("http://").to_string()
}

/// Sends `request` as raw bytes and reads until the server closes (or 10 s
/// pass): (status, headers and body as text).
fn raw_request(s: &Server, request: &[u8]) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(host_port(s)).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// The JSON body of a raw answer.
fn raw_body(answer: &str) -> Value {
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {answer}"))
}

/// How long the server takes to close a connection on which `send` writes
/// (`None`: still open after `within`).
fn closed_after(
    s: &Server,
    within: std::time::Duration,
    mut send: impl FnMut(&mut std::net::TcpStream, usize),
) -> Option<std::time::Duration> {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(host_port(s)).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_millis(200)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut step = 0;
    while started.elapsed() < within {
        send(&mut stream, step);
        step += 1;
        let mut buf = [0u8; 4096];
        match stream.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(started.elapsed()),
        }
    }
    None
}

#[test]
fn a_client_sending_its_headers_slowly_is_disconnected() {
    use std::io::Write;
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    index(dir.path(), &fixture());
    let s = Server::start_with(
        dir.path(),
        &[
            "--header-read-timeout-secs",
            "2",
            "--idle-timeout-secs",
            "60",
        ],
    );
    // One header byte every 200 ms: never idle, never done.
    let request = b"GET /api/v1/search HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let closed = closed_after(&s, Duration::from_secs(20), |stream, i| {
        if i < request.len() {
            let _ = stream.write_all(&request[i..=i]);
        }
    });
    let closed = closed.expect("a slow-header client is disconnected");
    assert!(
        closed >= Duration::from_millis(1500) && closed < Duration::from_secs(8),
        "{closed:?}"
    );
    // A client sending its request at once is answered as before.
    assert_eq!(s.ids(&[("q", "爆炸")]).len(), 2);
}

#[test]
fn a_silent_connection_is_closed_and_connections_are_capped() {
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    index(dir.path(), &fixture());
    // Idle: a connection that says nothing is closed after the idle timeout
    // (here shorter than the header timeout).
    let s = Server::start_with(
        dir.path(),
        &[
            "--header-read-timeout-secs",
            "60",
            "--idle-timeout-secs",
            "2",
        ],
    );
    let closed = closed_after(&s, Duration::from_secs(20), |_, _| {})
        .expect("a silent connection is closed");
    assert!(
        closed >= Duration::from_millis(1500) && closed < Duration::from_secs(8),
        "{closed:?}"
    );
    drop(s);

    // The cap: two silent connections hold both slots; a third is answered
    // 503 in JSON; once one closes, requests are answered again.
    let s = Server::start_with(dir.path(), &["--max-connections", "2"]);
    let first = std::net::TcpStream::connect(host_port(&s)).unwrap();
    let second = std::net::TcpStream::connect(host_port(&s)).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let (status, answer) = raw_request(&s, b"GET /api/v1/search HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, 503, "{answer}");
    assert_eq!(raw_body(&answer)["error"]["code"], "overloaded", "{answer}");
    drop(first);
    drop(second);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(s.ids(&[("q", "爆炸")]).len(), 2);

    // Zero is refused, naming the option.
    let out = yuqing()
        .args([
            "serve",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--max-connections",
            "0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--max-connections must be at least 1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_error_under_api_is_the_json_error_shape() {
    let dir = tempfile::tempdir().unwrap();
    index(dir.path(), &fixture());
    let s = Server::start(dir.path());
    let long_target = format!("/api/v1/search?q={}", "a".repeat(40_000));
    let big_header = format!("X-Big: {}\r\n", "a".repeat(40_000));
    let many_headers: String = (0..150).map(|i| format!("X-{i}: 1\r\n")).collect();
    // (request, status, code)
    let cases: Vec<(String, u16, &str)> = vec![
        (
            "POST /api/v1/search HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n".into(),
            405,
            "method_not_allowed",
        ),
        (
            "GET /api/v1/admin/reload HTTP/1.1\r\nHost: x\r\n".into(),
            405,
            "method_not_allowed",
        ),
        (
            "GET /api/v1/posts/%FF%FE HTTP/1.1\r\nHost: x\r\n".into(),
            400,
            "bad_request",
        ),
        (
            "GET /api/v1/alerts/%C3%28 HTTP/1.1\r\nHost: x\r\n".into(),
            400,
            "bad_request",
        ),
        (
            format!("GET {long_target} HTTP/1.1\r\nHost: x\r\n"),
            414,
            "uri_too_long",
        ),
        (
            format!("GET /api/v1/search HTTP/1.1\r\nHost: x\r\n{big_header}"),
            431,
            "headers_too_large",
        ),
        (
            format!("GET /api/v1/search HTTP/1.1\r\nHost: x\r\n{many_headers}"),
            431,
            "headers_too_large",
        ),
        (
            "GET /api/v1/search HTTP/2.5\r\nHost: x\r\n".into(),
            505,
            "http_version_not_supported",
        ),
        (
            "GET /api/v1/search HTTP/1.1 extra\r\nHost: x\r\n".into(),
            400,
            "bad_request",
        ),
    ];
    for (head, status, code) in cases {
        let request = format!("{head}Connection: close\r\n\r\n");
        let (got, answer) = raw_request(&s, request.as_bytes());
        let shown: String = answer.chars().take(300).collect();
        assert_eq!(got, status, "{shown}");
        assert!(
            answer
                .to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{shown}"
        );
        let body = raw_body(&answer);
        assert_eq!(body["error"]["code"], code, "{shown}");
        assert!(
            !body["error"]["message"].as_str().unwrap_or("").is_empty(),
            "{shown}"
        );
    }
    let (_, answer) = raw_request(
        &s,
        b"POST /api/v1/search HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    let message = raw_body(&answer)["error"]["message"].to_string();
    assert!(message.contains("method POST"), "{message}");
    let (_, answer) = raw_request(
        &s,
        b"GET /api/v1/posts/%FF HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let message = raw_body(&answer)["error"]["message"].to_string();
    assert!(message.contains("post id"), "{message}");
    // A good request after blank lines, and a kept-alive connection,
    // still reach the API.
    let (status, answer) = raw_request(
        &s,
        b"\r\nGET /api/v1/search?q=%E7%81%AB HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 200, "{answer}");
    let message = {
        let (_, answer) = raw_request(&s, b"GET /api/v1/search HTTP/3\r\n\r\n");
        raw_body(&answer)["error"]["message"].to_string()
    };
    assert!(message.contains("HTTP/3"), "{message}");
}

#[test]
fn unbounded_ranges_match_every_post() {
    let dir = tempfile::tempdir().unwrap();
    index(dir.path(), &fixture());
    let s = Server::start(dir.path());
    let total = |q: &str| {
        let (status, body) = s.get("/api/v1/search", &[("q", q)]);
        assert_eq!(status, 200, "{q}: {body}");
        body["total"].as_u64().unwrap()
    };
    assert_eq!(total("ts:[* TO *]"), 6);
    assert_eq!(total("score:[* TO *]"), 6);
    assert_eq!(total("ts:{* TO *}"), 6);
    // Half-open ranges as before.
    assert_eq!(total("ts:[2024-07-02T00:00:00Z TO *]"), 3);
    assert_eq!(total("ts:[* TO 2024-07-02T00:00:00Z}"), 3);
    // Combined with other terms.
    assert_eq!(total("爆炸 AND ts:[* TO *]"), 2);
}

#[test]
fn fields_inside_q_get_the_checks_and_aliases_of_the_parameters() {
    let dir = tempfile::tempdir().unwrap();
    index(dir.path(), &fixture());
    let s = Server::start(dir.path());
    // An alias resolves as it does for `region=`.
    assert_eq!(s.ids(&[("q", "region:滁州")]), s.ids(&[("region", "滁州")]));
    assert_eq!(s.ids(&[("q", "region:滁州")]), vec!["blast-tw", "blast"]);
    assert_eq!(
        s.ids(&[("q", "region:\"滁州\"")]),
        vec!["blast-tw", "blast"]
    );
    assert_eq!(
        s.ids(&[("q", "爆炸 AND region:滁州市")]),
        vec!["blast-tw", "blast"]
    );
    assert_eq!(s.ids(&[("q", "category:traffic")]), vec!["crash"]);
    assert_eq!(s.ids(&[("q", "level:yellow")]), vec!["blast"]);
    // Unknown values are a 400 naming the field and the value.
    for (q, wanted) in [
        ("level:purple", "field `level`: unknown level `purple`"),
        (
            "category:firex",
            "field `category`: unknown category `firex`",
        ),
        ("region:火星", "field `region`: unknown region `火星`"),
        ("爆炸 OR region:IN [滁州 火星]", "unknown region `火星`"),
    ] {
        let (status, body) = s.get("/api/v1/search", &[("q", q)]);
        assert_eq!(status, 400, "{q}: {body}");
        assert_eq!(body["error"]["code"], "bad_query", "{q}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(wanted), "{q}: {message}");
    }
    // The same checks for `yuqing search`.
    let out = yuqing()
        .args([
            "search",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "region:滁州",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("2 posts match"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// `yuqing token new`: (the token, the configuration entry it prints).
fn new_token(name: &str, role: &str) -> (String, String) {
    let out = yuqing()
        .args(["token", "new", "--name", name, "--role", role])
        .output()
        .unwrap();
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let entry = stderr[stderr.find("[[http.tokens]]").expect("an entry")..].to_string();
    (token, entry)
}

#[test]
fn tokens_are_checked_before_routing_and_the_printed_entry_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    index(dir.path(), &fixture());
    // A name that would break out of its string, and the entry, as printed,
    // in a `--tokens` file.
    let hostile = "x\"\n[evil]\nrole = \"admin";
    let (token, entry) = new_token(hostile, "analyst");
    let parsed: toml::Value = toml::from_str(&entry).unwrap();
    let table = parsed.as_table().unwrap();
    assert_eq!(table.keys().collect::<Vec<_>>(), vec!["http"], "{entry}");
    let tokens = parsed["http"]["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 1, "{entry}");
    assert_eq!(tokens[0]["name"].as_str(), Some(hostile));
    assert_eq!(tokens[0]["role"].as_str(), Some("analyst"));
    let file = dir.path().join("tokens.toml");
    std::fs::write(&file, &entry).unwrap();
    let s = Server::start_with(dir.path(), &["--tokens", file.to_str().unwrap()]);
    let get = |path: &str, token: Option<&str>| {
        let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n");
        let (status, answer) = raw_request(&s, request.as_bytes());
        (status, raw_body(&answer))
    };
    // Unknown routes: 401 without a token, 404 with one.
    let (status, body) = get("/api/v1/nothing", None);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let (status, body) = get("/api/v2/search", None);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let (status, body) = get("/api/v1/nothing", Some(&token));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, _) = get("/api/v1/search", Some(&token));
    assert_eq!(status, 200);
    // An analyst token on an unknown admin route: 403, as on a known one.
    let (status, _) = get("/api/v1/admin/nothing", Some(&token));
    assert_eq!(status, 403);
    drop(s);

    // The older `[[tokens]]` shape is accepted too.
    let (token2, entry2) = new_token("bob", "admin");
    let plain = entry2.replace("[[http.tokens]]", "[[tokens]]");
    std::fs::write(&file, format!("{plain}\n{entry}")).unwrap();
    let s = Server::start_with(dir.path(), &["--tokens", file.to_str().unwrap()]);
    for t in [&token, &token2] {
        let request = format!(
            "GET /api/v1/search HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {t}\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(raw_request(&s, request.as_bytes()).0, 200);
    }
    drop(s);

    // The same token listed twice with another role is refused, naming both.
    let hash = tokens[0]["sha256"].as_str().unwrap();
    std::fs::write(
        &file,
        format!(
            "{entry}\n[[http.tokens]]\nname = \"mallory\"\nsha256 = \"{hash}\"\nrole = \"admin\"\n"
        ),
    )
    .unwrap();
    let out = yuqing()
        .args([
            "serve",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--addr",
            "127.0.0.1:0",
            "--tokens",
            file.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("token `mallory`: the same sha256 as token `x\"")
            && err.contains("list each token once"),
        "{err}"
    );
}
