//! `yuqing search`: search the index from a terminal.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use yuqing_index::PostIndex;

/// Arguments of `yuqing search`.
#[derive(clap::Args)]
pub struct Args {
    /// The query, tantivy syntax (`水污染`, `"化工厂 爆炸"`, `火灾 -演练`); empty
    /// matches every post.
    #[arg(default_value = "")]
    pub query: String,
    /// Data directory holding the index.
    #[arg(long, value_name = "DIR", env = "YUQING_DATA_DIR")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub filters: Filters,
    /// Hits to show (1 to 500).
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Hits to skip.
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
    /// Continue after the page that printed this cursor (same query,
    /// filters and sort).
    #[arg(long)]
    pub cursor: Option<String>,
    /// Zone of the times printed, ±HH:MM (the JSON output keeps UTC).
    #[arg(long, default_value = "+08:00")]
    pub timezone: String,
    /// Print the response as JSON (as the HTTP API returns it).
    #[arg(long)]
    pub json: bool,
    /// Dictionary directory (default: the built-in dictionaries).
    #[arg(long, value_name = "DIR")]
    pub dictionaries: Option<PathBuf>,
}

/// The filters `yuqing search` and `yuqing export` share: the search
/// API's parameters of the same names.
#[derive(clap::Args)]
pub struct Filters {
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
    /// time (newest first), relevance or score.
    #[arg(long)]
    pub sort: Option<String>,
}

impl Filters {
    /// Adds the filters given to a query string.
    pub fn append_to(&self, query: &mut form_urlencoded::Serializer<'_, String>) {
        for (k, v) in [
            ("category", &self.category),
            ("region", &self.region),
            ("platform", &self.platform),
            ("from", &self.from),
            ("to", &self.to),
            ("min_score", &self.min_score),
            ("level", &self.level),
            ("sort", &self.sort),
        ] {
            if let Some(v) = v {
                query.append_pair(k, v);
            }
        }
    }
}

/// Opens the index in `data_dir` for searching, with `q`'s field terms
/// checked and resolved as the API's parameters are.
pub(crate) fn open_index(
    data_dir: &std::path::Path,
    lexicon: &std::sync::Arc<yuqing_lexicon::Lexicon>,
) -> anyhow::Result<PostIndex> {
    let index = PostIndex::open(data_dir, lexicon.shared_analyzer())
        .with_context(|| format!("opening the index in {}", data_dir.display()))?;
    let lexicon = std::sync::Arc::clone(lexicon);
    index.set_query_fields(std::sync::Arc::new(move |field: &str, value: &str| {
        yuqing_server::params::query_field(field, value, &lexicon)
    }));
    Ok(index)
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let offset_secs = yuqing_model::parse_utc_offset(&args.timezone)
        .map_err(|e| crate::usage(format!("--timezone {e}")))?;
    let lexicon = crate::load_lexicon(args.dictionaries.as_ref())?;
    let index = open_index(&args.data_dir, &lexicon)?;
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("q", &args.query);
    query.append_pair("limit", &args.limit.to_string());
    query.append_pair("offset", &args.offset.to_string());
    args.filters.append_to(&mut query);
    if let Some(cursor) = &args.cursor {
        query.append_pair("cursor", cursor);
    }
    let req = yuqing_server::params::search(Some(&query.finish()), &lexicon)
        .map_err(|e| crate::usage(e.to_string()))?;
    let res = index.search(&req).map_err(|e| anyhow::anyhow!("{e}"))?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &res)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let (on, off) = if std::io::stdout().is_terminal() {
        ("\x1b[1;31m", "\x1b[0m")
    } else {
        ("[", "]")
    };
    writeln!(out, "{} posts match; showing {}", res.total, res.hits.len())?;
    for h in &res.hits {
        let p = &h.post;
        let categories: Vec<&str> = p.categories.iter().map(|c| c.id.as_str()).collect();
        writeln!(
            out,
            "{}  {}  [{}]  {}  {}",
            p.post.ts.to_rfc3339_at(offset_secs),
            p.post.id,
            categories.join(","),
            p.regions.join("/"),
            p.severity.as_ref().map_or("-", |s| s.level.as_str())
        )?;
        let snippet = h
            .highlight
            .replace("<em>", on)
            .replace("</em>", off)
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&");
        writeln!(out, "    {snippet}")?;
    }
    if let Some(cursor) = &res.next_cursor {
        writeln!(out, "next page: --cursor {cursor}")?;
    }
    Ok(ExitCode::SUCCESS)
}
