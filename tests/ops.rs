//! Operations: a real Prometheus scrapes a running `yuqing run`; tokens
//! guard the API; a bad dictionary reload leaves the old dictionaries
//! serving; the shipped dashboard and rules name only exported metrics.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::{Run, request, wait_for};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `yuqing_…` names in a text.
fn metric_names(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("yuqing_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        out.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

#[test]
fn the_dashboard_and_the_alerting_rules_name_only_exported_metrics() {
    let exported = yuqing_metrics::metrics().names();
    let known = |name: &str| {
        exported.iter().any(|e| {
            name == e
                || ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|s| name.strip_suffix(s) == Some(e.as_str()))
        })
    };
    for file in ["deploy/grafana/yuqing.json", "deploy/prometheus/rules.yml"] {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        let names = metric_names(&text);
        assert!(names.len() >= 8, "{file} uses few metrics: {names:?}");
        for n in names {
            assert!(
                known(&n),
                "{file} names `{n}`, which yuqing does not export"
            );
        }
    }
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("deploy/grafana/yuqing.json")).unwrap(),
    )
    .expect("the dashboard is JSON");
    assert!(dashboard["panels"].as_array().unwrap().len() >= 10);
    // Every metric is documented.
    let doc = std::fs::read_to_string(root().join("docs/metrics.md")).unwrap();
    for n in exported {
        assert!(
            doc.contains(&format!("`{n}`")),
            "docs/metrics.md does not describe {n}"
        );
    }
}

/// A Prometheus server, stopped when dropped.
struct Prometheus(Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn prometheus_binary() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("prometheus"))
            .find(|p| p.is_file())
    });
    found.expect(
        "the `prometheus` binary is needed (Debian package `prometheus`; scripts/test.sh installs it)",
    )
}

fn query(base: &str, q: &str) -> Value {
    let url = format!(
        "{base}/api/v1/query?{}",
        form_urlencoded::Serializer::new(String::new())
            .append_pair("query", q)
            .finish()
    );
    support::get(&url).1
}

#[test]
fn a_real_prometheus_scrapes_a_running_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("p.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"data\"\n[source]\nkind = \"file\"\npath = \"{}\"\n[alerts]\nkind = \"none\"\n[http]\naddr = \"127.0.0.1:0\"\nops_addr = \"127.0.0.1:0\"\n[log]\nformat = \"json\"\n",
            root().join("examples/demo-stream.jsonl").display()
        ),
    )
    .unwrap();
    let run = Run::start_logging(&config, "info");
    let ops = run.ops.clone().expect("the ops listener is announced");
    // The ops listener serves metrics and health without a token; the API
    // listener does not serve them.
    let (status, _, text) = request("GET", &format!("{ops}/metrics"), None);
    assert_eq!(status, 200);
    assert!(
        text.contains("# TYPE yuqing_posts_indexed_total counter"),
        "{text}"
    );
    assert_eq!(request("GET", &format!("{ops}/healthz"), None).0, 200);
    assert_eq!(request("GET", &format!("{}/metrics", run.api), None).0, 404);

    let port = support::free_port();
    let target = ops.trim_start_matches("http://");
    let prom_config = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: yuqing\n    static_configs:\n      - targets: [\"{target}\"]\n",
            root().join("deploy/prometheus/rules.yml").display()
        ),
    )
    .unwrap();
    let _prometheus = Prometheus(
        Command::new(prometheus_binary())
            .arg(format!("--config.file={}", prom_config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let mut indexed = 0.0;
    wait_for(
        Duration::from_secs(90),
        "Prometheus to scrape yuqing_posts_indexed_total > 0",
        || {
            let v = query(&base, "yuqing_posts_indexed_total{job=\"yuqing\"}");
            indexed = v["data"]["result"][0]["value"][1]
                .as_str()
                .and_then(|s| s.parse::<f64>().ok())
                .unwrap_or(0.0);
            indexed > 0.0
        },
    );
    assert_eq!(indexed, 1560.0);
    let up = query(&base, "up{job=\"yuqing\"}");
    assert_eq!(up["data"]["result"][0]["value"][1], "1", "{up}");
    // The shipped rules load and evaluate against the live metrics.
    let (_, rules) = support::get(&format!("{base}/api/v1/rules"));
    let groups = rules["data"]["groups"].as_array().unwrap();
    assert_eq!(groups[0]["name"], "yuqing", "{rules}");
    assert_eq!(groups[0]["rules"].as_array().unwrap().len(), 10);
    for r in groups[0]["rules"].as_array().unwrap() {
        assert_eq!(r["health"], "ok", "{r}");
    }
    // JSON logs on stderr, one object per line.
    let log = run.stderr();
    let json_line = log
        .lines()
        .find(|l| l.starts_with('{'))
        .expect("a JSON log line");
    let v: Value = serde_json::from_str(json_line).expect("JSON log lines");
    assert!(v["level"].is_string() && v["fields"].is_object(), "{v}");
    assert!(
        log.lines().filter(|l| l.starts_with('{')).count() < 100,
        "no line per post at info: {log}"
    );
    assert!(run.terminate().success());
}

/// The shipped dictionaries, copied so a test can edit them.
fn copy_dictionaries(to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(root().join("dictionaries")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn tokens_guard_the_api_and_a_bad_reload_keeps_the_old_dictionaries() {
    let dir = tempfile::tempdir().unwrap();
    let dicts = dir.path().join("dicts");
    copy_dictionaries(&dicts);
    let posts = dir.path().join("posts.jsonl");
    std::fs::write(
        &posts,
        "{\"id\":\"a1\",\"text\":\"滁州一化工厂发生爆炸\",\"ts\":\"2024-07-01T00:00:00Z\"}\n",
    )
    .unwrap();
    // Tokens made the way an operator makes them.
    let token = |role: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_yuqing"))
            .args(["token", "new", "--name", role, "--role", role])
            .output()
            .unwrap();
        assert!(out.status.success());
        let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let entry = String::from_utf8(out.stderr).unwrap();
        let entry = entry[entry.find("[[http.tokens]]").unwrap()..].to_string();
        (token, entry)
    };
    let (analyst, analyst_entry) = token("analyst");
    let (admin, admin_entry) = token("admin");
    let config = dir.path().join("p.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"data\"\ndictionaries = \"dicts\"\n[source]\nkind = \"file\"\npath = \"posts.jsonl\"\nfollow = true\n[alerts]\nkind = \"none\"\n[index]\ncommit_interval_ms = 200\n[http]\naddr = \"127.0.0.1:0\"\n{analyst_entry}\n{admin_entry}\n"
        ),
    )
    .unwrap();
    let run = Run::start(&config);
    let api = run.api.clone();
    let search = format!("{api}/api/v1/search?q=%E7%88%86%E7%82%B8");

    // 401 without a token or with a wrong one, and nothing else said.
    let (status, challenge, body) = request("GET", &search, None);
    assert_eq!(status, 401);
    assert_eq!(challenge.as_deref(), Some("Bearer"));
    assert_eq!(
        body,
        r#"{"error":{"code":"unauthorized","message":"a valid bearer token is required"}}"#
    );
    assert_eq!(request("GET", &search, Some("yq_not-a-token")).0, 401);
    assert_eq!(request("GET", &format!("{api}/api/v1/alerts"), None).0, 401);
    // Health and metrics need none.
    assert_eq!(request("GET", &format!("{api}/healthz"), None).0, 200);
    assert_eq!(request("GET", &format!("{api}/metrics"), None).0, 200);
    // 200 with one.
    wait_for(
        Duration::from_secs(30),
        "the first post to be searchable",
        || {
            let (status, _, body) = request("GET", &search, Some(&analyst));
            status == 200 && body.contains("\"total\":1")
        },
    );
    // An analyst may not reload.
    let reload = format!("{api}/api/v1/admin/reload");
    assert_eq!(request("POST", &reload, Some(&analyst)).0, 403);

    // A broken dictionary: the reload is refused with the error, the
    // failure is counted, the old dictionaries keep serving.
    let fire = dicts.join("fire.toml");
    let good = std::fs::read_to_string(&fire).unwrap();
    std::fs::write(
        &fire,
        format!("{good}\n[[group]]\nweight = \"heavy\"\nterms = [\"烧\"]\n"),
    )
    .unwrap();
    let (status, _, body) = request("POST", &reload, Some(&admin));
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("fire.toml"),
        "the error names the file: {body}"
    );
    assert!(body.contains("old ones keep serving"), "{body}");
    let (_, _, metrics) = request("GET", &format!("{api}/metrics"), None);
    assert!(
        metrics.contains("yuqing_dictionary_reload_failures_total{reason=\"errors\"} 1"),
        "{metrics}"
    );
    let append = |line: &str| {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&posts)
            .unwrap();
        std::io::Write::write_all(&mut f, format!("{line}\n").as_bytes()).unwrap();
    };
    append(
        "{\"id\":\"a2\",\"text\":\"合肥一仓库起火，消防正在扑救\",\"ts\":\"2024-07-01T00:01:00Z\"}",
    );
    let fire_search = format!("{api}/api/v1/search?category=fire");
    wait_for(
        Duration::from_secs(30),
        "scoring to go on with the old dictionaries",
        || {
            let (_, _, body) = request("GET", &fire_search, Some(&analyst));
            body.contains("\"a2\"")
        },
    );

    // Fixed, with a new term: the reload takes, and new posts are scored
    // with it.
    std::fs::write(
        &fire,
        format!("{good}\n[[group]]\nweight = 2.0\nterms = [\"燎原事故\"]\n"),
    )
    .unwrap();
    let (status, _, body) = request("POST", &reload, Some(&admin));
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["reloaded"]["generation"], 1, "{v}");
    append("{\"id\":\"a3\",\"text\":\"城郊发生燎原事故\",\"ts\":\"2024-07-01T00:02:00Z\"}");
    wait_for(
        Duration::from_secs(30),
        "a post with the new term to be flagged",
        || {
            let (_, _, body) = request("GET", &fire_search, Some(&analyst));
            body.contains("\"a3\"")
        },
    );
    // Queries segment the new term too.
    let (_, _, body) = request(
        "GET",
        &format!("{api}/api/v1/search?q=%E7%87%8E%E5%8E%9F%E4%BA%8B%E6%95%85"),
        Some(&analyst),
    );
    assert!(body.contains("\"a3\""), "{body}");
    let (_, _, metrics) = request("GET", &format!("{api}/metrics"), None);
    assert!(
        metrics.contains("yuqing_dictionary_reloads_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("yuqing_http_requests_total{route=\"/api/v1/search\",status=\"401\"}"),
        "{metrics}"
    );
    // SIGHUP reloads too.
    run.hangup();
    wait_for(Duration::from_secs(30), "a reload on SIGHUP", || {
        let (_, _, metrics) = request("GET", &format!("{api}/metrics"), None);
        metrics.contains("yuqing_dictionary_reloads_total 2")
    });
    assert!(run.terminate().success());
}

#[test]
fn a_fresh_pipeline_exports_its_labelled_counters_at_zero() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty.jsonl"), "").unwrap();
    let config = dir.path().join("p.toml");
    std::fs::write(
        &config,
        "data_dir = \"data\"\n[source]\nkind = \"file\"\npath = \"empty.jsonl\"\n[alerts]\nkind = \"none\"\n[http]\naddr = \"127.0.0.1:0\"\nops_addr = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let run = Run::start(&config);
    let ops = run.ops.clone().expect("the ops listener is announced");
    let (status, _, text) = request("GET", &format!("{ops}/metrics"), None);
    assert_eq!(status, 200);
    let mut expected: Vec<String> = [
        "invalid_utf8",
        "malformed_json",
        "not_an_object",
        "missing_field",
        "invalid_field",
        "too_large",
        "empty",
    ]
    .iter()
    .map(|r| format!("yuqing_dead_letters_total{{reason=\"{r}\"}} 0"))
    .collect();
    expected.push("yuqing_posts_consumed_total{source=\"file\"} 0".into());
    for stage in ["decode", "segment", "score", "index"] {
        expected.push(format!(
            "yuqing_stage_duration_seconds_count{{stage=\"{stage}\"}} 0"
        ));
    }
    let categories: Vec<String> = std::fs::read_dir(root().join("dictionaries"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".toml").map(str::to_string))
        .filter(|n| n != "regions" && n != "shared")
        .collect();
    assert!(categories.len() >= 10, "{categories:?}");
    for c in &categories {
        expected.push(format!("yuqing_posts_flagged_total{{category=\"{c}\"}} 0"));
        for level in ["blue", "yellow", "orange", "red"] {
            for state in ["open", "update", "resolved"] {
                expected.push(format!(
                    "yuqing_alerts_total{{category=\"{c}\",level=\"{level}\",state=\"{state}\"}} 0"
                ));
            }
        }
    }
    for line in &expected {
        assert!(
            text.lines().any(|l| l == line),
            "{line} is not exported by a fresh pipeline:\n{text}"
        );
    }
    assert!(run.terminate().success());
}

#[test]
fn a_reload_that_would_drop_a_category_or_the_regions_keeps_the_old_dictionaries() {
    let dir = tempfile::tempdir().unwrap();
    let dicts = dir.path().join("dicts");
    copy_dictionaries(&dicts);
    let posts = dir.path().join("posts.jsonl");
    std::fs::write(
        &posts,
        "{\"id\":\"b1\",\"text\":\"滁州一化工厂发生爆炸\",\"ts\":\"2024-07-01T00:00:00Z\"}\n",
    )
    .unwrap();
    let config = dir.path().join("p.toml");
    std::fs::write(
        &config,
        "data_dir = \"data\"\ndictionaries = \"dicts\"\n[source]\nkind = \"file\"\npath = \"posts.jsonl\"\nfollow = true\n[alerts]\nkind = \"none\"\n[index]\ncommit_interval_ms = 200\n[http]\naddr = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let run = Run::start(&config);
    let api = run.api.clone();
    let reload = format!("{api}/api/v1/admin/reload");
    let failures = |reason: &str| {
        let (_, _, metrics) = request("GET", &format!("{api}/metrics"), None);
        let series = format!("yuqing_dictionary_reload_failures_total{{reason=\"{reason}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series.as_str()))
            .map(|v| v.trim().to_string())
    };
    // Both reasons are exported before any reload.
    assert_eq!(failures("shrinks").as_deref(), Some("0"));
    assert_eq!(failures("errors").as_deref(), Some("0"));
    wait_for(Duration::from_secs(30), "the first post", || {
        let (_, _, body) = request(
            "GET",
            &format!("{api}/api/v1/search?category=explosion"),
            None,
        );
        body.contains("\"b1\"")
    });

    // The explosion category removed: a valid set, but the reload would
    // drop a category the running set has.
    let explosion = std::fs::read_to_string(dicts.join("explosion.toml")).unwrap();
    std::fs::remove_file(dicts.join("explosion.toml")).unwrap();
    let (status, _, body) = request("POST", &reload, None);
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("drop categories of the running set: explosion"),
        "{body}"
    );
    assert!(body.contains("old ones keep serving"), "{body}");
    assert_eq!(failures("shrinks").as_deref(), Some("1"));

    // A set without regions is refused too, by SIGHUP as well.
    std::fs::write(dicts.join("explosion.toml"), &explosion).unwrap();
    let regions = std::fs::read_to_string(dicts.join("regions.toml")).unwrap();
    std::fs::write(dicts.join("regions.toml"), "# emptied\n").unwrap();
    let (status, _, body) = request("POST", &reload, None);
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("regions.toml"), "{body}");
    assert!(body.contains("no regions"), "{body}");
    std::fs::remove_file(dicts.join("regions.toml")).unwrap();
    run.hangup();
    wait_for(
        Duration::from_secs(30),
        "a rejected reload on SIGHUP",
        || failures("errors").as_deref() == Some("2"),
    );

    // The old dictionaries still score new posts: the category and the
    // regions are there.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&posts)
        .unwrap();
    std::io::Write::write_all(
        &mut f,
        "{\"id\":\"b2\",\"text\":\"合肥一仓库发生爆炸，现场浓烟滚滚\",\"ts\":\"2024-07-01T00:01:00Z\"}\n".as_bytes(),
    )
    .unwrap();
    wait_for(
        Duration::from_secs(30),
        "a new post scored with the old category and regions",
        || {
            let (_, _, body) = request(
                "GET",
                &format!("{api}/api/v1/search?category=explosion&region=%E5%90%88%E8%82%A5"),
                None,
            );
            body.contains("\"b2\"")
        },
    );
    // With the set whole again, the reload takes.
    std::fs::write(dicts.join("regions.toml"), &regions).unwrap();
    let (status, _, body) = request("POST", &reload, None);
    assert_eq!(status, 200, "{body}");
    assert!(run.terminate().success());
}
