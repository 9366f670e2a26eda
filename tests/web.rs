//! The analyst's web page in a real headless Chromium (driven through
//! chromedriver) against a running `yuqing run pipelines/demo.toml`: a query
//! shows highlighted hits, the chart narrows the time range, an alert opens
//! with its posts, the page fits a phone, and with tokens configured it asks
//! for one. Screenshots go to `ci-artifacts/screenshots/`.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, MouseActions, PointerAction};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use support::Run;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn find(binary: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(binary))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "`{binary}` is needed (Debian packages `chromium` and `chromium-driver`; scripts/test.sh installs them)"
            )
        })
}

/// chromedriver on a free port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start() -> Driver {
        let port = support::free_port();
        let child = Command::new(find("chromedriver"))
            .arg(format!("--port={port}"))
            // A browser far from Beijing: the page shows the display zone
            // all the same.
            .env("TZ", "America/New_York")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        support::wait_for(Duration::from_secs(30), "chromedriver to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        Driver { child, url }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": find("chromium").to_str().unwrap(),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,900", "--lang=zh-CN"],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

async fn wait_until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn count(c: &Client, css: &str) -> usize {
    c.find_all(Locator::Css(css)).await.map_or(0, |v| v.len())
}

async fn text(c: &Client, css: &str) -> String {
    match c.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

async fn screenshot(c: &Client, name: &str) {
    let dir = root().join("ci-artifacts/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = c.screenshot().await.expect("a screenshot");
    std::fs::write(dir.join(name), png).unwrap();
}

fn demo_run(dir: &Path, env: &[(&str, &str)]) -> Run {
    let data = dir.join("data");
    let mut all = vec![
        ("YUQING_DATA_DIR", data.to_str().unwrap()),
        ("YUQING_HTTP_ADDR", "127.0.0.1:0"),
    ];
    all.extend_from_slice(env);
    Run::start_env(&root().join("pipelines/demo.toml"), "warn", &all)
}

/// Waits until the whole demo stream is indexed, so that the page's first
/// search counts every post however busy the machine is.
fn demo_indexed(run: &Run) {
    support::wait_for(Duration::from_secs(120), "the demo stream indexed", || {
        run.total() == 1560
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_chart_and_alerts_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let run = demo_run(dir.path(), &[]);
    demo_indexed(&run);
    let driver = Driver::start();
    let c = browser(&driver).await;
    c.goto(&format!("{}/", run.api)).await.unwrap();
    assert_eq!(c.title().await.unwrap(), "舆情 · yuqing");

    // The page loads the newest posts and the alert of the demo stream.
    wait_until("the first results", || async {
        count(&c, "#results li.hit").await == 20
    })
    .await;
    wait_until("the alert", || async {
        count(&c, "#alerts .alert-item").await == 1
    })
    .await;
    assert!(
        text(&c, "#summary").await.contains("1560"),
        "{}",
        text(&c, "#summary").await
    );

    // Type a query: highlighted hits.
    let q = c.find(Locator::Id("q")).await.unwrap();
    q.send_keys("爆炸 滁州").await.unwrap();
    q.send_keys("\u{E007}").await.unwrap(); // Enter submits the form
    wait_until("the query's hits", || async {
        let s = text(&c, "#summary").await;
        s.contains("共") && !s.contains("1560")
    })
    .await;
    let marks = c
        .find_all(Locator::Css("#results .hit-text em"))
        .await
        .unwrap();
    assert!(!marks.is_empty(), "matches are highlighted");
    for m in marks.iter().take(10) {
        let t = m.text().await.unwrap();
        assert!(t == "爆炸" || t == "滁州", "highlighted: {t}");
    }
    let chips = text(&c, "#results li.hit .chip").await;
    assert_eq!(chips, "爆炸", "category chips in Chinese");
    let regions = text(&c, "#results li.hit .regions").await;
    assert!(regions.contains("滁州市"), "{regions}");
    // Times are in Beijing time, and the page says so.
    let time = c.find(Locator::Css("#results li.hit time")).await.unwrap();
    let utc = time.attr("datetime").await.unwrap().unwrap();
    let beijing = yuqing_model::Timestamp::parse_rfc3339(&utc)
        .unwrap()
        .to_rfc3339_at(8 * 3600);
    assert_eq!(
        time.text().await.unwrap(),
        beijing[..16].replace('T', " "),
        "{utc}"
    );
    assert_eq!(text(&c, "#zone").await, "北京时间 (UTC+08:00)");
    screenshot(&c, "search.png").await;

    // Pagination.
    let page = text(&c, "#page").await;
    c.find(Locator::Id("next"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until("page 2", || async { text(&c, "#page").await != page }).await;
    assert!(text(&c, "#page").await.starts_with("第 2"));

    // Drag across the chart: the time range narrows.
    wait_until("the chart", || async {
        count(&c, "#chart rect.bar").await > 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let svg = c.find(Locator::Css("#chart svg")).await.unwrap();
    let (_, _, w, _) = svg.rectangle().await.unwrap();
    let before = text(&c, "#summary").await;
    // Offsets from the chart's centre: from 30% to 60% of its width.
    let drag = MouseActions::new("mouse".to_string())
        .then(PointerAction::MoveToElement {
            element: svg.clone(),
            duration: None,
            x: -0.2 * w,
            y: 0.0,
        })
        .then(PointerAction::Down {
            button: fantoccini::actions::MOUSE_BUTTON_LEFT,
        })
        .then(PointerAction::MoveToElement {
            element: svg.clone(),
            duration: Some(Duration::from_millis(200)),
            x: 0.1 * w,
            y: 0.0,
        })
        .then(PointerAction::Up {
            button: fantoccini::actions::MOUSE_BUTTON_LEFT,
        });
    c.perform_actions(drag).await.unwrap();
    wait_until("the range to narrow", || async {
        let custom = c
            .find(Locator::Css("[data-range=custom]"))
            .await
            .unwrap()
            .attr("aria-pressed")
            .await
            .unwrap();
        custom.as_deref() == Some("true") && text(&c, "#summary").await != before
    })
    .await;
    let from = c
        .find(Locator::Id("from"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert!(
        from.is_some_and(|v| v.starts_with("2024-07-01")),
        "the custom range is filled in"
    );

    // Open the alert: its facts, its posts, its histogram.
    let alert = c.find(Locator::Css("#alerts .alert-item")).await.unwrap();
    assert_eq!(
        alert.tag_name().await.unwrap(),
        "button",
        "alerts are keyboard-reachable buttons"
    );
    assert!(
        alert
            .attr("class")
            .await
            .unwrap()
            .unwrap()
            .contains("level-yellow")
    );
    assert!(alert.text().await.unwrap().contains("爆炸 · 滁州市"));
    alert.click().await.unwrap();
    wait_until("the alert's posts", || async {
        count(&c, "#alert-posts li.hit").await >= 10
    })
    .await;
    assert!(text(&c, "#alert-dialog-title").await.contains("滁州市"));
    let facts = text(&c, "#alert-facts").await;
    assert!(
        facts.contains("涉及地区") && facts.contains("安徽省"),
        "{facts}"
    );
    // What opened it: the burst, and within which window.
    assert!(facts.contains("1 分钟内报道激增"), "{facts}");
    let first_post = text(&c, "#alert-posts li.hit .hit-text").await;
    assert!(first_post.contains("滁州"), "{first_post}");
    wait_until("the alert's histogram", || async {
        count(&c, "#alert-chart rect.bar.hot").await > 0
    })
    .await;
    screenshot(&c, "alert.png").await;
    c.find(Locator::Css("#alert-dialog .dialog-head button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    // English.
    c.find(Locator::Id("lang"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until("English", || async {
        text(&c, "#results-title").await == "Results"
    })
    .await;
    assert_eq!(
        c.find(Locator::Css("html"))
            .await
            .unwrap()
            .attr("lang")
            .await
            .unwrap()
            .as_deref(),
        Some("en")
    );

    // A phone: nothing wider than the screen.
    c.set_window_size(390, 844).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let overflow = c
        .execute("return document.documentElement.scrollWidth", vec![])
        .await
        .unwrap();
    let width = c.execute("return window.innerWidth", vec![]).await.unwrap();
    assert!(
        overflow.as_i64().unwrap() <= width.as_i64().unwrap(),
        "no horizontal scrolling at phone width: {overflow} > {width}"
    );
    screenshot(&c, "phone.png").await;
    c.close().await.unwrap();
    drop(run);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tokens_the_page_asks_for_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_yuqing"))
        .args(["token", "new", "--name", "duty", "--role", "analyst"])
        .output()
        .unwrap();
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let entry = &stderr[stderr.find("[[http.tokens]]").unwrap()..];
    let demo = std::fs::read_to_string(root().join("pipelines/demo.toml")).unwrap();
    let config = dir.path().join("demo.toml");
    std::fs::write(
        &config,
        format!(
            "{}\n{entry}",
            demo.replace("../examples/", &format!("{}/examples/", root().display()))
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let run = Run::start_env(
        &config,
        "warn",
        &[
            ("YUQING_DATA_DIR", data.to_str().unwrap()),
            ("YUQING_HTTP_ADDR", "127.0.0.1:0"),
        ],
    );
    let driver = Driver::start();
    let c = browser(&driver).await;
    c.goto(&format!("{}/", run.api)).await.unwrap();
    wait_until("the token prompt", || async {
        c.find(Locator::Id("token-dialog"))
            .await
            .unwrap()
            .attr("open")
            .await
            .unwrap()
            .is_some()
    })
    .await;
    screenshot(&c, "token.png").await;
    let input = c.find(Locator::Id("token")).await.unwrap();
    input.send_keys(&token).await.unwrap();
    input.send_keys("\u{E007}").await.unwrap();
    wait_until("results with the token", || async {
        count(&c, "#results li.hit").await == 20
    })
    .await;
    let kept = c
        .execute("return sessionStorage.getItem('yuqing.token')", vec![])
        .await
        .unwrap();
    assert_eq!(
        kept.as_str(),
        Some(token.as_str()),
        "kept in session storage"
    );
    assert!(count(&c, "#alerts .alert-item").await <= 1);
    c.close().await.unwrap();
    drop(run);
}

fn total_of(summary: &str) -> u64 {
    summary
        .chars()
        .filter(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("no total in `{summary}`"))
}

async fn element_screenshot(c: &Client, css: &str, name: &str) {
    let dir = root().join("ci-artifacts/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    c.execute(
        "document.querySelector(arguments[0]).scrollIntoView({block: 'start'})",
        vec![json!(css)],
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let e = c.find(Locator::Css(css)).await.unwrap();
    let png = e.screenshot().await.expect("a screenshot");
    std::fs::write(dir.join(name), png).unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("`{css}` is on the page"))
        .click()
        .await
        .unwrap();
}

/// Clicks the first element matching `css` and returns its `attr`,
/// trying again while the page redraws it.
async fn click_first(c: &Client, css: &str, attr: &str) -> String {
    let start = Instant::now();
    loop {
        if let Ok(e) = c.find(Locator::Css(css)).await
            && let Ok(Some(v)) = e.attr(attr).await
            && e.click().await.is_ok()
        {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "could not click `{css}`"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn url_param(c: &Client, key: &str) -> Option<String> {
    let url = c.current_url().await.unwrap();
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

async fn value(c: &Client, id: &str) -> String {
    c.find(Locator::Id(id))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breakdowns_filters_shared_links_and_export_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let run = demo_run(dir.path(), &[]);
    demo_indexed(&run);
    let driver = Driver::start();
    let c = browser(&driver).await;
    c.goto(&format!("{}/", run.api)).await.unwrap();
    wait_until("the whole stream", || async {
        text(&c, "#summary").await.contains("1560")
    })
    .await;
    wait_until("the breakdowns", || async {
        count(&c, "#facet-categories .facet-item").await > 0
            && count(&c, "#map .tile:not(.none)").await > 0
            && count(&c, "#trends figure.trend").await > 0
            && count(&c, "#trends rect.bar").await > 0
    })
    .await;
    let all = total_of(&text(&c, "#summary").await);
    assert_eq!(count(&c, "#map .tile").await, 34, "one square per province");
    assert!(count(&c, "#facet-platforms .facet-item").await > 0);
    screenshot(&c, "breakdowns.png").await;
    element_screenshot(&c, "#facets", "facets.png").await;
    element_screenshot(&c, "#map", "province-map.png").await;
    element_screenshot(&c, "#trends", "category-trends.png").await;

    // A facet click filters: the select, the URL and every hit follow.
    let category = click_first(&c, "#facet-categories .facet-item", "data-value").await;
    wait_until("the category filter", || async {
        let s = text(&c, "#summary").await;
        s.contains('共') && total_of(&s) < all
    })
    .await;
    assert_eq!(value(&c, "category").await, category);
    assert_eq!(
        url_param(&c, "category").await.as_deref(),
        Some(category.as_str())
    );
    let by_category = total_of(&text(&c, "#summary").await);

    // A province click filters by it.
    let tile = c.find(Locator::Css("#map .tile:not(.none)")).await.unwrap();
    let province = tile.attr("data-region").await.unwrap().unwrap();
    tile.click().await.unwrap();
    wait_until("the province filter", || async {
        url_param(&c, "region").await.as_deref() == Some(province.as_str())
            && text(&c, "#summary").await.contains('共')
            && total_of(&text(&c, "#summary").await) <= by_category
            && count(&c, "#results li.hit").await > 0
    })
    .await;
    assert_eq!(value(&c, "region").await, province);
    let regions = text(&c, "#results li.hit .regions").await;
    assert!(regions.contains(&province), "{regions}");

    // Sort and platform are in the URL too.
    c.find(Locator::Id("sort"))
        .await
        .unwrap()
        .select_by_value("score")
        .await
        .unwrap();
    wait_until("the sort", || async {
        url_param(&c, "sort").await.as_deref() == Some("score")
    })
    .await;
    let platform_value = click_first(&c, "#facet-platforms .facet-item", "data-value").await;
    wait_until("the platform filter", || async {
        url_param(&c, "platform").await.as_deref() == Some(platform_value.as_str())
    })
    .await;
    wait_until("the filtered hits", || async {
        count(&c, "#results li.hit").await > 0 && text(&c, "#summary").await.contains('共')
    })
    .await;
    let total = total_of(&text(&c, "#summary").await);

    // The export link downloads exactly the rows of this search.
    let href = c
        .find(Locator::Id("export"))
        .await
        .unwrap()
        .prop("href")
        .await
        .unwrap()
        .unwrap();
    let csv = ureq::get(&href)
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(csv.starts_with('\u{feff}'));
    assert_eq!(csv.lines().count() as u64, total + 1, "{href}");

    // Back goes to the view before the platform filter, forward returns.
    c.back().await.unwrap();
    wait_until("the previous view", || async {
        url_param(&c, "platform").await.is_none() && value(&c, "platform").await.is_empty()
    })
    .await;
    assert_eq!(value(&c, "region").await, province);
    assert_eq!(value(&c, "sort").await, "score");
    c.forward().await.unwrap();
    wait_until("the next view", || async {
        value(&c, "platform").await == platform_value
            && text(&c, "#summary").await.contains('共')
            && total_of(&text(&c, "#summary").await) == total
    })
    .await;

    // A shared link restores the view.
    let shared = c.current_url().await.unwrap();
    c.goto("about:blank").await.unwrap();
    c.goto(shared.as_str()).await.unwrap();
    wait_until("the shared view", || async {
        let s = text(&c, "#summary").await;
        s.contains('共') && total_of(&s) == total
    })
    .await;
    assert_eq!(value(&c, "category").await, category);
    assert_eq!(value(&c, "region").await, province);
    assert_eq!(value(&c, "sort").await, "score");
    assert_eq!(value(&c, "platform").await, platform_value);

    // A result opens its detail.
    wait_until("hits", || async { count(&c, "#results li.hit").await > 0 }).await;
    click(&c, "#results li.hit button.details").await;
    wait_until("the post detail", || async {
        text(&c, "#post-facts").await.contains("作者")
    })
    .await;
    screenshot(&c, "post-detail.png").await;
    click(&c, "#post-dialog .dialog-head button").await;

    // A failed query clears what the last one showed.
    let q = c.find(Locator::Id("q")).await.unwrap();
    q.clear().await.unwrap();
    q.send_keys("(爆炸").await.unwrap();
    q.send_keys("\u{E007}").await.unwrap();
    wait_until("the error", || async {
        !text(&c, "#error").await.is_empty()
    })
    .await;
    assert_eq!(count(&c, "#results li.hit").await, 0);
    assert_eq!(count(&c, "#chart rect.bar").await, 0);
    assert_eq!(count(&c, "#map .tile").await, 0);
    assert_eq!(text(&c, "#summary").await, "");

    c.close().await.unwrap();
    drop(run);
}

async fn attr(c: &Client, css: &str, name: &str) -> String {
    match c.find(Locator::Css(css)).await {
        Ok(e) => e.attr(name).await.ok().flatten().unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Opens `/?alert=ID` and waits for the dialog's acknowledgement state.
async fn open_linked_alert(c: &Client, api: &str, id: &str) {
    c.goto(&format!("{api}/?alert={id}")).await.unwrap();
    wait_until("the linked alert's dialog", || async {
        !text(c, "#ack-state").await.is_empty()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_is_acknowledged_from_its_dialog_and_stays_so_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let run = demo_run(dir.path(), &[]);
    let mut id = String::new();
    support::wait_for(Duration::from_secs(60), "the demo alert", || {
        let (_, body) = run.get("/api/v1/alerts");
        match body["alerts"][0]["alert_id"].as_str() {
            Some(a) => {
                id = a.to_string();
                true
            }
            None => false,
        }
    });
    let driver = Driver::start();
    let c = browser(&driver).await;
    open_linked_alert(&c, &run.api, &id).await;
    assert_eq!(text(&c, "#ack-state").await, "未处置");
    assert_eq!(attr(&c, "#ack-state", "data-verdict").await, "");
    wait_until("the alert in the list", || async {
        attr(&c, "#alerts .alert-item .alert-ack", "data-verdict")
            .await
            .is_empty()
            && text(&c, "#alerts .alert-item .alert-ack").await == "未处置"
    })
    .await;

    // Without a name the server refuses, and the dialog says why.
    c.find(Locator::Id("ack-by"))
        .await
        .unwrap()
        .clear()
        .await
        .unwrap();
    click(&c, "#ack-submit").await;
    wait_until("the error", || async {
        text(&c, "#ack-error").await.contains("`by`")
    })
    .await;
    assert_eq!(attr(&c, "#ack-state", "data-verdict").await, "");

    // A false alarm, then confirmed: the latest is shown, the earlier one
    // in the history, and the list follows.
    c.find(Locator::Id("ack-by"))
        .await
        .unwrap()
        .send_keys("王芳")
        .await
        .unwrap();
    c.find(Locator::Id("ack-verdict"))
        .await
        .unwrap()
        .select_by_value("false_alarm")
        .await
        .unwrap();
    c.find(Locator::Id("ack-note"))
        .await
        .unwrap()
        .send_keys("演练，非真实事件")
        .await
        .unwrap();
    click(&c, "#ack-submit").await;
    wait_until("the acknowledgement", || async {
        attr(&c, "#ack-state", "data-verdict").await == "false_alarm"
            && text(&c, "#ack-result").await.contains("已记录")
    })
    .await;
    assert!(text(&c, "#ack-error").await.is_empty(), "the error is gone");
    let shown = text(&c, "#ack-state").await;
    assert!(
        shown.contains("误报") && shown.contains("王芳") && shown.contains("演练"),
        "{shown}"
    );
    c.find(Locator::Id("ack-verdict"))
        .await
        .unwrap()
        .select_by_value("confirmed")
        .await
        .unwrap();
    click(&c, "#ack-submit").await;
    wait_until("the second acknowledgement", || async {
        attr(&c, "#ack-state", "data-verdict").await == "confirmed"
            && count(&c, "#ack-history li").await == 1
    })
    .await;
    assert!(text(&c, "#ack-history li").await.contains("误报"));
    assert_eq!(
        value(&c, "ack-by").await,
        "王芳",
        "the name stays for the next one"
    );
    screenshot(&c, "alert-ack.png").await;
    click(&c, "#alert-dialog .dialog-head button").await;
    wait_until("the list's state", || async {
        attr(&c, "#alerts .alert-item .alert-ack", "data-verdict").await == "confirmed"
    })
    .await;
    assert!(
        text(&c, "#alerts .alert-item .alert-ack")
            .await
            .contains("属实 · 王芳")
    );
    let (_, body) = run.get(&format!("/api/v1/alerts/{id}"));
    assert_eq!(body["acks"].as_array().unwrap().len(), 2, "{body}");
    assert_eq!(body["alert"]["ack"]["verdict"], "confirmed");
    let status = run.terminate();
    assert!(status.success(), "{status}");

    // Restarted on the same data directory: the page shows it still.
    let run = demo_run(dir.path(), &[]);
    open_linked_alert(&c, &run.api, &id).await;
    assert_eq!(attr(&c, "#ack-state", "data-verdict").await, "confirmed");
    assert!(text(&c, "#ack-state").await.contains("王芳"));
    assert_eq!(count(&c, "#ack-history li").await, 1);
    click(&c, "#alert-dialog .dialog-head button").await;
    wait_until("the list's state after the restart", || async {
        attr(&c, "#alerts .alert-item .alert-ack", "data-verdict").await == "confirmed"
    })
    .await;
    c.close().await.unwrap();
    drop(run);
}
