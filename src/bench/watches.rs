//! `yuqing bench watches`: the whole pipeline (`yuqing run` on a file
//! source: workers, sink, index, detector) with no watches and with many
//! generated ones, on the same posts in one run, alternately.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::Context;
use yuqing_lexicon::Lexicon;
use yuqing_model::Post;
use yuqing_pipeline::watch::WatchMatcher;
use yuqing_pipeline::{Pipeline, PipelineConfig, Scorer, WatchRule, WatchSpec};

/// Arguments of `yuqing bench watches`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub corpus: super::CorpusArgs,
    /// Generated watches in the runs with watches.
    #[arg(long, value_name = "N", default_value_t = 1_000)]
    pub watches: usize,
    /// Runs of each (without, with), alternating.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub rounds: usize,
    /// Scoring workers (default: cores - 1).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
}

/// A small deterministic generator (no dependence on a seedable RNG).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

/// `n` watches as analysts write them: dictionary terms with regions,
/// phrases of two words seen in the corpus's incident reports, OR and NOT, with filters;
/// half `every`, half `min_count`. Each compiles with `lexicon`.
pub(crate) fn generate(n: usize, texts: &[String], lexicon: &Arc<Lexicon>) -> Vec<WatchSpec> {
    let mut rng = Lcg(0x5EED);
    let terms: Vec<String> = lexicon
        .keywords()
        .into_iter()
        .filter(|k| k.chars().count() >= 2)
        .map(str::to_string)
        .collect();
    let regions: Vec<String> = lexicon.regions().iter().map(|r| r.name.clone()).collect();
    let categories: Vec<String> = lexicon.categories().iter().map(|c| c.id.clone()).collect();
    let analyzer = lexicon.analyzer();
    let mut scorer = Scorer::new(Arc::clone(lexicon));
    let incidents: Vec<&String> = texts
        .iter()
        .filter(|t| !scorer.matches(t).scratch.flagged().is_empty())
        .take(5_000)
        .collect();
    let mut out = Vec::with_capacity(n);
    let mut tries = 0;
    while out.len() < n && tries < n * 20 {
        tries += 1;
        let i = out.len();
        let term = |rng: &mut Lcg| terms[rng.next(terms.len())].clone();
        let (query, rule) = match i % 5 {
            0 => (
                format!("{} {}", regions[rng.next(regions.len())], term(&mut rng)),
                WatchRule::Every,
            ),
            1 => {
                // A phrase from an incident report (analysts watch
                // incidents, not chatter).
                if incidents.is_empty() {
                    continue;
                }
                let text = &incidents[rng.next(incidents.len())];
                let words: Vec<String> = analyzer
                    .analyze(text)
                    .tokens()
                    .filter(|t| !t.is_punctuation())
                    .map(|t| t.text.to_string())
                    .collect();
                if words.len() < 2 {
                    continue;
                }
                let at = rng.next(words.len() - 1);
                (
                    format!("\"{} {}\"", words[at], words[at + 1]),
                    WatchRule::Every,
                )
            }
            2 => (
                format!("{} OR {}", term(&mut rng), term(&mut rng)),
                WatchRule::MinCount,
            ),
            3 => (
                format!("{} -{}", term(&mut rng), term(&mut rng)),
                WatchRule::MinCount,
            ),
            _ => (
                format!(
                    "{} AND ({} OR {})",
                    regions[rng.next(regions.len())],
                    term(&mut rng),
                    term(&mut rng)
                ),
                WatchRule::Every,
            ),
        };
        let spec = WatchSpec {
            name: format!("bench-{i}"),
            query,
            category: (i % 7 == 3).then(|| categories[rng.next(categories.len())].clone()),
            region: None,
            level: None,
            rule,
            min_count: (rule == WatchRule::MinCount).then_some(5),
            window_mins: (rule == WatchRule::MinCount).then_some(60),
        };
        if spec.compile(lexicon).is_ok() {
            out.push(spec);
        }
    }
    out
}

/// One `yuqing run` of the posts file into a fresh data directory:
/// seconds, posts indexed, alert messages.
fn run_once(
    posts: &Path,
    dir: &Path,
    workers: usize,
    watches: &[WatchSpec],
    lexicon: &Arc<Lexicon>,
) -> anyhow::Result<(f64, u64, u64)> {
    let data = tempfile::tempdir_in(dir).context("creating a data directory")?;
    let text = format!(
        "data_dir = {:?}\n[source]\nkind = \"file\"\npath = {:?}\n[alerts]\nkind = \"none\"\n\
         [http]\nenabled = false\n[runtime]\nworkers = {workers}\n",
        data.path().display().to_string(),
        posts.display().to_string(),
    );
    let mut config =
        PipelineConfig::parse(&text, "bench", dir, |_| None).map_err(|e| anyhow::anyhow!("{e}"))?;
    config.watches = watches.to_vec();
    let pipeline = Pipeline::open(config, Arc::clone(lexicon))?;
    let stats = pipeline.stats();
    let t = Instant::now();
    pipeline.run(Arc::new(AtomicBool::new(false)))?;
    let secs = t.elapsed().as_secs_f64();
    Ok((
        secs,
        stats.indexed.load(Ordering::Relaxed),
        stats.alerts.load(Ordering::Relaxed),
    ))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    crate::init_logging_at("warn");
    let corpus = args.corpus.load()?;
    let (texts, jsonl) = (&corpus.texts, &corpus.jsonl);
    let lexicon = crate::load_lexicon(None)?;
    let workers = args
        .workers
        .filter(|&w| w > 0)
        .unwrap_or_else(|| crate::worker_count(None).saturating_sub(1).max(1));
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let posts = dir.path().join("posts.jsonl");
    std::fs::write(&posts, jsonl).context("writing the posts")?;
    let watches = generate(args.watches, texts, &lexicon);
    eprintln!(
        "yuqing bench watches: {}; {} generated watches; {} rounds each, alternating",
        corpus.describe(),
        watches.len(),
        args.rounds.max(1)
    );

    let mut without = Vec::new();
    let mut with = Vec::new();
    let (mut alerts_without, mut alerts_with) = (0, 0);
    for round in 0..args.rounds.max(1) {
        let (secs, indexed, alerts) = run_once(&posts, dir.path(), workers, &[], &lexicon)?;
        eprintln!(
            "  round {round}: no watches      {secs:>7.2} s, {indexed} posts, {alerts} alert messages"
        );
        without.push(indexed as f64 / secs);
        alerts_without = alerts;
        let (secs, indexed, alerts) = run_once(&posts, dir.path(), workers, &watches, &lexicon)?;
        eprintln!(
            "  round {round}: {} watches {secs:>7.2} s, {indexed} posts, {alerts} alert messages",
            watches.len()
        );
        with.push(indexed as f64 / secs);
        alerts_with = alerts;
    }
    // The matching alone, on the sink's side: every post's index words
    // looked up and the watches that share one evaluated (the posts are
    // scored beforehand, not timed).
    let compiled: Vec<_> = watches
        .iter()
        .filter_map(|w| w.compile(&lexicon).ok())
        .collect();
    let mut matcher = WatchMatcher::new(compiled);
    let mut scorer = Scorer::new(Arc::clone(&lexicon));
    let parse = yuqing_model::ParseOptions::default();
    let scored: Vec<_> = jsonl
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(|l| Post::from_json_with(l, &parse).ok())
        .map(|p| scorer.score(p))
        .collect();
    let mut out = Vec::new();
    let mut matches = 0usize;
    let mut best = f64::MAX;
    for _ in 0..args.rounds.max(1) {
        let t = Instant::now();
        for p in &scored {
            matcher.matching(&p.scored, &p.analyzed, lexicon.analyzer(), &mut out);
            matches += out.len();
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    let per_post_us = best / scored.len().max(1) as f64 * 1e6;
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (base, watched) = (median(&mut without), median(&mut with));
    println!(
        "{:<44} {:>10} {:>16}",
        "pipeline (yuqing run, file source)", "posts/s", "alert messages"
    );
    println!("{:<44} {:>10.0} {:>16}", "no watches", base, alerts_without);
    println!(
        "{:<44} {:>10.0} {:>16}",
        format!("{} watches", watches.len()),
        watched,
        alerts_with
    );
    println!(
        "{:<44} {:>10.0} {:>16}",
        format!("matching alone ({} watches, 1 thread)", watches.len()),
        1e6 / per_post_us,
        matches / args.rounds.max(1)
    );
    println!();
    println!(
        "matching alone: {per_post_us:.2} µs a post = {:.1}% of the time a post takes in the pipeline without watches",
        per_post_us / (1e6 / base) * 100.0
    );
    println!(
        "throughput with {} watches / without: {:.3}   (cost {:.1}%; medians of {} runs, {workers} scoring workers)",
        watches.len(),
        watched / base,
        (1.0 - watched / base) * 100.0,
        args.rounds.max(1)
    );
    Ok(ExitCode::SUCCESS)
}
