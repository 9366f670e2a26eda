//! Pipeline configuration: a TOML file, every key documented in
//! `docs/config.md`, read into typed sections and checked once, at load.
//!
//! - Unknown keys are errors naming the key and its line.
//! - A section with a `kind` (`[source]`, `[dead_letter]`, `[alerts]`) is an
//!   enum tagged by `kind`: each kind has its own struct, which accepts its
//!   own keys only.
//! - Durations are [`Duration`]s; the keys keep their unit
//!   (`commit_interval_ms`, `shutdown_timeout_secs`).
//! - Relative paths are relative to the configuration file.
//! - Environment variables override keys (the [`ENV_OVERRIDES`] table).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use toml::Spanned;
use toml::de::{DeTable, DeValue};
use yuqing_index::AuthorPolicy;
use yuqing_notify::WebhookConfig;

/// An environment variable that overrides a configuration key after the
/// file is read (an empty value is ignored).
#[derive(Debug, Clone, Copy)]
pub struct EnvOverride {
    /// The variable.
    pub var: &'static str,
    /// The key it overrides.
    pub key: &'static str,
    /// Sets the key to the variable's value; the error says what was
    /// expected.
    apply: fn(&mut PipelineConfig, String) -> Result<(), String>,
}

/// The environment variables that override configuration keys, applied in
/// this order after the file is read (before relative paths are resolved
/// and the whole is checked).
pub const ENV_OVERRIDES: &[EnvOverride] = &[
    EnvOverride {
        var: "YUQING_DATA_DIR",
        key: "data_dir",
        apply: |c, v| {
            c.data_dir = PathBuf::from(v);
            Ok(())
        },
    },
    EnvOverride {
        var: "YUQING_HTTP_ADDR",
        key: "http.addr",
        apply: |c, v| {
            c.http.addr = v;
            Ok(())
        },
    },
    EnvOverride {
        var: "YUQING_KAFKA_BROKERS",
        key: "kafka.brokers",
        apply: set_kafka_brokers,
    },
    EnvOverride {
        var: "YUQING_REPLICA",
        key: "replication.replica",
        apply: |c, v| {
            c.replication.replica = Some(v);
            Ok(())
        },
    },
    EnvOverride {
        var: "YUQING_LOG_FORMAT",
        key: "log.format",
        apply: |c, v| {
            c.log.format = v.parse()?;
            Ok(())
        },
    },
];

/// `YUQING_KAFKA_BROKERS`: sets `kafka.brokers`, and creates `[kafka]` if
/// absent.
fn set_kafka_brokers(config: &mut PipelineConfig, brokers: String) -> Result<(), String> {
    match &mut config.kafka {
        Some(k) => k.brokers = brokers,
        None => {
            config.kafka = Some(KafkaConfig {
                brokers,
                client_id: default_client_id(),
                options: BTreeMap::new(),
            })
        }
    }
    Ok(())
}

/// A configuration error: where and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ConfigError {
    /// The file.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong and what is expected.
    pub message: String,
}

/// The whole pipeline.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Where the index (and the author key) live.
    pub data_dir: PathBuf,
    /// Dictionary directory; absent: the built-in dictionaries.
    #[serde(default)]
    pub dictionaries: Option<PathBuf>,
    /// Where posts come from.
    pub source: SourceConfig,
    /// Kafka connection, for a Kafka source or Kafka sinks.
    #[serde(default)]
    pub kafka: Option<KafkaConfig>,
    /// The index.
    #[serde(default)]
    pub index: IndexConfig,
    /// Where messages that are not valid posts go.
    #[serde(default)]
    pub dead_letter: DeadLetterConfig,
    /// Where alerts go.
    #[serde(default)]
    pub alerts: AlertsConfig,
    /// Burst detection.
    #[serde(default)]
    pub spike: yuqing_spike::DetectorConfig,
    /// The HTTP API.
    #[serde(default)]
    pub http: HttpConfig,
    /// Threads, channels, shutdown.
    #[serde(default)]
    pub runtime: RuntimeConfig,
    /// Logs.
    #[serde(default)]
    pub log: LogConfig,
    /// How times are shown to people.
    #[serde(default)]
    pub display: DisplayConfig,
    /// `[[watches]]`: keyword watches (read-only through the API).
    #[serde(default)]
    pub watches: Vec<crate::watch::WatchSpec>,
    /// Running as one of several replicas of the same stream.
    #[serde(default)]
    pub replication: ReplicationConfig,
}

/// `[replication]`: this instance as one replica of several, each with its
/// own data directory and its own consumer group, each indexing every post
/// and running the detector on the whole stream (docs/config.md#replication).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicationConfig {
    /// The replica's name: the consumer group is
    /// `<source.group_id>-<replica>` ([`PipelineConfig::consumer_group`]).
    /// Absent: one instance, the group is `source.group_id`.
    #[serde(default)]
    pub replica: Option<String>,
}

/// The longest replica name.
pub const MAX_REPLICA_LEN: usize = 32;

impl ReplicationConfig {
    /// A replica name is 1 to [`MAX_REPLICA_LEN`] lowercase ASCII letters,
    /// digits and `-`, so that the group id it derives is a plain name.
    fn validate(&self) -> Result<(), String> {
        let Some(r) = &self.replica else {
            return Ok(());
        };
        if r.is_empty() || r.len() > MAX_REPLICA_LEN {
            return Err(format!(
                "`replication.replica` must be 1 to {MAX_REPLICA_LEN} characters, got {} (`{r}`)",
                r.len()
            ));
        }
        if let Some(c) = r
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            return Err(format!(
                "`replication.replica` `{r}`: `{c}` is not allowed (lowercase letters a-z, digits and `-`)"
            ));
        }
        Ok(())
    }
}

/// `[display]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisplayConfig {
    /// The zone of times on the web page, in CLI tables and in CSV
    /// exports: a UTC offset (`+08:00`, Beijing time, by default).
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// `timezone` in seconds east of UTC, filled in by
    /// [`PipelineConfig::parse`].
    #[serde(skip)]
    pub offset_secs: i32,
}

fn default_timezone() -> String {
    "+08:00".to_string()
}

impl Default for DisplayConfig {
    fn default() -> Self {
        DisplayConfig {
            timezone: default_timezone(),
            offset_secs: 8 * 3600,
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `text` (for people) or `json` (one object per line, for collectors).
    #[serde(default)]
    pub format: LogFormat,
}

/// Log line formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("`{s}`: expected text or json")),
        }
    }
}

/// `[source]`: where posts come from, by `kind`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SourceConfig {
    /// `kind = "file"`: a JSONL file.
    File(FileSourceConfig),
    /// `kind = "kafka"`: Kafka topics, as a consumer group.
    Kafka(KafkaSourceConfig),
}

/// `[source]` with `kind = "file"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// The JSONL file.
    pub path: PathBuf,
    /// Keep reading as the file grows (like `tail -f`).
    #[serde(default)]
    pub follow: bool,
    /// Messages per batch handed to the workers.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
}

/// `[source]` with `kind = "kafka"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSourceConfig {
    /// Topics to consume (at least one).
    pub topics: Vec<String>,
    /// Consumer group.
    #[serde(default = "default_group")]
    pub group_id: String,
    /// Messages per batch handed to the workers.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
}

fn default_group() -> String {
    "yuqing".into()
}
fn default_batch() -> usize {
    512
}

/// Source kinds, for labels and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// A JSONL file.
    File,
    /// Kafka topics, as a consumer group.
    Kafka,
}

impl SourceConfig {
    /// Which kind of source.
    pub fn kind(&self) -> SourceKind {
        match self {
            SourceConfig::File(_) => SourceKind::File,
            SourceConfig::Kafka(_) => SourceKind::Kafka,
        }
    }

    /// Messages per batch handed to the workers.
    pub fn batch_size(&self) -> usize {
        match self {
            SourceConfig::File(f) => f.batch_size,
            SourceConfig::Kafka(k) => k.batch_size,
        }
    }

    /// Deserializes the keys of one kind (the table without `kind`) into
    /// that kind's struct, for errors that point at the key.
    fn check_keys(kind: &str, keys: toml::de::Deserializer<'_>) -> Result<(), toml::de::Error> {
        match kind {
            "file" => keys_of::<FileSourceConfig>(keys),
            "kafka" => keys_of::<KafkaSourceConfig>(keys),
            _ => Ok(()),
        }
    }
}

/// `[kafka]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port[,host:port…]`.
    pub brokers: String,
    /// Client id reported to the brokers.
    #[serde(default = "default_client_id")]
    pub client_id: String,
    /// More librdkafka properties, passed through as given
    /// (`"session.timeout.ms" = "10000"`).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

fn default_client_id() -> String {
    "yuqing".into()
}

/// `[index]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexConfig {
    /// Commit when the oldest uncommitted post is this old: how long a post
    /// may wait before it is searchable (`commit_interval_ms`).
    #[serde(
        rename = "commit_interval_ms",
        default = "default_commit_interval",
        deserialize_with = "millis"
    )]
    pub commit_interval: Duration,
    /// Commit after this many posts.
    #[serde(default = "default_commit_docs")]
    pub commit_docs: usize,
    /// Delete posts older than this many days (0: keep everything).
    #[serde(default)]
    pub retention_days: u32,
    /// What the index keeps of authors: `pseudonymise` (the default),
    /// `raw` or `drop`.
    #[serde(default, deserialize_with = "author_policy")]
    pub authors: AuthorPolicy,
    /// tantivy's indexing memory, MiB.
    #[serde(default = "default_memory")]
    pub writer_memory_mib: usize,
}

/// 250 ms: with the consumer's 100 ms fetch wait, event-to-searchable
/// p99 under a second at half the maximum rate (docs/PERFORMANCE.md).
fn default_commit_interval() -> Duration {
    Duration::from_millis(250)
}
fn default_commit_docs() -> usize {
    50_000
}
fn default_memory() -> usize {
    256
}

impl Default for IndexConfig {
    fn default() -> Self {
        IndexConfig {
            commit_interval: default_commit_interval(),
            commit_docs: default_commit_docs(),
            retention_days: 0,
            authors: AuthorPolicy::default(),
            writer_memory_mib: default_memory(),
        }
    }
}

/// `index.authors`, named in its error.
fn author_policy<'de, D: Deserializer<'de>>(d: D) -> Result<AuthorPolicy, D::Error> {
    let value = String::deserialize(d)?;
    match value.as_str() {
        "pseudonymise" => Ok(AuthorPolicy::Pseudonymise),
        "raw" => Ok(AuthorPolicy::Raw),
        "drop" => Ok(AuthorPolicy::Drop),
        _ => Err(D::Error::custom(format!(
            "`index.authors` must be pseudonymise, raw or drop, got `{value}`"
        ))),
    }
}

/// A duration given in milliseconds.
fn millis<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(Duration::from_millis)
}

/// A duration given in seconds.
fn secs<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(Duration::from_secs)
}

/// A kind that takes no keys of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoOptions {}

/// A sink writing JSON lines to a file (`kind = "file"`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSinkConfig {
    /// The JSONL file (appended to).
    pub path: PathBuf,
}

/// A sink writing to a Kafka topic (`kind = "kafka"`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkConfig {
    /// The topic.
    pub topic: String,
}

/// `[dead_letter]`: where messages that are not valid posts go, by `kind`
/// (`log` when the section or its `kind` is absent).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DeadLetterConfig {
    /// One line per message on stderr, via the log.
    Log(NoOptions),
    /// JSON lines appended to a file.
    File(FileSinkConfig),
    /// A Kafka topic.
    Kafka(KafkaSinkConfig),
    /// Nowhere.
    None(NoOptions),
}

impl Default for DeadLetterConfig {
    fn default() -> Self {
        DeadLetterConfig::Log(NoOptions {})
    }
}

impl DeadLetterConfig {
    /// See [`SourceConfig::check_keys`].
    fn check_keys(kind: &str, keys: toml::de::Deserializer<'_>) -> Result<(), toml::de::Error> {
        match kind {
            "log" | "none" => keys_of::<NoOptions>(keys),
            "file" => keys_of::<FileSinkConfig>(keys),
            "kafka" => keys_of::<KafkaSinkConfig>(keys),
            _ => Ok(()),
        }
    }
}

/// `[alerts]`: where alerts go, by `kind` (`stdout` when the section or its
/// `kind` is absent); every kind takes `keep`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AlertsConfig {
    /// JSON lines on stdout.
    Stdout(AlertsOptions),
    /// One line per alert on stderr, via the log.
    Log(AlertsOptions),
    /// JSON lines appended to a file.
    File(FileAlertsConfig),
    /// A Kafka topic, keyed by `alert_id`.
    Kafka(KafkaAlertsConfig),
    /// Nowhere.
    None(AlertsOptions),
}

/// `[alerts]` keys of every kind.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsOptions {
    /// Alerts the API keeps (`<data_dir>/alerts.jsonl`); the oldest go
    /// beyond.
    #[serde(default = "default_keep")]
    pub keep: usize,
    /// `[[alerts.webhooks]]`: webhooks that also get alert messages.
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
}

/// `[alerts]` with `kind = "file"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileAlertsConfig {
    /// The JSONL file (appended to).
    pub path: PathBuf,
    /// See [`AlertsOptions::keep`].
    #[serde(default = "default_keep")]
    pub keep: usize,
    /// See [`AlertsOptions::webhooks`].
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
}

/// `[alerts]` with `kind = "kafka"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaAlertsConfig {
    /// The topic.
    pub topic: String,
    /// See [`AlertsOptions::keep`].
    #[serde(default = "default_keep")]
    pub keep: usize,
    /// See [`AlertsOptions::webhooks`].
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
}

fn default_keep() -> usize {
    10_000
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig::Stdout(AlertsOptions {
            keep: default_keep(),
            webhooks: Vec::new(),
        })
    }
}

impl AlertsConfig {
    /// Alerts the API keeps.
    pub fn keep(&self) -> usize {
        match self {
            AlertsConfig::Stdout(o) | AlertsConfig::Log(o) | AlertsConfig::None(o) => o.keep,
            AlertsConfig::File(f) => f.keep,
            AlertsConfig::Kafka(k) => k.keep,
        }
    }

    /// `[[alerts.webhooks]]`.
    pub fn webhooks(&self) -> &[WebhookConfig] {
        match self {
            AlertsConfig::Stdout(o) | AlertsConfig::Log(o) | AlertsConfig::None(o) => &o.webhooks,
            AlertsConfig::File(f) => &f.webhooks,
            AlertsConfig::Kafka(k) => &k.webhooks,
        }
    }

    /// See [`SourceConfig::check_keys`].
    fn check_keys(kind: &str, keys: toml::de::Deserializer<'_>) -> Result<(), toml::de::Error> {
        match kind {
            "stdout" | "log" | "none" => keys_of::<AlertsOptions>(keys),
            "file" => keys_of::<FileAlertsConfig>(keys),
            "kafka" => keys_of::<KafkaAlertsConfig>(keys),
            _ => Ok(()),
        }
    }
}

/// `[http]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Serve the HTTP API.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Where to listen.
    #[serde(default = "default_addr")]
    pub addr: String,
    /// Serve `/healthz`, `/readyz` and `/metrics` here instead (never behind
    /// a token); absent: on `addr` with the API.
    #[serde(default)]
    pub ops_addr: Option<String>,
    /// Tokens for `/api/v1/*`; none: the API is open.
    #[serde(default)]
    pub tokens: Vec<TokenConfig>,
    /// The time a client has to send a request's headers (from when the
    /// server starts waiting for the request); `header_read_timeout_secs`.
    #[serde(
        rename = "header_read_timeout_secs",
        default = "default_header_read_timeout",
        deserialize_with = "secs"
    )]
    pub header_read_timeout: Duration,
    /// How long a connection may stay silent between requests (or while an
    /// answer is not read) before it is closed; `idle_timeout_secs`.
    #[serde(
        rename = "idle_timeout_secs",
        default = "default_idle_timeout",
        deserialize_with = "secs"
    )]
    pub idle_timeout: Duration,
    /// Connections open at once; more are answered 503.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// The address people reach the page at (`https://yuqing.example.org`),
    /// for links in messages sent elsewhere (webhook summaries link to the
    /// alert there); absent: no links.
    #[serde(default)]
    pub public_url: Option<String>,
}

/// `[[http.tokens]]`: one accepted bearer token, checked as it is read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "TokenEntry")]
pub struct TokenConfig {
    /// Who holds it (logs show the name, never the token).
    pub name: String,
    /// SHA-256 of the token, 64 hex digits (`yuqing token new` prints it).
    pub sha256: String,
    /// What it may do.
    pub role: TokenRole,
}

/// A `[[http.tokens]]` entry as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    name: String,
    sha256: String,
    role: String,
}

impl TryFrom<TokenEntry> for TokenConfig {
    type Error = String;
    fn try_from(t: TokenEntry) -> Result<Self, String> {
        let Ok(role) = t.role.parse() else {
            return Err(format!(
                "`http.tokens` `{}`: role must be analyst or admin, got `{}`",
                t.name, t.role
            ));
        };
        let hex = t.sha256.trim();
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "`http.tokens` `{}`: sha256 must be 64 hex digits (`yuqing token new` prints one)",
                t.name
            ));
        }
        Ok(TokenConfig {
            name: t.name,
            sha256: t.sha256,
            role,
        })
    }
}

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRole {
    /// Read the API.
    Analyst,
    /// Read, and reload the dictionaries.
    Admin,
}

impl TokenRole {
    /// As written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenRole::Analyst => "analyst",
            TokenRole::Admin => "admin",
        }
    }
}

impl std::str::FromStr for TokenRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "analyst" => Ok(TokenRole::Analyst),
            "admin" => Ok(TokenRole::Admin),
            _ => Err(format!("`{s}`: expected analyst or admin")),
        }
    }
}

fn yes() -> bool {
    true
}
fn default_addr() -> String {
    "127.0.0.1:8080".into()
}
// The same defaults as `yuqing_server::Limits` (checked by a test of the
// binary, which depends on both).
fn default_header_read_timeout() -> Duration {
    Duration::from_secs(20)
}
fn default_idle_timeout() -> Duration {
    Duration::from_secs(15)
}
fn default_max_connections() -> usize {
    512
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            enabled: true,
            addr: default_addr(),
            ops_addr: None,
            tokens: Vec::new(),
            header_read_timeout: default_header_read_timeout(),
            idle_timeout: default_idle_timeout(),
            max_connections: default_max_connections(),
            public_url: None,
        }
    }
}

impl HttpConfig {
    fn validate(&self) -> Result<(), String> {
        for (key, zero) in [
            (
                "header_read_timeout_secs",
                self.header_read_timeout.is_zero(),
            ),
            ("idle_timeout_secs", self.idle_timeout.is_zero()),
            ("max_connections", self.max_connections == 0),
        ] {
            if zero {
                return Err(format!("`http.{key}` must be at least 1"));
            }
        }
        if let Some(url) = &self.public_url {
            let rest = (url.strip_prefix("https://"))
                .or_else(|| url.strip_prefix("http://"))
                .unwrap_or("");
            if rest.is_empty() || rest.starts_with('/') || url.contains(['?', '#', ' ']) {
                return Err(format!(
                    "`http.public_url` must be an http:// or https:// address with a host and no query, got `{url}`"
                ));
            }
        }
        for (i, t) in self.tokens.iter().enumerate() {
            if let Some(first) = self.tokens[..i]
                .iter()
                .find(|o| o.sha256.trim().eq_ignore_ascii_case(t.sha256.trim()))
            {
                return Err(format!(
                    "`http.tokens` `{}`: the same sha256 as `{}`; list each token once, with one role",
                    t.name, first.name
                ));
            }
        }
        Ok(())
    }
}

/// `[runtime]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Threads that decode, analyse and score (0: cores − 1, at least 1).
    #[serde(default)]
    pub workers: usize,
    /// Batches in flight between stages; when full the source pauses.
    #[serde(default = "default_in_flight")]
    pub batches_in_flight: usize,
    /// On SIGINT/SIGTERM: time allowed to drain and commit
    /// (`shutdown_timeout_secs`).
    #[serde(
        rename = "shutdown_timeout_secs",
        default = "default_shutdown",
        deserialize_with = "secs"
    )]
    pub shutdown_timeout: Duration,
    /// A file source without `follow`: keep serving the API after the file
    /// is read (until a signal), instead of exiting.
    #[serde(default = "yes")]
    pub serve_after_end: bool,
}

fn default_in_flight() -> usize {
    4
}
fn default_shutdown() -> Duration {
    Duration::from_secs(30)
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            workers: 0,
            batches_in_flight: default_in_flight(),
            shutdown_timeout: default_shutdown(),
            serve_after_end: true,
        }
    }
}

/// A section tagged by `kind`, for what serde's tagged enums leave out: a
/// default kind, and errors that point at the key. (Serde reads a tagged
/// section whole before it looks at `kind`, so its errors about the keys can
/// only point at the section.)
struct Tagged {
    /// The section.
    section: &'static str,
    /// Its kinds, as written.
    kinds: &'static [&'static str],
    /// The kind of a section written without `kind` (`None`: required).
    default: Option<&'static str>,
    /// Deserializes one kind's keys into that kind's struct.
    check_keys: fn(&str, toml::de::Deserializer<'_>) -> Result<(), toml::de::Error>,
}

const TAGGED: &[Tagged] = &[
    Tagged {
        section: "source",
        kinds: &["file", "kafka"],
        default: None,
        check_keys: SourceConfig::check_keys,
    },
    Tagged {
        section: "dead_letter",
        kinds: &["log", "file", "kafka", "none"],
        default: Some("log"),
        check_keys: DeadLetterConfig::check_keys,
    },
    Tagged {
        section: "alerts",
        kinds: &["stdout", "file", "kafka", "log", "none"],
        default: Some("stdout"),
        check_keys: AlertsConfig::check_keys,
    },
];

/// Deserializes a table into `T`, for its errors.
fn keys_of<T: DeserializeOwned>(keys: toml::de::Deserializer<'_>) -> Result<(), toml::de::Error> {
    T::deserialize(keys).map(drop)
}

/// A table read on its own, its errors pointing into the file.
fn table_de<'i>(span: &Range<usize>, table: DeTable<'i>) -> toml::de::Deserializer<'i> {
    toml::de::Deserializer::from(Spanned::new(span.clone(), table))
}

/// What an error says, and where in the text it points.
type Located = (String, Option<Range<usize>>);

/// The typed configuration of a file's text.
fn deserialize(text: &str) -> Result<PipelineConfig, Located> {
    let located = |e: toml::de::Error| (e.message().trim().to_string(), e.span());
    let mut doc = DeTable::parse(text).map_err(located)?;
    for t in TAGGED {
        let (Some(kind), Some(value)) = (t.default, doc.get_mut().get_mut(t.section)) else {
            continue;
        };
        let span = value.span();
        if let DeValue::Table(table) = value.get_mut() {
            if !table.contains_key("kind") {
                table.insert(
                    Spanned::new(span.clone(), Cow::Borrowed("kind")),
                    Spanned::new(span, DeValue::String(Cow::Borrowed(kind))),
                );
            }
        }
    }
    PipelineConfig::deserialize(toml::de::Deserializer::from(doc.clone()))
        .map_err(|e| pinpoint(doc.get_ref(), &e).unwrap_or_else(|| located(e)))
}

/// An error serde found in a tagged section, pointed at its key: the
/// section read again as its kind's own struct. A missing key is named with
/// its section and kind; an unknown key that another kind takes says so; a
/// bad kind is named.
fn pinpoint(doc: &DeTable<'_>, e: &toml::de::Error) -> Option<Located> {
    let span = e.span()?;
    let (t, table, whole) = TAGGED.iter().find_map(|t| {
        let value = doc.get(t.section)?;
        let table = value.get_ref().as_table()?;
        let kind_span = table.get("kind").map(|k| k.span());
        let whole = value.span() == span;
        (whole || kind_span == Some(span.clone())).then_some((t, table, whole))
    })?;
    let section = t.section;
    if !whole {
        let message = format!("`{section}.kind`: {}", e.message().trim());
        return Some((message, Some(span)));
    }
    let Some(kind) = table.get("kind") else {
        let kinds = t.kinds.join(", ");
        return Some((
            format!("`{section}.kind` is required: one of {kinds}"),
            Some(span),
        ));
    };
    let kind = kind.get_ref().as_str()?;
    let mut keys = table.clone();
    keys.remove("kind");
    let precise = (t.check_keys)(kind, table_de(&span, keys.clone())).err()?;
    let at = precise.span().or(Some(span.clone()));
    let message = precise.message().trim();
    if let Some(key) = quoted_after(message, "missing field ") {
        let message = format!("`{section}.{key}` is required when `{section}.kind = \"{kind}\"`");
        return Some((message, at));
    }
    let Some(key) = quoted_after(message, "unknown field ") else {
        return Some((message.to_string(), at));
    };
    let owners: Vec<String> = (t.kinds.iter())
        .filter(|&&other| other != kind && takes_key(t, other, key, &keys, &span))
        .map(|other| format!("`{section}.kind = \"{other}\"`"))
        .collect();
    if owners.is_empty() {
        return Some((message.to_string(), at));
    }
    let owners = owners.join(" or ");
    Some((format!("{message}; `{section}.{key}` is for {owners}"), at))
}

/// Whether `kind` of a tagged section takes `key` (whatever its value).
fn takes_key(t: &Tagged, kind: &str, key: &str, keys: &DeTable<'_>, span: &Range<usize>) -> bool {
    let Some((k, v)) = keys.get_key_value(key) else {
        return false;
    };
    let only: DeTable<'_> = std::iter::once((k.clone(), v.clone())).collect();
    match (t.check_keys)(kind, table_de(span, only)) {
        Ok(()) => true,
        Err(e) => !e.message().starts_with("unknown field"),
    }
}

/// `x` in a message `{prefix}`x`…`.
fn quoted_after<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    message
        .strip_prefix(prefix)?
        .strip_prefix('`')?
        .split('`')
        .next()
}

/// `[[watches]]`: each watch's shape (the dictionaries check the rest when
/// the pipeline opens), names unique, at most [`crate::watch::MAX_WATCHES`].
fn validate_watches(watches: &[crate::watch::WatchSpec]) -> Result<(), String> {
    if watches.len() > crate::watch::MAX_WATCHES {
        return Err(format!(
            "`watches` lists {} watches, more than {}",
            watches.len(),
            crate::watch::MAX_WATCHES
        ));
    }
    for (i, w) in watches.iter().enumerate() {
        w.check_shape()
            .map_err(|e| format!("`watches[{i}]` (`{}`): {e}", w.name))?;
        if let Some(first) = watches[..i].iter().position(|o| o.name == w.name) {
            return Err(format!(
                "`watches[{i}]`: the name `{}` is taken by `watches[{first}]`",
                w.name
            ));
        }
    }
    Ok(())
}

/// For an error about `watches[i]`, the line of the `i`th `[[watches]]`
/// header (a watch written as an inline table has none).
fn watch_line(text: &str, message: &str) -> Option<usize> {
    let i: usize = message
        .strip_prefix("`watches[")?
        .split(']')
        .next()?
        .parse()
        .ok()?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("[[watches]]"))
        .nth(i)
        .map(|(n, _)| n + 1)
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let before = &text.as_bytes()[..offset.min(text.len())];
    before.iter().filter(|&&b| b == b'\n').count() + 1
}

impl PipelineConfig {
    /// Reads, checks and completes a configuration file: environment
    /// overrides applied, relative paths made relative to the file.
    pub fn load(path: &Path) -> Result<PipelineConfig, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            line: None,
            message: format!("cannot read: {e}"),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, &file, base, |k| std::env::var(k).ok())
    }

    /// Parses configuration text (`file` names it in errors, `base` resolves
    /// relative paths, `env` looks up overrides).
    pub fn parse(
        text: &str,
        file: &str,
        base: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<PipelineConfig, ConfigError> {
        let error = |line: Option<usize>, message: String| ConfigError {
            file: file.to_string(),
            line,
            message,
        };
        let mut config = deserialize(text)
            .map_err(|(message, span)| error(span.map(|s| line_of(text, s.start)), message))?;
        for o in ENV_OVERRIDES {
            if let Some(value) = env(o.var).filter(|v| !v.is_empty()) {
                (o.apply)(&mut config, value).map_err(|e| error(None, format!("{} {e}", o.var)))?;
            }
        }
        config.display.offset_secs = yuqing_model::parse_utc_offset(&config.display.timezone)
            .map_err(|e| error(None, format!("[display] timezone {e}")))?;
        config.resolve_paths(base);
        config.validate().map_err(|message| {
            let line = watch_line(text, &message);
            error(line, message)
        })?;
        Ok(config)
    }

    /// Makes relative paths relative to `base`.
    fn resolve_paths(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        resolve(&mut self.data_dir);
        if let Some(d) = &mut self.dictionaries {
            resolve(d);
        }
        if let SourceConfig::File(f) = &mut self.source {
            resolve(&mut f.path);
        }
        if let DeadLetterConfig::File(f) = &mut self.dead_letter {
            resolve(&mut f.path);
        }
        if let AlertsConfig::File(f) = &mut self.alerts {
            resolve(&mut f.path);
        }
    }

    /// The checks that span keys or bound values.
    fn validate(&self) -> Result<(), String> {
        let batch_size = self.source.batch_size();
        if batch_size == 0 || batch_size > 100_000 {
            return Err(format!(
                "`source.batch_size` must be from 1 to 100000, got {batch_size}"
            ));
        }
        if let SourceConfig::Kafka(k) = &self.source {
            if k.topics.is_empty() {
                return Err(
                    "`source.topics` must list at least one topic when `source.kind = \"kafka\"`"
                        .into(),
                );
            }
        }
        let uses_kafka = matches!(self.source, SourceConfig::Kafka(_))
            || matches!(self.dead_letter, DeadLetterConfig::Kafka(_))
            || matches!(self.alerts, AlertsConfig::Kafka(_));
        if uses_kafka && self.kafka.is_none() {
            return Err(
                "a Kafka source or sink needs `[kafka]` with `brokers` (or YUQING_KAFKA_BROKERS)"
                    .into(),
            );
        }
        if self.index.commit_docs == 0 {
            return Err("`index.commit_docs` must be at least 1".into());
        }
        self.spike.validate()?;
        self.http.validate()?;
        if self.alerts.keep() == 0 {
            return Err("`alerts.keep` must be at least 1".into());
        }
        WebhookConfig::validate_list(self.alerts.webhooks())?;
        validate_watches(&self.watches)?;
        if self.runtime.batches_in_flight == 0 {
            return Err("`runtime.batches_in_flight` must be at least 1".into());
        }
        self.replication.validate()?;
        if self.replication.replica.is_some() && !matches!(self.source, SourceConfig::Kafka(_)) {
            return Err(
                "`replication.replica` needs a Kafka source (`source.kind = \"kafka\"`): replicas read the same topics, each in its own consumer group"
                    .into(),
            );
        }
        Ok(())
    }

    /// The Kafka consumer group: `source.group_id`, or for a replica
    /// `<source.group_id>-<replica>` (`yuqing` and replica `a`: `yuqing-a`),
    /// so that every replica reads every partition. `None` for a file
    /// source.
    pub fn consumer_group(&self) -> Option<String> {
        let SourceConfig::Kafka(k) = &self.source else {
            return None;
        };
        Some(match &self.replication.replica {
            Some(r) => format!("{}-{r}", k.group_id),
            None => k.group_id.clone(),
        })
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PipelineConfig, ConfigError> {
        PipelineConfig::parse(text, "p.toml", Path::new("/etc/yuqing"), |_| None)
    }

    #[test]
    fn a_file_pipeline_with_defaults() {
        let c = parse("data_dir = \"data\"\n[source]\nkind = \"file\"\npath = \"posts.jsonl\"\n")
            .unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/etc/yuqing/data"));
        let SourceConfig::File(source) = &c.source else {
            panic!("a file source: {:?}", c.source)
        };
        assert_eq!(source.path, PathBuf::from("/etc/yuqing/posts.jsonl"));
        assert_eq!(c.http.addr, "127.0.0.1:8080");
        assert_eq!(c.index.commit_interval, Duration::from_millis(250));
        assert!(
            matches!(c.alerts, AlertsConfig::Stdout(_)),
            "{:?}",
            c.alerts
        );
    }

    #[test]
    fn unknown_keys_are_errors_with_their_line() {
        let e = parse("data_dir = \"d\"\n[source]\nkind = \"file\"\npath = \"p\"\nfolow = true\n")
            .unwrap_err();
        assert_eq!(e.line, Some(5));
        assert!(e.message.contains("unknown field `folow`"), "{e}");
        assert!(e.to_string().starts_with("p.toml:5: "), "{e}");
    }

    #[test]
    fn kind_specific_keys_are_checked() {
        let e = parse("data_dir = \"d\"\n[source]\nkind = \"kafka\"\n").unwrap_err();
        assert!(e.message.contains("`source.topics`"), "{e}");
        let e = parse("data_dir = \"d\"\n[source]\nkind = \"kafka\"\ntopics = [\"posts\"]\n")
            .unwrap_err();
        assert!(e.message.contains("needs `[kafka]`"), "{e}");
        let e = parse("data_dir = \"d\"\n[source]\nkind = \"file\"\npath = \"p\"\n[dead_letter]\nkind = \"kafka\"\n").unwrap_err();
        assert!(e.message.contains("`dead_letter.topic` is required"), "{e}");
        let e = parse("data_dir = \"d\"\n[source]\nkind = \"pigeon\"\n").unwrap_err();
        assert!(e.message.contains("unknown variant `pigeon`"), "{e}");
    }

    #[test]
    fn spike_settings_are_checked_and_named() {
        let base = "data_dir = \"d\"\n[source]\nkind = \"file\"\npath = \"p\"\n";
        let c = parse(&format!(
            "{base}[spike]\nbucket_secs = 300\n[spike.categories.fire]\nmin_count = 9\n"
        ))
        .unwrap();
        assert_eq!(c.spike.bucket_secs, 300);
        assert_eq!(c.spike.thresholds("fire").min_count, 9);
        assert_eq!(
            c.spike.thresholds("fire").false_alerts_per_day,
            c.spike.thresholds.false_alerts_per_day,
            "inherited"
        );
        let e = parse(&format!("{base}[spike.thresholds]\nk = 5\n")).unwrap_err();
        assert!(
            e.message.contains("`spike.thresholds`: need 1 ≤ k ≤ n"),
            "{e}"
        );
        let e = parse(&format!("{base}[spike]\nbuckets = 5\n")).unwrap_err();
        assert!(e.message.contains("unknown field `buckets`"), "{e}");
        assert_eq!(e.line, Some(6));
        let e = parse(&format!("{base}[spike.categories.fire]\nzz = 1\n")).unwrap_err();
        assert!(e.message.contains("unknown field `zz`"), "{e}");
    }

    #[test]
    fn the_display_zone_defaults_to_beijing_and_is_checked() {
        let base = "data_dir = \"d\"\n[source]\nkind = \"file\"\npath = \"p\"\n";
        assert_eq!(parse(base).unwrap().display.offset_secs, 8 * 3600);
        let c = parse(&format!("{base}[display]\ntimezone = \"UTC\"\n")).unwrap();
        assert_eq!(c.display.offset_secs, 0);
        let e = parse(&format!("{base}[display]\ntimezone = \"Asia/Shanghai\"\n")).unwrap_err();
        assert!(
            e.message.contains("[display] timezone `Asia/Shanghai`"),
            "{e}"
        );
    }

    #[test]
    fn http_limits_and_tokens_are_checked() {
        let base = "data_dir = \"d\"\n[source]\nkind = \"file\"\npath = \"p\"\n";
        let c = parse(&format!(
            "{base}[http]\nheader_read_timeout_secs = 5\nidle_timeout_secs = 7\nmax_connections = 9\n"
        ))
        .unwrap();
        assert_eq!(
            (
                c.http.header_read_timeout,
                c.http.idle_timeout,
                c.http.max_connections
            ),
            (Duration::from_secs(5), Duration::from_secs(7), 9)
        );
        let e = parse(&format!("{base}[http]\nidle_timeout_secs = 0\n")).unwrap_err();
        assert!(
            e.message
                .contains("`http.idle_timeout_secs` must be at least 1"),
            "{e}"
        );
        let hash = "ab".repeat(32);
        let e = parse(&format!(
            "{base}[[http.tokens]]\nname = \"a\"\nsha256 = \"{hash}\"\nrole = \"analyst\"\n[[http.tokens]]\nname = \"b\"\nsha256 = \"{}\"\nrole = \"admin\"\n",
            hash.to_uppercase()
        ))
        .unwrap_err();
        assert!(
            e.message
                .contains("`http.tokens` `b`: the same sha256 as `a`"),
            "{e}"
        );
    }

    #[test]
    fn environment_overrides() {
        let env = |k: &str| match k {
            "YUQING_KAFKA_BROKERS" => Some("k1:9092,k2:9092".to_string()),
            "YUQING_HTTP_ADDR" => Some("0.0.0.0:9000".to_string()),
            "YUQING_DATA_DIR" => Some("/var/lib/yuqing".to_string()),
            _ => None,
        };
        let c = PipelineConfig::parse(
            "data_dir = \"d\"\n[source]\nkind = \"kafka\"\ntopics = [\"posts\"]\n",
            "p.toml",
            Path::new("/etc"),
            env,
        )
        .unwrap();
        assert_eq!(c.kafka.unwrap().brokers, "k1:9092,k2:9092");
        assert_eq!(c.http.addr, "0.0.0.0:9000");
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/yuqing"));
    }

    const FILE_SOURCE: &str = "data_dir = \"d\"\n[source]\nkind = \"file\"\npath = \"p\"\n";

    #[test]
    fn every_kind_points_at_its_own_unknown_key() {
        for t in TAGGED {
            let base = if t.section == "source" {
                "data_dir = \"d\"\n"
            } else {
                FILE_SOURCE
            };
            // The kinds listed are the enum's.
            let e = parse(&format!("{base}[{}]\nkind = \"zz\"\n", t.section)).unwrap_err();
            let mut expected: Vec<&str> = e.message.split('`').skip(5).step_by(2).collect();
            let mut kinds = t.kinds.to_vec();
            expected.sort_unstable();
            kinds.sort_unstable();
            assert_eq!(expected, kinds, "{e}");
            for kind in t.kinds {
                let text = format!("{base}[{}]\nkind = \"{kind}\"\nbogus = 1\n", t.section);
                let e = parse(&text).unwrap_err();
                assert_eq!(e.line, Some(text.lines().count()), "{text}\n{e}");
                assert!(e.message.contains("unknown field `bogus`"), "{e}");
            }
        }
    }

    #[test]
    fn a_key_of_another_kind_is_named_with_its_kind() {
        let e = parse(
            "data_dir = \"d\"\n[source]\nkind = \"kafka\"\ntopics = [\"t\"]\nfollow = true\n",
        )
        .unwrap_err();
        assert_eq!(e.line, Some(5));
        assert!(
            e.message.starts_with("unknown field `follow`")
                && e.message
                    .ends_with("`source.follow` is for `source.kind = \"file\"`"),
            "{e}"
        );
        let e = parse(&format!("{FILE_SOURCE}topics = [\"t\"]\n")).unwrap_err();
        assert!(
            e.message
                .contains("`source.topics` is for `source.kind = \"kafka\"`"),
            "{e}"
        );
        let e = parse(&format!(
            "{FILE_SOURCE}[dead_letter]\nkind = \"log\"\npath = \"x\"\n"
        ))
        .unwrap_err();
        assert_eq!(e.line, Some(7));
        assert!(
            e.message
                .contains("`dead_letter.path` is for `dead_letter.kind = \"file\"`"),
            "{e}"
        );
        // A key no kind takes is only unknown.
        let e = parse(&format!(
            "{FILE_SOURCE}[dead_letter]\nkind = \"log\"\nkeep = 5\n"
        ))
        .unwrap_err();
        assert!(
            e.message.starts_with("unknown field `keep`") && !e.message.contains(" is for "),
            "{e}"
        );
    }

    #[test]
    fn a_missing_key_or_kind_is_named_with_its_section() {
        let e = parse(&format!(
            "{FILE_SOURCE}[alerts]\nkind = \"file\"\nkeep = 3\n"
        ))
        .unwrap_err();
        assert_eq!(
            e.message,
            "`alerts.path` is required when `alerts.kind = \"file\"`"
        );
        assert_eq!(e.line, Some(5), "the section");
        let e = parse("data_dir = \"d\"\n[source]\npath = \"p\"\n").unwrap_err();
        assert_eq!(e.message, "`source.kind` is required: one of file, kafka");
        assert_eq!(e.line, Some(2));
        let e = parse("data_dir = \"d\"\n[source]\nkind = \"file\"\n").unwrap_err();
        assert_eq!(
            e.message,
            "`source.path` is required when `source.kind = \"file\"`"
        );
        // A bad value inside a tagged section points at its line.
        let e =
            parse("data_dir = \"d\"\n[source]\nkind = \"file\"\npath = \"p\"\nfollow = \"yes\"\n")
                .unwrap_err();
        assert_eq!(e.line, Some(5));
        assert!(e.message.contains("expected a boolean"), "{e}");
    }

    #[test]
    fn watches_are_read_and_checked_with_their_line() {
        let c = parse(&format!(
            "{FILE_SOURCE}[[watches]]\nname = \"leak\"\nquery = '\"化工厂 泄漏\"'\n\
             [[watches]]\nname = \"积水\"\nquery = \"积水 OR 内涝\"\ncategory = \"flood\"\n\
             region = \"滁州\"\nlevel = \"yellow\"\nrule = \"min_count\"\nmin_count = 3\nwindow_mins = 30\n"
        ))
        .unwrap();
        assert_eq!(c.watches.len(), 2);
        assert_eq!(c.watches[0].query, "\"化工厂 泄漏\"");
        assert_eq!(c.watches[0].rule, crate::watch::WatchRule::Every);
        assert_eq!(c.watches[1].rule, crate::watch::WatchRule::MinCount);
        assert_eq!(c.watches[1].level, Some(yuqing_model::Level::Yellow));
        assert_eq!(
            (c.watches[1].min_count, c.watches[1].window_mins),
            (Some(3), Some(30))
        );

        let e = parse(&format!(
            "{FILE_SOURCE}[[watches]]\nname = \"a\"\nquery = \"x\"\nmin_cuont = 3\n"
        ))
        .unwrap_err();
        assert!(e.message.contains("unknown field `min_cuont`"), "{e}");
        assert_eq!(e.line, Some(8), "{e}");
        let e = parse(&format!(
            "{FILE_SOURCE}[[watches]]\nname = \"a\"\nquery = \"x\"\n\
             [[watches]]\nname = \"b\"\nquery = \"y\"\nrule = \"min_count\"\nmin_count = 3\n"
        ))
        .unwrap_err();
        assert_eq!(
            e.message,
            "`watches[1]` (`b`): `rule = \"min_count\"` needs `window_mins`"
        );
        assert_eq!(e.line, Some(8), "{e}");
        let e = parse(&format!(
            "{FILE_SOURCE}[[watches]]\nname = \"a\"\nquery = \"x\"\n\
             [[watches]]\nname = \"a\"\nquery = \"y\"\n"
        ))
        .unwrap_err();
        assert!(
            e.message.contains("the name `a` is taken by `watches[0]`"),
            "{e}"
        );
        let e = parse(&format!(
            "{FILE_SOURCE}[[watches]]\nname = \"a b\"\nquery = \"x\"\n"
        ))
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("p.toml:5: `watches[0]` (`a b`): `name`"),
            "{e}"
        );
        let e = parse(&format!("{FILE_SOURCE}[[watches]]\nname = \"a\"\n")).unwrap_err();
        assert!(e.message.contains("missing field `query`"), "{e}");
    }

    #[test]
    fn webhooks_are_read_with_any_alerts_kind_and_checked() {
        let c = parse(&format!(
            "{FILE_SOURCE}[http]\npublic_url = \"https://yq.example.org\"\n\
             [[alerts.webhooks]]\nurl = \"https://oapi.dingtalk.com/robot/send?access_token=t\"\n\
             format = \"dingtalk\"\nsecret = \"SEC1\"\nmin_level = \"orange\"\n\
             states = [\"open\", \"resolved\"]\ncategories = [\"fire\"]\n\
             [[alerts.webhooks]]\nname = \"ops\"\nurl = \"http://127.0.0.1:9/hook\"\n\
             rate_per_minute = 60\nheaders = {{ Authorization = \"Bearer x\" }}\n"
        ))
        .unwrap();
        assert!(
            matches!(c.alerts, AlertsConfig::Stdout(_)),
            "{:?}",
            c.alerts
        );
        assert_eq!(c.http.public_url.as_deref(), Some("https://yq.example.org"));
        let hooks = c.alerts.webhooks();
        assert_eq!(hooks.len(), 2);
        assert_eq!(hooks[0].format, yuqing_notify::Format::Dingtalk);
        assert_eq!(hooks[0].min_level, Some(yuqing_model::Level::Orange));
        assert_eq!(hooks[0].rate_per_minute, 20);
        assert_eq!(hooks[1].key(), "ops");
        assert_eq!(hooks[1].headers["Authorization"], "Bearer x");
        let c = parse(&format!(
            "{FILE_SOURCE}[alerts]\nkind = \"file\"\npath = \"a.jsonl\"\n[[alerts.webhooks]]\nurl = \"http://h/x\"\n"
        ))
        .unwrap();
        assert_eq!(c.alerts.webhooks().len(), 1);

        let e = parse(&format!(
            "{FILE_SOURCE}[[alerts.webhooks]]\nurl = \"http://h/x\"\nformat = \"slack\"\n"
        ))
        .unwrap_err();
        assert!(e.message.contains("unknown variant `slack`"), "{e}");
        assert_eq!(e.line, Some(7), "{e}");
        let e = parse(&format!(
            "{FILE_SOURCE}[[alerts.webhooks]]\nurl = \"http://h/x\"\nretries = 3\n"
        ))
        .unwrap_err();
        assert!(e.message.contains("unknown field `retries`"), "{e}");
        let e = parse(&format!(
            "{FILE_SOURCE}[[alerts.webhooks]]\nurl = \"h/x\"\n"
        ))
        .unwrap_err();
        assert!(
            e.message
                .starts_with("`alerts.webhooks[0].url` must be an http"),
            "{e}"
        );
        let e = parse(&format!(
            "{FILE_SOURCE}[[alerts.webhooks]]\nurl = \"http://h/x\"\nsecret = \"s\"\n"
        ))
        .unwrap_err();
        assert!(
            e.message
                .contains("`alerts.webhooks[0].secret` is for `format = \"dingtalk\"`"),
            "{e}"
        );
        let e = parse(&format!(
            "{FILE_SOURCE}[http]\npublic_url = \"yq.example.org\"\n"
        ))
        .unwrap_err();
        assert!(e.message.starts_with("`http.public_url` must be"), "{e}");
    }

    #[test]
    fn sinks_without_a_kind_take_their_default_kind() {
        let c = parse(&format!("{FILE_SOURCE}[alerts]\nkeep = 5\n[dead_letter]\n")).unwrap();
        assert_eq!(
            c.alerts,
            AlertsConfig::Stdout(AlertsOptions {
                keep: 5,
                webhooks: Vec::new()
            })
        );
        assert_eq!(c.dead_letter, DeadLetterConfig::Log(NoOptions {}));
        let c = parse(
            "data_dir = \"d\"\nalerts = { kind = \"file\", path = \"a.jsonl\" }\n[source]\nkind = \"file\"\npath = \"p\"\n",
        )
        .unwrap();
        assert_eq!(
            c.alerts,
            AlertsConfig::File(FileAlertsConfig {
                path: PathBuf::from("/etc/yuqing/a.jsonl"),
                keep: 10_000,
                webhooks: Vec::new()
            })
        );
        let e = parse(&format!("{FILE_SOURCE}[dead_letter]\nkind = \"stdout\"\n")).unwrap_err();
        assert_eq!(e.line, Some(6));
        assert!(
            e.message
                .starts_with("`dead_letter.kind`: unknown variant `stdout`"),
            "{e}"
        );
    }

    #[test]
    fn durations_authors_and_roles_are_typed_where_they_are_read() {
        let hash = "ab".repeat(32);
        let c = parse(&format!(
            "{FILE_SOURCE}[index]\ncommit_interval_ms = 250\nauthors = \"raw\"\n[runtime]\nshutdown_timeout_secs = 7\n[[http.tokens]]\nname = \"ops\"\nsha256 = \"{hash}\"\nrole = \"admin\"\n"
        ))
        .unwrap();
        assert_eq!(c.index.commit_interval, Duration::from_millis(250));
        assert_eq!(c.index.authors, AuthorPolicy::Raw);
        assert_eq!(c.runtime.shutdown_timeout, Duration::from_secs(7));
        assert_eq!(c.http.tokens[0].role, TokenRole::Admin);
        assert_eq!(
            parse(FILE_SOURCE).unwrap().index.authors,
            AuthorPolicy::Pseudonymise
        );

        let e = parse(&format!("{FILE_SOURCE}[index]\nauthors = \"hash\"\n")).unwrap_err();
        assert_eq!(e.line, Some(6));
        assert_eq!(
            e.message,
            "`index.authors` must be pseudonymise, raw or drop, got `hash`"
        );
        let e = parse(&format!("{FILE_SOURCE}[index]\ncommit_interval_ms = -1\n")).unwrap_err();
        assert_eq!(e.line, Some(6));
        assert!(e.message.contains("`-1`"), "{e}");
        let e = parse(&format!(
            "{FILE_SOURCE}[[http.tokens]]\nname = \"ops\"\nsha256 = \"{hash}\"\nrole = \"root\"\n"
        ))
        .unwrap_err();
        assert_eq!(e.line, Some(5), "the entry");
        assert_eq!(
            e.message,
            "`http.tokens` `ops`: role must be analyst or admin, got `root`"
        );
        let e = parse(&format!(
            "{FILE_SOURCE}[[http.tokens]]\nname = \"ops\"\nsha256 = \"abc\"\nrole = \"admin\"\n"
        ))
        .unwrap_err();
        assert!(
            e.message.contains("`ops`: sha256 must be 64 hex digits"),
            "{e}"
        );
    }

    #[test]
    fn a_replica_reads_in_a_group_of_its_own() {
        let kafka = "data_dir = \"d\"\n[source]\nkind = \"kafka\"\ntopics = [\"posts\"]\ngroup_id = \"office\"\n[kafka]\nbrokers = \"k:9092\"\n";
        let c = parse(kafka).unwrap();
        assert_eq!(c.replication.replica, None);
        assert_eq!(c.consumer_group().as_deref(), Some("office"));
        let c = parse(&format!("{kafka}[replication]\nreplica = \"b-2\"\n")).unwrap();
        assert_eq!(c.consumer_group().as_deref(), Some("office-b-2"));
        // The same file on every replica, the name from the environment.
        let env = |k: &str| (k == "YUQING_REPLICA").then(|| "c".to_string());
        let c = PipelineConfig::parse(kafka, "p.toml", Path::new("/etc"), env).unwrap();
        assert_eq!(c.consumer_group().as_deref(), Some("office-c"));
        assert_eq!(parse(FILE_SOURCE).unwrap().consumer_group(), None);

        for (bad, says) in [
            ("\"\"", "must be 1 to 32 characters, got 0"),
            ("\"B\"", "`B`: `B` is not allowed"),
            ("\"a_b\"", "`_` is not allowed"),
            ("\"副本\"", "`副` is not allowed"),
            (
                &format!("\"{}\"", "a".repeat(33)),
                "must be 1 to 32 characters, got 33",
            ),
        ] {
            let e = parse(&format!("{kafka}[replication]\nreplica = {bad}\n")).unwrap_err();
            assert!(
                e.message.starts_with("`replication.replica`") && e.message.contains(says),
                "{bad}: {e}"
            );
        }
        let e = parse(&format!("{kafka}[replication]\nreplica = 3\n")).unwrap_err();
        assert_eq!(e.line, Some(9));
        assert!(e.message.contains("expected a string"), "{e}");
        let e = parse(&format!("{kafka}[replication]\nname = \"a\"\n")).unwrap_err();
        assert_eq!(e.line, Some(9));
        assert!(e.message.contains("`name`"), "{e}");
        let e = parse(&format!("{FILE_SOURCE}[replication]\nreplica = \"a\"\n")).unwrap_err();
        assert!(e.message.contains("needs a Kafka source"), "{e}");
    }

    #[test]
    fn every_environment_override_is_applied_and_documented() {
        let docs = include_str!("../../../docs/config.md");
        for o in ENV_OVERRIDES {
            assert!(
                docs.contains(&format!("| `{}` | `{}`", o.var, o.key)),
                "{} is documented",
                o.var
            );
        }
        let env = |k: &str| (k == "YUQING_LOG_FORMAT").then(|| "json".to_string());
        let c = PipelineConfig::parse(FILE_SOURCE, "p.toml", Path::new("/etc"), env).unwrap();
        assert_eq!(c.log.format, LogFormat::Json);
        let env = |k: &str| (k == "YUQING_LOG_FORMAT").then(|| "xml".to_string());
        let e = PipelineConfig::parse(FILE_SOURCE, "p.toml", Path::new("/etc"), env).unwrap_err();
        assert_eq!(e.message, "YUQING_LOG_FORMAT `xml`: expected text or json");
        let env = |k: &str| (k == "YUQING_KAFKA_BROKERS").then(String::new);
        let c = PipelineConfig::parse(FILE_SOURCE, "p.toml", Path::new("/etc"), env).unwrap();
        assert_eq!(c.kafka, None, "an empty value is ignored");
    }

    #[test]
    fn the_shipped_pipelines_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipelines");
        let lexicon = yuqing_lexicon::Lexicon::builtin().unwrap();
        let (mut n, mut watches) = (0, 0);
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let text = std::fs::read_to_string(&path).unwrap();
                let file = path.display().to_string();
                let c = PipelineConfig::parse(&text, &file, &dir, |_| None).unwrap();
                // Their watches are valid with the built-in dictionaries.
                for w in &c.watches {
                    w.compile(&lexicon)
                        .unwrap_or_else(|e| panic!("{file}: watch `{}`: {e}", w.name));
                    watches += 1;
                }
                n += 1;
            }
        }
        assert!(n >= 3, "demo, kafka and webhook");
        assert!(watches >= 2, "the webhook example has watches");
    }
}
