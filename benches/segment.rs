//! The text stage: jieba alone, normalisation alone, and normalisation plus
//! segmentation with the dictionaries' keywords (what every post goes
//! through). Throughput is of the original text.

mod common;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use yuqing_lexicon::Lexicon;
use yuqing_text::{Analyzed, Normalized, Segmenter, SegmenterOptions};

fn text_stage(c: &mut Criterion) {
    let texts = common::corpus();
    let bytes: usize = texts.iter().map(String::len).sum();
    let lexicon = Lexicon::builtin().expect("shipped dictionaries compile");
    let plain = Segmenter::new([], SegmenterOptions::default());

    let mut g = c.benchmark_group("text");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("jieba_alone", |b| {
        let mut bounds = Vec::new();
        b.iter(|| {
            for t in &texts {
                plain.segment_into(black_box(t), &mut bounds);
            }
            bounds.len()
        })
    });
    g.bench_function("normalise", |b| {
        let mut out = Normalized::default();
        b.iter(|| {
            for t in &texts {
                lexicon
                    .analyzer()
                    .normalizer()
                    .normalize_into(black_box(t), &mut out);
            }
            out.as_str().len()
        })
    });
    g.bench_function("normalise_and_segment", |b| {
        let mut out = Analyzed::default();
        b.iter(|| {
            for t in &texts {
                lexicon.analyzer().analyze_into(black_box(t), &mut out);
            }
            out.token_count()
        })
    });
    g.finish();
}

criterion_group!(benches, text_stage);
criterion_main!(benches);
