//! Delivery of alert messages to HTTP webhooks.
//!
//! A [`Notifier`] takes each alert message the pipeline emits, keeps the
//! ones each webhook's filters let through, renders them in the webhook's
//! format ([`render`]: the schema-v1 JSON, or a WeCom, DingTalk or Feishu
//! group-robot message) and appends them to a durable outbox in the data
//! directory before it returns; a delivery thread sends them with retries
//! (exponential backoff with jitter, a retry budget) within each webhook's
//! rate limit. Delivery is at-least-once: what is not acknowledged as
//! delivered is sent again after a restart. What still fails after the
//! budget goes to a dead-letter file. The caller never waits for a webhook.

mod config;
mod deliver;
mod outbox;
pub mod render;

pub use config::{Format, WebhookConfig};
pub use deliver::{MESSAGE_ID_HEADER, Notifier, NotifierOptions};
pub use outbox::{DEAD_FILE, DIR, OutboxEntry};
pub use render::{RenderOptions, dingtalk_sign};
