//! `yuqing score`, `eval` and `dict`, run as a user would: the real binary,
//! files on disk, stdin, exit codes, stdout and stderr.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn yuqing() -> Command {
    Command::new(env!("CARGO_BIN_EXE_yuqing"))
}

fn run(args: &[&str]) -> Output {
    yuqing().args(args).output().expect("yuqing runs")
}

fn run_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = yuqing()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("yuqing runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("yuqing finishes")
}

fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).expect("write fixture");
    p
}

fn stdout_json(o: &Output) -> Vec<Value> {
    String::from_utf8(o.stdout.clone())
        .expect("stdout is UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each output line is JSON"))
        .collect()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn post(id: &str, text: &str) -> String {
    serde_json::json!({"id": id, "text": text, "ts": "2024-07-01T08:30:00+08:00"}).to_string()
}

#[test]
fn score_writes_valid_posts_in_order_and_reports_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let mut input: Vec<u8> = Vec::new();
    let lines: Vec<Vec<u8>> = vec![
        post("p1", "滁州一化工厂发生爆炸，造成3人死亡、12人受伤").into_bytes(),
        br#"{"id":"p2","text":"#.to_vec(),
        br#"{"id":"p3","text":"no time"}"#.to_vec(),
        br#"{"id":4,"text":"t","ts":1719793800}"#.to_vec(),
        b"{\"id\":\"p5\",\"text\":\"\xff\xfe\",\"ts\":1}".to_vec(),
        b"[1,2,3]".to_vec(),
        b"   ".to_vec(),
        post("p8", "今天和朋友去吃了火锅，好开心").into_bytes(),
        br#"{"id":"p9","text":"t","ts":"next tuesday"}"#.to_vec(),
        post("p10", "高速公路发生多车相撞事故").into_bytes(),
    ];
    for l in &lines {
        input.extend_from_slice(l);
        input.push(b'\n');
    }
    let file = write(dir.path(), "posts.jsonl", &input);
    let o = run(&["score", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout_json(&o);
    let ids: Vec<&str> = out.iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["p1", "p8", "p10"]);

    let err = stderr(&o);
    assert!(err.contains("line 2: malformed JSON at column"), "{err}");
    assert!(err.contains("line 3: missing required field `ts`"), "{err}");
    assert!(
        err.contains("line 4: field `id`: invalid type: integer `4`, expected a string"),
        "{err}"
    );
    assert!(err.contains("line 5: invalid UTF-8 at byte 19"), "{err}");
    assert!(
        err.contains("line 6: expected a JSON object, found an array"),
        "{err}"
    );
    assert!(
        err.contains("line 9: field `ts`: `next tuesday` is not an RFC 3339 timestamp"),
        "{err}"
    );
    assert!(
        !err.contains("line 7:"),
        "a blank line is not an error: {err}"
    );
    assert!(
        err.contains("yuqing score: 10 lines: 3 posts scored, 6 invalid, 2 flagged"),
        "{err}"
    );
}

#[test]
fn score_output_has_the_post_categories_regions_and_severity() {
    let input = format!(
        "{}\n{}\n",
        serde_json::json!({"id": "a", "text": "滁州一化工厂发生爆炸，造成3人死亡、12人受伤", "ts": 1719793800,
            "platform": "weibo", "author": "u1", "likes": 7, "unknown_field": [1, 2]}),
        post("b", "今天天气不错，适合出去走走")
    );
    let o = run_stdin(&["score", "-"], input.as_bytes());
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout_json(&o);
    let a = &out[0];
    assert_eq!(a["ts"], "2024-07-01T00:30:00Z");
    assert_eq!(a["platform"], "weibo");
    assert_eq!(a["likes"], 7);
    assert!(a.get("unknown_field").is_none());
    let cats = a["categories"].as_array().unwrap();
    let explosion = cats
        .iter()
        .find(|c| c["id"] == "explosion")
        .expect("explosion flagged");
    assert!(explosion["score"].as_f64().unwrap() >= 2.0);
    assert!(
        explosion["terms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "发生爆炸")
    );
    assert_eq!(a["regions"], serde_json::json!(["安徽省", "滁州市"]));
    assert_eq!(a["severity"]["level"], "yellow");
    assert_eq!(a["severity"]["dead"], 3);
    assert_eq!(a["severity"]["injured"], 12);

    let b = &out[1];
    assert_eq!(b["categories"], serde_json::json!([]));
    assert_eq!(b["regions"], serde_json::json!([]));
    assert_eq!(b["severity"], Value::Null);
}

#[test]
fn a_traditional_post_scores_like_its_simplified_twin() {
    let input = format!(
        "{}\n{}\n",
        post("s", "滁州一化工厂发生爆炸，现场浓烟滚滚，3人受伤"),
        post("t", "滁州一化工廠發生爆炸，現場濃煙滾滾，3人受傷")
    );
    let o = run_stdin(&["score"], input.as_bytes());
    let out = stdout_json(&o);
    assert!(!out[0]["categories"].as_array().unwrap().is_empty());
    for key in ["categories", "regions", "severity"] {
        assert_eq!(out[0][key], out[1][key], "{key}");
    }
}

#[test]
fn empty_input_is_fine() {
    let o = run_stdin(&["score"], b"");
    assert!(o.status.success());
    assert!(o.stdout.is_empty());
    assert!(
        stderr(&o).contains("yuqing score: 0 lines: 0 posts scored, 0 invalid"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn unreadable_input_fails_with_its_name() {
    let o = run(&["score", "/nonexistent/posts.jsonl"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cannot open /nonexistent/posts.jsonl"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn oversized_lines_and_texts_are_reported_and_skipped() {
    let huge_line = format!(r#"{{"id":"h","text":"{}","ts":1}}"#, "x".repeat(1 << 21));
    let big_text = format!(r#"{{"id":"b","text":"{}","ts":1}}"#, "x".repeat(70_000));
    let input = format!("{huge_line}\n{big_text}\n{}\n", post("ok", "好"));
    let o = run_stdin(&["score"], input.as_bytes());
    assert!(o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "line 1: line is {} bytes, over the limit of 1048576",
            huge_line.len()
        )),
        "{err}"
    );
    assert!(
        err.contains("line 2: field `text`: is 70000 bytes, over the limit of 65536"),
        "{err}"
    );
    assert_eq!(stdout_json(&o).len(), 1);
}

#[test]
fn default_ts_fills_posts_without_one() {
    let o = run_stdin(
        &["score", "--default-ts", "2024-01-01T00:00:00Z"],
        br#"{"id":"a","text":"x"}"#,
    );
    assert_eq!(stdout_json(&o)[0]["ts"], "2024-01-01T00:00:00Z");
    let o = run_stdin(&["score", "--default-ts", "soon"], b"");
    assert_eq!(
        o.status.code(),
        Some(2),
        "a bad option value is a bad command line"
    );
    assert!(stderr(&o).contains("--default-ts `soon`"), "{}", stderr(&o));
}

fn shipped_dictionaries(dir: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries");
    for e in std::fs::read_dir(root).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
    }
}

#[test]
fn dict_check_accepts_the_shipped_dictionaries() {
    let o = run(&["dict", "check"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.starts_with("ok: built-in dictionaries: 13 categories"),
        "{out}"
    );
    let dir = tempfile::tempdir().unwrap();
    shipped_dictionaries(dir.path());
    let o = run(&["dict", "check", dir.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn dict_check_reports_every_error_with_file_line_and_term() {
    let dir = tempfile::tempdir().unwrap();
    shipped_dictionaries(dir.path());
    let fire = std::fs::read_to_string(dir.path().join("fire.toml")).unwrap();
    let broken = fire.replacen(
        "\"火灾\", \"失火\"",
        "\"火灾\", \"火災\", \"失火\", \"火灾\"",
        1,
    );
    assert_ne!(fire, broken, "the fixture edit applies");
    write(dir.path(), "fire.toml", broken.as_bytes());
    write(
        dir.path(),
        "flood.toml",
        b"[category]\nid = \"flood\"\nthreshold = \"high\"\n",
    );
    let o = run(&["dict", "check", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    let fire_path = dir.path().join("fire.toml");
    let flood_path = dir.path().join("flood.toml");
    // Where the edit landed, counted the way an editor does (1-based).
    let (line_no, line) = broken
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains("火災"))
        .map(|(i, l)| (i + 1, l))
        .unwrap();
    let col = |needle: &str, nth: usize| {
        let byte = line.match_indices(needle).nth(nth).unwrap().0;
        line[..byte].chars().count() + 1
    };
    assert!(
        err.contains(&format!(
            "{}:{line_no}:{}: term `火災`: term is not in normal form",
            fire_path.display(),
            col("\"火災\"", 0)
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{}:{line_no}:{}: term `火灾`: listed twice in this category (first at line {line_no})",
            fire_path.display(),
            col("\"火灾\"", 1)
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{}:3:13: invalid type: string \"high\", expected f32",
            flood_path.display()
        )),
        "{err}"
    );
    // The flood file has no groups either: a problem of its own.
    assert!(
        err.contains(&format!(
            "{}: category `flood` has no `[[group]]` of terms",
            flood_path.display()
        )),
        "{err}"
    );
    assert!(err.trim_end().ends_with("4 errors"), "{err}");

    // score refuses to run on them, naming the problem.
    let o = run_stdin(
        &["score", "--dictionaries", dir.path().to_str().unwrap()],
        b"",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("term `火災`"), "{}", stderr(&o));
}

#[test]
fn dict_check_refuses_a_set_without_regions_or_with_an_empty_category() {
    let check = |dir: &Path| {
        let o = run(&["dict", "check", dir.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        stderr(&o)
    };
    // regions.toml removed.
    let dir = tempfile::tempdir().unwrap();
    shipped_dictionaries(dir.path());
    std::fs::remove_file(dir.path().join("regions.toml")).unwrap();
    let err = check(dir.path());
    assert!(
        err.contains(&format!(
            "{}: missing: a dictionary set needs its gazetteer of regions",
            dir.path().join("regions.toml").display()
        )),
        "{err}"
    );
    assert!(err.trim_end().ends_with("1 error"), "{err}");
    // regions.toml emptied.
    write(dir.path(), "regions.toml", b"# to be filled\n");
    let err = check(dir.path());
    assert!(
        err.contains(&format!(
            "{}: no regions: the gazetteer needs at least one `[[province]]`",
            dir.path().join("regions.toml").display()
        )),
        "{err}"
    );
    // A category file without groups.
    shipped_dictionaries(dir.path());
    write(
        dir.path(),
        "flood.toml",
        "[category]\nid = \"flood\"\nname_zh = \"洪涝\"\nname_en = \"Flood\"\nthreshold = 2.0\n"
            .as_bytes(),
    );
    let err = check(dir.path());
    assert!(
        err.contains(&format!(
            "{}: category `flood` has no `[[group]]` of terms",
            dir.path().join("flood.toml").display()
        )),
        "{err}"
    );
    assert!(err.trim_end().ends_with("1 error"), "{err}");
}

#[test]
fn dict_check_reports_each_independent_problem_once() {
    let dir = tempfile::tempdir().unwrap();
    shipped_dictionaries(dir.path());
    let edit = |name: &str, from: &str, to: &str| {
        let path = dir.path().join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        let edited = text.replacen(from, to, 1);
        assert_ne!(text, edited, "the edit of {name} applies");
        std::fs::write(&path, edited).unwrap();
    };
    // shared.toml: a misspelt key in [severity], and a set with a number
    // in it (the set is used by most categories).
    edit(
        "shared.toml",
        "[severity]\n",
        "[severity]\ndaed = [\"死\"]\n",
    );
    edit("shared.toml", "\ndrill = [", "\ndrill = [1, ");
    // fire.toml: a group with a bad weight and a term not in normal form.
    let fire = std::fs::read_to_string(dir.path().join("fire.toml")).unwrap();
    std::fs::write(
        dir.path().join("fire.toml"),
        format!("{fire}\n[[group]]\nweight = -1.0\nterms = [\"火災現場\"]\n"),
    )
    .unwrap();
    // flood.toml: one group with a misspelt key, another with a bad term.
    let flood = std::fs::read_to_string(dir.path().join("flood.toml")).unwrap();
    std::fs::write(
        dir.path().join("flood.toml"),
        format!(
            "{flood}\n[[group]]\nwieght = 2.0\nterms = [\"漫堤\"]\n\n[[group]]\nweight = 1.0\nterms = [\"ＡＢＣ\"]\n"
        ),
    )
    .unwrap();
    // regions.toml: a one-character name.
    let regions = std::fs::read_to_string(dir.path().join("regions.toml")).unwrap();
    std::fs::write(
        dir.path().join("regions.toml"),
        format!("{regions}\n[[province]]\nname = \"火星\"\ndivisions = [\"丘\"]\n"),
    )
    .unwrap();

    let o = run(&["dict", "check", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    let once = |needle: &str| {
        let n = err.lines().filter(|l| l.contains(needle)).count();
        assert_eq!(n, 1, "`{needle}` reported {n} times:\n{err}");
    };
    once("unknown field `daed`");
    once("shared.toml:11:10: invalid type");
    once("invalid type: integer `1`, expected a string");
    once("weight must be above 0 and at most 100, got -1");
    once("term `火災現場`: term is not in normal form");
    once("unknown field `wieght`");
    once("term `ＡＢＣ`: term is not in normal form");
    once("term `丘`: region names need at least two characters");
    // Nothing else: no follow-on errors (uses of the broken set, the rest
    // of shared.toml, the other groups).
    assert!(!err.contains("unknown set"), "{err}");
    assert!(err.trim_end().ends_with(": 7 errors"), "{err}");
}

#[test]
fn detector_settings_for_an_unknown_category_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let posts = write(
        dir.path(),
        "posts.jsonl",
        format!("{}\n", post("a", "滁州一化工厂发生爆炸")).as_bytes(),
    );
    let posts = posts.to_str().unwrap();
    // A bad --set is a bad command line (2); a bad configuration file is
    // a failure while running (1).
    let refused_with = |o: &Output, id: &str, code: i32| {
        assert_eq!(o.status.code(), Some(code), "{}", stderr(o));
        let err = stderr(o);
        assert!(
            err.contains(&format!(
                "`spike.categories.{id}`: no such category in the dictionaries (they have: "
            )),
            "{err}"
        );
        // The known ids are listed.
        assert!(err.contains("explosion") && err.contains("fire,"), "{err}");
        err
    };
    let refused = |o: &Output, id: &str| refused_with(o, id, 2);
    // --set, for backtest and index.
    let o = run(&["backtest", posts, "--set", "categories.firex.z=4"]);
    refused(&o, "firex");
    let data = dir.path().join("data");
    let o = run(&[
        "index",
        posts,
        "--data-dir",
        data.to_str().unwrap(),
        "--set",
        "categories.flod.min_count=3",
    ]);
    refused(&o, "flod");
    assert!(!data.exists(), "nothing is written before the check");
    // A known id is fine.
    let o = run(&["backtest", posts, "--set", "categories.fire.z=4"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // [spike.categories.<id>] in a pipeline configuration: for run, and
    // for backtest --pipeline.
    let config = write(
        dir.path(),
        "p.toml",
        format!(
            "data_dir = \"data\"\n[source]\nkind = \"file\"\npath = \"{posts}\"\n[alerts]\nkind = \"none\"\n[spike.categories.firex]\nz = 4.0\n"
        )
        .as_bytes(),
    );
    let o = run(&["run", config.to_str().unwrap()]);
    let err = refused_with(&o, "firex", 1);
    assert!(err.contains("p.toml"), "the file is named: {err}");
    let o = run(&["backtest", posts, "--pipeline", config.to_str().unwrap()]);
    refused_with(&o, "firex", 1);
}

#[test]
fn eval_reports_precision_recall_and_false_flags() {
    let dir = tempfile::tempdir().unwrap();
    let labels = [
        (r#"["explosion"]"#, "某化工厂发生爆炸，现场浓烟滚滚"),
        (r#"["traffic"]"#, "高速公路发生多车相撞事故"),
        (r#"["fire","explosion"]"#, "居民楼突发火灾"),
        (r#"["flood"]"#, "今天的晚饭很好吃"),
        ("[]", "新专辑销量火爆"),
        ("[]", "消防支队开展火灾应急演练"),
        ("[]", "周末和朋友去爬山"),
        ("[]", "这家店的菜被骗子吹上了天，高速公路发生多车相撞事故"),
    ];
    let mut input = String::new();
    for (i, (expected, text)) in labels.iter().enumerate() {
        input.push_str(&format!(
            r#"{{"id":"e{i}","text":"{text}","expected":{expected}}}"#
        ));
        input.push('\n');
    }
    input.push_str("{\"id\":\"bad\",\"text\":\"x\",\"expected\":[\"weather\"]}\n");
    let file = write(dir.path(), "labels.jsonl", input.as_bytes());
    let o = run(&["eval", "--labels", file.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let all: Value = serde_json::from_slice(&o.stdout).unwrap();
    let r = &all["files"][0];
    assert_eq!(r["posts"], 8);
    assert_eq!(r["incidents"], 4);
    assert_eq!(r["invalid_lines"], 1);
    assert_eq!(r["incident_recall"], 0.75);
    assert_eq!(r["false_flag_rate"], 0.25);
    assert_eq!(r["misses"][0]["id"], "e3");
    assert_eq!(r["false_flags"][0]["id"], "e7");
    let traffic = r["categories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "traffic")
        .unwrap();
    assert_eq!(
        (traffic["tp"].as_u64(), traffic["fp"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(traffic["precision"], 0.5);
    assert_eq!(traffic["false_flag_rate"], 0.25);
    assert!(
        stderr(&o).contains("line 9: unknown category `weather` in `expected`"),
        "{}",
        stderr(&o)
    );

    let o = run(&[
        "eval",
        "--labels",
        file.to_str().unwrap(),
        "--min-recall",
        "0.9",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("incident recall 0.750 is below --min-recall 0.9"),
        "{}",
        stderr(&o)
    );
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("incident recall  0.750  (3/4"), "{table}");
    assert!(table.contains("false-flag rate  0.250  (1/4"), "{table}");
}

#[test]
fn eval_reports_each_file_by_length_and_holds_out_a_fixed_half() {
    let dir = tempfile::tempdir().unwrap();
    // Incidents as a headline, a lead sentence and an article.
    let article = format!(
        "{}昨晚十点，市中心一栋居民楼突发火灾，消防部门调派多辆消防车赶到现场扑救。{}",
        "据本地媒体报道，",
        "火势在一小时后被控制，起火原因正在调查中。".repeat(8)
    );
    let mut labelled = String::new();
    for (i, text) in [
        "居民楼突发火灾",
        "今天上午，城东一家化工厂发生爆炸，现场浓烟滚滚，消防部门已赶到现场处置，周边道路临时封闭。",
        article.as_str(),
        "周末和朋友去爬山",
    ]
    .iter()
    .enumerate()
    {
        let expected = if i == 3 { "[]" } else { r#"["fire","explosion"]"# };
        labelled.push_str(&format!(
            r#"{{"id":"l{i}","text":"{text}","expected":{expected}}}"#
        ));
        labelled.push('\n');
    }
    let labelled = write(dir.path(), "labelled.jsonl", labelled.as_bytes());
    // Background without labels: only the share flagged is reported.
    let mut background = String::new();
    for i in 0..40 {
        let text = if i == 0 {
            "楼下着火了好大的烟"
        } else {
            "今天天气不错，出去走走"
        };
        background.push_str(&format!(r#"{{"id":"b{i}","text":"{text}"}}"#));
        background.push('\n');
    }
    let background = write(dir.path(), "background.jsonl", background.as_bytes());

    let files = [labelled.to_str().unwrap(), background.to_str().unwrap()];
    let o = run(&["eval", "--json", "--labels", files[0], files[1]]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["half"], "all");
    let (l, b) = (&r["files"][0], &r["files"][1]);
    assert_eq!(l["incidents"], 3);
    assert_eq!(l["non_incidents"], 1);
    assert_eq!(l["incident_recall"], 1.0);
    let forms: Vec<(&str, u64)> = l["forms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["form"].as_str().unwrap(),
                f["incidents"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(forms, [("headline", 1), ("lead", 1), ("article", 1)]);
    assert_eq!(b["unlabelled"], 40);
    assert_eq!(b["incidents"], 0);
    assert_eq!(b["flagged_share"], 0.025);
    assert_eq!(b["background_flags"][0]["id"], "b0");

    // The two halves split every file, the same way on every run; the
    // held-out half never lists its examples.
    let count = |half: &str| {
        let o = run(&["eval", "--json", "--half", half, "--labels", files[1]]);
        assert!(o.status.success(), "{}", stderr(&o));
        let r: Value = serde_json::from_slice(&o.stdout).unwrap();
        let f = &r["files"][0];
        assert_eq!(
            f["posts"].as_u64().unwrap() + f["other_half"].as_u64().unwrap(),
            40
        );
        if half == "test" {
            assert_eq!(f["background_flags"].as_array().unwrap().len(), 0);
        }
        f["posts"].as_u64().unwrap()
    };
    let dev = count("dev");
    assert!(dev > 0 && dev < 40, "{dev}");
    assert_eq!(count("dev"), dev);
    assert_eq!(count("test"), 40 - dev);

    // Tables: one per file, then a summary line for each.
    let o = run(&["eval", "--labels", files[0], "--labels", files[1]]);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("flagged share    0.025  (1/40"), "{table}");
    assert!(table.contains("summary (all half"), "{table}");
}

/// The project's own report shapes (tests/fixtures: headlines, leads,
/// short articles and eyewitness posts for every category, news headlines
/// and leads, and reporters' articles with their headlines and leads, all
/// written for the project, and hard non-incidents by domain) through
/// `yuqing eval`: a
/// change to the rules or the shipped dictionaries that loses many of them,
/// or flags many figures of speech, fails here. The floors sit a little
/// under today's figures (docs/PERFORMANCE.md), so that they catch a
/// regression, not a single changed line.
#[test]
fn the_shipped_dictionaries_read_the_projects_own_report_shapes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut files: Vec<String> = Vec::new();
    for dir in ["shapes", "news", "articles"] {
        let mut names: Vec<_> = std::fs::read_dir(root.join(dir))
            .expect("fixtures folder")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect();
        names.sort();
        files.extend(names.iter().map(|p| p.to_string_lossy().into_owned()));
    }
    let mut args = vec!["eval", "--json", "--show", "0", "--labels"];
    args.extend(files.iter().map(String::as_str));
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    let (mut incidents, mut caught, mut quiet, mut flagged) = (0.0, 0.0, 0.0, 0.0);
    let mut weakest = (1.0f64, String::new());
    for f in r["files"].as_array().unwrap() {
        assert_eq!(f["invalid_lines"], 0, "{}", f["file"]);
        let n = f["incidents"].as_f64().unwrap();
        if n > 0.0 {
            let recall = f["incident_recall"].as_f64().unwrap();
            incidents += n;
            caught += recall * n;
            if recall < weakest.0 {
                weakest = (recall, f["file"].as_str().unwrap().to_string());
            }
        }
        let m = f["non_incidents"].as_f64().unwrap();
        if m > 0.0 {
            quiet += m;
            flagged += f["false_flag_rate"].as_f64().unwrap() * m;
        }
    }
    assert!(incidents >= 700.0 && quiet >= 350.0, "{incidents} {quiet}");
    let recall = caught / incidents;
    let false_flags = flagged / quiet;
    assert!(
        recall >= 0.88,
        "recall {recall:.3} over {incidents} reports"
    );
    assert!(weakest.0 >= 0.7, "{weakest:?}");
    assert!(
        false_flags <= 0.09,
        "false flags {false_flags:.3} over {quiet}"
    );
}

#[test]
fn seg_eval_scores_segmentation_against_gold_words() {
    let dir = tempfile::tempdir().unwrap();
    let gold = [
        r#"{"text":"滁河水污染严重","segmented":"滁河 水污染 严重"}"#,
        r#"{"text":"今天天气很好","segmented":"今天 天气 很 好"}"#,
        r#"{"text":"没有金标","segmented":"没有金标"}"#,
        r#"not json"#,
    ];
    let file = write(dir.path(), "gold.jsonl", gold.join("\n").as_bytes());
    let o = run(&["seg-eval", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("(2 sentences, 2 skipped"), "{out}");
    // With the keywords, 滁河水污染 splits like the gold; jieba alone does not.
    let f1 = |name: &str| -> f64 {
        let line = out.lines().find(|l| l.starts_with(name)).unwrap();
        line.split_whitespace().last().unwrap().parse().unwrap()
    };
    assert!(
        f1("jieba + yuqing keywords") > f1("jieba, default dictionary"),
        "{out}"
    );
}

#[test]
fn replay_says_promptly_that_the_brokers_cannot_be_reached_and_gives_up() {
    let dir = tempfile::tempdir().unwrap();
    let posts = write(
        dir.path(),
        "posts.jsonl",
        br#"{"id":"a","text":"x","ts":1}
"#,
    );
    // Nothing listens on port 1.
    let started = std::time::Instant::now();
    let mut child = yuqing()
        .args([
            "replay",
            posts.to_str().unwrap(),
            "--brokers",
            "127.0.0.1:1",
            "--connect-timeout",
            "8",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("yuqing runs");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)) {
            let Ok(line) = line else { break };
            let _ = tx.send((started.elapsed(), line));
        }
    });
    let (at, first) = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("a message on stderr");
    assert!(
        at < std::time::Duration::from_secs(5),
        "said after {at:?}: {first}"
    );
    assert!(first.contains("127.0.0.1:1 cannot be reached"), "{first}");
    let status = child.wait().unwrap();
    let took = started.elapsed();
    // Everything it said to the end (the reader stops at end of file).
    let rest: Vec<String> = rx.iter().map(|(_, l)| l).collect();
    assert_eq!(status.code(), Some(1), "{rest:?}");
    assert!(
        took >= std::time::Duration::from_secs(7) && took < std::time::Duration::from_secs(20),
        "gave up after {took:?}"
    );
    assert!(
        rest.iter()
            .any(|l| l.contains("cannot reach the Kafka brokers at 127.0.0.1:1 (no answer in 8 s")),
        "{rest:?}"
    );
}

/// Lines every reading command must reject alike, and how.
const BAD_LINES: [(&str, &str); 5] = [
    ("nonsense", "malformed JSON at column"),
    ("tru", "malformed JSON at column"),
    ("[1,2]", "expected a JSON object, found an array"),
    (
        r#"{"id":7,"text":"滁州发生爆炸","ts":1719792000}"#,
        "field `id`: invalid type: integer `7`, expected a string",
    ),
    (
        r#"{"id":"x","ts":1719792000}"#,
        "missing required field `text`",
    ),
];

fn bad_lines_file(dir: &Path) -> PathBuf {
    let mut body = format!("\u{feff}{}\n", post("bom-1", "滁州一化工厂发生爆炸"));
    for (line, _) in BAD_LINES {
        body.push_str(line);
        body.push('\n');
    }
    body.push_str(&post("last", "今天天气很好"));
    body.push('\n');
    write(dir, "bad.jsonl", body.as_bytes())
}

fn assert_bad_lines_reported(command: &str, err: &str) {
    assert!(
        !err.contains("line 1:"),
        "{command}: the byte-order mark: {err}"
    );
    for (i, (_, message)) in BAD_LINES.iter().enumerate() {
        let expected = format!("line {}: {message}", i + 2);
        let found = err
            .lines()
            .find(|l| l.starts_with(&format!("line {}: ", i + 2)));
        assert!(
            found.is_some_and(|l| l.starts_with(&expected)),
            "{command}: expected `{expected}…`, got {found:?}\n{err}"
        );
    }
}

#[test]
fn score_index_and_backtest_read_posts_with_one_parser_and_one_wording() {
    let dir = tempfile::tempdir().unwrap();
    let file = bad_lines_file(dir.path());
    let f = file.to_str().unwrap();

    let o = run(&["score", f]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_bad_lines_reported("score", &stderr(&o));
    let ids: Vec<String> = stdout_json(&o)
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["bom-1", "last"]);

    let data = dir.path().join("data");
    let o = run(&["index", f, "--data-dir", data.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_bad_lines_reported("index", &stderr(&o));
    assert!(
        stderr(&o).contains("2 posts indexed, 5 invalid"),
        "{}",
        stderr(&o)
    );

    let o = run(&["backtest", "--quiet", f]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_bad_lines_reported("backtest", &stderr(&o));
    assert!(
        stderr(&o).contains("yuqing backtest: 2 posts"),
        "{}",
        stderr(&o)
    );

    // backtest's own field names are named in its errors.
    let renamed = write(
        dir.path(),
        "renamed.jsonl",
        "{\"content\":\"滁州发生爆炸\",\"created\":\"2024-07-01 08:00:00\"}\n{\"content\":\"t\",\"created\":\"soon\"}\n{\"content\":5,\"created\":1719792000}\n".as_bytes(),
    );
    let o = run(&[
        "backtest",
        "--quiet",
        "--text-field",
        "content",
        "--ts-field",
        "created",
        renamed.to_str().unwrap(),
    ]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("line 2: field `created`: `soon` is not"),
        "{err}"
    );
    assert!(
        err.contains("line 3: field `content`: invalid type: integer `5`, expected a string"),
        "{err}"
    );
    assert!(err.contains("yuqing backtest: 1 posts"), "{err}");
}

fn many_bad_lines(dir: &Path) -> PathBuf {
    let mut body = String::new();
    for i in 0..40 {
        body.push_str(&post(&format!("p{i}"), "今天天气很好"));
        body.push('\n');
        if i < 15 {
            body.push_str("nonsense\n");
        } else if i < 25 {
            body.push_str("{\"id\":\"x\",\"text\":\"t\"}\n");
        }
    }
    write(dir, "many.jsonl", body.as_bytes())
}

#[test]
fn after_ten_bad_lines_they_are_counted_by_reason_and_verbose_shows_each() {
    let dir = tempfile::tempdir().unwrap();
    let file = many_bad_lines(dir.path());
    let f = file.to_str().unwrap();
    let data = dir.path().join("data");
    for (command, args) in [
        ("score", vec!["score", "--quiet", f]),
        (
            "index",
            vec!["index", f, "--data-dir", data.to_str().unwrap()],
        ),
        ("backtest", vec!["backtest", "--quiet", f]),
    ] {
        let o = run(&args);
        let err = stderr(&o);
        assert!(o.status.success(), "{command}: {err}");
        let shown = err.lines().filter(|l| l.starts_with("line ")).count();
        assert_eq!(shown, 10, "{command}: {err}");
        assert!(
            err.contains(&format!(
                "yuqing {command}: 15 more bad lines (10 missing_field, 5 malformed_json)"
            )),
            "{command}: {err}"
        );
        assert!(
            err.contains(&format!(
                "yuqing {command}: 25 bad lines skipped (15 malformed_json, 10 missing_field)"
            )),
            "{command}: {err}"
        );
        let mut verbose = args.clone();
        verbose.push("--verbose");
        let o = run(&verbose);
        let err = stderr(&o);
        let shown = err.lines().filter(|l| l.starts_with("line ")).count();
        assert_eq!(shown, 25, "{command} --verbose: {err}");
        assert!(
            err.contains(&format!(
                "yuqing {command}: 25 bad lines skipped (15 malformed_json, 10 missing_field)"
            )),
            "{command}: {err}"
        );
    }
}

#[test]
fn progress_lines_with_rate_share_and_time_left_when_stderr_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let mut body = String::new();
    for i in 0..6000 {
        body.push_str(&post(
            &format!("p{i}"),
            &"今天和朋友去吃了火锅，好开心".repeat(8),
        ));
        body.push('\n');
        if i % 500 == 0 {
            body.push_str("nonsense\n");
        }
    }
    let file = write(dir.path(), "big.jsonl", body.as_bytes());
    let f = file.to_str().unwrap();
    let data = dir.path().join("data");
    for (command, args) in [
        ("score", vec!["score", "--quiet", "--workers", "1", f]),
        (
            "index",
            vec![
                "index",
                f,
                "--workers",
                "1",
                "--data-dir",
                data.to_str().unwrap(),
            ],
        ),
        ("backtest", vec!["backtest", "--quiet", "--workers", "1", f]),
    ] {
        let o = yuqing()
            .args(&args)
            .env("YUQING_PROGRESS_SECS", "0.001")
            .output()
            .unwrap();
        let err = stderr(&o);
        assert!(o.status.success(), "{command}: {err}");
        assert!(!err.contains('\r'), "{command}: {err}");
        let progress: Vec<&str> = err
            .lines()
            .filter(|l| l.starts_with(&format!("yuqing {command}: ")) && l.contains(" posts/s"))
            .collect();
        assert!(!progress.is_empty(), "{command}: {err}");
        let mb = format!("{:.1} MB", body.len() as f64 / 1e6);
        assert!(
            progress
                .iter()
                .any(|l| l.contains(&format!("% of {mb}, about ")) && l.ends_with(" left")),
            "{command}: {err}"
        );
        // The share is of what has been handled, so it grows.
        let shares: Vec<f64> = progress
            .iter()
            .filter_map(|l| l.split("% of ").next()?.rsplit(", ").next()?.parse().ok())
            .collect();
        assert!(shares.iter().any(|s| *s < 100.0), "{command}: {err}");
        assert!(shares.windows(2).all(|w| w[0] <= w[1]), "{command}: {err}");
        // A bad line is a line of its own, never glued to progress.
        for l in err.lines() {
            if l.contains("line ") && l.contains("malformed JSON") {
                assert!(l.starts_with("line "), "{command}: {l}");
            }
        }
        // Stdin: no size, so a rate without a share.
        let o = yuqing()
            .args(args.iter().filter(|a| **a != f))
            .env("YUQING_PROGRESS_SECS", "0.001")
            .stdin(std::fs::File::open(&file).unwrap())
            .output()
            .unwrap();
        let err = stderr(&o);
        assert!(o.status.success(), "{command}: {err}");
        assert!(err.contains(" posts/s"), "{command}: {err}");
    }
}

#[test]
fn a_missing_index_input_says_its_cause_once_and_leaves_no_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let missing = dir.path().join("missing.jsonl");
    let o = run(&[
        "index",
        missing.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("missing.jsonl"), "{err}");
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
    assert!(!data.exists(), "the data directory was created: {err}");
}

#[test]
fn a_missing_pipeline_source_says_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let toml = write(
        dir.path(),
        "p.toml",
        b"data_dir = \"data\"\n[source]\nkind = \"file\"\npath = \"missing.jsonl\"\n[alerts]\nkind = \"none\"\n[http]\nenabled = false\n",
    );
    let o = run(&["run", toml.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
}

#[test]
fn a_busy_index_is_named_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // A first writer that waits on its stdin holds the index.
    let mut first = yuqing()
        .args(["index", "-", "--data-dir", data.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let lock = data.join("index/.tantivy-writer.lock");
    while !lock.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let file = write(
        dir.path(),
        "one.jsonl",
        format!("{}\n", post("a", "t")).as_bytes(),
    );
    let o = run(&[
        "index",
        file.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    drop(first.stdin.take());
    let _ = first.wait();
    assert!(err.contains("another yuqing"), "{err}");
    assert_eq!(err.matches("LockBusy").count(), 1, "{err}");
}

#[test]
fn bad_option_values_exit_2_like_clap_and_failures_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "one.jsonl",
        format!("{}\n", post("a", "滁州发生爆炸")).as_bytes(),
    );
    let f = file.to_str().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let o = run(&["index", f, "--data-dir", d]);
    assert!(o.status.success(), "{}", stderr(&o));
    for args in [
        vec!["score", "--workers", "many", f],
        vec!["score", "--default-ts", "soon", f],
        vec!["index", f, "--data-dir", d, "--default-ts", "soon"],
        vec!["index", f, "--data-dir", d, "--set", "nonsense=1"],
        vec!["backtest", "--timezone", "8", f],
        vec!["backtest", "--set", "thresholds.min_cout=3", f],
        vec!["gen", "--hours", "0"],
        vec!["gen", "--burst", "fire"],
        vec!["replay", "--brokers", "127.0.0.1:1", "--rate", "0", f],
        vec!["replay", "--brokers", "127.0.0.1:1", "--option", "nokey", f],
        vec!["search", "--data-dir", d, "--level", "purple", "爆炸"],
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("error"), "{args:?}: {}", stderr(&o));
    }
    for args in [
        vec!["score", "missing.jsonl"],
        vec!["backtest", "missing.jsonl"],
        vec!["search", "--data-dir", "no-such-dir", "爆炸"],
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn dict_list_columns_line_up_after_chinese_names() {
    let o = run(&["dict", "list"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    let rows: Vec<&str> = out.lines().take_while(|l| !l.starts_with("ok:")).collect();
    assert!(rows.len() > 5, "{out}");
    // Each column starts at the same terminal column (a Chinese character
    // takes two) on every row: the first three, and the line's end.
    let starts = |row: &str| -> Vec<usize> {
        let mut out = Vec::new();
        let mut prev_space = true;
        for (i, c) in row.char_indices() {
            if c != ' ' && prev_space {
                out.push(unicode_width::UnicodeWidthStr::width(&row[..i]));
            }
            prev_space = c == ' ';
        }
        out
    };
    let first = starts(rows[0]);
    let end = unicode_width::UnicodeWidthStr::width(rows[0]);
    for row in &rows {
        assert_eq!(starts(row)[..3], first[..3], "{row:?}\n{out}");
        assert_eq!(
            unicode_width::UnicodeWidthStr::width(*row),
            end,
            "{row:?}\n{out}"
        );
    }
}

#[test]
fn an_index_of_one_post_holds_one_post() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "one.jsonl",
        format!("{}\n", post("a", "滁州发生爆炸")).as_bytes(),
    );
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let o = run(&["index", file.to_str().unwrap(), "--data-dir", d]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("the index in {d} holds 1 post in 1 segment\n")),
        "{}",
        stderr(&o)
    );
}
