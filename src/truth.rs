//! `yuqing backtest --truth FILE`: known incidents, and how the alerts of
//! a backtest met them — which opened an alert of their category and how
//! long after their start, and which alerts opened away from every one of
//! them (false alerts).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::Context;
use serde_json::Value;
use yuqing_lexicon::Lexicon;
use yuqing_model::Timestamp;
use yuqing_spike::{Alert, AlertState};

/// A known incident (one line of the truth file).
#[derive(Debug, Clone)]
pub(crate) struct Incident {
    pub line: usize,
    pub category: String,
    pub region: Option<String>,
    pub start_ms: i64,
    pub end_ms: i64,
    pub label: Option<String>,
}

/// A time field: RFC 3339, epoch seconds or milliseconds, or a local time
/// without an offset (read at `offset`).
fn time_field(v: &Value, field: &str, offset: i32) -> Result<Option<i64>, String> {
    let ts = match v.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => Timestamp::parse_lenient(s, offset),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(n) => Timestamp::from_epoch(n),
            None => return Err(format!("`{field}`: {n} is not a whole number")),
        },
        Some(_) => {
            return Err(format!(
                "`{field}`: expected a time (RFC 3339, epoch seconds or milliseconds, or YYYY-MM-DD HH:MM:SS)"
            ));
        }
    };
    ts.map(|t| Some(t.as_millis()))
        .map_err(|e| format!("`{field}`: {e}"))
}

fn incident(line: usize, text: &str, lexicon: &Lexicon, offset: i32) -> Result<Incident, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    if !v.is_object() {
        return Err("expected a JSON object with `category` and `start`".into());
    }
    let category = match v.get("category") {
        Some(Value::String(c)) => c.clone(),
        Some(_) => return Err("`category`: expected a category id (a string)".into()),
        None => return Err("no `category` (expected a category id, e.g. \"fire\")".into()),
    };
    if !lexicon.categories().iter().any(|c| c.id == category) {
        let known: Vec<&str> = lexicon.categories().iter().map(|c| c.id.as_str()).collect();
        return Err(format!(
            "`category`: unknown category `{category}` (known: {})",
            known.join(", ")
        ));
    }
    let region = match v.get("region") {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) => match lexicon.region_by_name(r) {
            Some(region) => Some(region.name.clone()),
            None => {
                return Err(format!(
                    "`region`: unknown region `{r}` (a name from the gazetteer, e.g. 滁州市 or 滁州)"
                ));
            }
        },
        Some(_) => return Err("`region`: expected a region name (a string)".into()),
    };
    let start = time_field(&v, "start", offset)?
        .ok_or("no `start` (expected the time of the first report)")?;
    let end = time_field(&v, "end", offset)?.unwrap_or(start);
    if end < start {
        return Err("`end` is before `start`".into());
    }
    let label = match v.get("label") {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    Ok(Incident {
        line,
        category,
        region,
        start_ms: start,
        end_ms: end,
        label,
    })
}

/// Reads a truth file: JSON lines with `category`, optional `region`,
/// `start`, optional `end` (and an optional `label` to print); other
/// fields are ignored. An error names the file, the line and what was
/// expected.
pub(crate) fn load(path: &Path, lexicon: &Lexicon, offset: i32) -> anyhow::Result<Vec<Incident>> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let n = i + 1;
        let line = line.with_context(|| format!("{}:{n}: reading", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let inc = incident(n, &line, lexicon, offset)
            .map_err(|e| anyhow::anyhow!("{}:{n}: {e}", path.display()))?;
        out.push(inc);
    }
    anyhow::ensure!(!out.is_empty(), "{}: no incidents", path.display());
    Ok(out)
}

/// How the alerts met the incidents.
pub(crate) struct Scored<'a> {
    /// For each incident, the first alert that opened for it.
    pub caught: Vec<(&'a Incident, Option<(&'a Alert, i64)>)>,
    /// Per category: alerts opened, of which on an incident of the
    /// category, and of the others, how many opened during an incident of
    /// another category (its reports are often of both).
    pub per_category: BTreeMap<String, Tally>,
}

/// Alerts of one category.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Tally {
    pub opened: u64,
    pub on_incident: u64,
    pub during_other: u64,
}

impl Tally {
    /// Alerts away from every known incident.
    pub fn false_alerts(&self) -> u64 {
        self.opened - self.on_incident - self.during_other
    }
}

fn ms(rfc3339: &str) -> Option<i64> {
    Timestamp::parse_rfc3339(rfc3339)
        .ok()
        .map(|t| t.as_millis())
}

/// Whether an alert of `region` is about an incident in `incident`
/// (none: anywhere): the category as a whole, the region itself, or a
/// region above or below it.
fn region_matches(
    alert: Option<&str>,
    incident: Option<&str>,
    parents: &HashMap<String, String>,
) -> bool {
    match (alert, incident) {
        (_, None) | (None, _) => true,
        (Some(a), Some(i)) => {
            a == i
                || parents.get(a).map(String::as_str) == Some(i)
                || parents.get(i).map(String::as_str) == Some(a)
        }
    }
}

/// Matches opened alerts with incidents: an alert is about an incident
/// when it has its category (and region, if the incident names one) and
/// opened between the incident's start and `grace_ms` after its end.
pub(crate) fn score<'a>(
    incidents: &'a [Incident],
    alerts: &'a [Alert],
    parents: &HashMap<String, String>,
    grace_ms: i64,
) -> Scored<'a> {
    let opens: Vec<(&Alert, i64)> = alerts
        .iter()
        .filter(|a| a.state == AlertState::Open)
        .filter_map(|a| Some((a, ms(&a.emitted_at)?)))
        .collect();
    let about = |a: &Alert, at: i64, inc: &Incident| {
        a.category == inc.category
            && region_matches(a.region.as_deref(), inc.region.as_deref(), parents)
            && at >= inc.start_ms
            && at <= inc.end_ms + grace_ms
    };
    let caught = incidents
        .iter()
        .map(|inc| {
            let first = opens
                .iter()
                .filter(|(a, at)| about(a, *at, inc))
                .min_by_key(|(_, at)| *at)
                .map(|(a, at)| (*a, at - inc.start_ms));
            (inc, first)
        })
        .collect();
    let mut per_category: BTreeMap<String, Tally> = BTreeMap::new();
    for (a, at) in &opens {
        let e = per_category.entry(a.category.clone()).or_default();
        e.opened += 1;
        if incidents.iter().any(|inc| about(a, *at, inc)) {
            e.on_incident += 1;
        } else if incidents
            .iter()
            .any(|inc| *at >= inc.start_ms && *at <= inc.end_ms + grace_ms)
        {
            e.during_other += 1;
        }
    }
    Scored {
        caught,
        per_category,
    }
}

/// `1m05s`.
pub(crate) fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    if s >= 3600 {
        format!("{}h{:02}m{:02}s", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

/// Prints the per-incident table and the false alerts per category per
/// day (on stderr, after the backtest's summary).
pub(crate) fn print(scored: &Scored<'_>, categories: &[String], days: f64, grace_ms: i64) {
    eprintln!();
    eprintln!(
        "{:<4} {:<26} {:<20} {:>6} {:>9}  alert",
        "line", "incident", "start (UTC)", "opened", "delay"
    );
    let mut delays = Vec::new();
    for (inc, first) in &scored.caught {
        let name = inc.label.clone().unwrap_or_else(|| {
            format!(
                "{}{}",
                inc.category,
                inc.region
                    .as_deref()
                    .map(|r| format!(" {r}"))
                    .unwrap_or_default()
            )
        });
        let start = Timestamp::from_millis(inc.start_ms)
            .map(|t| t.to_string().chars().take(19).collect::<String>())
            .unwrap_or_default();
        match first {
            Some((a, delay)) => {
                delays.push(*delay);
                let window = a.window_secs.map_or("-".to_string(), |w| format!("{w} s"));
                eprintln!(
                    "{:<4} {:<26} {:<20} {:>6} {:>9}  {} {} {} window {} {} reports{}",
                    inc.line,
                    name,
                    start,
                    "yes",
                    duration(*delay),
                    a.alert_id,
                    a.region.as_deref().unwrap_or("(all regions)"),
                    a.trigger.as_str(),
                    window,
                    a.count,
                    if a.confirmed { "" } else { ", unconfirmed" },
                );
            }
            None => eprintln!(
                "{:<4} {:<26} {:<20} {:>6} {:>9}",
                inc.line, name, start, "NO", "-"
            ),
        }
    }
    delays.sort_unstable();
    let caught = delays.len();
    let total = scored.caught.len();
    if caught > 0 {
        eprintln!(
            "caught {caught} of {total} incidents; delay from the start: median {}, longest {}",
            duration(delays[(caught - 1) / 2]),
            duration(delays[caught - 1])
        );
    } else {
        eprintln!("caught 0 of {total} incidents");
    }
    eprintln!();
    eprintln!(
        "{:<18} {:>7} {:>13} {:>13} {:>7} {:>10}",
        "category", "alerts", "on incidents", "during other", "false", "false/day"
    );
    let mut false_total = 0u64;
    let mut worst: Option<(f64, &str)> = None;
    for c in categories {
        let t = scored.per_category.get(c).copied().unwrap_or_default();
        let false_alerts = t.false_alerts();
        false_total += false_alerts;
        let per_day = false_alerts as f64 / days;
        if per_day > 0.0 && worst.is_none_or(|(w, _)| per_day > w) {
            worst = Some((per_day, c));
        }
        eprintln!(
            "{:<18} {:>7} {:>13} {:>13} {:>7} {:>10.2}",
            c, t.opened, t.on_incident, t.during_other, false_alerts, per_day
        );
    }
    let per_cat_day = false_total as f64 / days / categories.len().max(1) as f64;
    eprintln!(
        "false alerts: {false_total} in {days:.2} days over {} categories: {per_cat_day:.3} per category per day{}",
        categories.len(),
        worst
            .map(|(w, c)| format!(" (most: {c}, {w:.2} a day)"))
            .unwrap_or_default()
    );
    eprintln!(
        "(an alert is on an incident when it has the incident's category, its region if it names one, and opened from its start to {} after its end; during other: it opened in that time of an incident of another category; false: neither)",
        duration(grace_ms)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_match_up_and_down_the_hierarchy() {
        let parents: HashMap<String, String> = [("滁州市".to_string(), "安徽省".to_string())]
            .into_iter()
            .collect();
        assert!(region_matches(None, Some("滁州市"), &parents));
        assert!(region_matches(Some("滁州市"), None, &parents));
        assert!(region_matches(Some("安徽省"), Some("滁州市"), &parents));
        assert!(region_matches(Some("滁州市"), Some("安徽省"), &parents));
        assert!(!region_matches(Some("合肥市"), Some("滁州市"), &parents));
    }

    #[test]
    fn durations_read_as_minutes_and_seconds() {
        assert_eq!(duration(65_000), "1m05s");
        assert_eq!(duration(0), "0m00s");
        assert_eq!(duration(3_725_000), "1h02m05s");
    }
}
