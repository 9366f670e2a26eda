//! The robot bodies, checked against the shapes the platforms document for
//! their group robots: WeCom `{"msgtype":"markdown","markdown":{"content"}}`,
//! DingTalk `{"msgtype":"markdown","markdown":{"title","text"}}`, Feishu
//! `{"msg_type":"text","content":{"text"}}`.

mod common;

use std::collections::BTreeSet;

use common::alert;
use serde_json::Value;
use yuqing_model::Level;
use yuqing_notify::render::body;
use yuqing_notify::{Format, RenderOptions};
use yuqing_spike::AlertState;

fn options() -> RenderOptions {
    RenderOptions {
        public_url: Some("https://yq.example.org/".into()),
        offset_secs: 8 * 3600,
        category_names: [("fire".to_string(), "火灾".to_string())].into(),
    }
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

/// What every summary says.
fn says_the_facts(text: &str) {
    for part in [
        "新预警",
        "火灾",
        "浙江省",
        "橙色",
        "12 条",
        // 10:00:05Z in the display zone, UTC+8.
        "2026-03-02 18:00:05 +08:00",
        "起火、浓烟",
        "https://yq.example.org/?alert=a%2F1",
    ] {
        assert!(text.contains(part), "`{part}` missing from:\n{text}");
    }
}

#[test]
fn wecom_is_a_markdown_message() {
    let a = alert("a/1", AlertState::Open, Level::Orange);
    let v = body(Format::Wecom, &a, &options());
    assert_eq!(keys(&v), BTreeSet::from(["msgtype", "markdown"]));
    assert_eq!(v["msgtype"], "markdown");
    assert_eq!(keys(&v["markdown"]), BTreeSet::from(["content"]));
    let content = v["markdown"]["content"].as_str().unwrap();
    says_the_facts(content);
    assert!(
        content.contains("[查看预警](https://yq.example.org/?alert=a%2F1)"),
        "{content}"
    );
    // WeCom takes at most 4096 bytes of markdown.
    assert!(content.len() < 4096);
}

#[test]
fn dingtalk_is_a_markdown_message_with_a_title() {
    let a = alert("a/1", AlertState::Open, Level::Orange);
    let v = body(Format::Dingtalk, &a, &options());
    assert_eq!(keys(&v), BTreeSet::from(["msgtype", "markdown"]));
    assert_eq!(v["msgtype"], "markdown");
    assert_eq!(keys(&v["markdown"]), BTreeSet::from(["title", "text"]));
    assert_eq!(v["markdown"]["title"], "【新预警】火灾 · 浙江省");
    says_the_facts(v["markdown"]["text"].as_str().unwrap());
}

#[test]
fn feishu_is_a_text_message() {
    let a = alert("a/1", AlertState::Open, Level::Orange);
    let v = body(Format::Feishu, &a, &options());
    assert_eq!(keys(&v), BTreeSet::from(["msg_type", "content"]));
    assert_eq!(v["msg_type"], "text");
    assert_eq!(keys(&v["content"]), BTreeSet::from(["text"]));
    says_the_facts(v["content"]["text"].as_str().unwrap());
}

#[test]
fn json_is_the_message_as_is() {
    let a = alert("a/1", AlertState::Update, Level::Red);
    assert_eq!(
        body(Format::Json, &a, &options()),
        serde_json::to_value(&a).unwrap()
    );
    assert_eq!(
        yuqing_notify::render::body_text(Format::Json, &a, &options()),
        serde_json::to_string(&a).unwrap(),
        "the fields in schema order"
    );
}

#[test]
fn without_a_public_url_there_is_no_link_and_ids_name_unknown_categories() {
    let mut a = alert("a1", AlertState::Resolved, Level::Blue);
    a.category = "flood".into();
    a.region = None;
    let v = body(Format::Feishu, &a, &RenderOptions::default());
    let text = v["content"]["text"].as_str().unwrap();
    assert!(text.starts_with("【预警解除】flood · 全国"), "{text}");
    assert!(!text.contains("http"), "{text}");
    assert!(text.contains("2026-03-02 10:00:05 +00:00"), "{text}");
}
