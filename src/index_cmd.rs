//! `yuqing index`: bulk-load JSONL posts into the index through the same
//! score-and-index path the service uses, and run the burst detector over
//! them in their own time, so that a loaded history has its alerts (in
//! `DATA_DIR/alerts.jsonl`, where the API reads them).

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use yuqing_alertlog::AlertStore;
use yuqing_index::{AuthorPolicy, IndexOptions, PostIndex};
use yuqing_lexicon::Lexicon;
use yuqing_model::{ParseOptions, Post};
use yuqing_pipeline::{AnalyzedPost, Scorer};
use yuqing_spike::{Alert, AlertState, Detector, DetectorConfig};

use crate::lines::{BadLine, Batch, LineReader, map_ordered};
use crate::progress::Progress;

/// What to store of authors.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Authors {
    /// A keyed hash (key in DATA_DIR/author.key).
    Pseudonymise,
    /// The author id as given.
    Raw,
    /// Nothing.
    Drop,
}

/// Arguments of `yuqing index`.
#[derive(clap::Args)]
pub struct Args {
    /// JSONL input, one post per line; `-` or nothing reads stdin.
    pub input: Option<PathBuf>,
    /// Data directory; the index is DATA_DIR/index (created if absent).
    #[arg(long, value_name = "DIR", env = "YUQING_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Dictionary directory (default: the built-in dictionaries).
    #[arg(long, value_name = "DIR")]
    pub dictionaries: Option<PathBuf>,
    /// Timestamp for posts without `ts` (RFC 3339, epoch, or `now`).
    #[arg(long, value_name = "TS")]
    pub default_ts: Option<String>,
    /// Threads that parse, analyse and score (default: cores - 1, at least
    /// 1; tantivy indexes on one more).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Commit every N posts (and at the end).
    #[arg(long, value_name = "N", default_value_t = 500_000)]
    pub commit_every: usize,
    /// Delete posts older than this many days.
    #[arg(long, value_name = "DAYS")]
    pub retention_days: Option<u32>,
    /// What to store of authors.
    #[arg(long, value_enum, default_value = "pseudonymise")]
    pub authors: Authors,
    /// tantivy's indexing memory, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 256)]
    pub writer_memory_mib: usize,
    /// Do not run the burst detector (no alerts are added to
    /// DATA_DIR/alerts.jsonl).
    #[arg(long)]
    pub no_alerts: bool,
    /// Change a detector setting, by its name below `[spike]`
    /// (`--set thresholds.false_alerts_per_day=0.2`); repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Alerts kept in DATA_DIR/alerts.jsonl (the latest message of each;
    /// the oldest go beyond), as `[alerts] keep` of a pipeline.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub alerts_keep: usize,
    /// Report every bad line, not only the first ten.
    #[arg(long)]
    pub verbose: bool,
}

/// A batch scored and ready for the index.
struct Scored {
    posts: Vec<AnalyzedPost>,
    errors: Vec<BadLine>,
    lines: usize,
}

fn score_batch(scorer: &mut Scorer, options: &ParseOptions, batch: &Batch) -> Scored {
    let mut errors = Vec::new();
    let parse = |_, bytes: &[u8]| Post::from_json_with(bytes, options);
    let posts = batch
        .posts(&mut errors, parse)
        .map(|(_, post)| scorer.score(post))
        .collect();
    Scored {
        posts,
        errors,
        lines: batch.len(),
    }
}

/// Counts from one indexing run.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct IndexStats {
    pub lines: usize,
    pub posts: usize,
    pub invalid: usize,
    pub flagged: usize,
    pub secs: f64,
}

/// The burst detector run over the posts as they are indexed, in their
/// own time, and the alert store it writes to.
pub(crate) struct Detecting {
    pub detector: Detector,
    pub store: AlertStore,
    pub opened: u64,
    pub messages: u64,
}

impl Detecting {
    fn record(&mut self, alerts: Vec<Alert>) -> io::Result<()> {
        for a in alerts {
            self.messages += 1;
            self.opened += u64::from(a.state == AlertState::Open);
            self.store.record(&a)?;
        }
        Ok(())
    }
}

pub(crate) struct StreamOutcome {
    pub stats: IndexStats,
    pub read: io::Result<()>,
    pub index_error: Option<yuqing_index::IndexError>,
    /// Writing to the alert store failed.
    pub alert_error: Option<io::Error>,
}

/// The score-and-index path shared by `yuqing index` and `yuqing bench
/// index`: workers parse, analyse and score batches; this thread builds
/// documents and hands them to tantivy (which indexes on its own thread),
/// committing when the writer's policy says so; with `detecting`, the
/// detector counts every post in index order (as in a pipeline). Does not
/// do the final commit.
#[allow(clippy::too_many_arguments)]
pub(crate) fn index_stream<R: io::BufRead + Send>(
    reader: LineReader<R>,
    lexicon: &Arc<Lexicon>,
    options: &ParseOptions,
    writer: &mut yuqing_index::PostWriter,
    workers: usize,
    mut progress: Option<&mut Progress>,
    mut detecting: Option<&mut Detecting>,
) -> StreamOutcome {
    let start = Instant::now();
    let mut stats = IndexStats::default();
    let mut index_error: Option<yuqing_index::IndexError> = None;
    let mut alert_error: Option<io::Error> = None;
    let read = map_ordered(
        reader,
        workers,
        || Scorer::new(Arc::clone(lexicon)),
        |scorer, batch| score_batch(scorer, options, batch),
        |b: Scored| {
            if let Some(p) = progress.as_deref_mut() {
                for (n, reason, msg) in &b.errors {
                    p.bad_line(*n, reason, msg);
                }
            }
            stats.lines += b.lines;
            stats.invalid += b.errors.len();
            for AnalyzedPost {
                scored: post,
                analyzed,
                ..
            } in &b.posts
            {
                stats.flagged += usize::from(post.is_incident());
                if let Err(e) = writer.add(post, analyzed) {
                    index_error = Some(e);
                    return Err(io::Error::other("the index failed"));
                }
                stats.posts += 1;
                if let Some(d) = detecting.as_deref_mut() {
                    d.detector.observe(post, analyzed.normalized());
                }
            }
            if let Some(d) = detecting.as_deref_mut() {
                let due = d.detector.advance();
                if let Err(e) = d.record(due) {
                    alert_error = Some(e);
                    return Err(io::Error::other("the alert store failed"));
                }
            }
            if writer.commit_due()
                && let Err(e) = writer.commit()
            {
                index_error = Some(e);
                return Err(io::Error::other("the index failed"));
            }
            if let Some(p) = progress.as_deref_mut() {
                p.tick(stats.posts as u64, &format!(", {} flagged", stats.flagged));
            }
            Ok(())
        },
    );
    if let Some(p) = progress {
        p.finish();
    }
    stats.secs = start.elapsed().as_secs_f64();
    StreamOutcome {
        stats,
        read,
        index_error,
        alert_error,
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let options = ParseOptions {
        default_ts: crate::score::parse_default_ts(args.default_ts.as_deref())?,
        ..ParseOptions::default()
    };
    let lexicon: Arc<Lexicon> = crate::load_lexicon(args.dictionaries.as_ref())?;
    // The input first: a missing file leaves no data directory behind.
    let input = crate::progress::open(args.input.as_ref())?;
    // The detector's settings are checked before anything is written.
    let spike = if args.no_alerts {
        None
    } else {
        let mut spike = DetectorConfig::default();
        crate::detect::apply_settings(&mut spike, &args.set)?;
        crate::detect::check_categories(&spike, &lexicon)
            .map_err(|e| crate::usage(format!("--set: {e:#}")))?;
        Some(spike)
    };
    let index = PostIndex::open_or_create(&args.data_dir, lexicon.shared_analyzer())
        .with_context(|| format!("opening the index in {}", args.data_dir.display()))?;
    refuse_a_pipelines_index(&index, &args.data_dir)?;
    let mut writer = index
        .writer(IndexOptions {
            writer_memory_bytes: args.writer_memory_mib << 20,
            writer_threads: 1,
            commit_docs: args.commit_every.max(1),
            // Bulk loads commit by count only.
            commit_interval: Duration::from_secs(u64::MAX / 4),
            retention_days: args.retention_days,
            authors: match args.authors {
                Authors::Pseudonymise => AuthorPolicy::Pseudonymise,
                Authors::Raw => AuthorPolicy::Raw,
                Authors::Drop => AuthorPolicy::Drop,
            },
        })
        .context("opening the index writer (is another yuqing writing to this data directory?)")?;
    let workers = args
        .workers
        .filter(|&n| n > 0)
        .unwrap_or_else(|| crate::worker_count(None).saturating_sub(1).max(1));

    let mut detecting = if let Some(spike) = spike {
        let path = args.data_dir.join(yuqing_pipeline::ALERTS_FILE);
        let store = AlertStore::open(&path, args.alerts_keep)
            .with_context(|| format!("reading the alerts in {}", path.display()))?;
        let mut detector = Detector::new(spike, lexicon.region_parents());
        // Stream time is the posts' time: `emitted_at` says when a live
        // run would have sent each message.
        detector.use_event_clock();
        Some(Detecting {
            detector,
            store,
            opened: 0,
            messages: 0,
        })
    } else {
        None
    };

    let start = Instant::now();
    let mut progress = Progress::new("yuqing index", "posts", args.verbose).with_input(&input);
    let outcome = index_stream(
        input.lines(),
        &lexicon,
        &options,
        &mut writer,
        workers,
        Some(&mut progress),
        detecting.as_mut(),
    );
    let (result, index_error) = (outcome.read, outcome.index_error);
    let alerts_path = args.data_dir.join(yuqing_pipeline::ALERTS_FILE);
    if let Some(e) = outcome.alert_error {
        return Err(e).with_context(|| format!("writing the alerts in {}", alerts_path.display()));
    }
    let IndexStats {
        lines,
        posts,
        invalid,
        flagged,
        ..
    } = outcome.stats;
    if let Some(e) = index_error {
        return Err(e).context("indexing");
    }
    result.with_context(|| match &args.input {
        Some(p) => format!("reading {}", p.display()),
        None => "reading stdin".to_string(),
    })?;
    writer.commit().context("committing the index")?;
    writer.finish().context("finishing the index")?;
    index.reload().context("reloading the index")?;
    if let Some(d) = detecting.as_mut() {
        // The file is read: every bucket is complete.
        let due = d.detector.finish();
        d.record(due)
            .with_context(|| format!("writing the alerts in {}", alerts_path.display()))?;
    }
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    eprintln!(
        "yuqing index: {lines} lines: {posts} posts indexed, {invalid} invalid, {flagged} flagged; {secs:.2} s: {:.0} posts/s; the index in {} holds {} in {}",
        posts as f64 / secs,
        args.data_dir.display(),
        crate::count(index.num_docs(), "post"),
        crate::count(index.num_segments() as u64, "segment")
    );
    if let Some(d) = &detecting {
        eprintln!(
            "yuqing index: burst detection: {} alerts opened ({} messages, {} open at the end), {} flagged posts after their bucket closed; alerts in {}",
            d.opened,
            d.messages,
            d.detector.open_alerts(),
            d.detector.late(),
            alerts_path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Refuses a data directory that a pipeline writes to. Only `yuqing run`
/// stores a payload in its index commits: where it stands in its source and
/// the burst detector's snapshot. A commit from here would have none, and
/// the next `yuqing run` would read its whole source again and send its
/// alerts and dead letters again.
fn refuse_a_pipelines_index(index: &PostIndex, data_dir: &std::path::Path) -> anyhow::Result<()> {
    let Some(payload) = index
        .commit_payload()
        .with_context(|| format!("reading the index in {}", data_dir.display()))?
    else {
        return Ok(());
    };
    let positions = yuqing_pipeline::Positions::from_payload(Some(&payload));
    let mut holds = Vec::new();
    if let Some(f) = &positions.file {
        holds.push(format!("its position in {} (line {})", f.path, f.line));
    }
    if !positions.kafka.is_empty() {
        let topics: Vec<&str> = positions.kafka.keys().map(String::as_str).collect();
        holds.push(format!("its offsets in {}", topics.join(", ")));
    }
    if positions.detector.is_some() {
        holds.push("the burst detector's state".to_string());
    }
    if holds.is_empty() {
        holds.push("where it stands in its source".to_string());
    }
    anyhow::bail!(
        "{} belongs to a pipeline: its index's last commit records {}; indexing into it would drop \
         them, and the next `yuqing run` would read its source again from the start and send its \
         alerts and dead letters again. Load the posts into another data directory, or send them \
         through the pipeline's source",
        data_dir.display(),
        holds.join(" and ")
    )
}
