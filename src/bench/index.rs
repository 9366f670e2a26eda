//! `yuqing bench index`: tantivy alone, the whole `yuqing index` path, and
//! scoring alone, on the same posts in one run.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use yuqing_index::{IndexOptions, PostIndex, PreparedPost};
use yuqing_model::{ParseOptions, Post};
use yuqing_pipeline::Scorer;

use crate::index_cmd::index_stream;
use crate::lines::{LineReader, map_ordered};
use crate::score::Worker;

/// Arguments of `yuqing bench index`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub corpus: super::CorpusArgs,
    /// Scoring workers of the `yuqing index` path (default: cores - 1).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// tantivy's indexing memory, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 256)]
    pub writer_memory_mib: usize,
    /// Keep the index built by the `yuqing index` path in this data
    /// directory (for `yuqing bench query`) instead of a temporary one.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
    /// Dictionary directory (default: the built-in dictionaries).
    #[arg(long, value_name = "DIR")]
    pub dictionaries: Option<PathBuf>,
}

fn options(memory_mib: usize) -> IndexOptions {
    IndexOptions {
        writer_memory_bytes: memory_mib << 20,
        writer_threads: 1,
        commit_docs: usize::MAX,
        commit_interval: Duration::from_secs(u64::MAX / 4),
        ..IndexOptions::default()
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let corpus = args.corpus.load()?;
    let jsonl = &corpus.jsonl;
    let lexicon = crate::load_lexicon(args.dictionaries.as_ref())?;
    let parse = ParseOptions::default();
    let n = corpus.posts();
    let workers = args
        .workers
        .filter(|&w| w > 0)
        .unwrap_or_else(|| crate::worker_count(None).saturating_sub(1).max(1));
    eprintln!(
        "yuqing bench index: {}, {:.1} MB of JSONL",
        corpus.describe(),
        jsonl.len() as f64 / 1e6
    );

    // 1. The whole `yuqing index` path: JSONL in, committed index out.
    let scratch_dir = tempfile::tempdir().context("creating a temporary directory")?;
    let keep = args
        .keep
        .clone()
        .unwrap_or_else(|| scratch_dir.path().join("yuqing"));
    let index = PostIndex::open_or_create(&keep, lexicon.shared_analyzer())?;
    let mut writer = index.writer(options(args.writer_memory_mib))?;
    let t = Instant::now();
    let outcome = index_stream(
        LineReader::new(&jsonl[..]),
        &lexicon,
        &parse,
        &mut writer,
        workers,
        None,
        None,
    );
    outcome.read?;
    if let Some(e) = outcome.index_error {
        return Err(e.into());
    }
    writer.commit()?;
    let yuqing_secs = t.elapsed().as_secs_f64();
    writer.finish()?;
    index.reload()?;
    let indexed = index.num_docs();

    // 2. tantivy alone: the same documents, built beforehand (parse,
    // analyse, score and build are not timed), added with one thread.
    let alone =
        PostIndex::open_or_create(&scratch_dir.path().join("alone"), lexicon.shared_analyzer())?;
    let mut writer = alone.writer(options(args.writer_memory_mib))?;
    let mut scorer = Scorer::new(Arc::clone(&lexicon));
    let mut prepared: Vec<PreparedPost> = Vec::with_capacity(n);
    for line in jsonl.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let post = Post::from_json_with(line, &parse).context("benchmark posts are valid")?;
        let out = scorer.score(post);
        prepared.push(writer.prepare(&out.scored, &out.analyzed));
    }
    let t = Instant::now();
    for p in prepared {
        writer.add_prepared(p)?;
    }
    writer.commit()?;
    let alone_secs = t.elapsed().as_secs_f64();
    writer.finish()?;

    // 3. Scoring alone (JSON in, scored JSON out, discarded), 1 thread.
    let t = Instant::now();
    map_ordered(
        LineReader::new(&jsonl[..]),
        1,
        || Worker::new(&lexicon),
        |w, batch| w.score_batch(&parse, batch),
        |_| Ok(()),
    )?;
    let score_secs = t.elapsed().as_secs_f64();

    let rate = |secs: f64| n as f64 / secs;
    println!("{:<58} {:>10} {:>9}", "path", "posts/s", "seconds");
    println!(
        "{:<58} {:>10.0} {:>9.2}",
        "tantivy alone (pre-built documents, 1 indexing thread)",
        rate(alone_secs),
        alone_secs
    );
    println!(
        "{:<58} {:>10.0} {:>9.2}",
        format!("yuqing index path (JSONL → committed index, {workers} scoring + 1 indexing)"),
        rate(yuqing_secs),
        yuqing_secs
    );
    println!(
        "{:<58} {:>10.0} {:>9.2}",
        "scoring alone (JSONL → scored JSON, 1 thread)",
        rate(score_secs),
        score_secs
    );
    println!();
    println!(
        "yuqing index throughput / tantivy alone: {:.3}   (scoring alone is {:.1}× faster than indexing)",
        alone_secs / yuqing_secs,
        yuqing_secs / score_secs
    );
    println!("index: {indexed} posts in {}", keep.display());
    Ok(ExitCode::SUCCESS)
}
