//! `yuqing bench kafka`: posts/s from Kafka to searchable, next to the
//! `yuqing index` path on the same posts, and the event-to-searchable
//! latency at half the measured rate.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use yuqing_index::{IndexOptions, PostIndex};
use yuqing_kafka::{KafkaProducer, Outgoing};
use yuqing_lexicon::Lexicon;
use yuqing_model::ParseOptions;
use yuqing_pipeline::{Pipeline, PipelineConfig, Stats};

use crate::index_cmd::index_stream;
use crate::lines::LineReader;

/// Arguments of `yuqing bench kafka`.
#[derive(clap::Args)]
pub struct Args {
    /// Bootstrap brokers (env YUQING_KAFKA_BROKERS).
    #[arg(long, value_name = "HOST:PORT", env = "YUQING_KAFKA_BROKERS")]
    pub brokers: String,
    /// JSONL with a `text` field (default: as for `yuqing bench score`).
    pub corpus: Option<PathBuf>,
    /// Posts for the throughput run.
    #[arg(long, value_name = "N", default_value_t = 200_000)]
    pub posts: usize,
    /// Posts for the latency run (sent at half the measured rate).
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub latency_posts: usize,
    /// Partitions of the benchmark topics.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub partitions: i32,
    /// Dictionary directory (default: the built-in dictionaries).
    #[arg(long, value_name = "DIR")]
    pub dictionaries: Option<PathBuf>,
    /// A librdkafka property for the pipeline's consumer, `key=value`
    /// (repeatable), as `[kafka.options]` would set it.
    #[arg(long = "option", value_name = "KEY=VALUE")]
    pub options: Vec<String>,
    /// The pipeline's `[index] commit_interval_ms` (default: the
    /// pipeline's own default).
    #[arg(long, value_name = "MS")]
    pub commit_interval_ms: Option<u64>,
    /// Where the broker keeps its data, as printed with the figures (e.g.
    /// "tansu sqlite", "Kafka 3.7, 3 brokers, SSD"); the figures depend on
    /// it and the Kafka protocol does not say (env TANSU_STORAGE, as
    /// `scripts/kafka-broker.sh start` takes it).
    #[arg(
        long,
        value_name = "TEXT",
        env = "TANSU_STORAGE",
        default_value = "not stated"
    )]
    pub broker_storage: String,
}

fn produce(brokers: &str, topic: &str, jsonl: &[u8], rate: Option<f64>) -> anyhow::Result<f64> {
    let producer = KafkaProducer::new(brokers, "yuqing-bench", &Default::default())?;
    let start = Instant::now();
    for (i, line) in jsonl
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        if let Some(r) = rate {
            let due = Duration::from_secs_f64(i as f64 / r);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        producer.send(&Outgoing {
            topic: topic.to_string(),
            key: None,
            payload: line.to_vec(),
            headers: Vec::new(),
        })?;
    }
    producer.flush(Duration::from_secs(120))?;
    Ok(start.elapsed().as_secs_f64())
}

/// Runs a Kafka pipeline on `topic` in-process; returns it running, with
/// the stop flag and the thread.
type Running = (
    Arc<yuqing_pipeline::Stats>,
    Duration,
    Arc<AtomicBool>,
    std::thread::JoinHandle<anyhow::Result<()>>,
);

fn start_pipeline(
    brokers: &str,
    topic: &str,
    data_dir: &std::path::Path,
    lexicon: Arc<yuqing_lexicon::Lexicon>,
    options: &[String],
    commit_interval_ms: Option<u64>,
) -> anyhow::Result<Running> {
    let mut extra = String::new();
    for o in options {
        let (k, v) = o
            .split_once('=')
            .with_context(|| format!("--option `{o}`: expected key=value"))?;
        extra.push_str(&format!("{k:?} = {v:?}\n"));
    }
    let toml = format!(
        "data_dir = {:?}\n[source]\nkind = \"kafka\"\ntopics = [{topic:?}]\ngroup_id = \"bench-{topic}\"\n[kafka]\nbrokers = {brokers:?}\n[kafka.options]\n{extra}[dead_letter]\nkind = \"log\"\n[alerts]\nkind = \"none\"\n[http]\nenabled = false\n{}",
        data_dir.display().to_string(),
        commit_interval_ms.map_or_else(String::new, |ms| format!(
            "[index]\ncommit_interval_ms = {ms}\n"
        ))
    );
    let config = PipelineConfig::parse(&toml, "<bench>", data_dir, |_| None)?;
    let interval = config.index.commit_interval;
    let pipeline = Pipeline::open(config, lexicon)?;
    let stats = pipeline.stats();
    let stop = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&stop);
    let handle = std::thread::spawn(move || -> anyhow::Result<()> {
        pipeline.run(s)?;
        Ok(())
    });
    Ok((stats, interval, stop, handle))
}

/// The `yuqing index` path over `jsonl` into a fresh index in `dir`;
/// returns its time to the last commit.
fn index_path_secs(jsonl: &[u8], lexicon: &Arc<Lexicon>, dir: &Path) -> anyhow::Result<f64> {
    let index = PostIndex::open_or_create(&dir.join("index-path"), lexicon.shared_analyzer())?;
    let mut writer = index.writer(IndexOptions {
        commit_docs: 50_000,
        commit_interval: Duration::from_secs(u64::MAX / 4),
        ..IndexOptions::default()
    })?;
    let workers = crate::worker_count(None).saturating_sub(1).max(1);
    let t = Instant::now();
    let outcome = index_stream(
        LineReader::new(jsonl),
        lexicon,
        &ParseOptions::default(),
        &mut writer,
        workers,
        None,
        None,
    );
    outcome.read?;
    writer.commit()?;
    let index_secs = t.elapsed().as_secs_f64();
    writer.finish()?;
    Ok(index_secs)
}

/// The first `n` lines of `jsonl`.
fn first_lines(jsonl: &[u8], n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for line in jsonl
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .take(n)
    {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out
}

/// Waits until the commits have made `n` posts searchable (each has its
/// latency recorded), polling every `step`; gives up after `limit`.
fn wait_for(stats: &Stats, n: usize, step: Duration, limit: Duration) -> anyhow::Result<()> {
    let t = Instant::now();
    while stats
        .latency
        .lock()
        .map(|h| (h.len() as usize) < n)
        .unwrap_or(true)
    {
        anyhow::ensure!(t.elapsed() < limit, "gave up after {limit:?}");
        std::thread::sleep(step);
    }
    Ok(())
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    crate::init_logging_at("warn");
    let (texts, source) = super::load_corpus(args.corpus.as_ref(), usize::MAX)?;
    let repeat = args.posts.div_ceil(texts.len()).max(1);
    let jsonl_all = super::posts_jsonl(&texts, repeat);
    let take = |n: usize| first_lines(&jsonl_all, n);
    let jsonl = take(args.posts);
    let n = args.posts;
    let lexicon = crate::load_lexicon(args.dictionaries.as_ref())?;
    let tmp = tempfile::tempdir().context("a temporary directory")?;
    eprintln!(
        "yuqing bench kafka: {n} posts from {source}; brokers {} (storage: {})",
        args.brokers, args.broker_storage
    );

    // 1. The `yuqing index` path on the same posts (the baseline).
    let index_secs = index_path_secs(&jsonl, &lexicon, tmp.path())?;

    // 2. Kafka to searchable: the topic is filled first, then read.
    let run_id = std::process::id();
    let topic = format!("bench-throughput-{run_id}");
    yuqing_kafka::admin::create_topic(&args.brokers, &topic, args.partitions)?;
    let produce_secs = produce(&args.brokers, &topic, &jsonl, None)?;
    let (stats, _, stop, handle) = start_pipeline(
        &args.brokers,
        &topic,
        &tmp.path().join("kafka"),
        Arc::clone(&lexicon),
        &args.options,
        args.commit_interval_ms,
    )?;
    // Searchable = committed: every post's latency is recorded by the
    // commit that makes it searchable.
    let t = Instant::now();
    wait_for(
        &stats,
        n,
        Duration::from_millis(5),
        Duration::from_secs(1800),
    )
    .with_context(|| format!("the pipeline did not index {n} posts in 30 minutes"))?;
    let kafka_secs = t.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    handle
        .join()
        .map_err(|_| anyhow::anyhow!("the pipeline thread panicked"))??;
    let kafka_rate = n as f64 / kafka_secs;
    let index_rate = n as f64 / index_secs;

    // 3. Latency at half that rate, producing while the pipeline runs.
    let m = args.latency_posts.min(jsonl_all.len());
    let latency_jsonl = take(m);
    let topic2 = format!("bench-latency-{run_id}");
    yuqing_kafka::admin::create_topic(&args.brokers, &topic2, args.partitions)?;
    // Produce once the consumer holds every partition (not after a fixed
    // pause: a join that takes longer would count as latency).
    let assigned = &yuqing_metrics::metrics().consumer_assigned;
    assigned.set(0);
    let (stats2, interval, stop2, handle2) = start_pipeline(
        &args.brokers,
        &topic2,
        &tmp.path().join("kafka2"),
        Arc::clone(&lexicon),
        &args.options,
        args.commit_interval_ms,
    )?;
    let joining = Instant::now();
    while assigned.get() < i64::from(args.partitions) {
        anyhow::ensure!(
            joining.elapsed() < Duration::from_secs(120),
            "the latency run's consumer held {} of {} partitions after 120 s",
            assigned.get(),
            args.partitions
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    let rate = kafka_rate / 2.0;
    produce(&args.brokers, &topic2, &latency_jsonl, Some(rate))?;
    wait_for(
        &stats2,
        m,
        Duration::from_millis(20),
        Duration::from_secs(600),
    )
    .context("the latency run did not finish")?;
    stop2.store(true, Ordering::Relaxed);
    handle2
        .join()
        .map_err(|_| anyhow::anyhow!("the pipeline thread panicked"))??;
    let (p50, p99, max) = stats2
        .latency
        .lock()
        .map(|h| (h.quantile(0.5), h.quantile(0.99), h.quantile(1.0)))
        .unwrap_or((None, None, None));
    let ms = |v: Option<u64>| v.map_or_else(|| "> 60000".to_string(), |v| v.to_string());
    // The broker's and the consumer's share: timestamp to handed on by
    // the source.
    let (c50, c99) = stats2
        .consume_latency
        .lock()
        .map(|h| (h.quantile(0.5), h.quantile(0.99)))
        .unwrap_or((None, None));

    println!(
        "brokers {} (storage: {})",
        args.brokers, args.broker_storage
    );
    println!("{:<64} {:>10} {:>9}", "path", "posts/s", "seconds");
    println!(
        "{:<64} {:>10.0} {:>9.2}",
        "yuqing index path (JSONL in memory → committed index)", index_rate, index_secs
    );
    println!(
        "{:<64} {:>10.0} {:>9.2}",
        "Kafka → searchable (yuqing run pipeline, topic filled first)", kafka_rate, kafka_secs
    );
    println!(
        "{:<64} {:>10.0} {:>9.2}",
        "  (filling the topic with yuqing's producer)",
        n as f64 / produce_secs,
        produce_secs
    );
    println!();
    println!(
        "Kafka → searchable / yuqing index: {:.3}",
        kafka_rate / index_rate
    );
    println!(
        "event-to-searchable latency at {rate:.0} posts/s (half the rate above), {m} posts: p50 {} ms, p99 {} ms, max {} ms (commit interval {} ms)",
        ms(p50),
        ms(p99),
        ms(max),
        interval.as_millis()
    );
    println!(
        "  of which Kafka (timestamp → handed on by the source: producer, broker, fetch): p50 {} ms, p99 {} ms",
        ms(c50),
        ms(c99)
    );
    Ok(ExitCode::SUCCESS)
}
