//! The detector's snapshots in the data directory, named by the index
//! commits.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use yuqing_spike::{Detector, DetectorConfig};

use crate::PipelineError;

/// Where detector snapshots are written, in the data directory.
const SNAPSHOT_DIR: &str = "detector";

/// The detector for a run: restored from the snapshot `name` (the one the
/// last index commit names), or new (with a warning when a snapshot was
/// expected).
pub(super) fn load_detector(
    data_dir: &Path,
    config: &DetectorConfig,
    parents: HashMap<String, String>,
    name: Option<&str>,
) -> Detector {
    let Some(name) = name else {
        return Detector::new(config.clone(), parents);
    };
    let path = data_dir.join(SNAPSHOT_DIR).join(name);
    let restored = std::fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| {
            Detector::restore(config.clone(), parents.clone(), &bytes).map_err(|e| e.to_string())
        });
    match restored {
        Ok(d) => {
            tracing::info!(
                snapshot = %path.display(),
                keys = d.keys(),
                open_alerts = d.open_alerts(),
                "burst detector restored"
            );
            d
        }
        Err(e) => {
            tracing::warn!(
                snapshot = %path.display(),
                error = %e,
                "burst detector starts afresh: baselines are relearnt and alerts open \
                 before the restart may open again"
            );
            Detector::new(config.clone(), parents)
        }
    }
}

/// Detector snapshots: each written under a new name before the index
/// commit that names it; older ones are removed once that commit is done,
/// so the snapshot the index names always exists.
pub(super) struct SnapshotDir {
    dir: PathBuf,
    next: u64,
}

impl SnapshotDir {
    /// The snapshots of `data_dir`, the index naming `current`.
    pub(super) fn new(data_dir: &Path, current: Option<&str>) -> Self {
        let next = current
            .and_then(|n| {
                n.strip_prefix("snapshot-")?
                    .strip_suffix(".json")?
                    .parse::<u64>()
                    .ok()
            })
            .map_or(1, |n| n + 1);
        SnapshotDir {
            dir: data_dir.join(SNAPSHOT_DIR),
            next,
        }
    }

    /// Writes a snapshot (fsynced) and returns its name; `None` when the
    /// detector's state could not be serialised (logged and counted: the
    /// commit then names no snapshot, and a restart relearns baselines).
    pub(super) fn write(&mut self, detector: &Detector) -> Result<Option<String>, PipelineError> {
        let bytes = match detector.snapshot() {
            Ok(bytes) => bytes,
            Err(e) => {
                yuqing_metrics::metrics().snapshot_failures.inc();
                tracing::error!(error = %e, "no detector snapshot for this commit");
                return Ok(None);
            }
        };
        let name = format!("snapshot-{:010}.json", self.next);
        self.next += 1;
        let path = self.dir.join(&name);
        let io = |e| {
            PipelineError::io(
                format!("writing the detector snapshot {}", path.display()),
                e,
            )
        };
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        let mut f = std::fs::File::create(&path).map_err(io)?;
        f.write_all(&bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
        Ok(Some(name))
    }

    /// The index commit naming `current` is done: the others can go.
    pub(super) fn committed(&self, current: Option<&str>) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("snapshot-") && Some(&*name) != current {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir.join(SNAPSHOT_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn keeps_the_snapshot_the_commit_names_and_removes_the_others() {
        let data = tempfile::tempdir().unwrap();
        let detector = Detector::new(DetectorConfig::default(), HashMap::new());
        let mut dir = SnapshotDir::new(data.path(), None);
        let first = dir.write(&detector).unwrap().unwrap();
        let second = dir.write(&detector).unwrap().unwrap();
        assert_eq!(first, "snapshot-0000000001.json");
        assert_eq!(second, "snapshot-0000000002.json");
        // Until the commit naming the second is done, both stay.
        assert_eq!(names(data.path()), vec![first.clone(), second.clone()]);
        dir.committed(Some(&second));
        assert_eq!(names(data.path()), vec![second.clone()]);
        // After a restart, numbering goes on from the named snapshot.
        let mut again = SnapshotDir::new(data.path(), Some(&second));
        assert_eq!(
            again.write(&detector).unwrap().as_deref(),
            Some("snapshot-0000000003.json")
        );
    }

    #[test]
    fn restores_the_named_snapshot_or_starts_afresh() {
        let data = tempfile::tempdir().unwrap();
        let config = DetectorConfig::default();
        let mut detector = Detector::new(config.clone(), HashMap::new());
        let lexicon = std::sync::Arc::new(yuqing_lexicon::Lexicon::builtin().unwrap());
        let post = yuqing_model::Post::from_json(
            r#"{"id":"a","text":"广州某化工厂发生爆炸，已造成3人死亡","ts":1719792000}"#.as_bytes(),
        )
        .unwrap();
        let out = crate::Scorer::new(lexicon).score(post);
        detector.observe(&out.scored, out.analyzed.normalized());
        assert!(detector.keys() > 0);
        let name = SnapshotDir::new(data.path(), None)
            .write(&detector)
            .unwrap()
            .unwrap();
        let restored = load_detector(data.path(), &config, HashMap::new(), Some(&name));
        assert_eq!(restored.keys(), detector.keys());
        // A snapshot that is not there (or broken) is not fatal.
        let fresh = load_detector(
            data.path(),
            &config,
            HashMap::new(),
            Some("snapshot-9.json"),
        );
        assert_eq!(fresh.keys(), 0);
        std::fs::write(data.path().join(SNAPSHOT_DIR).join("bad.json"), b"{").unwrap();
        let fresh = load_detector(data.path(), &config, HashMap::new(), Some("bad.json"));
        assert_eq!(fresh.open_alerts(), 0);
    }
}
