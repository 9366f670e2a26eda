//! `yuqing bench corpus`: a benchmark corpus as JSONL posts.

use std::io::Write;
use std::process::ExitCode;

/// Arguments of `yuqing bench corpus`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub corpus: super::CorpusArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let corpus = args.corpus.load()?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match out.write_all(&corpus.jsonl).and_then(|()| out.flush()) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => return Err(e.into()),
    }
    eprintln!("yuqing bench corpus: {}", corpus.describe());
    Ok(ExitCode::SUCCESS)
}
