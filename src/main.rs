//! `yuqing`: public-opinion stream analysis for incident response.
//!
//! See `yuqing --help` and docs/cli.md. Exit codes: 0 success, 1 failure
//! (bad dictionaries, unreadable input, an evaluation below its targets),
//! 2 bad command line (clap's errors and bad option values, [`Usage`]).

mod backtest;
mod bench;
mod detect;
mod dict;
mod eval;
mod export_cmd;
mod generate;
mod index_cmd;
mod lines;
mod progress;
mod replay;
mod run;
mod score;
mod search_cmd;
mod segeval;
mod serve;
mod token;
mod truth;
mod watch_api;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use yuqing_lexicon::Lexicon;

#[derive(Parser)]
#[command(
    name = "yuqing",
    version,
    about = "Public-opinion stream analysis for incident response",
    long_about = "Public-opinion stream analysis for incident response: Chinese posts are normalised, \
segmented once with jieba, scored against incident dictionaries and tagged with regions and severity."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Score JSONL posts: one JSON line out per valid post, with categories, regions, severity.
    Score(score::Args),
    /// Measure the dictionaries against labelled posts: precision, recall, false flags.
    Eval(eval::Args),
    /// Bulk-load JSONL posts into the search index (score, then index).
    Index(index_cmd::Args),
    /// Run a pipeline: source, scoring, index, sinks and the HTTP API.
    Run(run::Args),
    /// Run timestamped posts through scoring and the burst detector offline: the alerts they would raise.
    Backtest(backtest::Args),
    /// Generate a synthetic stream of posts with incident bursts (JSONL).
    Gen(generate::Args),
    /// Produce JSONL posts to a Kafka topic (backfills, load tests).
    Replay(replay::Args),
    /// Serve the HTTP API over an existing index.
    Serve(serve::Args),
    /// Search the index from the terminal.
    Search(search_cmd::Args),
    /// Export every matching post as CSV or JSON lines.
    Export(export_cmd::Args),
    /// API tokens: make one, with the hash for the configuration.
    Token {
        #[command(subcommand)]
        command: token::Command,
    },
    /// Dictionary tools.
    Dict {
        #[command(subcommand)]
        command: dict::Command,
    },
    /// Measurements: scoring stages, indexing, query latency.
    Bench {
        #[command(subcommand)]
        command: bench::Command,
    },
    /// Word segmentation against hand-segmented text: jieba alone and with the keywords.
    SegEval(segeval::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Score(args) => score::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Index(args) => index_cmd::run(args),
        Command::Run(args) => run::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Gen(args) => generate::run(args),
        Command::Backtest(args) => backtest::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Search(args) => search_cmd::run(args),
        Command::Export(args) => export_cmd::run(args),
        Command::Dict { command } => dict::run(command),
        Command::Token { command } => token::run(command),
        Command::Bench { command } => bench::run(command),
        Command::SegEval(args) => segeval::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("yuqing: error: {e:#}");
            if e.chain().any(|c| c.is::<Usage>()) {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// A bad command line that clap cannot see: an option value of the wrong
/// shape or out of range. Exits 2, like clap's own errors; failures while
/// running exit 1.
#[derive(Debug)]
pub(crate) struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// `1 post`, `2 posts`: a count with its noun (plural with an `s`).
pub(crate) fn count(n: u64, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// A [`Usage`] error with this message.
pub(crate) fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Usage(message.into()))
}

/// Structured logs on stderr, filtered by `RUST_LOG` (default `info`), in
/// the format `YUQING_LOG_FORMAT` names (`text`, the default, or `json`).
pub(crate) fn init_logging() {
    init_logging_at("info");
}

/// Like [`init_logging`] with another default level.
pub(crate) fn init_logging_at(default: &str) {
    let json = std::env::var("YUQING_LOG_FORMAT").is_ok_and(|v| v == "json");
    init_logging_with(default, json);
}

/// Logs with the level filter `RUST_LOG` (else `default`), as JSON lines or
/// text.
pub(crate) fn init_logging_with(default: &str, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init()
    };
}

/// Loads the dictionaries from `dir`, or the built-in ones.
pub(crate) fn load_lexicon(dir: Option<&PathBuf>) -> anyhow::Result<Arc<Lexicon>> {
    let lexicon = match dir {
        Some(dir) => Lexicon::from_dir(dir)
            .with_context(|| format!("the dictionaries in {} have errors", dir.display()))?,
        None => Lexicon::builtin().context("the built-in dictionaries have errors")?,
    };
    Ok(Arc::new(lexicon))
}

/// Worker threads to use: the machine's parallelism unless told.
pub(crate) fn worker_count(requested: Option<usize>) -> usize {
    requested
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Opens a file, or stdin for `-` / no path.
pub(crate) fn open_input(
    path: Option<&PathBuf>,
) -> anyhow::Result<Box<dyn std::io::BufRead + Send>> {
    const BUF: usize = 1 << 20;
    match path {
        None => Ok(Box::new(std::io::BufReader::with_capacity(
            BUF,
            std::io::stdin(),
        ))),
        Some(p) if p.as_os_str() == "-" => Ok(Box::new(std::io::BufReader::with_capacity(
            BUF,
            std::io::stdin(),
        ))),
        Some(p) => {
            let f =
                std::fs::File::open(p).with_context(|| format!("cannot open {}", p.display()))?;
            Ok(Box::new(std::io::BufReader::with_capacity(BUF, f)))
        }
    }
}
