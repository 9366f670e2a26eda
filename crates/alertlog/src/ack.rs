//! Acknowledgements: who judged an alert, with what verdict, and when.
//!
//! Every acknowledgement is appended, as one JSON line, to
//! `DATA_DIR/acks.jsonl` ([`ACKS_FILE`]) and synced to disk before the
//! answer. The file is never rewritten: the alert log's compaction does not
//! touch it, and an acknowledgement joins its alert by `alert_id`. Several
//! processes serving the same data directory may append to it; each reads
//! the lines the others add ([`AckLog::refresh`]). A line cut short by a
//! crash is skipped with a warning (the next append ends it first, so the
//! new line stays whole).

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The acknowledgement log's file name in the data directory.
pub const ACKS_FILE: &str = "acks.jsonl";

/// Longest `note`, in characters.
pub const MAX_NOTE_CHARS: usize = 2_000;

/// Longest `by`, in characters.
pub const MAX_BY_CHARS: usize = 100;

/// An analyst's judgement of an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// A real incident.
    Confirmed,
    /// Not an incident: the detector was wrong.
    FalseAlarm,
    /// A real incident already covered by another alert.
    Duplicate,
    /// Not decided yet: being watched.
    Monitoring,
}

impl Verdict {
    /// Every verdict, in the order forms list them.
    pub const ALL: [Verdict; 4] = [
        Verdict::Confirmed,
        Verdict::FalseAlarm,
        Verdict::Duplicate,
        Verdict::Monitoring,
    ];

    /// The name used in JSON, parameters and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Confirmed => "confirmed",
            Verdict::FalseAlarm => "false_alarm",
            Verdict::Duplicate => "duplicate",
            Verdict::Monitoring => "monitoring",
        }
    }
}

impl std::str::FromStr for Verdict {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Verdict::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "`{}`: expected confirmed, false_alarm, duplicate or monitoring",
                    short(s)
                )
            })
    }
}

/// One acknowledgement of one alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The alert judged.
    pub alert_id: String,
    /// Who judged it (a name the analyst gives).
    pub by: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Free text, at most [`MAX_NOTE_CHARS`] characters.
    #[serde(default)]
    pub note: Option<String>,
    /// When it was recorded (the server's clock), RFC 3339.
    pub at: String,
}

/// A bad acknowledgement: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckError {
    /// `by`, `verdict` or `note`.
    pub field: &'static str,
    /// What is wrong and what is expected.
    pub message: String,
}

impl std::fmt::Display for AckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "field `{}`: {}", self.field, self.message)
    }
}

impl std::error::Error for AckError {}

fn short(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

impl Ack {
    /// A checked acknowledgement: `by` is trimmed and must be 1 to
    /// [`MAX_BY_CHARS`] characters without control characters; `verdict`
    /// one of [`Verdict::ALL`]; `note` (trimmed; empty is none) at most
    /// [`MAX_NOTE_CHARS`] characters.
    pub fn new(
        alert_id: &str,
        by: &str,
        verdict: &str,
        note: Option<&str>,
        at: String,
    ) -> Result<Ack, AckError> {
        let by = by.trim();
        if by.is_empty() {
            return Err(AckError {
                field: "by",
                message: "must name who acknowledges (1 to 100 characters)".into(),
            });
        }
        if by.chars().count() > MAX_BY_CHARS {
            return Err(AckError {
                field: "by",
                message: format!("is over {MAX_BY_CHARS} characters"),
            });
        }
        if by.chars().any(char::is_control) {
            return Err(AckError {
                field: "by",
                message: "must not hold control characters".into(),
            });
        }
        let verdict = verdict.parse::<Verdict>().map_err(|message| AckError {
            field: "verdict",
            message,
        })?;
        let note = note.map(str::trim).filter(|n| !n.is_empty());
        if let Some(n) = note {
            let chars = n.chars().count();
            if chars > MAX_NOTE_CHARS {
                return Err(AckError {
                    field: "note",
                    message: format!("is {chars} characters, over the limit of {MAX_NOTE_CHARS}"),
                });
            }
        }
        Ok(Ack {
            alert_id: alert_id.to_string(),
            by: by.to_string(),
            verdict,
            note: note.map(str::to_string),
            at,
        })
    }
}

/// Which alerts a list keeps, by their latest acknowledgement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AckFilter {
    /// `Some(true)`: only acknowledged alerts; `Some(false)`: only those
    /// never acknowledged.
    pub acked: Option<bool>,
    /// Only alerts whose latest verdict is this.
    pub verdict: Option<Verdict>,
}

impl AckFilter {
    /// Whether an alert with this latest acknowledgement passes.
    pub fn matches(&self, latest: Option<&Ack>) -> bool {
        self.acked.is_none_or(|a| a == latest.is_some())
            && self
                .verdict
                .is_none_or(|v| latest.is_some_and(|l| l.verdict == v))
    }
}

/// Every acknowledgement, by alert, oldest first; persisted as an
/// append-only JSON-lines file.
#[derive(Debug, Default)]
pub struct AckLog {
    path: Option<PathBuf>,
    /// Bytes of the file read so far (whole lines only).
    seen: u64,
    by_alert: HashMap<String, Vec<Ack>>,
}

impl AckLog {
    /// An empty log kept in memory only.
    pub fn in_memory() -> AckLog {
        AckLog::default()
    }

    /// Loads `path` (missing: empty) and appends to it from now on.
    pub fn open(path: &Path) -> std::io::Result<AckLog> {
        let mut log = AckLog {
            path: Some(path.to_path_buf()),
            ..AckLog::default()
        };
        log.refresh()?;
        Ok(log)
    }

    /// Reads the whole lines other processes (or this one) appended since
    /// the last read. A partial last line is left for later: it may be
    /// being written.
    pub fn refresh(&mut self) -> std::io::Result<()> {
        let Some(path) = self.path.clone() else {
            return Ok(());
        };
        let mut f = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.seen = 0;
                self.by_alert.clear();
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let len = f.metadata()?.len();
        if len < self.seen {
            // Replaced by a shorter file (never by this program): read it
            // from the start.
            self.seen = 0;
            self.by_alert.clear();
        }
        if len == self.seen {
            return Ok(());
        }
        f.seek(SeekFrom::Start(self.seen))?;
        let mut bytes = Vec::with_capacity((len - self.seen) as usize);
        f.take(len - self.seen).read_to_end(&mut bytes)?;
        let Some(end) = bytes.iter().rposition(|&b| b == b'\n') else {
            return Ok(());
        };
        let start_line = self.seen;
        for line in bytes[..end].split(|&b| b == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<Ack>(line) {
                Ok(a) => self.by_alert.entry(a.alert_id.clone()).or_default().push(a),
                Err(e) => tracing::warn!(
                    path = %path.display(),
                    after_byte = start_line,
                    error = %e,
                    "skipping an unreadable acknowledgement (a line cut short by a crash?)"
                ),
            }
        }
        self.seen += end as u64 + 1;
        Ok(())
    }

    /// Records `ack`: appended to the file and synced to disk before it
    /// returns (in memory only for [`AckLog::in_memory`]).
    pub fn append(&mut self, ack: &Ack) -> std::io::Result<()> {
        let Some(path) = self.path.clone() else {
            self.by_alert
                .entry(ack.alert_id.clone())
                .or_default()
                .push(ack.clone());
            return Ok(());
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&path)?;
        let mut line = Vec::with_capacity(256);
        let len = f.metadata()?.len();
        if len > 0 {
            let mut last = [0u8];
            f.seek(SeekFrom::Start(len - 1))?;
            f.read_exact(&mut last)?;
            if last[0] != b'\n' {
                // A line cut short by a crash: end it, so that it stays
                // one unreadable line and this one is whole.
                tracing::warn!(path = %path.display(), "ending a partial last line of the acknowledgement log");
                line.push(b'\n');
            }
        }
        serde_json::to_writer(&mut line, ack).map_err(std::io::Error::other)?;
        line.push(b'\n');
        f.write_all(&line)?;
        f.sync_data()?;
        self.refresh()
    }

    /// The latest acknowledgement of an alert.
    pub fn latest(&self, alert_id: &str) -> Option<&Ack> {
        self.by_alert.get(alert_id).and_then(|v| v.last())
    }

    /// Every acknowledgement of an alert, oldest first.
    pub fn history(&self, alert_id: &str) -> &[Ack] {
        self.by_alert.get(alert_id).map_or(&[], Vec::as_slice)
    }

    /// Acknowledgements held, of every alert.
    pub fn len(&self) -> usize {
        self.by_alert.values().map(Vec::len).sum()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_alert.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(id: &str, by: &str, verdict: &str, at: &str) -> Ack {
        Ack::new(id, by, verdict, Some("已核实"), at.into()).unwrap()
    }

    #[test]
    fn acknowledgements_are_appended_reloaded_and_followed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(ACKS_FILE);
        let mut log = AckLog::open(&path).unwrap();
        assert!(log.is_empty());
        log.append(&ack("a", "王芳", "monitoring", "2026-03-02T10:05:00Z"))
            .unwrap();
        log.append(&ack("a", "李雷", "confirmed", "2026-03-02T10:09:00Z"))
            .unwrap();
        log.append(&ack("b", "王芳", "false_alarm", "2026-03-02T10:10:00Z"))
            .unwrap();
        assert_eq!(log.latest("a").unwrap().verdict, Verdict::Confirmed);
        assert_eq!(log.latest("a").unwrap().by, "李雷");
        assert_eq!(log.history("a").len(), 2);
        assert!(log.latest("c").is_none());
        assert!(log.history("c").is_empty());

        // Reopened, as after a restart: the same history.
        let mut other = AckLog::open(&path).unwrap();
        assert_eq!(other.len(), 3);
        assert_eq!(other.history("a"), log.history("a"));
        assert_eq!(other.latest("b").unwrap().note.as_deref(), Some("已核实"));

        // Each process reads what the other appends.
        other
            .append(&ack("b", "李雷", "duplicate", "2026-03-02T10:11:00Z"))
            .unwrap();
        log.refresh().unwrap();
        assert_eq!(log.latest("b").unwrap().verdict, Verdict::Duplicate);
        assert_eq!(log.len(), 4);
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 4);
    }

    #[test]
    fn a_line_cut_short_is_skipped_and_the_next_append_stays_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(ACKS_FILE);
        let whole =
            serde_json::to_string(&ack("a", "王芳", "confirmed", "2026-03-02T10:05:00Z")).unwrap();
        std::fs::write(&path, format!("{whole}\n{}", &whole[..30])).unwrap();
        let mut log = AckLog::open(&path).unwrap();
        assert_eq!(log.len(), 1, "the partial line is not read");
        log.append(&ack("b", "李雷", "false_alarm", "2026-03-02T10:06:00Z"))
            .unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(log.latest("b").unwrap().verdict, Verdict::FalseAlarm);
        let reopened = AckLog::open(&path).unwrap();
        assert_eq!(reopened.len(), 2);
        assert_eq!(reopened.latest("a").unwrap().by, "王芳");
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn bad_fields_are_refused_naming_the_field() {
        let at = || "2026-03-02T10:05:00Z".to_string();
        let e = Ack::new("a", "  ", "confirmed", None, at()).unwrap_err();
        assert_eq!(e.field, "by");
        let e = Ack::new("a", &"x".repeat(101), "confirmed", None, at()).unwrap_err();
        assert_eq!(e.field, "by");
        let e = Ack::new("a", "王芳", "wrong", None, at()).unwrap_err();
        assert_eq!(e.field, "verdict");
        assert!(e.to_string().contains("false_alarm"), "{e}");
        let long = "字".repeat(MAX_NOTE_CHARS + 1);
        let e = Ack::new("a", "王芳", "confirmed", Some(&long), at()).unwrap_err();
        assert_eq!(e.field, "note");
        let fits = "字".repeat(MAX_NOTE_CHARS);
        let a = Ack::new("a", " 王芳 ", "duplicate", Some(&fits), at()).unwrap();
        assert_eq!(a.by, "王芳");
        assert_eq!(a.note.unwrap().chars().count(), MAX_NOTE_CHARS);
        let a = Ack::new("a", "王芳", "monitoring", Some("  "), at()).unwrap();
        assert_eq!(a.note, None);
    }

    #[test]
    fn filters_by_whether_and_how_an_alert_was_acknowledged() {
        let a = ack("a", "王芳", "false_alarm", "2026-03-02T10:05:00Z");
        let any = AckFilter::default();
        assert!(any.matches(None) && any.matches(Some(&a)));
        let acked = AckFilter {
            acked: Some(true),
            verdict: None,
        };
        assert!(acked.matches(Some(&a)) && !acked.matches(None));
        let not = AckFilter {
            acked: Some(false),
            verdict: None,
        };
        assert!(!not.matches(Some(&a)) && not.matches(None));
        let false_alarms = AckFilter {
            acked: None,
            verdict: Some(Verdict::FalseAlarm),
        };
        assert!(false_alarms.matches(Some(&a)) && !false_alarms.matches(None));
        let confirmed = AckFilter {
            acked: None,
            verdict: Some(Verdict::Confirmed),
        };
        assert!(!confirmed.matches(Some(&a)));
    }
}
