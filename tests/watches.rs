//! Keyword watches end to end: a watch on a phrase fires on the demo
//! stream through `yuqing run` (and its matches are the posts the search
//! finds for the same query); `/api/v1/watches` with the admin token,
//! changes that take effect in the running pipeline and survive a restart;
//! configured watches that the API cannot delete; a configuration error.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use support::{Run, wait_for};

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-stream.jsonl")
}

fn json_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// A request with a JSON body (or none) and a bearer token: status and
/// body.
fn call(method: &str, url: &str, token: Option<&str>, body: Option<&Value>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let auth = token.map(|t| format!("Bearer {t}"));
    let result = match method {
        "POST" => {
            let mut r = agent.post(url);
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.send_json(body.cloned().unwrap_or(Value::Null))
        }
        "DELETE" => {
            let mut r = agent.delete(url);
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.call()
        }
        _ => {
            let mut r = agent.get(url);
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.call()
        }
    };
    match result {
        Ok(mut res) => {
            let status = res.status().as_u16();
            (status, res.body_mut().read_json().unwrap_or(Value::Null))
        }
        Err(e) => panic!("{method} {url}: {e}"),
    }
}

fn search_ids(run: &Run, q: &str, extra: &str) -> Vec<String> {
    let url = format!(
        "/api/v1/search?{}&limit=200{extra}",
        form_urlencoded::Serializer::new(String::new())
            .append_pair("q", q)
            .finish()
    );
    let (status, v) = run.get(&url);
    assert_eq!(status, 200, "{v}");
    let mut ids: Vec<String> = v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[test]
fn a_watch_on_a_phrase_fires_on_the_demo_stream() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pipeline.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"data\"\n[source]\nkind = \"file\"\npath = \"{}\"\n\
             [alerts]\nkind = \"file\"\npath = \"alerts.out.jsonl\"\n\
             [http]\naddr = \"127.0.0.1:0\"\n\
             [[watches]]\nname = \"燃气爆炸\"\nquery = '\"小区燃气爆炸\" -化工厂'\n\
             [[watches]]\nname = \"chem-plant\"\nquery = '\"化工厂发生爆炸\"'\nregion = \"滁州\"\n\
             rule = \"min_count\"\nmin_count = 5\nwindow_mins = 30\n",
            demo().display()
        ),
    )
    .unwrap();
    let run = Run::start(&config);
    let out = dir.path().join("alerts.out.jsonl");
    wait_for(Duration::from_secs(120), "the stream indexed", || {
        run.total() == 1560
    });
    wait_for(Duration::from_secs(30), "watch alerts", || {
        json_lines(&out).iter().any(|a| a["trigger"] == "watch")
    });
    let alerts = json_lines(&out);
    let watch = |name: &str| -> Vec<&Value> {
        alerts
            .iter()
            .filter(|a| a["trigger"] == "watch" && a["watch"] == name)
            .collect()
    };

    // `every`: one open message per matching post, and the posts are the
    // ones the search finds for the same query.
    let gas = watch("燃气爆炸");
    assert!(gas.len() >= 5, "{gas:?}");
    assert!(gas.iter().all(|a| a["state"] == "open" && a["count"] == 1));
    let mut fired: Vec<String> = gas
        .iter()
        .map(|a| a["first_post_id"].as_str().unwrap().to_string())
        .collect();
    fired.sort();
    fired.dedup();
    assert_eq!(fired.len(), gas.len(), "one message per post");
    assert_eq!(fired, search_ids(&run, "\"小区燃气爆炸\" -化工厂", ""));
    assert!(gas[0]["alert_id"].as_str().unwrap().starts_with("al-"));

    // `min_count`: opens once at five independent reports, then updates.
    let chem = watch("chem-plant");
    let opens: Vec<&&Value> = chem.iter().filter(|a| a["state"] == "open").collect();
    assert_eq!(opens.len(), 1, "{chem:?}");
    assert_eq!(opens[0]["count"], 5);
    assert_eq!(opens[0]["region"], "滁州市");
    assert_eq!(opens[0]["window_secs"], 1800);
    assert!(chem.iter().all(|a| a["alert_id"] == opens[0]["alert_id"]));
    assert!(chem.iter().any(|a| a["state"] == "update"));
    // The search for the same query and region finds at least as many
    // reports as the alert counted (authors may repeat).
    let found = search_ids(&run, "\"化工厂发生爆炸\"", "&region=滁州");
    let last = chem.last().unwrap()["count"].as_u64().unwrap();
    assert!(found.len() as u64 >= last, "{} < {last}", found.len());

    // Every watch message has the fields the shipped JSON Schema requires,
    // only fields it lists, and a trigger it allows.
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/alert.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    for a in gas.iter().chain(chem.iter()) {
        for r in schema["required"].as_array().unwrap() {
            assert!(a.get(r.as_str().unwrap()).is_some(), "`{r}` missing: {a}");
        }
        for k in a.as_object().unwrap().keys() {
            assert!(
                schema["properties"].get(k).is_some(),
                "`{k}` not in the schema"
            );
        }
        assert!(
            schema["properties"]["trigger"]["enum"]
                .as_array()
                .unwrap()
                .contains(&a["trigger"])
        );
    }

    // The API shows them with the rest, the trigger and the name; a watch
    // alert's posts are the watch's matches in its window.
    let id = opens[0]["alert_id"].as_str().unwrap();
    let (status, detail) = run.get(&format!("/api/v1/alerts/{id}"));
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["alert"]["watch"], "chem-plant");
    let posts = detail["posts"]["total"].as_u64().unwrap();
    assert!(posts >= 5, "{detail}");
    for hit in detail["posts"]["hits"].as_array().unwrap() {
        assert!(
            hit["regions"]
                .as_array()
                .unwrap()
                .contains(&json!("滁州市")),
            "{hit}"
        );
    }
    let (_, listed) = run.get("/api/v1/alerts?limit=1000");
    assert!(
        listed["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["trigger"] == "watch" && a["watch"] == "chem-plant"),
        "{listed}"
    );
}

fn config_with_tokens(dir: &Path, admin: &str, analyst: &str) -> PathBuf {
    let config = dir.join("pipeline.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"data\"\n[source]\nkind = \"file\"\npath = \"posts.jsonl\"\nfollow = true\n\
             [alerts]\nkind = \"file\"\npath = \"alerts.out.jsonl\"\n\
             [http]\naddr = \"127.0.0.1:0\"\n\
             [[http.tokens]]\nname = \"ops\"\nsha256 = \"{}\"\nrole = \"admin\"\n\
             [[http.tokens]]\nname = \"alice\"\nsha256 = \"{}\"\nrole = \"analyst\"\n\
             [[watches]]\nname = \"configured\"\nquery = \"山体滑坡\"\n",
            yuqing_server::auth::hash_hex(admin),
            yuqing_server::auth::hash_hex(analyst),
        ),
    )
    .unwrap();
    config
}

fn append(path: &Path, lines: &[Value]) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

#[test]
fn watches_made_through_the_api_take_effect_at_once_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (admin, analyst) = ("admin-secret-1", "analyst-secret-1");
    let config = config_with_tokens(dir.path(), admin, analyst);
    let posts = dir.path().join("posts.jsonl");
    let out = dir.path().join("alerts.out.jsonl");
    append(
        &posts,
        &[json!({"id": "p0", "text": "今天天气不错", "ts": 1719792000})],
    );
    let run = Run::start(&config);
    let url = format!("{}/api/v1/watches", run.api);
    let body = json!({"name": "leak", "query": "\"化工厂 泄漏\"", "category": "pollution"});

    // The admin token, and only it.
    assert_eq!(call("GET", &url, None, None).0, 401);
    let (status, v) = call("POST", &url, Some(analyst), Some(&body));
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let (status, v) = call("GET", &url, Some(admin), None);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["total"], 1);
    assert_eq!(v["watches"][0]["name"], "configured");
    assert_eq!(v["watches"][0]["origin"], "config");
    assert_eq!(v["watches"][0]["rule"], "every");

    // Bad watches: 400 naming the watch and the problem.
    let (status, v) = call(
        "POST",
        &url,
        Some(admin),
        Some(&json!({"name": "pref", "query": "\"化工 厂\"*"})),
    );
    assert_eq!(status, 400, "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("watch `pref`: `query`:"), "{message}");
    assert!(message.contains("prefix"), "{message}");
    let (status, v) = call(
        "POST",
        &url,
        Some(admin),
        Some(&json!({"name": "x", "query": "a", "window": 3})),
    );
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `window`"),
        "{v}"
    );

    // Made, listed, and in effect for the next post without a restart.
    let (status, v) = call("POST", &url, Some(admin), Some(&body));
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["watch"]["name"], "leak");
    assert_eq!(call("POST", &url, Some(admin), Some(&body)).0, 409);
    append(
        &posts,
        &[
            json!({"id": "p1", "text": "滁州一化工厂泄漏，河水发黑，污染严重", "ts": 1719792060, "author": "a"}),
            json!({"id": "p2", "text": "泄漏的化工厂已经停产", "ts": 1719792070, "author": "b"}),
        ],
    );
    wait_for(Duration::from_secs(60), "the watch alert", || {
        json_lines(&out).iter().any(|a| a["watch"] == "leak")
    });
    let fired: Vec<Value> = json_lines(&out)
        .into_iter()
        .filter(|a| a["watch"] == "leak")
        .collect();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0]["first_post_id"], "p1");
    assert_eq!(fired[0]["category"], "pollution");

    // The configured watch cannot be deleted through the API.
    let (status, v) = call("DELETE", &format!("{url}/configured"), Some(admin), None);
    assert_eq!(status, 409, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("comes from the configuration"),
        "{v}"
    );
    assert_eq!(
        call("DELETE", &format!("{url}/nope"), Some(admin), None).0,
        404
    );
    assert_eq!(
        call("DELETE", &format!("{url}/leak"), Some(analyst), None).0,
        403
    );
    drop(run);

    // After a restart the watch is still there, and still fires.
    let run = Run::start(&config);
    let url = format!("{}/api/v1/watches", run.api);
    let (_, v) = call("GET", &url, Some(admin), None);
    let names: Vec<(&str, &str)> = v["watches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["name"].as_str().unwrap(), w["origin"].as_str().unwrap()))
        .collect();
    assert_eq!(names, vec![("configured", "config"), ("leak", "api")]);
    append(
        &posts,
        &[json!({"id": "p3", "text": "又一家化工厂泄漏，水污染", "ts": 1719792100, "author": "c"})],
    );
    wait_for(
        Duration::from_secs(60),
        "the watch alert after a restart",
        || json_lines(&out).iter().any(|a| a["first_post_id"] == "p3"),
    );

    // Deleted: gone from the list, from the file, and from the pipeline.
    let (status, v) = call("DELETE", &format!("{url}/leak"), Some(admin), None);
    assert_eq!((status, v["deleted"].as_str()), (200, Some("leak")));
    let (_, v) = call("GET", &url, Some(admin), None);
    assert_eq!(v["total"], 1);
    let file: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("data/watches.json")).unwrap())
            .unwrap();
    assert_eq!(file["watches"], json!([]));
    append(
        &posts,
        &[
            json!({"id": "p4", "text": "化工厂泄漏", "ts": 1719792200, "author": "d"}),
            json!({"id": "p5", "text": "山体滑坡", "ts": 1719792210, "author": "e"}),
        ],
    );
    wait_for(Duration::from_secs(60), "the configured watch", || {
        json_lines(&out).iter().any(|a| a["first_post_id"] == "p5")
    });
    assert!(
        !json_lines(&out)
            .iter()
            .any(|a| a["first_post_id"] == "p4" && a["trigger"] == "watch"),
        "a deleted watch fires no more"
    );
}

#[test]
fn a_configured_watch_that_cannot_be_evaluated_stops_the_start_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pipeline.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"data\"\n[source]\nkind = \"file\"\npath = \"{}\"\n[http]\nenabled = false\n\
             [[watches]]\nname = \"ok\"\nquery = \"爆炸\"\n\
             [[watches]]\nname = \"fields\"\nquery = \"爆炸 AND author:u1\"\n",
            demo().display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_yuqing"))
        .args(["run", config.to_str().unwrap()])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("`watches[1]` (`fields`): `query`: `author:` cannot be evaluated"),
        "{stderr}"
    );
}
