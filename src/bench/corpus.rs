//! `yuqing bench corpus`: a benchmark corpus as JSONL posts.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `yuqing bench corpus`.
#[derive(clap::Args)]
pub struct Args {
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

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (texts, source) = super::load_corpus(args.corpus.as_ref(), args.limit)?;
    let jsonl = super::posts_jsonl(&texts, args.repeat);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match out.write_all(&jsonl).and_then(|()| out.flush()) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => return Err(e.into()),
    }
    eprintln!(
        "yuqing bench corpus: {} posts ({} texts × {}) from {source}",
        texts.len() * args.repeat.max(1),
        texts.len(),
        args.repeat.max(1)
    );
    Ok(ExitCode::SUCCESS)
}
