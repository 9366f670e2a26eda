//! `yuqing score`: JSONL posts in, scored JSONL out.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use yuqing_lexicon::Lexicon;
use yuqing_model::{ParseOptions, Post, Timestamp};
use yuqing_pipeline::Scorer;

use crate::lines::{BadLine, Batch, map_ordered};
use crate::progress::Progress;

/// Arguments of `yuqing score`.
#[derive(clap::Args)]
pub struct Args {
    /// JSONL input, one post per line; `-` or nothing reads stdin.
    pub input: Option<PathBuf>,
    /// Dictionary directory (default: the built-in dictionaries).
    #[arg(long, value_name = "DIR")]
    pub dictionaries: Option<PathBuf>,
    /// Timestamp for posts without `ts` (RFC 3339, epoch seconds or
    /// milliseconds, or `now`); without it, `ts` is required.
    #[arg(long, value_name = "TS")]
    pub default_ts: Option<String>,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Print the summary line only, not the posts (for measuring).
    #[arg(long)]
    pub quiet: bool,
    /// Report every bad line, not only the first ten.
    #[arg(long)]
    pub verbose: bool,
}

/// What one batch produced.
pub(crate) struct BatchOut {
    pub json: Vec<u8>,
    /// Bad lines: number, reason code, message.
    pub errors: Vec<BadLine>,
    pub posts: usize,
    pub flagged: usize,
    pub bytes: usize,
    pub lines: usize,
}

/// Per-worker state.
pub(crate) struct Worker {
    scorer: Scorer,
}

impl Worker {
    pub(crate) fn new(lexicon: &Arc<Lexicon>) -> Self {
        Worker {
            scorer: Scorer::new(Arc::clone(lexicon)),
        }
    }

    /// Scores a batch of lines into JSON lines and per-line errors.
    pub(crate) fn score_batch(&mut self, options: &ParseOptions, batch: &Batch) -> BatchOut {
        let mut out = BatchOut {
            json: Vec::with_capacity(batch.len() * 400),
            errors: Vec::new(),
            posts: 0,
            flagged: 0,
            bytes: batch.line_bytes(),
            lines: batch.len(),
        };
        let parse = |_, bytes: &[u8]| Post::from_json_with(bytes, options);
        for (_, post) in batch.posts(&mut out.errors, parse) {
            let (scored, _) = self.scorer.score_in_place(post);
            out.posts += 1;
            out.flagged += usize::from(scored.is_incident());
            // Serialising our own types into a Vec cannot fail.
            if serde_json::to_writer(&mut out.json, &scored).is_ok() {
                out.json.push(b'\n');
            }
        }
        out
    }
}

pub(crate) fn parse_default_ts(s: Option<&str>) -> anyhow::Result<Option<Timestamp>> {
    let Some(s) = s else { return Ok(None) };
    if s == "now" {
        return Ok(Some(Timestamp::now()));
    }
    let ts = match s.parse::<i64>() {
        Ok(n) => Timestamp::from_epoch(n),
        Err(_) => Timestamp::parse_rfc3339(s),
    };
    ts.map(Some)
        .map_err(|e| crate::usage(format!("--default-ts `{s}`: {e}")))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let options = ParseOptions {
        default_ts: parse_default_ts(args.default_ts.as_deref())?,
        ..ParseOptions::default()
    };
    let lexicon: Arc<Lexicon> = crate::load_lexicon(args.dictionaries.as_ref())?;
    let input = crate::progress::open(args.input.as_ref())?;
    let workers = crate::worker_count(args.workers);

    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(1 << 20, stdout.lock());
    let mut progress = Progress::new("yuqing score", "posts", args.verbose).with_input(&input);
    let start = Instant::now();
    let (mut lines, mut posts, mut invalid, mut flagged, mut bytes) = (0, 0, 0, 0, 0usize);

    let result = map_ordered(
        input.lines(),
        workers,
        || Worker::new(&lexicon),
        |w, batch| w.score_batch(&options, batch),
        |b: BatchOut| {
            if !args.quiet {
                out.write_all(&b.json)?;
            }
            for (n, reason, msg) in &b.errors {
                progress.bad_line(*n, reason, msg);
            }
            lines += b.lines;
            posts += b.posts;
            invalid += b.errors.len();
            flagged += b.flagged;
            bytes += b.bytes;
            progress.tick(posts as u64, &format!(", {flagged} flagged"));
            Ok(())
        },
    );
    let flush = out.flush();
    progress.finish();
    match result.and(flush) {
        Ok(()) => {}
        // The reader of our output went away (`| head`): not an error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        Err(e) => {
            return Err(e).context(match &args.input {
                Some(p) => format!("reading {} or writing the output", p.display()),
                None => "reading stdin or writing the output".to_string(),
            });
        }
    }
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    let pct = if posts > 0 {
        100.0 * flagged as f64 / posts as f64
    } else {
        0.0
    };
    eprintln!(
        "yuqing score: {lines} lines: {posts} posts scored, {invalid} invalid, {flagged} flagged ({pct:.2}%); \
{:.1} MB in {secs:.2} s: {:.0} posts/s, {:.2} MB/s ({workers} workers)",
        bytes as f64 / 1e6,
        posts as f64 / secs,
        bytes as f64 / 1e6 / secs,
    );
    Ok(ExitCode::SUCCESS)
}
