//! The alert log: the latest message of every alert, for the API.
//!
//! The detector (`yuqing-spike`) decides when an alert opens, changes and
//! resolves; where its messages go is not its business. The pipeline and
//! `yuqing index` record every message here, in `DATA_DIR/alerts.jsonl`
//! (append-only JSON lines, compacted as it grows); the server reads the
//! same file, following it when another process writes it.
//!
//! Analysts' acknowledgements of alerts are kept apart, in
//! `DATA_DIR/acks.jsonl` ([`AckLog`], never compacted), and join an alert
//! by its `alert_id`.

mod ack;

pub use ack::{ACKS_FILE, Ack, AckError, AckFilter, AckLog, MAX_BY_CHARS, MAX_NOTE_CHARS, Verdict};

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use yuqing_model::Timestamp;
use yuqing_spike::{Alert, AlertState};

/// The latest message of every alert, for the API; persisted as an
/// append-only JSON-lines log in the data directory, compacted as it grows.
pub struct AlertStore {
    path: Option<PathBuf>,
    /// Read-only: the log is written by another process; [`AlertStore::refresh`]
    /// reloads it when it changed.
    follow: bool,
    /// Size of the log when last read.
    seen: u64,
    alerts: HashMap<String, Alert>,
    /// The `open` message of alerts whose latest message is a later one
    /// (kept through compaction: when an alert opened).
    opens: HashMap<String, Alert>,
    order: Vec<String>,
    appended: usize,
    max: usize,
}

impl std::fmt::Debug for AlertStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertStore")
            .field("alerts", &self.alerts.len())
            .finish()
    }
}

/// Filters of [`AlertStore::list`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertQuery {
    /// Only alerts whose latest state is this (`open` also matches `update`:
    /// both are alerts still open).
    pub state: Option<AlertState>,
    /// Only alerts whose window ends at or after this (still going on at
    /// that time, or later).
    pub since: Option<Timestamp>,
    /// Only this category.
    pub category: Option<String>,
    /// Only alerts whose latest acknowledgement passes this (with the
    /// [`AckLog`] given to [`AlertStore::list`]).
    pub acks: AckFilter,
    /// At most this many.
    pub limit: usize,
}

impl AlertStore {
    /// An empty store kept in memory only.
    pub fn in_memory(max: usize) -> AlertStore {
        AlertStore {
            path: None,
            follow: false,
            seen: 0,
            alerts: HashMap::new(),
            opens: HashMap::new(),
            order: Vec::new(),
            appended: 0,
            max: max.max(1),
        }
    }

    /// Loads `path` (missing: empty) and appends to it from now on.
    pub fn open(path: &Path, max: usize) -> std::io::Result<AlertStore> {
        let mut store = AlertStore::in_memory(max);
        store.path = Some(path.to_path_buf());
        store.load()?;
        Ok(store)
    }

    /// Reads `path`, written by another process (a running pipeline), and
    /// follows it: [`AlertStore::refresh`] reloads it when it changed.
    /// Never writes.
    pub fn follow(path: &Path, max: usize) -> std::io::Result<AlertStore> {
        let mut store = AlertStore::open(path, max)?;
        store.follow = true;
        Ok(store)
    }

    fn load(&mut self) -> std::io::Result<()> {
        let Some(path) = self.path.clone() else {
            return Ok(());
        };
        self.alerts.clear();
        self.opens.clear();
        self.order.clear();
        match std::fs::File::open(&path) {
            Ok(f) => {
                self.seen = f.metadata()?.len();
                for (n, line) in BufReader::new(f).lines().enumerate() {
                    let line = line?;
                    if line.trim().is_empty() {
                        continue;
                    }
                    match serde_json::from_str::<Alert>(&line) {
                        Ok(a) => self.remember(a),
                        Err(e) => tracing::warn!(
                            path = %path.display(),
                            line = n + 1,
                            error = %e,
                            "skipping an unreadable alert"
                        ),
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => self.seen = 0,
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// A following store: reloads the log if its size changed.
    pub fn refresh(&mut self) -> std::io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        if !self.follow {
            return Ok(());
        }
        let len = match std::fs::metadata(path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        if len != self.seen {
            self.load()?;
        }
        Ok(())
    }

    fn remember(&mut self, a: Alert) {
        if !self.alerts.contains_key(&a.alert_id) {
            self.order.push(a.alert_id.clone());
        }
        let id = a.alert_id.clone();
        if let Some(previous) = self.alerts.insert(id.clone(), a)
            && previous.state == AlertState::Open
            && !self.opens.contains_key(&id)
        {
            self.opens.insert(id, previous);
        }
        if self.order.len() > self.max {
            let drop = self.order.len() - self.max;
            for id in self.order.drain(..drop) {
                self.alerts.remove(&id);
                self.opens.remove(&id);
            }
        }
    }

    /// Records an emitted message (and appends it to the log).
    pub fn record(&mut self, a: &Alert) -> std::io::Result<()> {
        self.remember(a.clone());
        if self.follow {
            return Ok(());
        }
        if let Some(path) = &self.path {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            let mut line = serde_json::to_vec(a).map_err(std::io::Error::other)?;
            line.push(b'\n');
            f.write_all(&line)?;
            self.seen += line.len() as u64;
            self.appended += 1;
            if self.appended > 2 * self.max {
                self.compact()?;
            }
        }
        Ok(())
    }

    /// Rewrites the log with the latest message of each kept alert (after
    /// its `open` message, when the latest is a later one).
    pub fn compact(&mut self) -> std::io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        if self.follow {
            return Ok(());
        }
        let tmp = path.with_extension("jsonl.tmp");
        {
            let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
            for id in &self.order {
                if let Some(open) = self.opens.get(id) {
                    serde_json::to_writer(&mut f, open).map_err(std::io::Error::other)?;
                    f.write_all(b"\n")?;
                }
                if let Some(a) = self.alerts.get(id) {
                    serde_json::to_writer(&mut f, a).map_err(std::io::Error::other)?;
                    f.write_all(b"\n")?;
                }
            }
            f.flush()?;
        }
        std::fs::rename(&tmp, path)?;
        self.seen = std::fs::metadata(path)?.len();
        self.appended = self.order.len();
        Ok(())
    }

    /// The latest message of every alert not resolved, in the order the
    /// alerts first appeared.
    pub fn unresolved(&self) -> impl Iterator<Item = &Alert> {
        self.order
            .iter()
            .filter_map(|id| self.alerts.get(id))
            .filter(|a| a.state != AlertState::Resolved)
    }

    /// One alert's latest message.
    pub fn get(&self, id: &str) -> Option<&Alert> {
        self.alerts.get(id)
    }

    /// When an alert opened: the `emitted_at` of its `open` message, if
    /// the log holds it.
    pub fn opened_at(&self, id: &str) -> Option<&str> {
        self.opens
            .get(id)
            .or_else(|| self.alerts.get(id))
            .filter(|a| a.state == AlertState::Open)
            .map(|a| a.emitted_at.as_str())
    }

    /// Alerts matching `q` (their acknowledgements in `acks`): open ones
    /// first, then the latest window end first.
    pub fn list(&self, q: &AlertQuery, acks: &AckLog) -> Vec<Alert> {
        let mut out: Vec<&Alert> = self
            .alerts
            .values()
            .filter(|a| match q.state {
                None => true,
                Some(AlertState::Resolved) => a.state == AlertState::Resolved,
                Some(_) => a.state != AlertState::Resolved,
            })
            .filter(|a| q.category.as_deref().is_none_or(|c| a.category == c))
            .filter(|a| q.acks.matches(acks.latest(&a.alert_id)))
            .filter(|a| {
                q.since.is_none_or(|since| {
                    Timestamp::parse_rfc3339(&a.window_end).is_ok_and(|t| t >= since)
                })
            })
            .collect();
        out.sort_by(|a, b| {
            let resolved = |x: &Alert| x.state == AlertState::Resolved;
            resolved(a)
                .cmp(&resolved(b))
                .then_with(|| b.window_end.cmp(&a.window_end))
                .then_with(|| a.alert_id.cmp(&b.alert_id))
        });
        out.into_iter().take(q.limit.max(1)).cloned().collect()
    }

    /// Alerts held.
    pub fn len(&self) -> usize {
        self.alerts.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yuqing_model::Level;
    use yuqing_spike::{SCHEMA_VERSION, Trigger};

    fn alert(id: &str, state: AlertState, category: &str, end: &str) -> Alert {
        Alert {
            schema_version: SCHEMA_VERSION,
            alert_id: id.into(),
            state,
            seq: 1,
            category: category.into(),
            region: None,
            window_start: "2026-03-02T10:00:00Z".into(),
            window_end: end.into(),
            count: 12,
            distinct_authors: 11,
            baseline: 0.4,
            z: 6.1,
            level: Level::Blue,
            top_terms: vec!["起火".into()],
            sample_post_ids: vec!["p1".into()],
            regions: vec![],
            first_post_id: "p1".into(),
            first_seen: "2026-03-02T10:00:05Z".into(),
            emitted_at: "2026-03-02T10:03:00Z".into(),
            window_secs: Some(60),
            trigger: Trigger::Burst,
            confirmed: true,
            watch: None,
        }
    }

    #[test]
    fn keeps_the_latest_message_of_each_alert_across_reopen_and_compaction() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.jsonl");
        let mut store = AlertStore::open(&path, 3).unwrap();
        let none = AckLog::in_memory();
        store
            .record(&alert(
                "a",
                AlertState::Open,
                "fire",
                "2026-03-02T10:02:00Z",
            ))
            .unwrap();
        store
            .record(&alert(
                "b",
                AlertState::Open,
                "flood",
                "2026-03-02T11:02:00Z",
            ))
            .unwrap();
        store
            .record(&alert(
                "a",
                AlertState::Resolved,
                "fire",
                "2026-03-02T10:40:00Z",
            ))
            .unwrap();
        assert_eq!(store.len(), 2);
        assert_eq!(store.get("a").unwrap().state, AlertState::Resolved);

        let open = store.list(
            &AlertQuery {
                state: Some(AlertState::Open),
                limit: 10,
                ..Default::default()
            },
            &none,
        );
        assert_eq!(
            open.iter().map(|a| a.alert_id.as_str()).collect::<Vec<_>>(),
            ["b"]
        );
        let fire = store.list(
            &AlertQuery {
                category: Some("fire".into()),
                limit: 10,
                ..Default::default()
            },
            &none,
        );
        assert_eq!(fire.len(), 1);
        let since = Timestamp::parse_rfc3339("2026-03-02T11:00:00Z").unwrap();
        let recent = store.list(
            &AlertQuery {
                since: Some(since),
                limit: 10,
                ..Default::default()
            },
            &none,
        );
        assert_eq!(
            recent
                .iter()
                .map(|a| a.alert_id.as_str())
                .collect::<Vec<_>>(),
            ["b"]
        );
        // Open first, then the latest window end.
        let all = store.list(
            &AlertQuery {
                limit: 10,
                ..Default::default()
            },
            &none,
        );
        assert_eq!(
            all.iter().map(|a| a.alert_id.as_str()).collect::<Vec<_>>(),
            ["b", "a"]
        );

        // A reader in another process follows the log.
        let mut reader = AlertStore::follow(&path, 3).unwrap();
        assert_eq!(reader.len(), 2);
        store
            .record(&alert(
                "c",
                AlertState::Open,
                "fire",
                "2026-03-02T12:00:00Z",
            ))
            .unwrap();
        reader.refresh().unwrap();
        assert_eq!(reader.len(), 3);

        // Past `max`, the oldest alerts go; the log is compacted.
        for i in 0..10 {
            store
                .record(&alert(
                    &format!("x{i}"),
                    AlertState::Open,
                    "fire",
                    "2026-03-02T13:00:00Z",
                ))
                .unwrap();
        }
        assert_eq!(store.len(), 3);
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        assert!(lines <= 3 + 2 * 3, "{lines}");
        let reopened = AlertStore::open(&path, 3).unwrap();
        assert_eq!(reopened.len(), 3);
        assert!(reopened.get("x9").is_some());
        reader.refresh().unwrap();
        assert!(reader.get("x9").is_some());

        // A torn or foreign line is skipped, not fatal.
        std::fs::write(&path, "{\"alert_id\": 1}\nnot json\n").unwrap();
        assert!(AlertStore::open(&path, 3).unwrap().is_empty());
    }

    #[test]
    fn acknowledgements_join_their_alert_and_the_open_time_survives_compaction() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.jsonl");
        let mut store = AlertStore::open(&path, 2).unwrap();
        let mut opened = alert("a", AlertState::Open, "fire", "2026-03-02T10:02:00Z");
        opened.emitted_at = "2026-03-02T10:02:30Z".into();
        store.record(&opened).unwrap();
        assert_eq!(store.opened_at("a"), Some("2026-03-02T10:02:30Z"));
        let mut later = alert("a", AlertState::Update, "fire", "2026-03-02T10:20:00Z");
        later.emitted_at = "2026-03-02T10:20:30Z".into();
        store.record(&later).unwrap();
        store
            .record(&alert(
                "b",
                AlertState::Open,
                "flood",
                "2026-03-02T10:30:00Z",
            ))
            .unwrap();
        // Enough messages of `a` and `b` to compact the log several times.
        for _ in 0..10 {
            store.record(&later).unwrap();
        }
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        assert!(lines < 13, "compacted: {lines}");
        let reopened = AlertStore::open(&path, 2).unwrap();
        assert_eq!(reopened.get("a").unwrap().state, AlertState::Update);
        assert_eq!(reopened.opened_at("a"), Some("2026-03-02T10:02:30Z"));
        assert_eq!(reopened.opened_at("b"), Some("2026-03-02T10:03:00Z"));

        // Acknowledgements live in a file of their own, untouched by the
        // compaction, and filter the list.
        let mut acks = AckLog::open(&dir.path().join(ACKS_FILE)).unwrap();
        acks.append(
            &Ack::new(
                "a",
                "王芳",
                "false_alarm",
                None,
                "2026-03-02T10:25:00Z".into(),
            )
            .unwrap(),
        )
        .unwrap();
        for _ in 0..10 {
            store.record(&later).unwrap();
        }
        let acks = AckLog::open(&dir.path().join(ACKS_FILE)).unwrap();
        let ids = |filter: AckFilter| {
            reopened
                .list(
                    &AlertQuery {
                        acks: filter,
                        limit: 10,
                        ..Default::default()
                    },
                    &acks,
                )
                .into_iter()
                .map(|a| a.alert_id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(AckFilter::default()), ["b", "a"]);
        assert_eq!(
            ids(AckFilter {
                acked: Some(true),
                verdict: None
            }),
            ["a"]
        );
        assert_eq!(
            ids(AckFilter {
                acked: Some(false),
                verdict: None
            }),
            ["b"]
        );
        assert_eq!(
            ids(AckFilter {
                acked: None,
                verdict: Some(Verdict::FalseAlarm)
            }),
            ["a"]
        );
        assert!(
            ids(AckFilter {
                acked: None,
                verdict: Some(Verdict::Confirmed)
            })
            .is_empty()
        );
    }
}
