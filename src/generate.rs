//! `yuqing gen`: a synthetic stream of posts with incident bursts.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::usage;
use yuqing_gen::{Burst, StreamSpec, stream};
use yuqing_model::Timestamp;

/// Arguments of `yuqing gen`.
#[derive(clap::Args)]
pub struct Args {
    /// Seed: the same seed gives the same stream.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Start of the stream (RFC 3339 or epoch).
    #[arg(long, default_value = "2024-07-01T08:00:00+08:00")]
    pub start: String,
    /// Length, in hours.
    #[arg(long, default_value_t = 6.0)]
    pub hours: f64,
    /// Background posts per minute.
    #[arg(long, default_value_t = 4.0)]
    pub per_minute: f64,
    /// An incident burst, `CATEGORY@REGION@MINUTE` (repeatable; region as
    /// written in posts, minute after the start). Default: one explosion in
    /// 滁州 three hours in.
    #[arg(long = "burst", value_name = "CATEGORY@REGION@MINUTE")]
    pub bursts: Vec<String>,
    /// Minutes each burst lasts.
    #[arg(long, default_value_t = 30)]
    pub burst_minutes: u32,
    /// Posts in each burst.
    #[arg(long, default_value_t = 120)]
    pub burst_posts: u32,
    /// Write to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let start = match args.start.parse::<i64>() {
        Ok(n) => Timestamp::from_epoch(n),
        Err(_) => Timestamp::parse_rfc3339(&args.start),
    }
    .map_err(|e| usage(format!("--start `{}`: {e}", args.start)))?;
    if !(args.hours > 0.0 && args.hours <= 24.0 * 366.0) {
        return Err(usage("--hours must be above 0 and at most a year"));
    }
    if !(args.per_minute >= 0.0 && args.per_minute <= 100_000.0) {
        return Err(usage("--per-minute must be from 0 to 100000"));
    }
    let minutes = (args.hours * 60.0).round() as u32;
    let known: Vec<&str> = yuqing_gen::INCIDENTS.iter().map(|(c, _)| *c).collect();
    let specs = if args.bursts.is_empty() {
        vec!["explosion@滁州@180".to_string()]
    } else {
        args.bursts.clone()
    };
    let mut bursts = Vec::new();
    for b in &specs {
        let parts: Vec<&str> = b.split('@').collect();
        let [category, region, minute] = parts[..] else {
            return Err(usage(format!(
                "--burst `{b}`: expected CATEGORY@REGION@MINUTE, e.g. explosion@滁州@180"
            )));
        };
        if !known.contains(&category) {
            return Err(usage(format!(
                "--burst `{b}`: unknown category `{category}` (known: {})",
                known.join(", ")
            )));
        }
        let at_minute: u32 = minute
            .parse()
            .map_err(|_| usage(format!("--burst `{b}`: `{minute}` is not a minute")))?;
        if at_minute >= minutes {
            return Err(usage(format!(
                "--burst `{b}`: minute {at_minute} is after the end ({minutes})"
            )));
        }
        bursts.push(Burst {
            category: category.to_string(),
            region: region.to_string(),
            at_minute,
            minutes: args.burst_minutes,
            posts: args.burst_posts,
        });
    }
    let posts = stream(&StreamSpec {
        seed: args.seed,
        start_ms: start.as_millis(),
        minutes,
        per_minute: args.per_minute,
        bursts,
    });
    let mut out: Box<dyn Write> = match &args.out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    for p in &posts {
        let ts = Timestamp::from_millis(p.ts_ms).map_err(|e| anyhow::anyhow!("{e}"))?;
        let line = serde_json::json!({
            "id": p.id,
            "text": p.text,
            "ts": ts.to_string(),
            "platform": p.platform,
            "author": p.author,
        });
        match writeln!(out, "{line}") {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
            Err(e) => return Err(e.into()),
        }
    }
    out.flush()?;
    eprintln!("yuqing gen: {} posts over {minutes} minutes", posts.len());
    Ok(ExitCode::SUCCESS)
}
