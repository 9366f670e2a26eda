//! Keyword watches: a saved search query, with the search's filters and a
//! rule, evaluated on every scored post in the sink; a match raises an
//! alert message with `trigger: "watch"` (docs/alerts.md, Watches).
//!
//! - [`WatchSpec`]: a watch as written in `[[watches]]`, in the API's
//!   bodies and in `DATA_DIR/watches.json`; its checks.
//! - [`WatchRegistry`]: the watches of a process — the configuration's
//!   (read-only) and the API's (persisted) — shared between the API and
//!   the sink; a change bumps its generation and the sink compiles the set
//!   again before the next post.
//! - `engine` (the sink's side): the compiled set (one hash lookup per
//!   post word finds the watches to evaluate), the rules' windows and the
//!   alert messages.

mod engine;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use yuqing_index::TokenQuery;
use yuqing_lexicon::{Lexicon, SharedLexicon};
use yuqing_model::Level;

pub(crate) use engine::WatchEngine;
pub use engine::WatchMatcher;

/// The file in the data directory that holds the watches made through the
/// API.
pub const WATCHES_FILE: &str = "watches.json";

/// Most watches a process holds (configuration and API together).
pub const MAX_WATCHES: usize = 10_000;

/// Longest watch name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// Longest `window_mins`: a week.
pub const MAX_WINDOW_MINS: u32 = 7 * 24 * 60;

/// Largest `min_count`.
pub const MAX_MIN_COUNT: u32 = 1_000;

/// When a watch raises an alert.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchRule {
    /// Every matching post: one `open` message per post.
    #[default]
    Every,
    /// At least `min_count` independent reports (distinct authors) within
    /// `window_mins`: open, updated as the count grows, resolved after a
    /// window without a match.
    MinCount,
}

/// One watch, as configured or posted to the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchSpec {
    /// Unique name: 1 to 64 characters, ASCII letters, digits, `_`, `-`
    /// or Chinese characters.
    pub name: String,
    /// A query in the search syntax (words, "phrases", AND/OR/NOT, + and
    /// -).
    pub query: String,
    /// Only posts flagged with this category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Only posts naming this region (a prefecture's posts count for its
    /// province); aliases resolve (`滁州` → `滁州市`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Only posts graded at this level or above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<Level>,
    /// `every` (the default) or `min_count`.
    #[serde(default)]
    pub rule: WatchRule,
    /// For `rule = "min_count"`: independent reports needed (2 to 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_count: Option<u32>,
    /// For `rule = "min_count"`: the window, minutes (1 to 10080).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_mins: Option<u32>,
}

fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || c == '_'
        || c == '-'
        || ('\u{4e00}'..='\u{9fff}').contains(&c)
        || ('\u{3400}'..='\u{4dbf}').contains(&c)
}

impl WatchSpec {
    /// The checks that need no dictionaries: the name, the rule and its
    /// keys, a query that is not blank.
    pub fn check_shape(&self) -> Result<(), String> {
        let chars = self.name.chars().count();
        if chars == 0 || chars > MAX_NAME_CHARS {
            return Err(format!(
                "`name` must be 1 to {MAX_NAME_CHARS} characters, got {chars}"
            ));
        }
        if let Some(bad) = self.name.chars().find(|&c| !name_char(c)) {
            return Err(format!(
                "`name` `{}` has `{bad}`: use ASCII letters, digits, `_`, `-` or Chinese characters",
                self.name
            ));
        }
        if self.query.trim().is_empty() {
            return Err("`query` is empty".into());
        }
        match self.rule {
            WatchRule::Every => {
                if self.min_count.is_some() || self.window_mins.is_some() {
                    return Err(
                        "`min_count` and `window_mins` go with `rule = \"min_count\"`".into(),
                    );
                }
            }
            WatchRule::MinCount => {
                let Some(n) = self.min_count else {
                    return Err("`rule = \"min_count\"` needs `min_count`".into());
                };
                if !(2..=MAX_MIN_COUNT).contains(&n) {
                    return Err(format!(
                        "`min_count` must be from 2 to {MAX_MIN_COUNT} (for one report use `rule = \"every\"`), got {n}"
                    ));
                }
                let Some(w) = self.window_mins else {
                    return Err("`rule = \"min_count\"` needs `window_mins`".into());
                };
                if !(1..=MAX_WINDOW_MINS).contains(&w) {
                    return Err(format!(
                        "`window_mins` must be from 1 to {MAX_WINDOW_MINS}, got {w}"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Every check, with the dictionaries: the query compiled with their
    /// analyzer, the category known, the region resolved to its canonical
    /// name.
    pub fn compile(&self, lexicon: &Lexicon) -> Result<CompiledWatch, String> {
        self.check_shape()?;
        let query = TokenQuery::parse(&self.query, lexicon.analyzer())
            .map_err(|e| format!("`query`: {e}"))?;
        let mut spec = self.clone();
        if let Some(c) = &self.category
            && lexicon.category_index(c).is_none()
        {
            let known: Vec<&str> = lexicon.categories().iter().map(|c| c.id.as_str()).collect();
            return Err(format!(
                "unknown `category` `{c}` (known: {})",
                known.join(", ")
            ));
        }
        if let Some(r) = &self.region {
            match lexicon.region_by_name(r) {
                Some(region) => spec.region = Some(region.name.clone()),
                None => {
                    return Err(format!(
                        "unknown `region` `{r}`: use a name from the gazetteer, e.g. 滁州市 or 滁州"
                    ));
                }
            }
        }
        Ok(CompiledWatch { spec, query })
    }
}

/// A watch checked and its query compiled.
#[derive(Debug, Clone)]
pub struct CompiledWatch {
    /// The watch (region canonical).
    pub spec: WatchSpec,
    /// Its query.
    pub query: TokenQuery,
}

/// Where a watch comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WatchOrigin {
    /// `[[watches]]` in the configuration: read-only through the API.
    Config,
    /// Made through the API, kept in `DATA_DIR/watches.json`.
    Api,
}

/// Why the registry refused a change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WatchError {
    /// The watch is not valid (the message names it and the problem).
    #[error("{0}")]
    Invalid(String),
    /// A watch of that name exists.
    #[error("{0}")]
    Exists(String),
    /// The watch comes from the configuration.
    #[error("{0}")]
    FromConfig(String),
    /// No watch of that name.
    #[error("{0}")]
    NotFound(String),
    /// The watches file could not be written.
    #[error("{0}")]
    Io(String),
}

/// `DATA_DIR/watches.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WatchesFile {
    version: u32,
    watches: Vec<WatchSpec>,
}

struct Entries {
    config: Vec<WatchSpec>,
    api: Vec<WatchSpec>,
}

/// The watches of a process, shared by the API (which changes them) and
/// the sink (which evaluates them): a change takes effect at the sink's
/// next post, without a restart.
pub struct WatchRegistry {
    path: PathBuf,
    entries: Mutex<Entries>,
    generation: AtomicU64,
    lexicon: Arc<SharedLexicon>,
}

impl std::fmt::Debug for WatchRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchRegistry")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl WatchRegistry {
    /// The configuration's watches (checked against the dictionaries: the
    /// error names the watch) and those kept in `data_dir`.
    pub fn open(
        data_dir: &Path,
        config: &[WatchSpec],
        lexicon: Arc<SharedLexicon>,
    ) -> Result<WatchRegistry, String> {
        let current = lexicon.load();
        let mut configured = Vec::with_capacity(config.len());
        for (i, w) in config.iter().enumerate() {
            let compiled = w
                .compile(&current)
                .map_err(|e| format!("`watches[{i}]` (`{}`): {e}", w.name))?;
            // Kept as compiled: the region by its canonical name.
            configured.push(compiled.spec);
        }
        let path = data_dir.join(WATCHES_FILE);
        let api = match std::fs::read(&path) {
            Ok(bytes) => {
                let file: WatchesFile = serde_json::from_slice(&bytes)
                    .map_err(|e| format!("{}: not a watches file: {e}", path.display()))?;
                let mut kept = Vec::new();
                for w in file.watches {
                    if config.iter().any(|c| c.name == w.name) {
                        tracing::warn!(watch = %w.name, "a watch of the API has the name of a configured one: the configuration's is used");
                        continue;
                    }
                    if let Err(e) = w.compile(&current) {
                        tracing::warn!(watch = %w.name, error = %e, "a watch of the API is not valid with these dictionaries: left out");
                        continue;
                    }
                    kept.push(w);
                }
                kept
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        Ok(WatchRegistry {
            path,
            entries: Mutex::new(Entries {
                config: configured,
                api,
            }),
            generation: AtomicU64::new(0),
            lexicon,
        })
    }

    /// A registry of fixed watches (no file, no API), for tools and tests.
    pub fn fixed(watches: Vec<WatchSpec>, lexicon: Arc<SharedLexicon>) -> WatchRegistry {
        WatchRegistry {
            path: PathBuf::new(),
            entries: Mutex::new(Entries {
                config: watches,
                api: Vec::new(),
            }),
            generation: AtomicU64::new(0),
            lexicon,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes so far (the sink compiles again when it moves).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Every watch: the configuration's first, then the API's in the order
    /// they were made.
    pub fn list(&self) -> Vec<(WatchSpec, WatchOrigin)> {
        let e = self.lock();
        e.config
            .iter()
            .map(|w| (w.clone(), WatchOrigin::Config))
            .chain(e.api.iter().map(|w| (w.clone(), WatchOrigin::Api)))
            .collect()
    }

    /// Adds a watch (kept in the data directory before this returns).
    pub fn create(&self, spec: WatchSpec) -> Result<WatchSpec, WatchError> {
        let compiled = spec
            .compile(&self.lexicon.load())
            .map_err(|e| WatchError::Invalid(format!("watch `{}`: {e}", spec.name)))?;
        let spec = compiled.spec;
        let mut e = self.lock();
        if e.config.iter().any(|w| w.name == spec.name) {
            return Err(WatchError::Exists(format!(
                "watch `{}` exists (in the configuration)",
                spec.name
            )));
        }
        if e.api.iter().any(|w| w.name == spec.name) {
            return Err(WatchError::Exists(format!(
                "watch `{}` exists; delete it first to change it",
                spec.name
            )));
        }
        if e.config.len() + e.api.len() >= MAX_WATCHES {
            return Err(WatchError::Invalid(format!(
                "there are {MAX_WATCHES} watches already, the most a process holds"
            )));
        }
        let mut api = e.api.clone();
        api.push(spec.clone());
        self.save(&api)?;
        e.api = api;
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(spec)
    }

    /// Removes a watch made through the API.
    pub fn delete(&self, name: &str) -> Result<(), WatchError> {
        let mut e = self.lock();
        if e.config.iter().any(|w| w.name == name) {
            return Err(WatchError::FromConfig(format!(
                "watch `{name}` comes from the configuration ([[watches]]): change it there"
            )));
        }
        let Some(at) = e.api.iter().position(|w| w.name == name) else {
            return Err(WatchError::NotFound(format!("no watch named `{name}`")));
        };
        let mut api = e.api.clone();
        api.remove(at);
        self.save(&api)?;
        e.api = api;
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// Every watch, compiled with `lexicon` (one that no longer compiles is
    /// left out, with a warning).
    pub fn compile_all(&self, lexicon: &Lexicon) -> Vec<CompiledWatch> {
        let specs: Vec<WatchSpec> = self.list().into_iter().map(|(w, _)| w).collect();
        specs
            .iter()
            .filter_map(|w| match w.compile(lexicon) {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(watch = %w.name, error = %e, "watch left out");
                    None
                }
            })
            .collect()
    }

    /// Writes the API's watches: a temporary file, synced, renamed over
    /// the old one.
    fn save(&self, api: &[WatchSpec]) -> Result<(), WatchError> {
        if self.path.as_os_str().is_empty() {
            return Err(WatchError::Io(
                "this process does not keep watches made through the API".into(),
            ));
        }
        let io = |what: &str, e: std::io::Error| {
            tracing::error!(path = %self.path.display(), error = %e, "{what}");
            WatchError::Io(format!("cannot write {}: {e}", self.path.display()))
        };
        let file = WatchesFile {
            version: 1,
            watches: api.to_vec(),
        };
        let json = serde_json::to_vec_pretty(&file)
            .map_err(|e| io("encoding the watches", std::io::Error::other(e)))?;
        let tmp = self.path.with_extension("json.tmp");
        {
            use std::io::Write;
            let mut f =
                std::fs::File::create(&tmp).map_err(|e| io("creating the watches file", e))?;
            f.write_all(&json)
                .and_then(|()| f.sync_all())
                .map_err(|e| io("writing the watches file", e))?;
        }
        std::fs::rename(&tmp, &self.path).map_err(|e| io("renaming the watches file", e))?;
        if let Some(dir) = self.path.parent()
            && let Ok(d) = std::fs::File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

/// An `every` watch of `query` without filters, for tests.
#[cfg(test)]
pub(crate) fn spec(name: &str, query: &str) -> WatchSpec {
    WatchSpec {
        name: name.into(),
        query: query.into(),
        category: None,
        region: None,
        level: None,
        rule: WatchRule::Every,
        min_count: None,
        window_mins: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_rules_and_filters_are_checked() {
        let lexicon = Lexicon::builtin().unwrap();
        assert!(spec("化工-leak_1", "泄漏").compile(&lexicon).is_ok());
        let e = |w: WatchSpec| w.compile(&lexicon).unwrap_err();
        assert!(e(spec("", "x")).contains("1 to 64"));
        assert!(e(spec(&"a".repeat(65), "x")).contains("got 65"));
        assert!(e(spec("a b", "x")).contains("has ` `"));
        assert!(e(spec("ok", "  ")).contains("`query` is empty"));
        assert!(e(spec("ok", "region:滁州")).contains("use the watch's `region` key"));
        let mut w = spec("ok", "泄漏");
        w.min_count = Some(3);
        assert!(e(w.clone()).contains("go with `rule = \"min_count\"`"));
        w.rule = WatchRule::MinCount;
        assert!(e(w.clone()).contains("needs `window_mins`"));
        w.window_mins = Some(0);
        assert!(e(w.clone()).contains("`window_mins` must be from 1"));
        w.window_mins = Some(30);
        w.min_count = Some(1);
        assert!(e(w.clone()).contains("`min_count` must be from 2"));
        w.min_count = Some(3);
        w.category = Some("weather".into());
        assert!(e(w.clone()).contains("unknown `category` `weather`"));
        w.category = Some("pollution".into());
        w.region = Some("滁州".into());
        assert_eq!(
            w.compile(&lexicon).unwrap().spec.region.as_deref(),
            Some("滁州市")
        );
    }

    #[test]
    fn the_registry_keeps_api_watches_and_protects_configured_ones() {
        let dir = tempfile::tempdir().unwrap();
        let shared = Arc::new(SharedLexicon::new(Arc::new(Lexicon::builtin().unwrap())));
        let config = vec![spec("configured", "爆炸")];
        let r = WatchRegistry::open(dir.path(), &config, Arc::clone(&shared)).unwrap();
        assert_eq!(r.generation(), 0);
        r.create(spec("leak", "\"化工厂 泄漏\"")).unwrap();
        assert_eq!(r.generation(), 1);
        assert!(matches!(
            r.create(spec("leak", "x")),
            Err(WatchError::Exists(_))
        ));
        assert!(matches!(
            r.create(spec("configured", "x")),
            Err(WatchError::Exists(_))
        ));
        let bad = r.create(spec("bad", "ts:[* TO *]")).unwrap_err();
        assert!(
            bad.to_string().starts_with("watch `bad`: `query`: ranges"),
            "{bad}"
        );
        assert!(matches!(
            r.delete("configured"),
            Err(WatchError::FromConfig(_))
        ));
        assert!(matches!(r.delete("nope"), Err(WatchError::NotFound(_))));
        // Another process (a restart) reads the file.
        let again = WatchRegistry::open(dir.path(), &config, Arc::clone(&shared)).unwrap();
        let names: Vec<(String, WatchOrigin)> =
            again.list().into_iter().map(|(w, o)| (w.name, o)).collect();
        assert_eq!(
            names,
            vec![
                ("configured".to_string(), WatchOrigin::Config),
                ("leak".to_string(), WatchOrigin::Api)
            ]
        );
        again.delete("leak").unwrap();
        let third = WatchRegistry::open(dir.path(), &config, shared).unwrap();
        assert_eq!(third.list().len(), 1);
        // A configured watch that does not compile is an error naming it.
        let e = WatchRegistry::open(
            dir.path(),
            &[spec("x", "泄漏"), spec("y", "-泄漏")],
            Arc::new(SharedLexicon::new(Arc::new(Lexicon::builtin().unwrap()))),
        )
        .unwrap_err();
        assert!(
            e.starts_with("`watches[1]` (`y`): `query`: the query only excludes"),
            "{e}"
        );
    }
}
