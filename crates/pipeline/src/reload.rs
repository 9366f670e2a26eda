//! Dictionary hot reload: compile the dictionaries again and swap them in
//! everywhere at once, or keep the old ones and say what is wrong. The
//! workers take the new lexicon from the [`SharedLexicon`] at their next
//! batch; the index's query analyzer is swapped here. The HTTP API calls
//! [`Reloader::reload`] on `POST /api/v1/admin/reload`; SIGHUP does too
//! ([`Reloader::reload_on_sighup`]).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use yuqing_index::PostIndex;
use yuqing_lexicon::{Lexicon, ReloadReport, SharedLexicon};
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn copy_dictionaries(to: &Path) {
        let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dictionaries");
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }

    fn reloader(dir: &Path) -> (Reloader, Arc<SharedLexicon>) {
        let dicts = dir.join("dicts");
        copy_dictionaries(&dicts);
        let lexicon = Arc::new(Lexicon::from_dir(&dicts).unwrap());
        let index = Arc::new(
            PostIndex::open_or_create(&dir.join("data"), lexicon.shared_analyzer()).unwrap(),
        );
        let shared = Arc::new(SharedLexicon::new(lexicon));
        let reloader = Reloader::new(Arc::clone(&shared), index, Some(dicts));
        (reloader, shared)
    }

    #[test]
    fn a_valid_set_is_swapped_in_and_a_broken_or_shrinking_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let (reloader, shared) = reloader(dir.path());
        let dicts = dir.path().join("dicts");
        let first = shared.load();

        // A syntax error: refused with the file named, the old set kept.
        let fire = std::fs::read_to_string(dicts.join("fire.toml")).unwrap();
        std::fs::write(dicts.join("fire.toml"), format!("{fire}\n[[[broken\n")).unwrap();
        let err = reloader.reload().unwrap_err();
        assert!(err.contains("fire.toml"), "{err}");
        assert!(err.contains("old ones keep serving"), "{err}");
        assert_eq!(shared.generation(), 0);
        assert!(Arc::ptr_eq(&shared.load(), &first));

        // A valid set without a category the running one has: refused.
        std::fs::write(dicts.join("fire.toml"), &fire).unwrap();
        std::fs::remove_file(dicts.join("flood.toml")).unwrap();
        let err = reloader.reload().unwrap_err();
        assert!(
            err.contains("drop categories of the running set: flood"),
            "{err}"
        );
        assert_eq!(shared.generation(), 0);

        // The whole set again: swapped in, generation 1.
        copy_dictionaries(&dicts);
        let report = reloader.reload().unwrap();
        assert_eq!(report.generation, 1);
        assert_eq!(shared.generation(), 1);
        assert_eq!(report.categories, first.categories().len());
        assert_eq!(report.source, dicts.display().to_string());
        assert!(!Arc::ptr_eq(&shared.load(), &first));
    }

    #[test]
    fn a_set_without_regions_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (reloader, shared) = reloader(dir.path());
        std::fs::write(dir.path().join("dicts/regions.toml"), "# emptied\n").unwrap();
        let err = reloader.reload().unwrap_err();
        assert!(err.contains("no regions"), "{err}");
        assert_eq!(shared.generation(), 0);
    }
}
