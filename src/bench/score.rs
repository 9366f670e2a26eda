//! `yuqing bench score`: every stage of scoring on one corpus, measured in
//! one run so that the ratios between them are meaningful on a noisy
//! machine.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use aho_corasick::AhoCorasick;
use daachorse::{CharwiseDoubleArrayAhoCorasick, CharwiseDoubleArrayAhoCorasickBuilder, MatchKind};
use yuqing_lexicon::Lexicon;
use yuqing_model::ParseOptions;
use yuqing_pipeline::Scorer;
use yuqing_text::{Analyzed, Segmenter, SegmenterOptions};

use crate::lines::{LineReader, map_ordered};
use crate::score::Worker;

/// Arguments of `yuqing bench score`.
#[derive(clap::Args)]
pub struct Args {
    /// JSONL corpus (the `text` field of each line). Default:
    /// `$YUQING_BENCH_CORPUS`, else `../shared/data/weibo_emotion_nlpcc_simplifyweibo.jsonl`
    /// if present, else generated posts.
    pub corpus: Option<PathBuf>,
    /// Use at most this many posts.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub limit: usize,
    /// Repeat each measurement this many times and keep the fastest.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub rounds: usize,
    /// Worker threads for the whole-path measurement (default: one per core).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Dictionary directory (default: the built-in dictionaries).
    #[arg(long, value_name = "DIR")]
    pub dictionaries: Option<PathBuf>,
}

/// Runs `f` `rounds` times and returns the fastest time in seconds and
/// `f`'s last result (kept so the work cannot be optimised away).
pub(crate) fn best<T>(rounds: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut last = None;
    for _ in 0..rounds.max(1) {
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed().as_secs_f64());
        last = Some(r);
    }
    (best, last.expect("at least one round"))
}

/// One pass of the matching core over analysed posts; returns how many
/// were flagged. (Functions of their own, not inlined, so that profilers
/// attribute each pass cleanly.)
#[inline(never)]
fn core_pass(scorer: &mut Scorer, analyzed: &[Analyzed]) -> usize {
    let mut flagged = 0;
    for a in analyzed {
        flagged += usize::from(!scorer.match_analyzed(a).flagged().is_empty());
    }
    flagged
}

/// One bare overlapping daachorse scan; returns the number of matches.
#[inline(never)]
fn daachorse_pass(daac: &CharwiseDoubleArrayAhoCorasick<u32>, analyzed: &[Analyzed]) -> usize {
    analyzed
        .iter()
        .map(|a| daac.find_overlapping_iter(a.normalized()).count())
        .sum()
}

/// One bare overlapping aho-corasick scan; returns the number of matches.
#[inline(never)]
fn aho_corasick_pass(ac: &AhoCorasick, analyzed: &[Analyzed]) -> usize {
    analyzed
        .iter()
        .map(|a| ac.find_overlapping_iter(a.normalized()).count())
        .sum()
}

struct Row {
    name: String,
    secs: f64,
    bytes: usize,
    posts: usize,
    note: String,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (texts, source) = super::load_corpus(args.corpus.as_ref(), args.limit)?;
    let lexicon = crate::load_lexicon(args.dictionaries.as_ref())?;
    let workers = crate::worker_count(args.workers);
    let rounds = args.rounds;
    let raw_bytes: usize = texts.iter().map(String::len).sum();
    let n = texts.len();
    eprintln!(
        "yuqing bench: {n} posts, {:.2} MB from {source}; best of {rounds} rounds",
        raw_bytes as f64 / 1e6
    );
    let mut rows = Vec::new();
    let jieba_secs = text_rows(&texts, &lexicon, rounds, &mut rows);
    let core = matching_rows(&texts, &lexicon, rounds, &mut rows)?;
    whole_path_rows(&texts, &lexicon, rounds, workers, &mut rows)?;
    print_rows(&rows, jieba_secs, &core);
    Ok(ExitCode::SUCCESS)
}

/// The fastest times of the matching core and the raw automata.
struct CoreTimes {
    core_secs: f64,
    daac_secs: f64,
    ac_secs: f64,
    primary_secs: f64,
}

/// jieba alone and the text stage; returns jieba's time (the unit of the
/// table).
fn text_rows(texts: &[String], lexicon: &Lexicon, rounds: usize, rows: &mut Vec<Row>) -> f64 {
    let raw_bytes: usize = texts.iter().map(String::len).sum();
    let n = texts.len();
    // 1. jieba alone: default dictionary, no normalisation.
    let plain = Segmenter::new([], SegmenterOptions::default());
    let mut bounds = Vec::new();
    let (secs, tokens) = best(rounds, || {
        let mut tokens = 0;
        for t in texts {
            plain.segment_into(t, &mut bounds);
            tokens += bounds.len() - 1;
        }
        tokens
    });
    let jieba_secs = secs;
    rows.push(Row {
        name: "jieba alone (1 thread)".into(),
        secs,
        bytes: raw_bytes,
        posts: n,
        note: format!("{tokens} tokens"),
    });

    // 2. The text stage: normalisation alone, then normalise + segment
    // with the keywords.
    let analyzer = lexicon.analyzer();
    let mut norm = yuqing_text::Normalized::default();
    let (secs, changed) = best(rounds, || {
        let mut changed = 0;
        for t in texts {
            analyzer.normalizer().normalize_into(t, &mut norm);
            changed += usize::from(norm.as_str() != t);
        }
        changed
    });
    rows.push(Row {
        name: "normalise alone (1 thread)".into(),
        secs,
        bytes: raw_bytes,
        posts: n,
        note: format!("{changed} posts changed by normalisation"),
    });
    let mut a = Analyzed::default();
    let (secs, _) = best(rounds, || {
        let mut tokens = 0;
        for t in texts {
            analyzer.analyze_into(t, &mut a);
            tokens += a.token_count();
        }
        tokens
    });
    rows.push(Row {
        name: "normalise + segment (1 thread)".into(),
        secs,
        bytes: raw_bytes,
        posts: n,
        note: String::new(),
    });

    jieba_secs
}

/// The matching core next to the raw automata, on texts analysed
/// beforehand.
fn matching_rows(
    texts: &[String],
    lexicon: &Arc<Lexicon>,
    rounds: usize,
    rows: &mut Vec<Row>,
) -> anyhow::Result<CoreTimes> {
    let n = texts.len();
    let analyzer = lexicon.analyzer();
    // 3. Matching + scoring alone, on texts analysed beforehand.
    let analyzed: Vec<Analyzed> = texts.iter().map(|t| analyzer.analyze(t)).collect();
    let norm_bytes: usize = analyzed.iter().map(|a| a.normalized().len()).sum();
    let mut scorer = Scorer::new(Arc::clone(lexicon));
    let patterns: Vec<&str> = lexicon.patterns().collect();
    let daac = CharwiseDoubleArrayAhoCorasickBuilder::new()
        .match_kind(MatchKind::Standard)
        .build::<_, _, u32>(&patterns)
        .map_err(|e| anyhow::anyhow!("daachorse: {e}"))?;
    let ac = AhoCorasick::new(&patterns).map_err(|e| anyhow::anyhow!("aho-corasick: {e}"))?;
    let primary: Vec<&str> = lexicon.primary_patterns().collect();
    let daac_primary = CharwiseDoubleArrayAhoCorasickBuilder::new()
        .match_kind(MatchKind::Standard)
        .build::<_, _, u32>(&primary)
        .map_err(|e| anyhow::anyhow!("daachorse: {e}"))?;
    // The three are timed in turn within each round, so that a slow spell
    // of a shared machine hits all of them alike.
    let (mut core_secs, mut daac_secs, mut ac_secs) = (f64::INFINITY, f64::INFINITY, f64::INFINITY);
    let (mut flagged, mut daac_matches, mut ac_matches) = (0, 0, 0);
    let (mut primary_secs, mut primary_matches) = (f64::INFINITY, 0);
    for _ in 0..rounds.max(1) {
        let (secs, f) = best(1, || core_pass(&mut scorer, &analyzed));
        core_secs = core_secs.min(secs);
        flagged = f;
        let (secs, m) = best(1, || daachorse_pass(&daac, &analyzed));
        daac_secs = daac_secs.min(secs);
        daac_matches = m;
        let (secs, m) = best(1, || aho_corasick_pass(&ac, &analyzed));
        ac_secs = ac_secs.min(secs);
        ac_matches = m;
        let (secs, m) = best(1, || daachorse_pass(&daac_primary, &analyzed));
        primary_secs = primary_secs.min(secs);
        primary_matches = m;
    }
    rows.push(Row {
        name: "matching + scoring core (1 thread)".into(),
        secs: core_secs,
        bytes: norm_bytes,
        posts: n,
        note: format!("{flagged} flagged"),
    });
    rows.push(Row {
        name: "  raw daachorse overlapping scan".into(),
        secs: daac_secs,
        bytes: norm_bytes,
        posts: n,
        note: format!("{} patterns, {daac_matches} matches", patterns.len()),
    });
    rows.push(Row {
        name: "  raw aho-corasick overlapping scan".into(),
        secs: ac_secs,
        bytes: norm_bytes,
        posts: n,
        note: format!("{ac_matches} matches"),
    });
    rows.push(Row {
        name: "  raw daachorse, primary patterns only".into(),
        secs: primary_secs,
        bytes: norm_bytes,
        posts: n,
        note: format!("{} patterns, {primary_matches} matches", primary.len()),
    });

    Ok(CoreTimes {
        core_secs,
        daac_secs,
        ac_secs,
        primary_secs,
    })
}

/// The whole `yuqing score` path, on one worker and on `workers`.
fn whole_path_rows(
    texts: &[String],
    lexicon: &Arc<Lexicon>,
    rounds: usize,
    workers: usize,
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let raw_bytes: usize = texts.iter().map(String::len).sum();
    let n = texts.len();
    // 5. The whole `yuqing score` path from JSON lines to JSON lines.
    let jsonl: Vec<u8> = texts
        .iter()
        .enumerate()
        .flat_map(|(i, t)| {
            let line =
                serde_json::json!({"id": format!("b-{i}"), "text": t, "ts": 1_700_000_000 + i});
            let mut v = line.to_string().into_bytes();
            v.push(b'\n');
            v
        })
        .collect();
    let options = ParseOptions::default();
    for w in [1, workers] {
        let (secs, out) = best(rounds, || {
            let mut out_bytes = 0usize;
            let result = map_ordered(
                LineReader::new(&jsonl[..]),
                w,
                || Worker::new(lexicon),
                |worker, batch| worker.score_batch(&options, batch),
                |b| {
                    out_bytes += b.json.len();
                    Ok(())
                },
            );
            result.map(|()| out_bytes)
        });
        let out = out?;
        rows.push(Row {
            name: format!(
                "whole score path, JSON in and out ({w} worker{})",
                if w == 1 { "" } else { "s" }
            ),
            secs,
            bytes: raw_bytes,
            posts: n,
            note: format!(
                "{:.1} MB of JSON in, {:.1} MB out",
                jsonl.len() as f64 / 1e6,
                out as f64 / 1e6
            ),
        });
        if workers == 1 {
            break;
        }
    }

    Ok(())
}

fn print_rows(rows: &[Row], jieba_secs: f64, t: &CoreTimes) {
    let CoreTimes {
        core_secs,
        daac_secs,
        ac_secs,
        primary_secs,
    } = *t;
    println!(
        "{:<46} {:>9} {:>11} {:>8}  note",
        "stage", "MB/s", "posts/s", "x jieba"
    );
    for r in rows {
        println!(
            "{:<46} {:>9.1} {:>11.0} {:>8.2}  {}",
            r.name,
            r.bytes as f64 / 1e6 / r.secs,
            r.posts as f64 / r.secs,
            jieba_secs / r.secs,
            r.note
        );
    }
    let fastest_raw = daac_secs.min(ac_secs);
    println!();
    println!(
        "matching core time / fastest raw automaton time: {:.3} (1.000 = as fast as a bare overlapping scan of the whole dictionary)",
        core_secs / fastest_raw
    );
    println!(
        "matching core time / raw daachorse time on the primary patterns: {:.3} (the core's scan of every post plus all its scoring)",
        core_secs / primary_secs
    );
    println!(
        "MB/s is of the original text, except for the matching rows (normalised text); \"x jieba\" = jieba-alone time / stage time on the same posts."
    );
}
