//! `yuqing serve`: the HTTP API over an existing index.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use yuqing_alertlog::{AckLog, AlertStore};
use yuqing_index::PostIndex;
use yuqing_lexicon::SharedLexicon;
use yuqing_pipeline::Reloader;
use yuqing_server::{AppState, Auth};

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
    /// Serve `/healthz`, `/readyz` and `/metrics` on this address instead
    /// of `--addr` (never behind a token).
    #[arg(long, value_name = "HOST:PORT")]
    pub ops_addr: Option<String>,
    /// Require bearer tokens for `/api/v1/*`: a TOML file of
    /// `[[http.tokens]]` entries (`name`, `sha256`, `role`) as `yuqing token
    /// new` prints them (`[[tokens]]` is accepted too).
    #[arg(long, value_name = "FILE")]
    pub tokens: Option<PathBuf>,
    /// Seconds a client has to send a request's headers; a slower one is
    /// disconnected.
    #[arg(long, value_name = "SECS", default_value_t = yuqing_server::conn::DEFAULT_HEADER_READ_TIMEOUT_SECS)]
    pub header_read_timeout_secs: u64,
    /// Seconds a connection may stay silent (between requests, or with an
    /// answer left unread) before it is closed.
    #[arg(long, value_name = "SECS", default_value_t = yuqing_server::conn::DEFAULT_IDLE_TIMEOUT_SECS)]
    pub idle_timeout_secs: u64,
    /// Connections open at once; more are answered 503.
    #[arg(long, value_name = "N", default_value_t = yuqing_server::conn::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Zone of times on the page and in CSV exports (`[display] timezone`).
    #[arg(long, value_name = "±HH:MM", default_value = "+08:00")]
    pub timezone: String,
}

/// A `--tokens` file: `[[http.tokens]]` entries (the shape of the pipeline
/// configuration, which `yuqing token new` prints), or `[[tokens]]`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensFile {
    #[serde(default)]
    tokens: Vec<yuqing_pipeline::TokenConfig>,
    #[serde(default)]
    http: Option<HttpTokens>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpTokens {
    #[serde(default)]
    tokens: Vec<yuqing_pipeline::TokenConfig>,
}

/// The tokens in a `--tokens` file.
fn load_tokens(path: &std::path::Path) -> anyhow::Result<Auth> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the tokens in {}", path.display()))?;
    let file: TokensFile = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message().trim()))?;
    let nested = file.http.map(|h| h.tokens).unwrap_or_default();
    Auth::new(
        file.tokens
            .iter()
            .chain(&nested)
            .map(|t| (t.name.as_str(), t.sha256.as_str(), t.role.as_str())),
    )
    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
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
    let display_offset_secs = yuqing_model::parse_utc_offset(&args.timezone)
        .map_err(|e| crate::usage(format!("--timezone {e}")))?;
    let lexicon = crate::load_lexicon(args.dictionaries.as_ref())?;
    let index = PostIndex::open(&args.data_dir, lexicon.shared_analyzer())
        .with_context(|| format!("opening the index in {}", args.data_dir.display()))?;
    let alerts_path = args.data_dir.join(yuqing_pipeline::ALERTS_FILE);
    let alerts = AlertStore::follow(&alerts_path, 100_000)
        .with_context(|| format!("reading the alerts in {}", alerts_path.display()))?;
    let acks_path = args.data_dir.join(yuqing_alertlog::ACKS_FILE);
    let acks = AckLog::open(&acks_path)
        .with_context(|| format!("reading the acknowledgements in {}", acks_path.display()))?;
    let limits = yuqing_server::Limits::new(
        args.header_read_timeout_secs,
        args.idle_timeout_secs,
        args.max_connections,
    )
    .map_err(|e| anyhow::anyhow!("--{}", e.replace('_', "-")))?;
    let auth = match &args.tokens {
        Some(p) => load_tokens(p)?,
        None => Auth::default(),
    };
    let index = Arc::new(index);
    let lexicon = Arc::new(SharedLexicon::new(lexicon));
    index.set_query_fields(yuqing_server::params::query_fields(Arc::clone(&lexicon)));
    let reloader = Reloader::new(
        Arc::clone(&lexicon),
        Arc::clone(&index),
        args.dictionaries.clone(),
    );
    let state = AppState {
        index,
        lexicon,
        ready: None,
        alerts: Arc::new(Mutex::new(alerts)),
        acks: Arc::new(Mutex::new(acks)),
        auth: Arc::new(auth),
        reload: Some(Arc::new({
            let reloader = reloader.clone();
            move || reloader.reload()
        })),
        display_offset_secs,
        watches: None,
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
            "yuqing serve: listening on http://{local} ({})",
            crate::count(state.index.num_docs(), "post")
        );
        tokio::spawn(reloader.reload_on_sighup());
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = stop_tx.send(true);
        });
        let ops = match &args.ops_addr {
            Some(ops_addr) => {
                let ops = tokio::net::TcpListener::bind(ops_addr)
                    .await
                    .with_context(|| format!("cannot listen on {ops_addr} (--ops-addr)"))?;
                let ops_local = ops.local_addr().context("reading the bound address")?;
                eprintln!("yuqing serve: metrics and health on http://{ops_local}");
                Some(ops)
            }
            None => None,
        };
        yuqing_server::serve_until(listener, ops, state, limits, stop)
            .await
            .context("serving HTTP")
    })?;
    Ok(ExitCode::SUCCESS)
}
