//! `yuqing serve`: the HTTP API over an existing index.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use yuqing_index::PostIndex;
use yuqing_server::AppState;
use yuqing_spike::AlertStore;

/// Arguments of `yuqing serve`.
#[derive(clap::Args)]
pub struct Args {
    /// Data directory holding the index (DATA_DIR/index).
    #[arg(long, value_name = "DIR", env = "YUQING_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Address to listen on.
    #[arg(
        long,
        value_name = "HOST:PORT",
        env = "YUQING_HTTP_ADDR",
        default_value = "127.0.0.1:8080"
    )]
    pub addr: String,
    /// Dictionary directory (default: the built-in dictionaries): its
    /// analyzer segments queries, its categories and regions validate
    /// parameters.
    #[arg(long, value_name = "DIR")]
    pub dictionaries: Option<PathBuf>,
}

/// Resolves when SIGINT or SIGTERM arrives.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    crate::init_logging();
    let lexicon = crate::load_lexicon(args.dictionaries.as_ref())?;
    let index = PostIndex::open(&args.data_dir, lexicon.shared_analyzer())
        .with_context(|| format!("opening the index in {}", args.data_dir.display()))?;
    let alerts_path = args.data_dir.join(yuqing_pipeline::ALERTS_FILE);
    let alerts = AlertStore::follow(&alerts_path, 100_000)
        .with_context(|| format!("reading the alerts in {}", alerts_path.display()))?;
    let state = AppState {
        index: Arc::new(index),
        lexicon,
        ready: None,
        alerts: Arc::new(Mutex::new(alerts)),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.addr)
            .await
            .with_context(|| format!("cannot listen on {}", args.addr))?;
        let local = listener.local_addr().context("reading the bound address")?;
        tracing::info!(addr = %local, posts = state.index.num_docs(), "listening");
        eprintln!(
            "yuqing serve: listening on http://{local} ({} posts)",
            state.index.num_docs()
        );
        yuqing_server::serve(listener, state, shutdown_signal())
            .await
            .context("serving HTTP")
    })?;
    Ok(ExitCode::SUCCESS)
}
