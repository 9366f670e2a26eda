//! The matching core next to the raw automata, on the same normalised
//! texts and the same dictionary (every pattern of the shipped
//! dictionaries). Segmentation is done beforehand and not measured.
//! Throughput is of the normalised text.

mod common;

use aho_corasick::AhoCorasick;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use daachorse::{CharwiseDoubleArrayAhoCorasickBuilder, MatchKind};
use std::hint::black_box;
use std::sync::Arc;
use yuqing_lexicon::Lexicon;
use yuqing_pipeline::Scorer;
use yuqing_text::Analyzed;

fn matching(c: &mut Criterion) {
    let texts = common::corpus();
    let lexicon = Arc::new(Lexicon::builtin().expect("shipped dictionaries compile"));
    let analyzed: Vec<Analyzed> = texts
        .iter()
        .map(|t| lexicon.analyzer().analyze(t))
        .collect();
    let bytes: usize = analyzed.iter().map(|a| a.normalized().len()).sum();
    let patterns: Vec<&str> = lexicon.patterns().collect();
    let daac = CharwiseDoubleArrayAhoCorasickBuilder::new()
        .match_kind(MatchKind::Standard)
        .build::<_, _, u32>(&patterns)
        .expect("daachorse builds");
    let ac = AhoCorasick::new(&patterns).expect("aho-corasick builds");

    let mut g = c.benchmark_group("matching");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("core_match_and_score", |b| {
        let mut scorer = Scorer::new(Arc::clone(&lexicon));
        b.iter(|| {
            let mut flagged = 0;
            for a in &analyzed {
                flagged += scorer.match_analyzed(black_box(a)).flagged().len();
            }
            flagged
        })
    });
    g.bench_function("raw_daachorse_overlapping", |b| {
        b.iter(|| {
            analyzed
                .iter()
                .map(|a| {
                    daac.find_overlapping_iter(black_box(a.normalized()))
                        .count()
                })
                .sum::<usize>()
        })
    });
    g.bench_function("raw_aho_corasick_overlapping", |b| {
        b.iter(|| {
            analyzed
                .iter()
                .map(|a| ac.find_overlapping_iter(black_box(a.normalized())).count())
                .sum::<usize>()
        })
    });
    g.finish();

    // Hostile posts: 60 KB of one incident phrase repeated. The work per
    // post stays linear (crates/lexicon/tests/hostile.rs); this measures
    // it against the everyday texts above, per byte.
    let hostile: Vec<Analyzed> = ["没有发生火灾", "发生爆炸", "食物中毒送医", "大火致3人死亡"]
        .iter()
        .map(|p| lexicon.analyzer().analyze(&p.repeat(60 * 1024 / p.len())))
        .collect();
    let bytes: usize = hostile.iter().map(|a| a.normalized().len()).sum();
    let mut g = c.benchmark_group("matching_hostile");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("core_match_and_score", |b| {
        let mut scorer = Scorer::new(Arc::clone(&lexicon));
        b.iter(|| {
            let mut flagged = 0;
            for a in &hostile {
                flagged += scorer.match_analyzed(black_box(a)).flagged().len();
            }
            flagged
        })
    });
    g.finish();
}

criterion_group!(benches, matching);
criterion_main!(benches);
