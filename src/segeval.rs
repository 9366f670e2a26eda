//! `yuqing seg-eval`: word segmentation against hand-segmented text.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde::Deserialize;
use yuqing_text::{Segmenter, SegmenterOptions};

use crate::lines::{Line, LineReader, map_ordered};

/// Arguments of `yuqing seg-eval`.
#[derive(clap::Args)]
pub struct Args {
    /// JSONL with `text` and `segmented` (the gold segmentation, words
    /// separated by spaces).
    pub gold: PathBuf,
    /// Dictionary directory whose keywords are added to jieba (default: the
    /// built-in dictionaries).
    #[arg(long, value_name = "DIR")]
    pub dictionaries: Option<PathBuf>,
    /// Use at most this many sentences.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
}

#[derive(Deserialize)]
struct Gold {
    text: String,
    segmented: String,
}

#[derive(Default, Clone, Copy)]
struct Counts {
    correct: usize,
    predicted: usize,
    gold: usize,
}

impl Counts {
    fn add(&mut self, o: Counts) {
        self.correct += o.correct;
        self.predicted += o.predicted;
        self.gold += o.gold;
    }
    fn prf(&self) -> (f64, f64, f64) {
        let p = self.correct as f64 / self.predicted.max(1) as f64;
        let r = self.correct as f64 / self.gold.max(1) as f64;
        let f = if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        };
        (p, r, f)
    }
}

/// Character spans of a sequence of words.
fn spans<'a>(words: impl Iterator<Item = &'a str>) -> HashSet<(usize, usize)> {
    let mut out = HashSet::new();
    let mut at = 0;
    for w in words {
        let n = w.chars().count();
        out.insert((at, at + n));
        at += n;
    }
    out
}

fn score(seg: &Segmenter, text: &str, gold: &HashSet<(usize, usize)>) -> Counts {
    let pred = spans(seg.cut(text).into_iter());
    Counts {
        correct: gold.intersection(&pred).count(),
        predicted: pred.len(),
        gold: gold.len(),
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let lexicon = crate::load_lexicon(args.dictionaries.as_ref())?;
    let plain = Segmenter::new([], SegmenterOptions::default());
    let ours = lexicon.analyzer().segmenter();
    let input = crate::open_input(Some(&args.gold))?;
    let limit = args.limit.unwrap_or(usize::MAX);
    let (mut a, mut b) = (Counts::default(), Counts::default());
    let (mut used, mut skipped) = (0usize, 0usize);
    map_ordered(
        LineReader::new(input),
        crate::worker_count(None),
        || (),
        |_, batch| {
            let mut out = Vec::new();
            for (_, line) in batch.lines() {
                let Line::Bytes(bytes) = line else {
                    out.push(None);
                    continue;
                };
                let Ok(g) = serde_json::from_slice::<Gold>(bytes) else {
                    out.push(None);
                    continue;
                };
                // Only sentences whose gold words spell the text exactly
                // (white space aside) can be compared span by span.
                // A `segmented` without a single space carries no gold
                // segmentation (unsegmented test splits look like that).
                let words: Vec<&str> = g.segmented.split_whitespace().collect();
                let text: String = g.text.split_whitespace().collect();
                if words.len() < 2 || words.concat() != text {
                    out.push(None);
                    continue;
                }
                let gold = spans(words.iter().copied());
                out.push(Some((
                    score(&plain, &text, &gold),
                    score(ours, &text, &gold),
                )));
            }
            out
        },
        |batch| {
            for r in batch {
                match r {
                    Some((x, y)) if used < limit => {
                        a.add(x);
                        b.add(y);
                        used += 1;
                    }
                    Some(_) => {}
                    None => skipped += 1,
                }
            }
            Ok(())
        },
    )
    .with_context(|| format!("reading {}", args.gold.display()))?;
    println!(
        "yuqing seg-eval: {} ({used} sentences, {skipped} skipped: not JSON, no gold segmentation, or gold words that do not spell the text)",
        args.gold.display()
    );
    println!(
        "{:<40} {:>9} {:>7} {:>7}",
        "segmenter", "precision", "recall", "F1"
    );
    for (name, c) in [
        ("jieba, default dictionary", a),
        ("jieba + yuqing keywords", b),
    ] {
        let (p, r, f) = c.prf();
        println!("{name:<40} {p:>9.4} {r:>7.4} {f:>7.4}");
    }
    Ok(ExitCode::SUCCESS)
}
