//! `yuqing export`: every matching post, as CSV or JSON lines.

use std::io::Write;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use yuqing_index::PostIndex;
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
    /// Only posts flagged with this category id.
    #[arg(long)]
    pub category: Option<String>,
    /// Only posts mentioning this region (a name or alias from the gazetteer).
    #[arg(long)]
    pub region: Option<String>,
    /// Only posts from this platform.
    #[arg(long)]
    pub platform: Option<String>,
    /// Posts at or after this time (RFC 3339 or epoch).
    #[arg(long)]
    pub from: Option<String>,
    /// Posts before this time.
    #[arg(long)]
    pub to: Option<String>,
    /// Minimum score (of --category if given, else of the best category).
    #[arg(long)]
    pub min_score: Option<String>,
    /// Minimum level: blue, yellow, orange, red.
    #[arg(long)]
    pub level: Option<String>,
    /// time (newest first, the default), relevance or score.
    #[arg(long)]
    pub sort: Option<String>,
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
    let index = PostIndex::open(&args.data_dir, lexicon.shared_analyzer())
        .with_context(|| format!("opening the index in {}", args.data_dir.display()))?;
    {
        let lexicon = std::sync::Arc::clone(&lexicon);
        index.set_query_fields(std::sync::Arc::new(move |field: &str, value: &str| {
            yuqing_server::params::query_field(field, value, &lexicon)
        }));
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("q", &args.query);
    query.append_pair("format", &args.format);
    for (k, v) in [
        ("category", &args.category),
        ("region", &args.region),
        ("platform", &args.platform),
        ("from", &args.from),
        ("to", &args.to),
        ("min_score", &args.min_score),
        ("level", &args.level),
        ("sort", &args.sort),
    ] {
        if let Some(v) = v {
            query.append_pair(k, v);
        }
    }
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
