//! The burst detector at the scale of a busy deployment: every category in
//! every prefecture of the shipped gazetteer (13 × ~340 prefectures, with
//! their provinces and the national keys: about 4,900 keys), an hour of
//! reports each. Measured: counting a report (`observe`, with the
//! near-duplicate check against the key's recent reports and the closing
//! of buckets as time passes) and the snapshot written with every index
//! commit.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use yuqing_lexicon::Lexicon;
use yuqing_model::{CategoryHit, Post, ScoredPost};
use yuqing_spike::{Detector, DetectorConfig};

/// 2026-03-02T00:00:00Z.
const T0: i64 = 1_772_409_600_000;
/// Reports per category and prefecture in the hour.
const PER_KEY: usize = 4;

/// A deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// An hour of independent reports (texts of their own, authors of their
/// own), in time order, with their texts.
fn stream(lexicon: &Lexicon) -> Vec<(ScoredPost, String)> {
    const POOL: &str = "现场消防救援人员赶到原因正在调查中居民楼厂房仓库浓烟滚滚附近群众疏散道路封闭损失情况统计目前伤亡水位上涨停电";
    let pool: Vec<char> = POOL.chars().collect();
    let mut rng = Rng(7);
    let mut prefectures: Vec<(String, String)> = lexicon.region_parents().into_iter().collect();
    prefectures.sort();
    let mut out = Vec::new();
    for category in lexicon.categories() {
        for (prefecture, province) in &prefectures {
            for _ in 0..PER_KEY {
                let text: String = (0..40).map(|_| pool[rng.below(pool.len())]).collect();
                let ts = T0 + rng.below(3_600_000) as i64;
                let json = serde_json::json!({
                    "id": format!("b{}", out.len()),
                    "text": text,
                    "ts": ts,
                    "author": format!("u{}", rng.next() % 10_000_000),
                });
                let post = Post::from_json(json.to_string().as_bytes()).expect("a valid post");
                out.push((
                    ScoredPost {
                        post,
                        categories: vec![CategoryHit {
                            id: category.id.clone(),
                            score: 3.0,
                            terms: vec!["起火".into()],
                        }],
                        regions: vec![prefecture.clone(), province.clone()],
                        severity: None,
                    },
                    text,
                ));
            }
        }
    }
    out.sort_by_key(|(p, _)| p.post.ts.as_millis());
    out
}

fn run(lexicon: &Lexicon, posts: &[(ScoredPost, String)]) -> Detector {
    run_with(lexicon, posts, DetectorConfig::default())
}

fn run_with(lexicon: &Lexicon, posts: &[(ScoredPost, String)], config: DetectorConfig) -> Detector {
    let mut d = Detector::new(config, lexicon.region_parents());
    d.use_event_clock();
    for (p, text) in posts {
        d.observe(p, text);
        black_box(d.advance());
    }
    d
}

fn detector(c: &mut Criterion) {
    let lexicon = Lexicon::builtin().expect("shipped dictionaries compile");
    let posts = stream(&lexicon);
    let full = run(&lexicon, &posts);
    let snapshot = full.snapshot().expect("the detector state serialises");
    eprintln!(
        "detector bench: {} reports, {} keys, snapshot {} bytes",
        posts.len(),
        full.keys(),
        snapshot.len()
    );

    let mut g = c.benchmark_group("detector");
    g.sample_size(10);
    g.throughput(Throughput::Elements(posts.len() as u64));
    g.bench_function("observe_an_hour_of_reports", |b| {
        b.iter(|| run(&lexicon, black_box(&posts)))
    });
    // The same, with windows tested only when a minute closes (not as
    // each report arrives): what testing on arrival costs.
    g.bench_function("observe_an_hour_of_reports_tested_at_close", |b| {
        let config = DetectorConfig {
            open_on_arrival: false,
            ..DetectorConfig::default()
        };
        b.iter(|| run_with(&lexicon, black_box(&posts), config.clone()))
    });
    g.throughput(Throughput::Bytes(snapshot.len() as u64));
    g.bench_function("snapshot", |b| {
        b.iter(|| black_box(&full).snapshot().expect("serialises"))
    });
    g.bench_function("restore", |b| {
        b.iter_batched(
            || lexicon.region_parents(),
            |parents| Detector::restore(DetectorConfig::default(), parents, black_box(&snapshot)),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, detector);
criterion_main!(benches);
