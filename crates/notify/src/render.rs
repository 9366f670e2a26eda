//! The bodies webhooks receive.
//!
//! `json`: the alert message as is. The group robots get a short Chinese
//! summary: WeCom and DingTalk a markdown message
//! (`{"msgtype":"markdown","markdown":{"content":…}}`,
//! `{"msgtype":"markdown","markdown":{"title":…,"text":…}}`), Feishu a text
//! message (`{"msg_type":"text","content":{"text":…}}`).

use std::collections::BTreeMap;

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use yuqing_model::{Level, Timestamp};
use yuqing_spike::{Alert, AlertState};

use crate::Format;

/// What the summaries need besides the message.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    /// The page's public address (`http.public_url`): the summary links to
    /// the alert there (`{public_url}/?alert={alert_id}`).
    pub public_url: Option<String>,
    /// The display zone, seconds east of UTC (`display.timezone`).
    pub offset_secs: i32,
    /// Category names by id (`fire` → `火灾`); an id without one is shown
    /// as is.
    pub category_names: BTreeMap<String, String>,
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Blue => "蓝色（一般）",
        Level::Yellow => "黄色（较大）",
        Level::Orange => "橙色（重大）",
        Level::Red => "红色（特别重大）",
    }
}

fn state_name(state: AlertState) -> &'static str {
    match state {
        AlertState::Open => "新预警",
        AlertState::Update => "预警升级",
        AlertState::Resolved => "预警解除",
    }
}

/// `2026-03-02 18:00:05 +08:00` in the display zone; the text as is when
/// it is not RFC 3339.
fn display_time(rfc3339: &str, offset_secs: i32) -> String {
    match Timestamp::parse_rfc3339(rfc3339) {
        Ok(t) => {
            let s = t.to_rfc3339_at(offset_secs);
            let (date_time, zone) = s.split_at(s.len() - 6);
            let date_time = date_time.split('.').next().unwrap_or(date_time);
            format!("{} {zone}", date_time.replacen('T', " ", 1))
        }
        Err(_) => rfc3339.to_string(),
    }
}

/// The link to the alert on the page, when the public address is known.
pub fn alert_link(alert: &Alert, options: &RenderOptions) -> Option<String> {
    let base = options.public_url.as_deref()?.trim_end_matches('/');
    let id: String = form_urlencoded::byte_serialize(alert.alert_id.as_bytes()).collect();
    Some(format!("{base}/?alert={id}"))
}

/// The summary's title: `【新预警】火灾 · 浙江省`.
pub fn title(alert: &Alert, options: &RenderOptions) -> String {
    let category = options
        .category_names
        .get(&alert.category)
        .map_or(alert.category.as_str(), String::as_str);
    let region = alert.region.as_deref().unwrap_or("全国");
    format!("【{}】{category} · {region}", state_name(alert.state))
}

/// The summary's lines, label and value.
fn facts(alert: &Alert, options: &RenderOptions) -> Vec<(&'static str, String)> {
    let mut facts = vec![
        ("级别", level_name(alert.level).to_string()),
        (
            "报道",
            format!("{} 条（{} 个作者）", alert.count, alert.distinct_authors),
        ),
        ("首报", display_time(&alert.first_seen, options.offset_secs)),
    ];
    if !alert.top_terms.is_empty() {
        let terms: Vec<&str> = alert.top_terms.iter().take(5).map(String::as_str).collect();
        facts.push(("热词", terms.join("、")));
    }
    if alert.region.is_none() && !alert.regions.is_empty() {
        let regions: Vec<&str> = alert.regions.iter().take(5).map(String::as_str).collect();
        facts.push(("涉及地区", regions.join("、")));
    }
    facts.push(("预警编号", alert.alert_id.clone()));
    facts
}

/// The markdown summary (WeCom and DingTalk).
fn markdown(alert: &Alert, options: &RenderOptions, quote: bool) -> String {
    let mut text = format!("### {}\n", title(alert, options));
    for (label, value) in facts(alert, options) {
        if quote {
            text.push_str(&format!("> {label}：{value}\n"));
        } else {
            text.push_str(&format!("- {label}：{value}\n"));
        }
    }
    if let Some(link) = alert_link(alert, options) {
        text.push_str(&format!("\n[查看预警]({link})\n"));
    }
    text
}

/// The plain-text summary (Feishu).
fn plain(alert: &Alert, options: &RenderOptions) -> String {
    let mut text = title(alert, options);
    for (label, value) in facts(alert, options) {
        text.push_str(&format!("\n{label}：{value}"));
    }
    if let Some(link) = alert_link(alert, options) {
        text.push_str(&format!("\n查看预警：{link}"));
    }
    text
}

/// The body of `alert` for a webhook of `format`.
pub fn body(format: Format, alert: &Alert, options: &RenderOptions) -> Value {
    match format {
        Format::Json => serde_json::to_value(alert).unwrap_or(Value::Null),
        Format::Wecom => json!({
            "msgtype": "markdown",
            "markdown": { "content": markdown(alert, options, true) },
        }),
        Format::Dingtalk => json!({
            "msgtype": "markdown",
            "markdown": { "title": title(alert, options), "text": markdown(alert, options, false) },
        }),
        Format::Feishu => json!({
            "msg_type": "text",
            "content": { "text": plain(alert, options) },
        }),
    }
}

/// The body as sent: for `json`, the message serialized as the sinks
/// serialize it (its fields in schema order).
pub fn body_text(format: Format, alert: &Alert, options: &RenderOptions) -> String {
    match format {
        Format::Json => serde_json::to_string(alert).unwrap_or_default(),
        _ => body(format, alert, options).to_string(),
    }
}

/// DingTalk's signature of a request at `timestamp_ms` (milliseconds since
/// the epoch): `urlencode(base64(hmac_sha256(secret, "{timestamp}\n{secret}")))`.
pub fn dingtalk_sign(secret: &str, timestamp_ms: i64) -> String {
    let string_to_sign = format!("{timestamp_ms}\n{secret}");
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(string_to_sign.as_bytes());
    let b64 = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    form_urlencoded::byte_serialize(b64.as_bytes()).collect()
}

/// `url` with DingTalk's `timestamp` and `sign` appended.
pub fn dingtalk_url(url: &str, secret: &str, timestamp_ms: i64) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!(
        "{url}{sep}timestamp={timestamp_ms}&sign={}",
        dingtalk_sign(secret, timestamp_ms)
    )
}
