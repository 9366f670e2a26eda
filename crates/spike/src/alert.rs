//! Alert messages (schema version 1).

use serde::{Deserialize, Serialize};
use yuqing_model::Level;

/// The schema version of [`Alert`] messages.
pub const SCHEMA_VERSION: u32 = 1;

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// A new burst.
    Open,
    /// The burst grew (count, level or regions).
    Update,
    /// Quiet for the configured time: over.
    Resolved,
}

impl AlertState {
    /// The name used in JSON and parameters.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Open => "open",
            AlertState::Update => "update",
            AlertState::Resolved => "resolved",
        }
    }
}

impl std::str::FromStr for AlertState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "open" => Ok(AlertState::Open),
            "update" => Ok(AlertState::Update),
            "resolved" => Ok(AlertState::Resolved),
            _ => Err(format!("`{s}`: expected open, update or resolved")),
        }
    }
}

/// What opened an alert.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// More independent reports in a window than the baseline allows.
    #[default]
    Burst,
    /// A report graded red, or a few graded orange: opened at once, before
    /// a burst confirms it.
    Severity,
    /// A keyword watch matched (its name is in [`Alert::watch`]).
    Watch,
}

impl Trigger {
    /// The name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Burst => "burst",
            Trigger::Severity => "severity",
            Trigger::Watch => "watch",
        }
    }
}

fn confirmed_by_default() -> bool {
    true
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// An alert message, schema version 1 (docs/alerts.md,
/// docs/alert.schema.json). Every state of one alert carries the same
/// `alert_id`; consumers keep the latest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Always 1 for this schema.
    pub schema_version: u32,
    /// Stable id: the same burst of the same key always gets the same id.
    pub alert_id: String,
    /// `open`, `update` or `resolved`.
    pub state: AlertState,
    /// The message's place in its alert's life: 1 for the `open`, one more
    /// for each later message of the same `alert_id`. A function of the
    /// stream (the same on every replica and after a restart); consumers
    /// keep the highest and drop what they have seen. (Added within v1:
    /// 0 for a message written before it existed, and then not written.)
    #[serde(default, skip_serializing_if = "is_zero")]
    pub seq: u64,
    /// Category id.
    pub category: String,
    /// Canonical region name, or `null` for the category as a whole.
    pub region: Option<String>,
    /// Start of the first bucket of the burst, RFC 3339.
    pub window_start: String,
    /// End of the last bucket counted, RFC 3339.
    pub window_end: String,
    /// Independent reports in the window.
    pub count: u64,
    /// Distinct authors of those reports.
    pub distinct_authors: u64,
    /// Expected reports per bucket before the burst.
    pub baseline: f64,
    /// The highest z = 2(√c − √baseline) of a bucket in the window.
    pub z: f64,
    /// Severity: the highest of the reports' own levels and the burst's size.
    pub level: Level,
    /// The most frequent matched terms, most frequent first.
    pub top_terms: Vec<String>,
    /// Ids of the highest-scoring reports, highest first (at most 10).
    pub sample_post_ids: Vec<String>,
    /// Regions the reports name (canonical names; a prefecture brings its
    /// province), most reports first (at most 20).
    #[serde(default)]
    pub regions: Vec<String>,
    /// The earliest report of the burst.
    pub first_post_id: String,
    /// Its time, RFC 3339.
    pub first_seen: String,
    /// When this message was emitted, RFC 3339.
    pub emitted_at: String,
    /// The length of the window whose burst test opened (or confirmed) the
    /// alert, seconds; `None` for a severity alert not yet confirmed.
    /// (Added within v1: absent from older messages.)
    #[serde(default)]
    pub window_secs: Option<u32>,
    /// What opened the alert. (Added within v1: older messages are
    /// `burst`.)
    #[serde(default)]
    pub trigger: Trigger,
    /// Whether the burst test has confirmed it: always for a `burst`
    /// alert; a `severity` alert until a burst of reports follows is not.
    /// (Added within v1: older messages are confirmed.)
    #[serde(default = "confirmed_by_default")]
    pub confirmed: bool,
    /// The name of the keyword watch that raised a `watch` alert; absent
    /// from burst and severity alerts. (Added within v1.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch: Option<String>,
}

/// An alert id: `al-` and the first 16 hex digits of a BLAKE3 hash of
/// `seed`. The same seed (a burst's key and first bucket, a watch's name
/// and episode) always gives the same id.
pub fn alert_id_of(seed: &str) -> String {
    let h = blake3::hash(seed.as_bytes());
    let hex: String = h.as_bytes()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("al-{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_message_from_before_the_windows_reads_as_a_confirmed_burst() {
        let mut v =
            serde_json::to_value(alert("a", AlertState::Open, "fire", "2026-03-02T10:02:00Z"))
                .unwrap();
        let obj = v.as_object_mut().unwrap();
        for field in ["window_secs", "trigger", "confirmed", "seq"] {
            obj.remove(field);
        }
        let old: Alert = serde_json::from_value(v).unwrap();
        assert_eq!(old.trigger, Trigger::Burst);
        assert!(old.confirmed);
        assert_eq!(old.window_secs, None);
        assert_eq!(old.seq, 0, "unknown");
        // And the fields are written (all but an unknown seq).
        let json = serde_json::to_string(&old).unwrap();
        assert!(
            json.contains(r#""window_secs":null,"trigger":"burst","confirmed":true"#),
            "{json}"
        );
        assert!(!json.contains("seq"), "{json}");
    }

    #[test]
    fn seq_follows_the_state() {
        let mut a = alert("a", AlertState::Update, "fire", "2026-03-02T10:02:00Z");
        a.seq = 3;
        let json = serde_json::to_string(&a).unwrap();
        assert!(json.contains(r#""state":"update","seq":3,"#), "{json}");
        let back: Alert = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a);
    }
}
