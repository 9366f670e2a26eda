//! `yuqing bench query`: latency percentiles of searches, histograms and
//! facets on an existing index.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use yuqing_index::{FacetsRequest, HistogramRequest, PostIndex, SearchRequest};

/// Arguments of `yuqing bench query`.
#[derive(clap::Args)]
pub struct Args {
    /// Data directory holding the index (e.g. from `yuqing bench index
    /// --keep DIR` or `yuqing index`).
    #[arg(long, value_name = "DIR", env = "YUQING_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Times each query runs.
    #[arg(long, value_name = "N", default_value_t = 30)]
    pub rounds: usize,
    /// Dictionary directory (default: the built-in dictionaries).
    #[arg(long, value_name = "DIR")]
    pub dictionaries: Option<PathBuf>,
}

enum Work {
    Search(String),
    Histogram(String),
    Facets(String),
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// The query classes measured, each a fixed set of requests.
fn query_classes() -> Vec<(&'static str, Vec<Work>)> {
    let month = "from=2024-06-01T00:00:00Z&to=2024-07-01T00:00:00Z";
    vec![
        (
            "single term, newest first",
            [
                "火灾", "爆炸", "地震", "暴雨", "车祸", "诈骗", "停电", "污染", "今天", "开心",
                "北京", "工作", "朋友", "手机",
            ]
            .iter()
            .map(|w| Work::Search(format!("q={w}")))
            .collect(),
        ),
        (
            "phrase",
            [
                "\"水污染\"",
                "\"发生爆炸\"",
                "\"交通事故\"",
                "\"生日快乐\"",
                "\"中国人\"",
            ]
            .iter()
            .map(|w| Work::Search(format!("q={w}")))
            .collect(),
        ),
        (
            "two words (AND), relevance",
            ["北京 暴雨", "上海 地铁", "今天 开心", "手机 没电"]
                .iter()
                .map(|w| Work::Search(format!("q={w}&sort=relevance")))
                .collect(),
        ),
        (
            "filtered",
            vec![
                Work::Search("category=traffic".into()),
                Work::Search("region=北京市".into()),
                Work::Search("q=今天&from=2024-06-24T00:00:00Z".into()),
                Work::Search("level=yellow".into()),
                Work::Search("q=火灾&category=fire&sort=score".into()),
                Work::Search(format!("platform=news&{month}")),
                Work::Search("category=geohazard&region=四川省&min_score=2".into()),
            ],
        ),
        (
            "histogram",
            vec![
                Work::Histogram(format!("q=暴雨&interval=1h&{month}")),
                Work::Histogram("interval=1d".into()),
                Work::Histogram(
                    "category=traffic&interval=5m&from=2024-06-20T00:00:00Z&to=2024-06-21T00:00:00Z".into(),
                ),
            ],
        ),
        (
            "facets",
            vec![
                Work::Facets(String::new()),
                Work::Facets("q=暴雨".into()),
                Work::Facets("category=fire".into()),
            ],
        ),
    ]
}

/// One request against the index.
fn run_work(index: &PostIndex, lexicon: &yuqing_lexicon::Lexicon, w: &Work) -> anyhow::Result<()> {
    match w {
        Work::Search(q) => {
            let req: SearchRequest = yuqing_server::params::search(Some(q), lexicon)
                .map_err(|e| anyhow::anyhow!("{q}: {e}"))?;
            index
                .search(&req)
                .map_err(|e| anyhow::anyhow!("{q}: {e}"))?;
        }
        Work::Histogram(q) => {
            let req: HistogramRequest = yuqing_server::params::histogram(Some(q), lexicon)
                .map_err(|e| anyhow::anyhow!("{q}: {e}"))?;
            index
                .histogram(&req)
                .map_err(|e| anyhow::anyhow!("{q}: {e}"))?;
        }
        Work::Facets(q) => {
            let req: FacetsRequest = yuqing_server::params::facets(Some(q), lexicon)
                .map_err(|e| anyhow::anyhow!("{q}: {e}"))?;
            index
                .facets(&req)
                .map_err(|e| anyhow::anyhow!("{q}: {e}"))?;
        }
    }
    Ok(())
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let lexicon = crate::load_lexicon(args.dictionaries.as_ref())?;
    let index = PostIndex::open(&args.data_dir, lexicon.shared_analyzer())
        .with_context(|| format!("opening the index in {}", args.data_dir.display()))?;
    let docs = index.num_docs();
    let classes = query_classes();
    println!(
        "yuqing bench query: {docs} posts in {}; {} rounds",
        args.data_dir.display(),
        args.rounds
    );
    println!(
        "{:<30} {:>8} {:>6} {:>9} {:>9} {:>9}",
        "class", "queries", "runs", "p50 ms", "p99 ms", "max ms"
    );
    for (name, works) in &classes {
        let mut times = Vec::new();
        for _ in 0..args.rounds.max(1) {
            for w in works {
                let t = Instant::now();
                run_work(&index, &lexicon, w)?;
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{:<30} {:>8} {:>6} {:>9.2} {:>9.2} {:>9.2}",
            name,
            works.len(),
            times.len(),
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            times.last().copied().unwrap_or(0.0)
        );
    }
    Ok(ExitCode::SUCCESS)
}
