//! Alerts end to end: `yuqing run` stopped and restarted in the middle of
//! a burst keeps one alert per incident, and `yuqing backtest` replays a
//! file with its own timestamps (and field names) into the same alerts.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn yuqing(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_yuqing"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run yuqing")
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// A six-hour stream with an explosion in 合肥 at minute 120 (10:00
/// local, 02:00Z).
fn stream(dir: &Path) -> Vec<String> {
    let path = dir.join("stream.jsonl");
    let out = yuqing(&[
        "gen",
        "--seed",
        "11",
        "--burst",
        "explosion@合肥@120",
        "--out",
        path.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn pipeline(dir: &Path, source: &str) -> std::path::PathBuf {
    let path = dir.join("pipeline.toml");
    std::fs::write(
        &path,
        format!(
            "data_dir = \"data\"\n[source]\nkind = \"file\"\npath = \"{source}\"\n[alerts]\nkind = \"file\"\npath = \"alerts.out.jsonl\"\n[http]\nenabled = false\n[runtime]\nserve_after_end = false\n"
        ),
    )
    .unwrap();
    path
}

fn run(config: &Path) -> String {
    let out = yuqing(&["run", config.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    stderr
}

fn opens(alerts: &[Value]) -> Vec<&Value> {
    alerts.iter().filter(|a| a["state"] == "open").collect()
}

#[test]
fn a_restart_in_the_middle_of_a_burst_keeps_one_alert_per_incident() {
    let dir = tempfile::tempdir().unwrap();
    let lines = stream(dir.path());

    // Straight through, for comparison.
    let straight = dir.path().join("straight");
    std::fs::create_dir(&straight).unwrap();
    std::fs::write(straight.join("posts.jsonl"), lines.join("\n") + "\n").unwrap();
    run(&pipeline(&straight, "posts.jsonl"));
    let whole = json_lines(&std::fs::read_to_string(straight.join("alerts.out.jsonl")).unwrap());
    assert_eq!(opens(&whole).len(), 1, "{whole:?}");
    let open = opens(&whole)[0];
    assert_eq!(
        (open["category"].as_str(), open["region"].as_str()),
        (Some("explosion"), Some("合肥市"))
    );
    assert_eq!(open["window_start"], "2024-07-01T02:00:00Z");
    assert_eq!(whole.last().unwrap()["state"], "resolved");

    // Stopped five minutes into the burst (at a minute boundary: a file
    // read to its end closes its last minute), then restarted on the rest.
    let cut = lines
        .iter()
        .position(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["ts"].as_str().unwrap() >= "2024-07-01T02:05:00Z"
        })
        .unwrap();
    let halves = dir.path().join("halves");
    std::fs::create_dir(&halves).unwrap();
    let posts = halves.join("posts.jsonl");
    std::fs::write(&posts, lines[..cut].join("\n") + "\n").unwrap();
    let config = pipeline(&halves, "posts.jsonl");
    run(&config);
    let first = json_lines(&std::fs::read_to_string(halves.join("alerts.out.jsonl")).unwrap());
    assert_eq!(opens(&first).len(), 1, "open before the restart: {first:?}");
    assert!(first.iter().all(|a| a["state"] != "resolved"), "{first:?}");
    let snapshots = std::fs::read_dir(halves.join("data/detector"))
        .unwrap()
        .count();
    assert_eq!(snapshots, 1, "one snapshot, the one the index commit names");

    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&posts)
        .unwrap();
    std::io::Write::write_all(&mut f, (lines[cut..].join("\n") + "\n").as_bytes()).unwrap();
    drop(f);
    let stderr = run(&config);
    assert!(stderr.contains(" 0 late posts"), "{stderr}");
    let all = json_lines(&std::fs::read_to_string(halves.join("alerts.out.jsonl")).unwrap());
    assert_eq!(
        opens(&all).len(),
        1,
        "no second `open` after the restart: {all:?}"
    );
    let id = &open["alert_id"];
    assert!(
        all.iter().all(|a| &a["alert_id"] == id),
        "the same alert id: {all:?}"
    );
    let resolved = all.last().unwrap();
    assert_eq!(resolved["state"], "resolved");
    // The baseline and the counts carried over: the restarted run ends as
    // the straight one does.
    let last = whole.last().unwrap();
    for field in [
        "count",
        "distinct_authors",
        "baseline",
        "window_end",
        "first_post_id",
        "level",
    ] {
        assert_eq!(resolved[field], last[field], "{field}");
    }

    // The API's store in the data directory has the latest state.
    let store = json_lines(&std::fs::read_to_string(halves.join("data/alerts.jsonl")).unwrap());
    assert_eq!(store.last().unwrap()["state"], "resolved");
}

#[test]
fn backtest_replays_timestamps_and_foreign_field_names() {
    let dir = tempfile::tempdir().unwrap();
    let lines = stream(dir.path());
    let file = dir.path().join("stream.jsonl");
    let out = yuqing(&["backtest", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let alerts = json_lines(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(opens(&alerts).len(), 1, "{alerts:?}\n{stderr}");
    let open = opens(&alerts)[0];
    assert_eq!(open["region"], "合肥市");
    // Stamped in stream time: when a live run would have sent it, as the
    // report that made its minute's window exceed arrived (within the
    // burst's first minute, not when that minute closed).
    let at = open["emitted_at"].as_str().unwrap_or_default();
    assert!(
        ("2024-07-01T02:00:00Z".."2024-07-01T02:01:00Z").contains(&at),
        "{open}"
    );
    assert_eq!(open["window_secs"], 60, "{open}");
    assert_eq!(open["trigger"], "burst", "{open}");
    assert!(
        stderr.contains("posts from 2024-07-01 to 2024-07-01"),
        "{stderr}"
    );
    // Every message has the fields the shipped JSON Schema requires, and
    // only fields it lists, with values it allows.
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/alert.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    required.sort_unstable();
    let enums = |field: &str| -> Vec<Value> {
        schema["properties"][field]["enum"]
            .as_array()
            .unwrap()
            .clone()
    };
    let listed: Vec<&str> = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for a in &alerts {
        let mut keys: Vec<&str> = a.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        for r in &required {
            assert!(keys.contains(r), "`{r}` missing: {a}");
        }
        for k in &keys {
            assert!(listed.contains(k), "`{k}` not in the schema: {a}");
        }
        assert!(enums("trigger").contains(&a["trigger"]), "{a}");
        assert!(a["confirmed"].is_boolean(), "{a}");
        assert!(
            a["window_secs"].is_null() || a["window_secs"].as_u64().is_some_and(|w| w >= 60),
            "{a}"
        );
        assert_eq!(
            a["schema_version"],
            schema["properties"]["schema_version"]["const"]
        );
        assert!(enums("state").contains(&a["state"]), "{a}");
        assert!(enums("level").contains(&a["level"]), "{a}");
        let id = a["alert_id"].as_str().unwrap();
        assert!(
            id.len() == 19
                && id.starts_with("al-")
                && id[3..].bytes().all(|b| b.is_ascii_hexdigit()),
            "{id}"
        );
        assert!(a["sample_post_ids"].as_array().unwrap().len() <= 10);
        assert!(a["top_terms"].as_array().unwrap().len() <= 5);
    }
    let row = stderr
        .lines()
        .find(|l| l.starts_with("explosion"))
        .expect("a summary row per category");
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols[2], "1", "one alert for explosion: {row}");

    // The same posts as an archive writes them: local times without an
    // offset, other field names, a bad line.
    let archive = dir.path().join("archive.jsonl");
    let mut body = String::new();
    for (i, l) in lines.iter().enumerate() {
        let v: Value = serde_json::from_str(l).unwrap();
        let ts = yuqing_model::Timestamp::parse_rfc3339(v["ts"].as_str().unwrap()).unwrap();
        let local = yuqing_model::Timestamp::from_millis(ts.as_millis() + 8 * 3_600_000)
            .unwrap()
            .to_string();
        let local = local.trim_end_matches('Z').replace('T', " ");
        body.push_str(
            &serde_json::json!({"mid": v["id"], "content": v["text"], "time": local, "uid": v["author"]})
                .to_string(),
        );
        body.push('\n');
        if i == 3 {
            body.push_str("{\"mid\": \"x\", \"content\": \"无时间\"}\n");
        }
    }
    std::fs::write(&archive, body).unwrap();
    let out = yuqing(&[
        "backtest",
        archive.to_str().unwrap(),
        "--id-field",
        "mid",
        "--text-field",
        "content",
        "--ts-field",
        "time",
        "--author-field",
        "uid",
    ]);
    let stderr2 = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr2}");
    assert!(
        stderr2.contains("line 5: missing required field `time`"),
        "{stderr2}"
    );
    let again = json_lines(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(again.len(), alerts.len());
    assert_eq!(again[0]["alert_id"], open["alert_id"], "the same alert id");
    assert_eq!(again[0]["count"], open["count"]);

    // Tuning from the command line; mistakes are named.
    let out = yuqing(&[
        "backtest",
        file.to_str().unwrap(),
        "--quiet",
        "--set",
        "categories.explosion.min_count=1000",
    ]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty(), "--quiet prints no alerts");
    let row = String::from_utf8_lossy(&out.stderr)
        .lines()
        .find(|l| l.starts_with("explosion"))
        .unwrap()
        .to_string();
    assert_eq!(row.split_whitespace().nth(2), Some("0"), "{row}");
    let out = yuqing(&[
        "backtest",
        file.to_str().unwrap(),
        "--set",
        "thresholds.min_cout=3",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`spike.thresholds.min_cout`: no such setting"),
        "{err}"
    );
    let out = yuqing(&["backtest", file.to_str().unwrap(), "--timezone", "8"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--timezone `8`"));
}

/// A copy of a report in traditional characters (or full-width ones) is the
/// same report: it does not count again towards a burst.
#[test]
fn a_traditional_copy_of_a_report_counts_once() {
    let dir = tempfile::tempdir().unwrap();
    let lines = stream(dir.path());
    let file = dir.path().join("stream.jsonl");
    let out = yuqing(&["backtest", file.to_str().unwrap()]);
    assert!(out.status.success());
    let plain = json_lines(&String::from_utf8_lossy(&out.stdout));
    assert!(!opens(&plain).is_empty(), "the stream has a burst");

    // Every post about the burst again, a few seconds later, by someone
    // else, in 繁體 with full-width digits.
    const TRADITIONAL: &[(char, char)] = &[
        ('发', '發'),
        ('厂', '廠'),
        ('现', '現'),
        ('场', '場'),
        ('伤', '傷'),
        ('区', '區'),
        ('烟', '煙'),
        ('听', '聽'),
        ('说', '說'),
        ('这', '這'),
        ('们', '們'),
        ('声', '聲'),
        ('车', '車'),
        ('边', '邊'),
        ('时', '時'),
        ('个', '個'),
        ('楼', '樓'),
        ('邻', '鄰'),
        ('问', '問'),
        ('馆', '館'),
        ('气', '氣'),
        ('闪', '閃'),
        ('医', '醫'),
        ('报', '報'),
        ('响', '響'),
        ('刚', '剛'),
        ('过', '過'),
        ('见', '見'),
        ('1', '１'),
        ('3', '３'),
    ];
    let mut body = lines.join("\n");
    body.push('\n');
    let mut copies = 0;
    for l in &lines {
        let v: Value = serde_json::from_str(l).unwrap();
        let text = v["text"].as_str().unwrap();
        if !text.contains("合肥") || !text.contains('爆') {
            continue;
        }
        let copy: String = text
            .chars()
            .map(|c| {
                TRADITIONAL
                    .iter()
                    .find(|(s, _)| *s == c)
                    .map_or(c, |(_, t)| *t)
            })
            .collect();
        assert_ne!(copy, text);
        let ts = yuqing_model::Timestamp::parse_rfc3339(v["ts"].as_str().unwrap()).unwrap();
        let ts = yuqing_model::Timestamp::from_millis(ts.as_millis() + 5_000).unwrap();
        body.push_str(
            &serde_json::json!({
                "id": format!("{}-tw", v["id"].as_str().unwrap()),
                "text": copy,
                "ts": ts.to_string(),
                "author": format!("{}-tw", v["author"].as_str().unwrap()),
            })
            .to_string(),
        );
        body.push('\n');
        copies += 1;
    }
    assert!(copies > 50, "{copies} copies");
    let doubled = dir.path().join("doubled.jsonl");
    std::fs::write(&doubled, body).unwrap();
    let out = yuqing(&["backtest", doubled.to_str().unwrap()]);
    assert!(out.status.success());
    let again = json_lines(&String::from_utf8_lossy(&out.stdout));
    let counts = |alerts: &[Value]| -> Vec<(Value, Value, Value)> {
        alerts
            .iter()
            .map(|a| {
                (
                    a["state"].clone(),
                    a["count"].clone(),
                    a["distinct_authors"].clone(),
                )
            })
            .collect()
    };
    assert_eq!(counts(&again), counts(&plain), "{again:?}");
}

/// A flood reported two to four times a minute for twenty minutes (80
/// posts, a third of them reposts) raises an alert: a slow build-up that
/// no single minute shows.
#[test]
fn a_generated_flood_of_eighty_posts_over_twenty_minutes_raises_an_alert() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flood.jsonl");
    let out = yuqing(&[
        "gen",
        "--burst",
        "flood@武汉@140",
        "--burst-minutes",
        "20",
        "--burst-posts",
        "80",
        "--out",
        path.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let out = yuqing(&["backtest", path.to_str().unwrap()]);
    assert!(out.status.success());
    let alerts = json_lines(&String::from_utf8_lossy(&out.stdout));
    let open = opens(&alerts);
    assert_eq!(open.len(), 1, "{alerts:?}");
    assert_eq!(open[0]["category"], "flood");
    assert_eq!(open[0]["region"], "武汉市");
    // Within the burst's first minutes (it starts at 10:20 local, 02:20Z).
    let at = open[0]["emitted_at"].as_str().unwrap();
    assert!(
        ("2024-07-01T02:20:00Z".."2024-07-01T02:30:00Z").contains(&at),
        "{at}"
    );
}

/// `yuqing backtest --truth`: for each known incident, whether an alert of
/// its category opened and how long after its start; the alerts away from
/// every incident are false alerts, per category per day. A bad line is
/// named with its file and line.
#[test]
fn backtest_measures_delays_and_false_alerts_against_known_incidents() {
    let dir = tempfile::tempdir().unwrap();
    stream(dir.path());
    let file = dir.path().join("stream.jsonl");
    let truth = dir.path().join("truth.jsonl");
    std::fs::write(
        &truth,
        concat!(
            // The burst in 合肥 (10:00 local), as an analyst would write it.
            r#"{"category":"explosion","region":"合肥","start":"2024-07-01 10:00:00","end":"2024-07-01 10:30:00","label":"blast 合肥"}"#,
            "\n",
            // A fire nobody reported.
            r#"{"category":"fire","start":"2024-07-01T04:00:00Z"}"#,
            "\n"
        ),
    )
    .unwrap();
    let out = yuqing(&[
        "backtest",
        file.to_str().unwrap(),
        "--truth",
        truth.to_str().unwrap(),
        "--quiet",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let row = |start: &str| -> Vec<String> {
        stderr
            .lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("a row `{start}`:\n{stderr}"))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    // Line 1: caught within its first minute (as the report that made
    // the window exceed arrived), by an alert for 合肥市.
    let blast = row("1    blast 合肥");
    assert_eq!(blast[4], "yes", "{blast:?}");
    assert!(blast[5].starts_with("0m"), "{blast:?}");
    assert!(blast.contains(&"合肥市".to_string()), "{blast:?}");
    let fire = row("2    fire");
    assert_eq!(fire[3], "NO", "{fire:?}");
    assert!(stderr.contains("caught 1 of 2 incidents"), "{stderr}");
    // The false-alert table (after the backtest's own summary): alerts,
    // on incidents, during other incidents, false, false a day.
    let last_row = |stderr: &str, start: &str| -> Vec<String> {
        stderr
            .lines()
            .rev()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("a row `{start}`:\n{stderr}"))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    let explosion = last_row(&stderr, "explosion ");
    assert_eq!(
        explosion[1..6],
        ["1", "1", "0", "0", "0.00"],
        "{explosion:?}"
    );
    assert!(stderr.contains("false alerts: 0 in"), "{stderr}");

    // An alert away from every incident is a false alert.
    std::fs::write(
        &truth,
        r#"{"category":"explosion","start":"2024-07-01T06:00:00Z"}"#,
    )
    .unwrap();
    let out = yuqing(&[
        "backtest",
        file.to_str().unwrap(),
        "--truth",
        truth.to_str().unwrap(),
        "--quiet",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(stderr.contains("caught 0 of 1 incidents"), "{stderr}");
    let explosion = last_row(&stderr, "explosion ");
    assert_eq!(explosion[4], "1", "one false alert: {explosion:?}");

    // Mistakes in the truth file are named with file, line and what was
    // expected.
    for (body, says) in [
        (
            "{\"category\":\"fier\",\"start\":\"2024-07-01T04:00:00Z\"}",
            ":1: `category`: unknown category `fier`",
        ),
        ("\n{\"category\":\"fire\"}", ":2: no `start`"),
        ("{\"category\":\"fire\",\"start\":\"soon\"}", ":1: `start`:"),
        (
            "{\"category\":\"fire\",\"start\":\"2024-07-01T04:00:00Z\",\"end\":\"2024-07-01T03:00:00Z\"}",
            ":1: `end` is before `start`",
        ),
        (
            "{\"category\":\"fire\",\"region\":\"Atlantis\",\"start\":\"2024-07-01T04:00:00Z\"}",
            ":1: `region`: unknown region `Atlantis`",
        ),
        ("[1, 2]", ":1: expected a JSON object"),
        ("not json", ":1: not JSON"),
    ] {
        std::fs::write(&truth, body).unwrap();
        let out = yuqing(&[
            "backtest",
            file.to_str().unwrap(),
            "--truth",
            truth.to_str().unwrap(),
        ]);
        assert!(!out.status.success(), "{body}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("{}{says}", truth.display())),
            "{body}: {err}"
        );
    }
}

#[test]
fn index_into_a_pipelines_data_directory_then_run_sends_no_alert_twice() {
    let dir = tempfile::tempdir().unwrap();
    // The demo stream (an explosion in 滁州, opened, updated, resolved) and
    // one malformed line, read by a file pipeline with alerts and dead
    // letters in files.
    let demo = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-stream.jsonl"),
    )
    .unwrap();
    std::fs::write(dir.path().join("posts.jsonl"), demo + "{\"broken\n").unwrap();
    let config = dir.path().join("pipeline.toml");
    std::fs::write(
        &config,
        "data_dir = \"data\"\n[source]\nkind = \"file\"\npath = \"posts.jsonl\"\n[dead_letter]\nkind = \"file\"\npath = \"dead.jsonl\"\n[alerts]\nkind = \"file\"\npath = \"alerts.out.jsonl\"\n[http]\nenabled = false\n[runtime]\nserve_after_end = false\n",
    )
    .unwrap();
    run(&config);
    let sent = json_lines(&std::fs::read_to_string(dir.path().join("alerts.out.jsonl")).unwrap());
    assert_eq!(opens(&sent).len(), 1, "{sent:?}");
    assert_eq!(sent.last().unwrap()["state"], "resolved", "{sent:?}");

    // A history loaded with `yuqing index` into the same data directory.
    let history = dir.path().join("history.jsonl");
    std::fs::write(
        &history,
        "{\"id\":\"h-1\",\"text\":\"一只雪豹在动物园散步\",\"ts\":\"2024-06-30T10:00:00Z\"}\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let index = yuqing(&[
        "index",
        history.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);

    // The pipeline again: nothing new in its source, nothing sent again.
    let stderr = run(&config);
    let after = json_lines(&std::fs::read_to_string(dir.path().join("alerts.out.jsonl")).unwrap());
    assert_eq!(
        after.len(),
        sent.len(),
        "alert messages sent again after `yuqing index`: {stderr}"
    );
    let dead = std::fs::read_to_string(dir.path().join("dead.jsonl")).unwrap();
    assert_eq!(dead.lines().count(), 1, "dead letters sent again: {dead}");
    assert!(stderr.contains("yuqing run: 0 messages"), "{stderr}");

    // `yuqing index` refused, saying why, and wrote nothing.
    let err = String::from_utf8_lossy(&index.stderr);
    assert_eq!(index.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("{} belongs to a pipeline", data.display()))
            && err.contains("posts.jsonl"),
        "{err}"
    );
    let out = yuqing(&["search", "--data-dir", data.to_str().unwrap(), "雪豹"]);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("h-1"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
