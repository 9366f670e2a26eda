//! `yuqing bench …`: measurements printed as tables, each comparing stages
//! within one run (see docs/PERFORMANCE.md).

mod corpus;
mod index;
mod kafka;
mod query;
mod score;
mod watches;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `yuqing bench` subcommands.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Every scoring stage (jieba, normalisation, matching core, raw
    /// automata, the whole `score` path) on one corpus, with ratios.
    Score(score::Args),
    /// Indexing: tantivy alone vs. the whole `yuqing index` path vs.
    /// scoring alone, on the same posts.
    Index(index::Args),
    /// Kafka to searchable: throughput next to the `yuqing index` path, and
    /// latency at half that rate, against a running broker.
    Kafka(kafka::Args),
    /// Query latency (p50, p99) on an existing index.
    Query(query::Args),
    /// The whole pipeline (`yuqing run` on a file) without and with
    /// generated keyword watches (1,000 by default), alternately: the
    /// throughput ratio.
    Watches(watches::Args),
    /// Write a benchmark corpus as JSONL posts (fresh ids, timestamps) to
    /// stdout.
    Corpus(corpus::Args),
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Score(a) => score::run(a),
        Command::Index(a) => index::run(a),
        Command::Query(a) => query::run(a),
        Command::Kafka(a) => kafka::run(a),
        Command::Corpus(a) => corpus::run(a),
        Command::Watches(a) => watches::run(a),
    }
}

/// The corpus of `yuqing bench corpus`, `index` and `watches`: posts made
/// of a corpus file's texts, repeated.
#[derive(clap::Args)]
pub struct CorpusArgs {
    /// JSONL with a `text` field (default: as for `yuqing bench score`).
    pub corpus: Option<PathBuf>,
    /// Use at most this many texts.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub limit: usize,
    /// Repeat the texts this many times, with fresh ids (20 × the 52,500
    /// Weibo posts makes 1,050,000).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub repeat: usize,
}

/// A corpus as JSONL posts ([`posts_jsonl`]).
pub(crate) struct CorpusPosts {
    /// The texts read.
    pub texts: Vec<String>,
    /// Where they came from.
    pub source: yuqing_gen::corpus::Source,
    /// Each text `repeat` times, as JSONL posts.
    pub jsonl: Vec<u8>,
    /// How many times each text is repeated (at least once).
    pub repeat: usize,
}

impl CorpusArgs {
    /// Reads the texts and makes the posts.
    pub(crate) fn load(&self) -> anyhow::Result<CorpusPosts> {
        let (texts, source) = load_corpus(self.corpus.as_ref(), self.limit)?;
        let jsonl = posts_jsonl(&texts, self.repeat);
        Ok(CorpusPosts {
            texts,
            source,
            jsonl,
            repeat: self.repeat.max(1),
        })
    }
}

impl CorpusPosts {
    /// The number of posts.
    pub(crate) fn posts(&self) -> usize {
        self.texts.len() * self.repeat
    }

    /// `N posts (T texts × R) from SOURCE`, for the progress line.
    pub(crate) fn describe(&self) -> String {
        format!(
            "{} posts ({} texts × {}) from {}",
            self.posts(),
            self.texts.len(),
            self.repeat,
            self.source
        )
    }
}

/// Texts of a corpus file, or the default corpus (see
/// `yuqing_gen::corpus::load`).
pub(crate) fn load_corpus(
    path: Option<&PathBuf>,
    limit: usize,
) -> anyhow::Result<(Vec<String>, yuqing_gen::corpus::Source)> {
    let (texts, source) = match path {
        Some(p) => (
            yuqing_gen::corpus::read_texts(p, limit)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))?,
            yuqing_gen::corpus::Source::File(p.clone()),
        ),
        None => yuqing_gen::corpus::load(Path::new(env!("CARGO_MANIFEST_DIR")), limit),
    };
    anyhow::ensure!(
        !texts.is_empty(),
        "the corpus {source} has no posts with a `text`"
    );
    Ok((texts, source))
}

/// JSONL posts from texts, repeated `repeat` times with fresh ids
/// (`b-<round>-<n>`), timestamps spread evenly over the 30 days before
/// 2024-07-01, and one of four platforms.
pub(crate) fn posts_jsonl(texts: &[String], repeat: usize) -> Vec<u8> {
    let total = texts.len() * repeat.max(1);
    let start: i64 = 1_719_792_000_000 - 30 * 86_400_000;
    let step = (30 * 86_400_000 / total.max(1) as i64).max(1);
    let platforms = ["weibo", "wechat", "news", "douyin"];
    let mut out = Vec::with_capacity(total * 200);
    let mut n = 0usize;
    for round in 0..repeat.max(1) {
        for (i, text) in texts.iter().enumerate() {
            let post = serde_json::json!({
                "id": format!("b-{round}-{i}"),
                "text": text,
                "ts": start + n as i64 * step,
                "platform": platforms[n % platforms.len()],
                "author": format!("u{}", n % 50_000),
            });
            out.extend_from_slice(post.to_string().as_bytes());
            out.push(b'\n');
            n += 1;
        }
    }
    out
}
