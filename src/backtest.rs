//! `yuqing backtest FILE.jsonl`: posts with their own timestamps through
//! scoring and the burst detector, offline. Prints the alert messages the
//! stream would have produced (the same JSON as the alerts topic, one per
//! line, `emitted_at` in stream time) and a summary per category.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use yuqing_lexicon::Lexicon;
use yuqing_model::{FieldNames, ParseOptions, Post, PostError, Timestamp};
use yuqing_pipeline::{PipelineConfig, Scorer};
use yuqing_spike::{Alert, AlertState, DetectorConfig};

use crate::detect::{Recorded, Replayed};
use crate::lines::{BadLine, Batch, map_ordered};
use crate::progress::Progress;

/// Arguments of `yuqing backtest`.
#[derive(clap::Args)]
pub struct Args {
    /// JSONL posts; `-` or nothing reads stdin. Any order: they are sorted
    /// by time.
    pub input: Option<PathBuf>,
    /// Take the detector settings (`[spike]`) and dictionaries from this
    /// pipeline configuration; without it, the defaults and the built-in
    /// dictionaries.
    #[arg(long, value_name = "PIPELINE.toml")]
    pub pipeline: Option<PathBuf>,
    /// Change a detector setting for this run, by its name below `[spike]`
    /// (`--set bucket_secs=3600 --set thresholds.min_count=3
    /// --set categories.fire.z=4`); repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Dictionary directory (overrides the pipeline's).
    #[arg(long, value_name = "DIR")]
    pub dictionaries: Option<PathBuf>,
    /// Field holding the post id (missing: `line-N`).
    #[arg(long, value_name = "NAME", default_value = "id")]
    pub id_field: String,
    /// Field holding the text.
    #[arg(long, value_name = "NAME", default_value = "text")]
    pub text_field: String,
    /// Field holding the time: RFC 3339, epoch seconds or milliseconds, or
    /// a local `YYYY-MM-DD HH:MM:SS` (see `--timezone`).
    #[arg(long, value_name = "NAME", default_value = "ts")]
    pub ts_field: String,
    /// Field holding the author (optional in the data).
    #[arg(long, value_name = "NAME", default_value = "author")]
    pub author_field: String,
    /// UTC offset of local times without one, `+08:00` (China) by default.
    #[arg(
        long,
        value_name = "±HH:MM",
        default_value = "+08:00",
        allow_hyphen_values = true
    )]
    pub timezone: String,
    /// Worker threads for scoring (default: one per core).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Print the summary only, not the alerts.
    #[arg(long)]
    pub quiet: bool,
    /// Report every bad line, not only the first ten.
    #[arg(long)]
    pub verbose: bool,
    /// Known incidents, JSON lines with `category`, optional `region`,
    /// `start` and optional `end`: says for each whether an alert of its
    /// category opened and how long after its start, and counts the false
    /// alerts (opened away from every incident) per category per day.
    #[arg(long, value_name = "FILE")]
    pub truth: Option<PathBuf>,
    /// With `--truth`: an alert opened up to this many minutes after an
    /// incident's end is still about it.
    #[arg(long, value_name = "MINUTES", default_value_t = 60)]
    pub match_mins: u32,
}

/// Parses `+08:00`, `-05:30`, `Z`, `UTC` into seconds east of UTC.
fn parse_offset(s: &str) -> anyhow::Result<i32> {
    yuqing_model::parse_utc_offset(s).map_err(|e| crate::usage(format!("--timezone {e}")))
}

/// A post from a JSON record with the configured field names, through
/// the parser every command uses; a post without an id is named after its
/// line.
fn to_post(line: usize, bytes: &[u8], options: &ParseOptions) -> Result<Post, PostError> {
    let mut post = Post::from_json_with(bytes, options)?;
    if post.id.is_empty() {
        post.id = format!("line-{line}");
    }
    Ok(post)
}

struct BatchOut {
    /// Flagged posts by line number, with their normalised text (what
    /// the detector recognises repeats on), and the clock.
    recorded: Recorded,
    posts: usize,
    errors: Vec<BadLine>,
    first_ts: Option<i64>,
    last_ts: Option<i64>,
    days: BTreeSet<i64>,
}

/// Per category: what the backtest found.
#[derive(Default)]
struct CategorySummary {
    flagged: u64,
    opens: u64,
    updates: u64,
    days_with_alerts: BTreeSet<String>,
    per_day: BTreeMap<String, u64>,
    biggest: Option<Alert>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    crate::init_logging_at("warn");
    let offset = parse_offset(&args.timezone)?;
    let (spike, dictionaries) = match &args.pipeline {
        Some(p) => {
            let config = PipelineConfig::load(p)?;
            (config.spike, config.dictionaries)
        }
        None => (DetectorConfig::default(), None),
    };
    let mut spike = spike;
    crate::detect::apply_settings(&mut spike, &args.set)?;
    let dictionaries = args.dictionaries.clone().or(dictionaries);
    let lexicon = crate::load_lexicon(dictionaries.as_ref())?;
    // An unknown category in --set alone is a bad command line (exit 2);
    // with a pipeline configuration it may be the file's.
    match &args.pipeline {
        Some(p) => crate::detect::check_categories(&spike, &lexicon)
            .with_context(|| format!("{} or --set", p.display()))?,
        None => crate::detect::check_categories(&spike, &lexicon)
            .map_err(|e| crate::usage(format!("--set: {e:#}")))?,
    }
    let truth = match &args.truth {
        Some(path) => Some(crate::truth::load(path, &lexicon, offset)?),
        None => None,
    };
    let options = ParseOptions {
        fields: FieldNames {
            id: args.id_field.clone(),
            text: args.text_field.clone(),
            ts: args.ts_field.clone(),
            author: args.author_field.clone(),
        },
        local_offset_secs: Some(offset),
        id_optional: true,
        ..ParseOptions::default()
    };
    let started = Instant::now();
    let Read {
        mut recorded,
        posts,
        bad,
        first_ts,
        last_ts,
        days,
    } = read_posts(&args, &lexicon, &options, offset)?;
    let scoring = started.elapsed();

    let mut summaries: BTreeMap<String, CategorySummary> = lexicon
        .categories()
        .iter()
        .map(|c| (c.id.clone(), CategorySummary::default()))
        .collect();
    for (_, p, _) in &recorded.flagged {
        for c in &p.categories {
            if let Some(s) = summaries.get_mut(&c.id) {
                s.flagged += 1;
            }
        }
    }
    let flagged = recorded.flagged.len();
    let parents = lexicon.region_parents();
    let Replayed { alerts, late } = crate::detect::replay(&mut recorded, spike, parents.clone());

    write_alerts(&alerts, args.quiet, &mut summaries, offset)?;

    let day_of = |ms: i64| (ms + i64::from(offset) * 1000).div_euclid(86_400_000);
    let span_days = if last_ts >= first_ts {
        day_of(last_ts) - day_of(first_ts) + 1
    } else {
        0
    };
    let active = days.len().max(1);
    eprintln!(
        "yuqing backtest: {posts} posts from {} to {} ({span_days} days, {} with posts), {} flagged, {bad} bad lines; scored in {:.1} s",
        local_date(first_ts, offset),
        local_date(last_ts, offset),
        days.len(),
        flagged,
        scoring.as_secs_f64(),
    );
    eprintln!(
        "yuqing backtest: {} alert messages; {late} flagged posts came after their bucket closed",
        alerts.len(),
    );
    print_summaries(&summaries, active);
    eprintln!("(alerts/day: alerts opened per day with posts in the input)");
    if let Some(incidents) = &truth {
        let grace_ms = i64::from(args.match_mins) * 60_000;
        let scored = crate::truth::score(incidents, &alerts, &parents, grace_ms);
        // The stream's length in days (at least an hour's worth).
        let days = ((last_ts - first_ts) as f64 / 86_400_000.0).max(1.0 / 24.0);
        let categories: Vec<String> = summaries.keys().cloned().collect();
        crate::truth::print(&scored, &categories, days, grace_ms);
    }
    Ok(ExitCode::SUCCESS)
}

/// What reading the input gave.
struct Read {
    recorded: Recorded,
    posts: usize,
    bad: usize,
    first_ts: i64,
    last_ts: i64,
    days: BTreeSet<i64>,
}

/// Reads and scores the input on the workers; reports bad lines.
fn read_posts(
    args: &Args,
    lexicon: &Arc<Lexicon>,
    options: &ParseOptions,
    offset: i32,
) -> anyhow::Result<Read> {
    let input = crate::progress::open(args.input.as_ref())?;
    let mut progress = Progress::new("yuqing backtest", "posts", args.verbose).with_input(&input);
    let reader = input.lines();
    let workers = crate::worker_count(args.workers);

    let mut recorded = Recorded::default();
    let (mut posts, mut bad) = (0usize, 0usize);
    let (mut first_ts, mut last_ts) = (i64::MAX, i64::MIN);
    let mut days: BTreeSet<i64> = BTreeSet::new();
    let day_of = |ms: i64| (ms + i64::from(offset) * 1000).div_euclid(86_400_000);
    map_ordered(
        reader,
        workers,
        || Scorer::new(Arc::clone(lexicon)),
        |scorer, batch: &Batch| {
            let mut out = BatchOut {
                recorded: Recorded::default(),
                posts: 0,
                errors: Vec::new(),
                first_ts: None,
                last_ts: None,
                days: BTreeSet::new(),
            };
            let parse = |n, bytes: &[u8]| to_post(n, bytes, options);
            for (n, post) in batch.posts(&mut out.errors, parse) {
                out.posts += 1;
                let ts = post.ts.as_millis();
                out.first_ts = Some(out.first_ts.map_or(ts, |t| t.min(ts)));
                out.last_ts = Some(out.last_ts.map_or(ts, |t| t.max(ts)));
                out.days.insert(day_of(ts));
                let (scored, analyzed) = scorer.score_in_place(post);
                out.recorded.add(n, scored, analyzed.normalized());
            }
            out
        },
        |out| {
            posts += out.posts;
            bad += out.errors.len();
            for (n, reason, e) in &out.errors {
                progress.bad_line(*n, reason, e);
            }
            if let Some(t) = out.first_ts {
                first_ts = first_ts.min(t);
            }
            if let Some(t) = out.last_ts {
                last_ts = last_ts.max(t);
            }
            days.extend(out.days);
            recorded.extend(out.recorded);
            progress.tick(
                posts as u64,
                &format!(", {} flagged", recorded.flagged.len()),
            );
            Ok(())
        },
    )
    .context("reading the input")?;
    progress.finish();
    if posts == 0 {
        bail!("no posts in the input ({bad} bad lines)");
    }
    Ok(Read {
        recorded,
        posts,
        bad,
        first_ts,
        last_ts,
        days,
    })
}

/// Writes the alert messages (unless `quiet`) and counts them by category.
fn write_alerts(
    alerts: &[Alert],
    quiet: bool,
    summaries: &mut BTreeMap<String, CategorySummary>,
    offset: i32,
) -> anyhow::Result<()> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    for a in alerts {
        if !quiet {
            serde_json::to_writer(&mut out, a).context("writing an alert")?;
            out.write_all(b"\n").context("writing an alert")?;
        }
        let Some(s) = summaries.get_mut(&a.category) else {
            continue;
        };
        match a.state {
            AlertState::Open => {
                s.opens += 1;
                let day = local_day(&a.window_start, offset);
                *s.per_day.entry(day.clone()).or_default() += 1;
                s.days_with_alerts.insert(day);
            }
            AlertState::Update => s.updates += 1,
            AlertState::Resolved => {}
        }
        if s.biggest.as_ref().is_none_or(|b| a.count > b.count) {
            s.biggest = Some(a.clone());
        }
    }
    out.flush().context("writing the alerts")?;
    drop(out);

    Ok(())
}

/// The table of categories.
fn print_summaries(summaries: &BTreeMap<String, CategorySummary>, active: usize) {
    eprintln!(
        "{:<18} {:>8} {:>7} {:>8} {:>12} {:>14}  biggest alert",
        "category", "flagged", "alerts", "updates", "alert days", "alerts/day"
    );
    for (id, s) in summaries {
        let biggest = s.biggest.as_ref().map_or(String::new(), |a| {
            format!(
                "{} {} {} reports, {} ({})",
                &a.window_start[..10.min(a.window_start.len())],
                a.region.as_deref().unwrap_or("(all regions)"),
                a.count,
                a.level.as_str(),
                a.top_terms.join("/")
            )
        });
        eprintln!(
            "{:<18} {:>8} {:>7} {:>8} {:>12} {:>14.4}  {biggest}",
            id,
            s.flagged,
            s.opens,
            s.updates,
            s.days_with_alerts.len(),
            s.opens as f64 / active as f64,
        );
    }
}

/// The local calendar day (`YYYY-MM-DD`) of an RFC 3339 time.
fn local_day(rfc3339: &str, offset: i32) -> String {
    Timestamp::parse_rfc3339(rfc3339).map_or_else(
        |_| rfc3339.to_string(),
        |t| local_date(t.as_millis(), offset),
    )
}

fn local_date(ms: i64, offset: i32) -> String {
    Timestamp::from_millis(ms + i64::from(offset) * 1000)
        .map(|t| t.to_string().chars().take(10).collect())
        .unwrap_or_else(|_| "?".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets() {
        assert_eq!(parse_offset("+08:00").unwrap(), 28_800);
        assert_eq!(parse_offset("-05:30").unwrap(), -19_800);
        assert_eq!(parse_offset("UTC").unwrap(), 0);
        assert!(parse_offset("8").is_err());
        assert!(parse_offset("+25:00").is_err());
    }
}
