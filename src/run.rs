//! `yuqing run PIPELINE.toml`: the service — a source, the scoring and
//! indexing stages, sinks, and the HTTP API, in one process.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use yuqing_pipeline::{LogFormat, Pipeline, PipelineConfig, Reloader, RunOutcome, Stats};
use yuqing_server::{AppState, Auth, Limits};

use crate::progress::Progress;

/// Arguments of `yuqing run`.
#[derive(clap::Args)]
pub struct Args {
    /// The pipeline configuration (TOML; docs/config.md).
    pub pipeline: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = PipelineConfig::load(&args.pipeline)?;
    crate::init_logging_with("info", config.log.format == LogFormat::Json);
    let auth = Auth::new(
        config
            .http
            .tokens
            .iter()
            .map(|t| (t.name.as_str(), t.sha256.as_str(), t.role.as_str())),
    )
    .map_err(anyhow::Error::msg)?;
    let lexicon = crate::load_lexicon(config.dictionaries.as_ref())?;
    crate::detect::check_categories(&config.spike, &lexicon)
        .with_context(|| args.pipeline.display().to_string())?;
    let pipeline = Pipeline::open(config.clone(), Arc::clone(&lexicon))
        .with_context(|| format!("opening the index in {}", config.data_dir.display()))?;
    let stats = pipeline.stats();
    let stop = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;

    let reloader = Reloader::new(
        pipeline.lexicon(),
        pipeline.index(),
        config.dictionaries.clone(),
    );
    // SIGHUP: reload the dictionaries.
    runtime.spawn(reloader.clone().reload_on_sighup());

    // Signals: the first one stops the pipeline (drain, commit), and the
    // HTTP server after it.
    let signalled = Arc::new(tokio::sync::Notify::new());
    {
        let stop = Arc::clone(&stop);
        let signalled = Arc::clone(&signalled);
        runtime.spawn(async move {
            crate::serve::shutdown_signal().await;
            stop.store(true, Ordering::Relaxed);
            signalled.notify_waiters();
            signalled.notify_one();
        });
    }

    let (http_done, http_stop) = tokio::sync::watch::channel(false);
    let server = if config.http.enabled {
        Some(start_http(
            &runtime,
            &config,
            &pipeline,
            auth,
            &reloader,
            http_stop.clone(),
        )?)
    } else {
        None
    };

    // A watchdog: once stopping, the pipeline has `shutdown_timeout_secs`.
    start_watchdog(Arc::clone(&stop), config.runtime.shutdown_timeout);

    let start = Instant::now();
    // Progress: full lines (stderr also carries the logs), from the counters.
    let finished = Arc::new(AtomicBool::new(false));
    let reporter = start_reporter(Arc::clone(&stats), Arc::clone(&finished));
    let outcome = pipeline.run(Arc::clone(&stop));
    finished.store(true, Ordering::Relaxed);
    let _ = reporter.join();
    print_summary(&stats, start.elapsed().as_secs_f64());
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            let _ = http_done.send(true);
            return Err(e).context("the pipeline failed");
        }
    };
    if outcome == RunOutcome::SourceEnded && config.runtime.serve_after_end && server.is_some() {
        eprintln!(
            "yuqing run: the source is read to its end; still serving the API (Ctrl-C to stop)"
        );
        runtime.block_on(async {
            if !stop.load(Ordering::Relaxed) {
                signalled.notified().await;
            }
        });
    }
    let _ = http_done.send(true);
    if let Some(server) = server {
        let _ =
            runtime.block_on(async { tokio::time::timeout(Duration::from_secs(5), server).await });
    }
    Ok(ExitCode::SUCCESS)
}

/// Starts the HTTP API (and the ops listener) on `runtime`; it stops when
/// `stop` turns true.
fn start_http(
    runtime: &tokio::runtime::Runtime,
    config: &PipelineConfig,
    pipeline: &Pipeline,
    auth: Auth,
    reloader: &Reloader,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let health = pipeline.health();
    let acks_path = config.data_dir.join(yuqing_alertlog::ACKS_FILE);
    let acks = yuqing_alertlog::AckLog::open(&acks_path)
        .with_context(|| format!("reading the acknowledgements in {}", acks_path.display()))?;
    pipeline
        .index()
        .set_query_fields(yuqing_server::params::query_fields(pipeline.lexicon()));
    let state = AppState {
        index: pipeline.index(),
        lexicon: pipeline.lexicon(),
        ready: Some(Arc::new(move || health.check())),
        alerts: pipeline.alerts(),
        acks: Arc::new(std::sync::Mutex::new(acks)),
        auth: Arc::new(auth),
        reload: Some(Arc::new({
            let reloader = reloader.clone();
            move || reloader.reload()
        })),
        display_offset_secs: config.display.offset_secs,
        watches: Some(Arc::new(crate::watch_api::WatchApi(pipeline.watches()))),
    };
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(&config.http.addr))
        .with_context(|| format!("cannot listen on {} (http.addr)", config.http.addr))?;
    let local = listener.local_addr().context("reading the bound address")?;
    let ops = match &config.http.ops_addr {
        Some(ops_addr) => {
            let ops = runtime
                .block_on(tokio::net::TcpListener::bind(ops_addr))
                .with_context(|| format!("cannot listen on {ops_addr} (http.ops_addr)"))?;
            let ops_local = ops.local_addr().context("reading the bound address")?;
            eprintln!("yuqing run: metrics and health on http://{ops_local}");
            Some(ops)
        }
        None => None,
    };
    eprintln!("yuqing run: API on http://{local}");
    tracing::info!(addr = %local, "listening");
    let limits = http_limits(&config.http)?;
    Ok(runtime.spawn(async move {
        if let Err(e) = yuqing_server::serve_until(listener, ops, state, limits, stop).await {
            tracing::error!(error = %e, "HTTP server failed");
        }
    }))
}

/// Once `stop` is set, exits the process if it is still running after
/// `timeout`.
fn start_watchdog(stop: Arc<AtomicBool>, timeout: Duration) {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(timeout);
        eprintln!(
            "yuqing run: did not finish within {timeout:?} of the signal; exiting (what was not committed is read again on the next start)"
        );
        std::process::exit(1);
    });
}

/// Progress lines from the counters until `finished`.
fn start_reporter(stats: Arc<Stats>, finished: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut progress = Progress::lines_only("yuqing run", "messages", false);
        while !finished.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
            progress.tick(
                stats.consumed.load(Ordering::Relaxed),
                &format!(
                    ", {} indexed, {} flagged, {} dead letters",
                    stats.indexed.load(Ordering::Relaxed),
                    stats.flagged.load(Ordering::Relaxed),
                    stats.dead_letters.load(Ordering::Relaxed)
                ),
            );
        }
    })
}

/// The last line: counts, rate and latency of the run.
fn print_summary(stats: &Stats, secs: f64) {
    let consumed = stats.consumed.load(Ordering::Relaxed);
    let (p50, p99) = stats
        .latency
        .lock()
        .map(|h| (h.quantile(0.5), h.quantile(0.99)))
        .unwrap_or((None, None));
    let latency = match (p50, p99) {
        (Some(a), Some(b)) => format!("; event-to-searchable latency p50 {a} ms, p99 {b} ms"),
        _ => String::new(),
    };
    eprintln!(
        "yuqing run: {consumed} messages in {secs:.1} s ({:.0}/s): {} indexed, {} flagged, {} dead letters, {} commits, {} alert messages, {} late posts{latency}",
        consumed as f64 / secs.max(1e-9),
        stats.indexed.load(Ordering::Relaxed),
        stats.flagged.load(Ordering::Relaxed),
        stats.dead_letters.load(Ordering::Relaxed),
        stats.commits.load(Ordering::Relaxed),
        stats.alerts.load(Ordering::Relaxed),
        stats.late.load(Ordering::Relaxed),
    );
}

/// The connection limits of `[http]`.
fn http_limits(http: &yuqing_pipeline::config::HttpConfig) -> anyhow::Result<Limits> {
    Limits::new(
        http.header_read_timeout.as_secs(),
        http.idle_timeout.as_secs(),
        http.max_connections,
    )
    .map_err(|e| anyhow::anyhow!("http.{e}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_pipeline_defaults_of_http_limits_are_the_servers() {
        let http = yuqing_pipeline::config::HttpConfig::default();
        assert_eq!(
            super::http_limits(&http).unwrap(),
            yuqing_server::Limits::default()
        );
    }
}
