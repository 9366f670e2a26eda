//! `[[alerts.webhooks]]`: one webhook.

use std::collections::BTreeMap;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use yuqing_model::Level;
use yuqing_spike::{Alert, AlertState};

/// The body a webhook receives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// The schema-v1 alert message as is.
    #[default]
    Json,
    /// A WeCom (企业微信) group robot: a markdown message.
    Wecom,
    /// A DingTalk (钉钉) group robot: a markdown message, signed when
    /// `secret` is set.
    Dingtalk,
    /// A Feishu (飞书) group robot: a text message.
    Feishu,
}

impl Format {
    /// The name used in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Wecom => "wecom",
            Format::Dingtalk => "dingtalk",
            Format::Feishu => "feishu",
        }
    }
}

/// One webhook (`[[alerts.webhooks]]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Names the webhook in logs, metrics, the outbox and dead letters;
    /// absent: `webhook-` and 12 hex digits of the SHA-256 of the URL
    /// (robot URLs carry their access token, which is not written out).
    #[serde(default)]
    pub name: Option<String>,
    /// Where messages are POSTed (`http://` or `https://`).
    pub url: String,
    /// The body: `json` (default), `wecom`, `dingtalk`, `feishu`.
    #[serde(default)]
    pub format: Format,
    /// Only alerts at this level or above.
    #[serde(default)]
    pub min_level: Option<Level>,
    /// Only these categories (ids); empty: all.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Only these states (`open`, `update`, `resolved`); empty: all.
    #[serde(default)]
    pub states: Vec<AlertState>,
    /// DingTalk's signing secret (`SEC…`): each request carries
    /// `timestamp` and `sign` in its query.
    #[serde(default)]
    pub secret: Option<String>,
    /// Headers added to each request (e.g. `Authorization`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Messages sent at most per minute (robots take about 20).
    #[serde(default = "default_rate")]
    pub rate_per_minute: u32,
    /// Attempts before a message goes to the dead-letter file.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
}

fn default_rate() -> u32 {
    20
}
fn default_attempts() -> u32 {
    10
}

impl WebhookConfig {
    /// A webhook of `format` to `url`, with the defaults.
    pub fn new(url: &str, format: Format) -> WebhookConfig {
        WebhookConfig {
            name: None,
            url: url.to_string(),
            format,
            min_level: None,
            categories: Vec::new(),
            states: Vec::new(),
            secret: None,
            headers: BTreeMap::new(),
            rate_per_minute: default_rate(),
            max_attempts: default_attempts(),
        }
    }

    /// Its name: `name`, or one derived from the URL.
    pub fn key(&self) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None => {
                let digest = Sha256::digest(self.url.as_bytes());
                let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
                format!("webhook-{hex}")
            }
        }
    }

    /// Whether its filters let `alert` through.
    pub fn accepts(&self, alert: &Alert) -> bool {
        self.min_level.is_none_or(|min| alert.level >= min)
            && (self.categories.is_empty() || self.categories.contains(&alert.category))
            && (self.states.is_empty() || self.states.contains(&alert.state))
    }

    /// The checks serde cannot make; the error names the key
    /// (`alerts.webhooks[1].url`).
    pub fn validate(&self, index: usize) -> Result<(), String> {
        let at = |key: &str| format!("`alerts.webhooks[{index}].{key}`");
        let url = self.url.trim();
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
            return Err(format!(
                "{} must be an http:// or https:// URL with a host, got `{}`",
                at("url"),
                self.url
            ));
        }
        if let Some(name) = &self.name {
            if name.trim().is_empty() {
                return Err(format!("{} must not be empty", at("name")));
            }
        }
        if self.rate_per_minute == 0 {
            return Err(format!("{} must be at least 1", at("rate_per_minute")));
        }
        if self.max_attempts == 0 {
            return Err(format!("{} must be at least 1", at("max_attempts")));
        }
        if let Some(secret) = &self.secret {
            if self.format != Format::Dingtalk {
                return Err(format!(
                    "{} is for `format = \"dingtalk\"` (this webhook is `{}`)",
                    at("secret"),
                    self.format.as_str()
                ));
            }
            if secret.trim().is_empty() {
                return Err(format!("{} must not be empty", at("secret")));
            }
        }
        for (name, value) in &self.headers {
            let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
            if name.is_empty() || !name.chars().all(token) {
                return Err(format!("{}: `{name}` is not a header name", at("headers")));
            }
            if value.chars().any(|c| c == '\r' || c == '\n' || c == '\0') {
                return Err(format!(
                    "{}: the value of `{name}` must be one line",
                    at("headers")
                ));
            }
        }
        Ok(())
    }
}

/// Checks every webhook and that their names differ.
pub(crate) fn validate_all(webhooks: &[WebhookConfig]) -> Result<(), String> {
    for (i, w) in webhooks.iter().enumerate() {
        w.validate(i)?;
        let key = w.key();
        if let Some(j) = webhooks[..i].iter().position(|o| o.key() == key) {
            return Err(format!(
                "`alerts.webhooks[{i}]` has the same name as `alerts.webhooks[{j}]` (`{key}`); give each webhook its own `name`"
            ));
        }
    }
    Ok(())
}

impl WebhookConfig {
    /// Checks a list of webhooks: each one, and that their names differ.
    pub fn validate_list(webhooks: &[WebhookConfig]) -> Result<(), String> {
        validate_all(webhooks)
    }
}
