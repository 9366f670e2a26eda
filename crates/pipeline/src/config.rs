//! Pipeline configuration: a TOML file, every key documented in
//! `docs/config.md`. Unknown keys are errors naming the key; relative
//! paths are relative to the configuration file; a few environment
//! variables override keys (see [`ENV_OVERRIDES`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Environment variables that override configuration keys, applied after
/// the file is read.
pub const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("YUQING_DATA_DIR", "data_dir"),
    ("YUQING_HTTP_ADDR", "http.addr"),
    ("YUQING_KAFKA_BROKERS", "kafka.brokers"),
    ("YUQING_LOG_FORMAT", "log.format"),
];

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

/// `[source]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// `file` or `kafka`.
    pub kind: SourceKind,
    /// file: the JSONL file.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// file: keep reading as the file grows (like `tail -f`).
    #[serde(default)]
    pub follow: bool,
    /// kafka: topics to consume.
    #[serde(default)]
    pub topics: Vec<String>,
    /// kafka: consumer group.
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

/// Source kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A JSONL file.
    File,
    /// Kafka topics, as a consumer group.
    Kafka,
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
    /// Commit when the oldest uncommitted post is this old, in ms: how long
    /// a post may wait before it is searchable.
    #[serde(default = "default_commit_ms")]
    pub commit_interval_ms: u64,
    /// Commit after this many posts.
    #[serde(default = "default_commit_docs")]
    pub commit_docs: usize,
    /// Delete posts older than this many days (0: keep everything).
    #[serde(default)]
    pub retention_days: u32,
    /// `pseudonymise`, `raw` or `drop`.
    #[serde(default = "default_authors")]
    pub authors: String,
    /// tantivy's indexing memory, MiB.
    #[serde(default = "default_memory")]
    pub writer_memory_mib: usize,
}

fn default_commit_ms() -> u64 {
    1000
}
fn default_commit_docs() -> usize {
    50_000
}
fn default_authors() -> String {
    "pseudonymise".into()
}
fn default_memory() -> usize {
    256
}

impl Default for IndexConfig {
    fn default() -> Self {
        IndexConfig {
            commit_interval_ms: default_commit_ms(),
            commit_docs: default_commit_docs(),
            retention_days: 0,
            authors: default_authors(),
            writer_memory_mib: default_memory(),
        }
    }
}

/// `[dead_letter]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterConfig {
    /// `log` (stderr), `file` (JSONL) or `kafka` (a topic).
    #[serde(default = "default_dlq_kind")]
    pub kind: SinkKind,
    /// kafka: the topic.
    #[serde(default)]
    pub topic: Option<String>,
    /// file: the JSONL file (appended to).
    #[serde(default)]
    pub path: Option<PathBuf>,
}

fn default_dlq_kind() -> SinkKind {
    SinkKind::Log
}

impl Default for DeadLetterConfig {
    fn default() -> Self {
        DeadLetterConfig {
            kind: SinkKind::Log,
            topic: None,
            path: None,
        }
    }
}

/// `[alerts]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// `stdout`, `file`, `kafka` or `none`.
    #[serde(default = "default_alerts_kind")]
    pub kind: SinkKind,
    /// kafka: the topic.
    #[serde(default)]
    pub topic: Option<String>,
    /// file: the JSONL file (appended to).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Alerts the API keeps (`<data_dir>/alerts.jsonl`); the oldest go
    /// beyond.
    #[serde(default = "default_keep")]
    pub keep: usize,
}

fn default_alerts_kind() -> SinkKind {
    SinkKind::Stdout
}
fn default_keep() -> usize {
    10_000
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            kind: SinkKind::Stdout,
            topic: None,
            path: None,
            keep: default_keep(),
        }
    }
}

/// Where a sink writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkKind {
    /// Nowhere.
    None,
    /// One line per message on stderr, via the log.
    Log,
    /// JSON lines on stdout.
    Stdout,
    /// JSON lines appended to a file.
    File,
    /// A Kafka topic.
    Kafka,
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
    /// Seconds a client has to send a request's headers (from when the
    /// server starts waiting for the request).
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout_secs: u64,
    /// Seconds a connection may stay silent between requests (or while an
    /// answer is not read) before it is closed.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_secs: u64,
    /// Connections open at once; more are answered 503.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

/// `[[http.tokens]]`: one accepted bearer token.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who holds it (logs show the name, never the token).
    pub name: String,
    /// SHA-256 of the token, hex (`yuqing token new` prints it).
    pub sha256: String,
    /// `analyst` (read) or `admin` (read, and dictionary reload).
    pub role: String,
}

fn yes() -> bool {
    true
}
fn default_addr() -> String {
    "127.0.0.1:8080".into()
}
// The same defaults as `yuqing_server::Limits` (checked by a test of the
// binary, which depends on both).
fn default_header_read_timeout() -> u64 {
    20
}
fn default_idle_timeout() -> u64 {
    15
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
            header_read_timeout_secs: default_header_read_timeout(),
            idle_timeout_secs: default_idle_timeout(),
            max_connections: default_max_connections(),
        }
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
    /// On SIGINT/SIGTERM: time allowed to drain and commit, seconds.
    #[serde(default = "default_shutdown")]
    pub shutdown_timeout_secs: u64,
    /// A file source without `follow`: keep serving the API after the file
    /// is read (until a signal), instead of exiting.
    #[serde(default = "yes")]
    pub serve_after_end: bool,
}

fn default_in_flight() -> usize {
    4
}
fn default_shutdown() -> u64 {
    30
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            workers: 0,
            batches_in_flight: default_in_flight(),
            shutdown_timeout_secs: default_shutdown(),
            serve_after_end: true,
        }
    }
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
        let mut config: PipelineConfig = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            ConfigError {
                file: file.to_string(),
                line,
                message: e.message().trim().to_string(),
            }
        })?;
        let error = |message: String| ConfigError {
            file: file.to_string(),
            line: None,
            message,
        };
        config.apply_env(&env).map_err(error)?;
        config.display.offset_secs = yuqing_model::parse_utc_offset(&config.display.timezone)
            .map_err(|e| error(format!("[display] timezone {e}")))?;
        config.resolve_paths(base);
        config.check_io().map_err(error)?;
        config.check_limits().map_err(error)?;
        Ok(config)
    }

    /// The environment overrides (`YUQING_DATA_DIR`, `YUQING_HTTP_ADDR`,
    /// `YUQING_LOG_FORMAT`, `YUQING_KAFKA_BROKERS`).
    fn apply_env(&mut self, env: &impl Fn(&str) -> Option<String>) -> Result<(), String> {
        if let Some(v) = env("YUQING_DATA_DIR").filter(|v| !v.is_empty()) {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = env("YUQING_HTTP_ADDR").filter(|v| !v.is_empty()) {
            self.http.addr = v;
        }
        if let Some(v) = env("YUQING_LOG_FORMAT").filter(|v| !v.is_empty()) {
            self.log.format = v.parse().map_err(|e| format!("YUQING_LOG_FORMAT {e}"))?;
        }
        if let Some(v) = env("YUQING_KAFKA_BROKERS").filter(|v| !v.is_empty()) {
            match &mut self.kafka {
                Some(k) => k.brokers = v,
                None => {
                    self.kafka = Some(KafkaConfig {
                        brokers: v,
                        client_id: default_client_id(),
                        options: BTreeMap::new(),
                    })
                }
            }
        }
        Ok(())
    }

    /// Relative paths are relative to `base`.
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
        if let Some(p) = &mut self.source.path {
            resolve(p);
        }
        if let Some(p) = &mut self.dead_letter.path {
            resolve(p);
        }
        if let Some(p) = &mut self.alerts.path {
            resolve(p);
        }
    }

    /// The source and sinks: each kind has the keys it needs and no others.
    fn check_io(&self) -> Result<(), String> {
        let s = &self.source;
        match s.kind {
            SourceKind::File => {
                if s.path.is_none() {
                    return Err("`source.path` is required when `source.kind = \"file\"`".into());
                }
                if !s.topics.is_empty() {
                    return Err("`source.topics` is for `source.kind = \"kafka\"`; a file source reads `source.path`".into());
                }
            }
            SourceKind::Kafka => {
                if s.topics.is_empty() {
                    return Err("`source.topics` must list at least one topic when `source.kind = \"kafka\"`".into());
                }
                if s.path.is_some() || s.follow {
                    return Err(
                        "`source.path` and `source.follow` are for `source.kind = \"file\"`".into(),
                    );
                }
            }
        }
        if s.batch_size == 0 || s.batch_size > 100_000 {
            return Err(format!(
                "`source.batch_size` must be from 1 to 100000, got {}",
                s.batch_size
            ));
        }
        for (section, kind, topic, path) in [
            (
                "dead_letter",
                self.dead_letter.kind,
                &self.dead_letter.topic,
                &self.dead_letter.path,
            ),
            (
                "alerts",
                self.alerts.kind,
                &self.alerts.topic,
                &self.alerts.path,
            ),
        ] {
            match kind {
                SinkKind::Kafka if topic.is_none() => {
                    return Err(format!(
                        "`{section}.topic` is required when `{section}.kind = \"kafka\"`"
                    ));
                }
                SinkKind::File if path.is_none() => {
                    return Err(format!(
                        "`{section}.path` is required when `{section}.kind = \"file\"`"
                    ));
                }
                _ => {}
            }
        }
        if self.dead_letter.kind == SinkKind::Stdout {
            return Err(
                "`dead_letter.kind` must be log, file, kafka or none: stdout is for alerts".into(),
            );
        }
        let uses_kafka = s.kind == SourceKind::Kafka
            || self.dead_letter.kind == SinkKind::Kafka
            || self.alerts.kind == SinkKind::Kafka;
        if uses_kafka && self.kafka.is_none() {
            return Err(
                "a Kafka source or sink needs `[kafka]` with `brokers` (or YUQING_KAFKA_BROKERS)"
                    .into(),
            );
        }
        Ok(())
    }

    /// Values in range: index, detector, HTTP, alerts, runtime.
    fn check_limits(&self) -> Result<(), String> {
        if !["pseudonymise", "raw", "drop"].contains(&self.index.authors.as_str()) {
            return Err(format!(
                "`index.authors` must be pseudonymise, raw or drop, got `{}`",
                self.index.authors
            ));
        }
        if self.index.commit_docs == 0 {
            return Err("`index.commit_docs` must be at least 1".into());
        }
        self.spike.validate()?;
        for (key, value) in [
            (
                "header_read_timeout_secs",
                self.http.header_read_timeout_secs,
            ),
            ("idle_timeout_secs", self.http.idle_timeout_secs),
            ("max_connections", self.http.max_connections as u64),
        ] {
            if value == 0 {
                return Err(format!("`http.{key}` must be at least 1"));
            }
        }
        for (i, t) in self.http.tokens.iter().enumerate() {
            if let Some(first) = self.http.tokens[..i]
                .iter()
                .find(|o| o.sha256.trim().eq_ignore_ascii_case(t.sha256.trim()))
            {
                return Err(format!(
                    "`http.tokens` `{}`: the same sha256 as `{}`; list each token once, with one role",
                    t.name, first.name
                ));
            }
            if !["analyst", "admin"].contains(&t.role.as_str()) {
                return Err(format!(
                    "`http.tokens` `{}`: role must be analyst or admin, got `{}`",
                    t.name, t.role
                ));
            }
            let hex = t.sha256.trim();
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!(
                    "`http.tokens` `{}`: sha256 must be 64 hex digits (`yuqing token new` prints one)",
                    t.name
                ));
            }
        }
        if self.alerts.keep == 0 {
            return Err("`alerts.keep` must be at least 1".into());
        }
        if self.runtime.batches_in_flight == 0 {
            return Err("`runtime.batches_in_flight` must be at least 1".into());
        }
        Ok(())
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
        assert_eq!(
            c.source.path,
            Some(PathBuf::from("/etc/yuqing/posts.jsonl"))
        );
        assert_eq!(c.http.addr, "127.0.0.1:8080");
        assert_eq!(c.index.commit_interval_ms, 1000);
        assert_eq!(c.alerts.kind, SinkKind::Stdout);
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
                c.http.header_read_timeout_secs,
                c.http.idle_timeout_secs,
                c.http.max_connections
            ),
            (5, 7, 9)
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
}
