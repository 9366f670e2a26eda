//! `yuqing replay`: JSONL posts into a Kafka topic.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use yuqing_kafka::replay::{ReplaySettings, replay, wait_for_brokers};

use crate::progress::Progress;

/// Arguments of `yuqing replay`.
#[derive(clap::Args)]
pub struct Args {
    /// JSONL posts; `-` or nothing reads stdin. Lines that are not posts
    /// are sent as they are (to exercise dead-letter paths).
    pub input: Option<PathBuf>,
    /// Bootstrap brokers (env YUQING_KAFKA_BROKERS).
    #[arg(long, value_name = "HOST:PORT", env = "YUQING_KAFKA_BROKERS")]
    pub brokers: String,
    /// Topic to produce to.
    #[arg(long, default_value = "posts")]
    pub topic: String,
    /// At most N messages per second.
    #[arg(long, value_name = "N")]
    pub rate: Option<f64>,
    /// Keep the posts' own pacing (gaps between their `ts`), X times faster.
    #[arg(long, value_name = "X")]
    pub speedup: Option<f64>,
    /// Extra librdkafka producer property, `key=value` (repeatable).
    #[arg(long = "option", value_name = "KEY=VALUE")]
    pub options: Vec<String>,
    /// Give up when no broker answers within this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub connect_timeout: u64,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut options = BTreeMap::new();
    for o in &args.options {
        let (k, v) = o
            .split_once('=')
            .ok_or_else(|| crate::usage(format!("--option `{o}`: expected key=value")))?;
        options.insert(k.to_string(), v.to_string());
    }
    if args.rate.is_some_and(|r| r.is_nan() || r <= 0.0) {
        return Err(crate::usage("--rate must be above 0"));
    }
    if args.connect_timeout == 0 {
        return Err(crate::usage("--connect-timeout must be at least 1"));
    }
    if args.speedup.is_some_and(|x| x.is_nan() || x <= 0.0) {
        return Err(crate::usage("--speedup must be above 0"));
    }
    let settings = ReplaySettings {
        brokers: args.brokers.clone(),
        topic: args.topic.clone(),
        rate: args.rate,
        speedup: args.speedup,
        options,
    };
    let input = crate::progress::open(args.input.as_ref())?;
    wait_for_brokers(&settings, Duration::from_secs(args.connect_timeout), |e| {
        eprintln!(
            "yuqing replay: the brokers at {} cannot be reached ({e}); trying for up to {} s",
            args.brokers, args.connect_timeout
        )
    })?;
    let mut progress = Progress::new("yuqing replay", "messages", false).with_input(&input);
    let stats = replay(&settings, input.counted(), |s| progress.tick(s.sent, ""));
    progress.finish();
    let stats =
        stats.with_context(|| format!("replaying to {} on {}", args.topic, args.brokers))?;
    eprintln!(
        "yuqing replay: {} messages ({:.1} MB) to {} in {:.2} s: {:.0} messages/s",
        stats.sent,
        stats.bytes as f64 / 1e6,
        args.topic,
        stats.secs,
        stats.sent as f64 / stats.secs.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}
