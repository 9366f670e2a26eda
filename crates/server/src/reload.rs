//! Dictionary hot reload: compile the dictionaries again and swap them in
//! everywhere at once, or keep the old ones and say what is wrong.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use yuqing_index::PostIndex;
use yuqing_lexicon::{Lexicon, SharedLexicon};
use yuqing_metrics::metrics;

/// Reloads the dictionaries a process runs with.
#[derive(Clone)]
pub struct Reloader {
    lexicon: Arc<SharedLexicon>,
    index: Arc<PostIndex>,
    dictionaries: Option<PathBuf>,
    /// One reload at a time.
    busy: Arc<Mutex<()>>,
}

/// What a successful reload did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReloadReport {
    /// Where the dictionaries came from (`built-in` or a directory).
    pub source: String,
    /// Categories now in use.
    pub categories: usize,
    /// Terms now in use.
    pub terms: usize,
    /// How many reloads this process has done.
    pub generation: u64,
}

impl Reloader {
    /// A reloader for `lexicon` (shared with the pipeline's workers) and
    /// the index's query analyzer, reading `dictionaries` (`None`: the
    /// built-in ones, which cannot change — a reload then only re-checks
    /// them).
    pub fn new(
        lexicon: Arc<SharedLexicon>,
        index: Arc<PostIndex>,
        dictionaries: Option<PathBuf>,
    ) -> Self {
        Reloader {
            lexicon,
            index,
            dictionaries,
            busy: Arc::new(Mutex::new(())),
        }
    }

    /// Compiles the dictionaries and swaps them in. On any error the old
    /// dictionaries keep serving, the failure metric goes up, and the error
    /// (every problem, with file, line and column) is returned. A valid set
    /// that would drop every region or a category of the running one is
    /// refused the same way (`reason="shrinks"`). Blocking:
    /// compiling takes a second or so.
    pub fn reload(&self) -> Result<ReloadReport, String> {
        let _one = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        let source = self
            .dictionaries
            .as_ref()
            .map_or_else(|| "built-in".to_string(), |d| d.display().to_string());
        let compiled = match &self.dictionaries {
            Some(dir) => Lexicon::from_dir(dir).map_err(|e| e.to_string()),
            None => Lexicon::builtin().map_err(|e| e.to_string()),
        };
        let lexicon = match compiled {
            Ok(l) => Arc::new(l),
            Err(e) => {
                metrics()
                    .dictionary_reload_failures
                    .with_label_values(&["errors"])
                    .inc();
                tracing::error!(dictionaries = %source, error = %e, "dictionary reload rejected; the old dictionaries keep serving");
                return Err(format!(
                    "the dictionaries in {source} have errors; the old ones keep serving:\n{e}"
                ));
            }
        };
        if let Some(lost) = shrinks(&self.lexicon.load(), &lexicon) {
            metrics()
                .dictionary_reload_failures
                .with_label_values(&["shrinks"])
                .inc();
            tracing::error!(dictionaries = %source, error = %lost, "dictionary reload rejected; the old dictionaries keep serving");
            return Err(format!(
                "the dictionaries in {source} {lost}; the old ones keep serving (to remove a category or the regions, restart with the new set)"
            ));
        }
        let stats = lexicon.stats();
        self.index.set_analyzer(lexicon.shared_analyzer());
        let generation = self.lexicon.store(lexicon);
        metrics().dictionary_reloads.inc();
        tracing::info!(dictionaries = %source, categories = stats.categories, terms = stats.terms, generation, "dictionaries reloaded");
        Ok(ReloadReport {
            source,
            categories: stats.categories,
            terms: stats.terms,
            generation,
        })
    }

    /// Reloads on every SIGHUP until the runtime shuts down (a bad set is
    /// rejected and logged, as for [`Reloader::reload`]). Spawn it on the
    /// process's runtime; elsewhere than Unix it returns at once.
    pub async fn reload_on_sighup(self) {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let Ok(mut hup) = signal(SignalKind::hangup()) else {
                return;
            };
            while hup.recv().await.is_some() {
                let r = self.clone();
                let _ = tokio::task::spawn_blocking(move || r.reload()).await;
            }
        }
    }
}

/// What a new set would take away from the running one that a reload must
/// not: every region, or a whole category (its alerts, its `category=`
/// filter and the detector's keys would vanish mid-run). `None`: nothing.
fn shrinks(old: &Lexicon, new: &Lexicon) -> Option<String> {
    if new.regions().is_empty() && !old.regions().is_empty() {
        return Some(format!(
            "have no regions (the running set has {})",
            old.regions().len()
        ));
    }
    let dropped: Vec<&str> = old
        .categories()
        .iter()
        .map(|c| c.id.as_str())
        .filter(|id| !new.categories().iter().any(|c| c.id == *id))
        .collect();
    if dropped.is_empty() {
        None
    } else {
        Some(format!(
            "drop categories of the running set: {}",
            dropped.join(", ")
        ))
    }
}
