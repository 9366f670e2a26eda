//! `yuqing export`: every matching post, as CSV or JSON lines.

use std::io::Write;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use yuqing_server::export::RowWriter;

/// Arguments of `yuqing export`.
#[derive(clap::Args)]
pub struct Args {
    /// The query, tantivy syntax; empty exports every post.
    #[arg(default_value = "")]
    pub query: String,
    /// Data directory holding the index.
    #[arg(long, value_name = "DIR", env = "YUQING_DATA_DIR")]
    pub data_dir: PathBuf,
    /// csv (UTF-8 with BOM, header row) or jsonl (the API's post shape).
    #[arg(long, default_value = "csv")]
    pub format: String,
    /// Write here instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub filters: crate::search_cmd::Filters,
    /// Display zone of CSV times, ±HH:MM.
    #[arg(long, default_value = "+08:00")]
    pub timezone: String,
    /// Dictionary directory (default: the built-in dictionaries).
    #[arg(long, value_name = "DIR")]
    pub dictionaries: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let offset_secs = yuqing_model::parse_utc_offset(&args.timezone)
        .map_err(|e| crate::usage(format!("--timezone {e}")))?;
    let lexicon = crate::load_lexicon(args.dictionaries.as_ref())?;
    let index = crate::search_cmd::open_index(&args.data_dir, &lexicon)?;
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("q", &args.query);
    query.append_pair("format", &args.format);
    args.filters.append_to(&mut query);
    let (req, format) = yuqing_server::params::export(Some(&query.finish()), &lexicon)
        .map_err(|e| crate::usage(e.to_string().replace("parameter `", "option `--")))?;
    let sink: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, sink);
    let writer = RowWriter {
        format,
        offset_secs,
    };
    let mut buf = Vec::with_capacity(8192);
    writer.start(&mut buf);
    let mut failed: Option<std::io::Error> = None;
    let summary = index
        .export(&req, |post| {
            writer.row(post, &mut buf);
            if let Err(e) = out.write_all(&buf) {
                failed = Some(e);
                return ControlFlow::Break(());
            }
            buf.clear();
            ControlFlow::Continue(())
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(e) = failed {
        // A reader that went away (`| head`) is not an error.
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return Ok(ExitCode::SUCCESS);
        }
        return Err(e).context("writing the export");
    }
    if summary.written == 0 {
        out.write_all(&buf).context("writing the export")?;
    }
    match out.flush() {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        r => r.context("writing the export")?,
    }
    eprintln!(
        "yuqing export: {} of {} posts written",
        summary.written, summary.total
    );
    Ok(ExitCode::SUCCESS)
}
