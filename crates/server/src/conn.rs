//! Connections: the accept loop and its limits — how long a client may
//! take to send a request's headers, how long a connection may stay silent,
//! and how many may be open at once.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Default of [`Limits::header_read_timeout`], seconds.
pub const DEFAULT_HEADER_READ_TIMEOUT_SECS: u64 = 20;
/// Default of [`Limits::idle_timeout`], seconds.
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 15;
/// Default of [`Limits::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;

/// Headers the HTTP layer parses before it answers 431 itself (with an
/// empty body); the API answers 431 in JSON above [`crate::MAX_HEADERS`].
const PARSER_MAX_HEADERS: usize = 200;

/// Connection limits of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The headers of a request must be complete this long after the
    /// server starts waiting for it (after the connection opens, or after
    /// the previous answer on a kept-alive connection); a client that sends
    /// them more slowly, however steadily, is disconnected.
    pub header_read_timeout: Duration,
    /// A connection on which nothing is read or written for this long,
    /// while no request is being answered, is closed (idle keep-alive
    /// connections, clients that stop reading an answer).
    pub idle_timeout: Duration,
    /// Connections open at once; one more is answered `503` (JSON, code
    /// `overloaded`) and closed.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(DEFAULT_HEADER_READ_TIMEOUT_SECS),
            idle_timeout: Duration::from_secs(DEFAULT_IDLE_TIMEOUT_SECS),
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl Limits {
    /// From the configured numbers; the error names the bad one.
    pub fn new(
        header_read_timeout_secs: u64,
        idle_timeout_secs: u64,
        max_connections: usize,
    ) -> Result<Limits, String> {
        if header_read_timeout_secs == 0 {
            return Err("header_read_timeout_secs must be at least 1".into());
        }
        if idle_timeout_secs == 0 {
            return Err("idle_timeout_secs must be at least 1".into());
        }
        if max_connections == 0 {
            return Err("max_connections must be at least 1".into());
        }
        Ok(Limits {
            header_read_timeout: Duration::from_secs(header_read_timeout_secs),
            idle_timeout: Duration::from_secs(idle_timeout_secs),
            max_connections,
        })
    }
}

/// When a connection last read or wrote, and whether a request on it is
/// being answered.
struct Activity {
    origin: Instant,
    last_ms: AtomicU64,
    busy: AtomicUsize,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            origin: Instant::now(),
            last_ms: AtomicU64::new(0),
            busy: AtomicUsize::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn silent_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.origin.elapsed().saturating_sub(last)
    }

    /// Resolves once the connection has been silent, with no request being
    /// answered, for `limit`.
    async fn idle(&self, limit: Duration) {
        loop {
            if self.busy.load(Ordering::Relaxed) > 0 {
                tokio::time::sleep(limit).await;
                continue;
            }
            let silent = self.silent_for();
            if silent >= limit {
                return;
            }
            tokio::time::sleep(limit - silent).await;
        }
    }
}

/// Marks a request as being answered until dropped.
struct Busy(Arc<Activity>);

impl Busy {
    fn new(activity: &Arc<Activity>) -> Busy {
        activity.busy.fetch_add(1, Ordering::Relaxed);
        Busy(Arc::clone(activity))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A TCP stream that records when it last read or wrote.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
    /// Bytes read ahead (the first request line, checked before the
    /// HTTP layer sees it), handed on first.
    ahead: Vec<u8>,
    at: usize,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.at < self.ahead.len() {
            let n = buf.remaining().min(self.ahead.len() - self.at);
            let at = self.at;
            buf.put_slice(&self.ahead[at..at + n]);
            self.at += n;
            if self.at == self.ahead.len() {
                self.ahead = Vec::new();
                self.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The longest first request line read ahead; a longer one is left to
/// the HTTP layer (which answers 414).
const FIRST_LINE_MAX: usize = 64 * 1024;

/// What is wrong with a request line, as the JSON error to answer with.
fn bad_request_line(line: &[u8]) -> Option<(&'static str, &'static str, String)> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text = String::from_utf8_lossy(line);
    let parts: Vec<&str> = text.split(' ').collect();
    let shown: String = text.chars().take(80).collect();
    match parts.as_slice() {
        [method, target, version]
            if !method.is_empty()
                && method
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
                && !target.is_empty() =>
        {
            if *version == "HTTP/1.1" || *version == "HTTP/1.0" {
                None
            } else {
                Some((
                    "505 HTTP Version Not Supported",
                    "http_version_not_supported",
                    format!(
                        "HTTP version `{}` is not supported: this server speaks HTTP/1.1 and HTTP/1.0",
                        version.chars().take(20).collect::<String>()
                    ),
                ))
            }
        }
        _ => Some((
            "400 Bad Request",
            "bad_request",
            format!("malformed request line `{shown}`: expected METHOD TARGET HTTP/1.1"),
        )),
    }
}

/// Reads a connection's first request line (within the header-read
/// timeout) before the HTTP layer sees it, so that a request line the
/// layer would answer with an empty body (an unsupported HTTP version, a
/// malformed line) gets the API's JSON error instead. The line must come
/// within the header-read timeout, and the connection may not be silent
/// for the idle timeout meanwhile. Returns the bytes read, to be handed
/// on, or `None` when the connection was answered (or ended, or timed
/// out).
async fn first_line(stream: &mut TcpStream, limits: Limits) -> Option<Vec<u8>> {
    let mut ahead = Vec::new();
    let read = async {
        let mut chunk = [0u8; 4096];
        loop {
            // Silent for the idle timeout: closed, as later on.
            let n = tokio::time::timeout(
                limits.idle_timeout,
                tokio::io::AsyncReadExt::read(stream, &mut chunk),
            )
            .await
            .ok()?
            .ok()?;
            if n == 0 {
                return Some(false);
            }
            let from = ahead.len();
            ahead.extend_from_slice(&chunk[..n]);
            // Blank lines before a request are allowed (RFC 9112, 2.2).
            let start = ahead.iter().position(|b| *b != b'\r' && *b != b'\n');
            if let Some(start) = start
                && ahead[from.max(start)..].contains(&b'\n')
            {
                return Some(true);
            }
            if ahead.len() >= FIRST_LINE_MAX {
                return Some(true);
            }
        }
    };
    match tokio::time::timeout(limits.header_read_timeout, read).await {
        Ok(Some(true)) => {}
        // Ended or timed out before a line: nothing to answer.
        _ => return None,
    }
    let start = ahead.iter().position(|b| *b != b'\r' && *b != b'\n')?;
    let Some(end) = ahead[start..].iter().position(|b| *b == b'\n') else {
        return Some(ahead);
    };
    let Some((status, code, message)) = bad_request_line(&ahead[start..start + end]) else {
        return Some(ahead);
    };
    let body = serde_json::json!({"error": {"code": code, "message": message}}).to_string();
    let answer = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
    None
}

/// Answers a connection over the limit with a 503 and closes it.
async fn refuse(mut stream: TcpStream, limit: usize) {
    let body = format!(
        "{{\"error\":{{\"code\":\"overloaded\",\"message\":\"the server has {limit} connections open, its limit; try again shortly\"}}}}"
    );
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let write = async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await?;
        // Read what the client sent until it closes, so that closing does
        // not reset the connection before it reads the answer.
        let mut sink = [0u8; 4096];
        loop {
            let n = tokio::io::AsyncReadExt::read(&mut stream, &mut sink).await?;
            if n == 0 {
                return Ok::<(), std::io::Error>(());
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), write).await;
}

/// Serves `router` on `listener` with `limits` until `shutdown` completes,
/// then stops accepting and lets the open connections finish their
/// requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(PARSER_MAX_HEADERS);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, a connection reset before it
                    // was accepted: wait a little rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::debug!(%peer, limit = limits.max_connections, "connection refused: too many open");
            tokio::spawn(refuse(stream, limits.max_connections));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        activity.touch();
        let inner = TowerToHyperService::new(router.clone());
        let during = Arc::clone(&activity);
        let service = hyper::service::service_fn(move |request| {
            let busy = Busy::new(&during);
            let answer = hyper::service::Service::call(&inner, request);
            async move {
                let response = answer.await;
                drop(busy);
                response
            }
        });
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let idle = limits.idle_timeout;
        tokio::spawn(async move {
            let mut stream = stream;
            let Some(ahead) = first_line(&mut stream, limits).await else {
                drop(slot);
                return;
            };
            // The first line just came: not idle.
            activity.touch();
            let io = TokioIo::new(Watched {
                inner: stream,
                activity: Arc::clone(&activity),
                ahead,
                at: 0,
            });
            let connection = watcher.watch(builder.serve_connection(io, service));
            tokio::select! {
                result = connection => {
                    if let Err(e) = result {
                        tracing::debug!(%peer, error = %e, "connection ended");
                    }
                }
                () = activity.idle(idle) => {
                    tracing::debug!(%peer, "idle connection closed");
                }
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
