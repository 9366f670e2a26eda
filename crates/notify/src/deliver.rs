//! The notifier and its delivery thread.

use std::collections::VecDeque;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use yuqing_metrics::metrics;
use yuqing_model::Timestamp;
use yuqing_spike::Alert;

use crate::config::validate_all;
use crate::outbox::{Outbox, OutboxEntry};
use crate::render::{self, RenderOptions};
use crate::{Format, WebhookConfig};

/// How the delivery thread retries.
#[derive(Debug, Clone)]
pub struct NotifierOptions {
    /// The wait after the first failure; it doubles after each (with
    /// jitter of ±25%).
    pub initial_backoff: Duration,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
    /// The time one request may take.
    pub request_timeout: Duration,
    /// On close, the time allowed to deliver what is pending (what is left
    /// is delivered after the next start).
    pub close_grace: Duration,
}

impl Default for NotifierOptions {
    fn default() -> Self {
        NotifierOptions {
            initial_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(300),
            request_timeout: Duration::from_secs(10),
            close_grace: Duration::from_secs(5),
        }
    }
}

struct Shared {
    outbox: Mutex<Outbox>,
    /// Signalled when a message is done.
    done: Condvar,
}

impl Shared {
    fn outbox(&self) -> MutexGuard<'_, Outbox> {
        // A panic elsewhere while holding the lock leaves the files as they
        // were written: go on with them.
        self.outbox.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Hands alert messages to webhooks (see the crate documentation).
pub struct Notifier {
    webhooks: Vec<WebhookConfig>,
    keys: Vec<String>,
    render: RenderOptions,
    shared: Arc<Shared>,
    tx: Option<Sender<OutboxEntry>>,
    thread: Option<JoinHandle<()>>,
    close_grace: Duration,
}

impl Notifier {
    /// Opens the outbox under `data_dir` and starts the delivery thread;
    /// messages left undelivered by an earlier process are sent first.
    /// Left messages for a webhook no longer configured go to the
    /// dead-letter file.
    pub fn start(
        data_dir: &Path,
        webhooks: Vec<WebhookConfig>,
        render: RenderOptions,
        options: NotifierOptions,
    ) -> Result<Notifier, String> {
        validate_all(&webhooks)?;
        let (outbox, left) = Outbox::open(data_dir).map_err(|e| {
            format!(
                "opening the webhook outbox in {}: {e}",
                data_dir.join(crate::DIR).display()
            )
        })?;
        let shared = Arc::new(Shared {
            outbox: Mutex::new(outbox),
            done: Condvar::new(),
        });
        let keys: Vec<String> = webhooks.iter().map(WebhookConfig::key).collect();
        for key in &keys {
            for outcome in ["delivered", "retried", "dead"] {
                metrics()
                    .webhook_deliveries
                    .with_label_values(&[key, outcome]);
            }
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        let targets: Vec<Target> = webhooks
            .iter()
            .zip(&keys)
            .map(|(w, k)| Target {
                config: w.clone(),
                key: k.clone(),
                queue: VecDeque::new(),
                sent: VecDeque::new(),
            })
            .collect();
        let mut worker = Worker {
            targets,
            shared: Arc::clone(&shared),
            options: options.clone(),
            agent: ureq::Agent::config_builder()
                .timeout_global(Some(options.request_timeout))
                .http_status_as_error(false)
                .build()
                .into(),
        };
        if !left.is_empty() {
            tracing::info!(
                messages = left.len(),
                "webhook messages left undelivered by the last run: sending them"
            );
        }
        for entry in left {
            worker.push(entry);
        }
        let thread = std::thread::Builder::new()
            .name("webhooks".into())
            .spawn(move || worker.run(rx))
            .map_err(|e| format!("starting the webhook delivery thread: {e}"))?;
        let notifier = Notifier {
            webhooks,
            keys,
            render,
            shared,
            tx: Some(tx),
            thread: Some(thread),
            close_grace: options.close_grace,
        };
        notifier.update_pending();
        Ok(notifier)
    }

    /// Queues `alert` for every webhook whose filters take it: written to
    /// the outbox before this returns; sent by the delivery thread.
    pub fn notify(&self, alert: &Alert) -> io::Result<()> {
        let id = format!(
            "{}/{}/{}",
            alert.alert_id,
            alert.state.as_str(),
            alert.emitted_at
        );
        for (w, key) in self.webhooks.iter().zip(&self.keys) {
            if !w.accepts(alert) {
                continue;
            }
            let body = render::body_text(w.format, alert, &self.render);
            let entry = self.shared.outbox().append(id.clone(), key.clone(), body)?;
            if let Some(tx) = &self.tx {
                // The thread only stops when the notifier closes: a send
                // that fails leaves the message in the outbox for the next
                // start.
                let _ = tx.send(entry);
            }
        }
        self.update_pending();
        Ok(())
    }

    /// Messages in the outbox not yet delivered or dead-lettered.
    pub fn pending(&self) -> usize {
        self.shared.outbox().pending()
    }

    /// Waits until nothing is pending or `timeout` passes; whether nothing
    /// is.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut outbox = self.shared.outbox();
        while outbox.pending() > 0 {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            outbox = match self.shared.done.wait_timeout(outbox, deadline - now) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
        true
    }

    fn update_pending(&self) {
        metrics().webhook_pending.set(self.pending() as i64);
    }

    /// Delivers what it can within the grace time, then stops the thread;
    /// what is left stays in the outbox for the next start.
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if self.thread.is_none() {
            return;
        }
        if !self.close_grace.is_zero() && !self.wait_idle(self.close_grace) {
            tracing::warn!(
                pending = self.pending(),
                "webhook messages not delivered before shutdown: they are sent after the next start"
            );
        }
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct Queued {
    entry: OutboxEntry,
    attempts: u32,
    due: Instant,
}

struct Target {
    config: WebhookConfig,
    key: String,
    queue: VecDeque<Queued>,
    /// When the last messages were sent (the last minute's).
    sent: VecDeque<Instant>,
}

impl Target {
    /// When the next attempt may be made: the head's due time, later if
    /// the rate limit is reached.
    fn next_at(&mut self, now: Instant) -> Option<Instant> {
        let head = self.queue.front()?.due;
        while self
            .sent
            .front()
            .is_some_and(|&t| now.duration_since(t) >= Duration::from_secs(60))
        {
            self.sent.pop_front();
        }
        let limit = self.config.rate_per_minute as usize;
        let rate_at = if self.sent.len() >= limit {
            self.sent
                .get(self.sent.len() - limit)
                .map(|&t| t + Duration::from_secs(60))
        } else {
            None
        };
        Some(rate_at.map_or(head, |r| r.max(head)))
    }
}

struct Worker {
    targets: Vec<Target>,
    shared: Arc<Shared>,
    options: NotifierOptions,
    agent: ureq::Agent,
}

/// The outcome of one attempt.
enum Attempt {
    Delivered,
    Failed(String),
}

impl Worker {
    fn push(&mut self, entry: OutboxEntry) {
        match self.targets.iter_mut().find(|t| t.key == entry.webhook) {
            Some(t) => t.queue.push_back(Queued {
                entry,
                attempts: 0,
                due: Instant::now(),
            }),
            None => {
                let reason = "the webhook is no longer configured".to_string();
                self.dead(&entry, 0, &reason);
            }
        }
    }

    fn run(mut self, rx: Receiver<OutboxEntry>) {
        loop {
            let now = Instant::now();
            let next = self.targets.iter_mut().filter_map(|t| t.next_at(now)).min();
            let wait = next.map_or(Duration::from_secs(3600), |n| {
                n.saturating_duration_since(now)
            });
            match rx.recv_timeout(wait) {
                Ok(entry) => {
                    self.push(entry);
                    while let Ok(e) = rx.try_recv() {
                        self.push(e);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            for i in 0..self.targets.len() {
                self.send_due(i);
            }
        }
    }

    /// Sends the target's messages that are due, in order, until one fails
    /// or the rate limit is reached.
    fn send_due(&mut self, i: usize) {
        loop {
            let now = Instant::now();
            let target = &mut self.targets[i];
            match target.next_at(now) {
                Some(at) if at <= now => {}
                _ => return,
            }
            let Some(q) = target.queue.front_mut() else {
                return;
            };
            target.sent.push_back(now);
            q.attempts += 1;
            let attempt = attempt(&self.agent, &target.config, &q.entry);
            let key = target.key.clone();
            match attempt {
                Attempt::Delivered => {
                    let Some(q) = target.queue.pop_front() else {
                        return;
                    };
                    tracing::debug!(webhook = %key, id = %q.entry.id, attempts = q.attempts, "webhook message delivered");
                    metrics()
                        .webhook_deliveries
                        .with_label_values(&[&key, "delivered"])
                        .inc();
                    self.ack(q.entry.seq);
                }
                Attempt::Failed(error) => {
                    if q.attempts >= target.config.max_attempts {
                        let Some(q) = target.queue.pop_front() else {
                            return;
                        };
                        tracing::error!(webhook = %key, id = %q.entry.id, attempts = q.attempts, "webhook message not delivered, written to the dead-letter file: {error}");
                        self.dead(&q.entry, q.attempts, &error);
                        continue;
                    }
                    let backoff = backoff(&self.options, q.attempts);
                    tracing::warn!(webhook = %key, id = %q.entry.id, attempt = q.attempts, retry_in_ms = backoff.as_millis() as u64, "webhook delivery failed: {error}");
                    q.due = Instant::now() + backoff;
                    metrics()
                        .webhook_deliveries
                        .with_label_values(&[&key, "retried"])
                        .inc();
                    return;
                }
            }
        }
    }

    fn ack(&self, seq: u64) {
        let pending = {
            let mut outbox = self.shared.outbox();
            if let Err(e) = outbox.ack(seq) {
                // Not acknowledged: sent again after a restart.
                tracing::error!("recording a delivered webhook message: {e}");
            }
            outbox.pending()
        };
        metrics().webhook_pending.set(pending as i64);
        self.shared.done.notify_all();
    }

    fn dead(&self, entry: &OutboxEntry, attempts: u32, error: &str) {
        metrics()
            .webhook_deliveries
            .with_label_values(&[&entry.webhook, "dead"])
            .inc();
        let path = self.shared.outbox().dead_path();
        let record = serde_json::json!({
            "id": entry.id,
            "webhook": entry.webhook,
            "attempts": attempts,
            "error": error,
            "failed_at": Timestamp::now().to_string(),
            "body": entry.body,
        });
        let written = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| {
                let mut line = record.to_string().into_bytes();
                line.push(b'\n');
                f.write_all(&line)?;
                f.sync_data()
            });
        match written {
            Ok(()) => self.ack(entry.seq),
            // Left in the outbox: tried again after a restart.
            Err(e) => tracing::error!(file = %path.display(), "writing a webhook dead letter: {e}"),
        }
    }
}

/// The wait before attempt `attempts + 1`.
fn backoff(options: &NotifierOptions, attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(20);
    let base = options
        .initial_backoff
        .saturating_mul(1 << doublings)
        .min(options.max_backoff);
    // ±25% jitter, so that webhooks that failed together do not retry in
    // step.
    base.mul_f64(0.75 + fastrand::f64() * 0.5)
}

/// The header that carries a message's id (`{alert_id}/{state}/{emitted_at}`),
/// the same at every attempt: receivers de-duplicate on it.
pub const MESSAGE_ID_HEADER: &str = "x-yuqing-message-id";

/// One POST.
fn attempt(agent: &ureq::Agent, config: &WebhookConfig, entry: &OutboxEntry) -> Attempt {
    let body = &entry.body;
    let url = match (&config.format, &config.secret) {
        (Format::Dingtalk, Some(secret)) => {
            render::dingtalk_url(&config.url, secret, Timestamp::now().as_millis())
        }
        _ => config.url.clone(),
    };
    let mut request = agent
        .post(&url)
        .header("content-type", "application/json; charset=utf-8")
        .header(MESSAGE_ID_HEADER, entry.id.as_str());
    for (k, v) in &config.headers {
        request = request.header(k.as_str(), v.as_str());
    }
    let mut response = match request.send(body.as_bytes()) {
        Ok(r) => r,
        Err(e) => return Attempt::Failed(e.to_string()),
    };
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_string()
        .unwrap_or_default();
    if !(200..300).contains(&status) {
        return Attempt::Failed(format!("HTTP {status}: {}", snippet(&text)));
    }
    match platform_error(config.format, &text) {
        Some(e) => Attempt::Failed(e),
        None => Attempt::Delivered,
    }
}

/// The robots answer 200 with an error code in the body: WeCom and DingTalk
/// `{"errcode":…,"errmsg":…}`, Feishu `{"code":…,"msg":…}`.
fn platform_error(format: Format, text: &str) -> Option<String> {
    let field = match format {
        Format::Json => return None,
        Format::Wecom | Format::Dingtalk => "errcode",
        Format::Feishu => "code",
    };
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let code = v.get(field)?.as_i64()?;
    (code != 0).then(|| format!("the robot answered {field} {code}: {}", snippet(text)))
}

fn snippet(text: &str) -> String {
    text.chars().take(200).collect()
}
