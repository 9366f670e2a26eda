//! Shared by the benchmarks: the corpus (the Weibo background set next to
//! the workspace when present, generated posts otherwise).

use std::path::Path;

/// Posts per benchmark iteration: `$YUQING_BENCH_LIMIT`, default 5,000.
pub fn corpus() -> Vec<String> {
    let limit = std::env::var("YUQING_BENCH_LIMIT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5_000);
    let (texts, source) = yuqing_gen::corpus::load(Path::new(env!("CARGO_MANIFEST_DIR")), limit);
    eprintln!(
        "corpus: {} posts, {} bytes, from {source}",
        texts.len(),
        texts.iter().map(String::len).sum::<usize>()
    );
    texts
}
