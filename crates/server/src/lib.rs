//! The HTTP API for analysts, over a [`PostIndex`].
//!
//! Routes (JSON; documented in `docs/api.md`):
//!
//! | route | answers |
//! |---|---|
//! | `GET /api/v1/search` | `{"total": N, "hits": [...]}` |
//! | `GET /api/v1/histogram` | `{"interval": "1h", "buckets": [{"start", "count"}]}` |
//! | `GET /api/v1/facets` | `{"total": N, "categories": [...], "regions": [...]}` |
//! | `GET /api/v1/posts/{id}` | the stored post |
//! | `GET /api/v1/export` | every matching post, streamed as CSV or JSON lines |
//! | `GET /api/v1/alerts` | `{"total": N, "alerts": [...]}` (schema v1 messages, each with its latest `ack`) |
//! | `GET /api/v1/alerts/{id}` | `{"alert": {...}, "acks": [...], "posts": {"total", "hits"}}` |
//! | `POST /api/v1/alerts/{id}/ack` | 201 `{"alert_id", "ack", "acks"}`: an acknowledgement recorded |
//! | `POST /api/v1/admin/reload` | `{"reloaded": {...}}`: dictionaries recompiled and swapped in (admin) |
//! | `GET`/`POST /api/v1/watches`, `DELETE /api/v1/watches/{name}` | keyword watches: list, add, remove (admin; [`watches`]) |
//! | `GET /healthz` | 200 while the process runs |
//! | `GET /readyz` | 200 when the index is open |
//! | `GET /metrics` | Prometheus text exposition (docs/metrics.md) |
//! | `GET /api/v1/meta` | categories (ids, names) and region names, for forms |
//! | `GET /` | the analyst's web page (embedded; docs/web.md) |
//!
//! With tokens configured, `/api/v1/*` needs `Authorization: Bearer …`:
//! 401 without a valid token (no detail), 403 for an analyst token on an
//! admin route. `/healthz`, `/readyz` and `/metrics` never need one, and
//! can be served on a listener of their own ([`ops_router`]).
//!
//! Every error under `/api/` is `{"error": {"code", "message"}}`: 400 for
//! a bad parameter or query (the message names it), 404 for an unknown id
//! or route (after the token check), 405, 414 and 431 (`json_errors`), 500
//! only for the server's own failures; only requests hyper cannot parse
//! are answered by it, with an empty body. Connections have a header-read
//! timeout, an idle timeout and a cap ([`conn`]). The server knows nothing
//! of where posts come from.

mod acks;
pub mod auth;
pub mod conn;
pub mod export;
pub mod params;
pub mod reload;
pub mod watches;
mod web;

use std::future::Future;
use std::sync::{Arc, Mutex};

use axum::extract::rejection::PathRejection;
use axum::extract::{MatchedPath, Path, RawQuery, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{self, get};
use axum::{Json, Router};
use serde_json::json;
use yuqing_alertlog::{AckLog, AlertStore};
use yuqing_index::{Filters, IndexError, PostIndex, SearchRequest, Sort};
use yuqing_lexicon::SharedLexicon;
use yuqing_metrics::metrics;
use yuqing_model::Timestamp;

pub use auth::{Auth, Role};
pub use conn::Limits;
pub use params::ParamError;
pub use reload::{DictionaryReload, ReloadReport};
pub use watches::{WatchAdmin, WatchRefusal};

/// Readiness beyond "the index is open": `Err(reason)` makes `/readyz`
/// answer 503 with the reason (a source that cannot reach its brokers, a
/// process shutting down).
pub type ReadyCheck = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The index searched.
    pub index: Arc<PostIndex>,
    /// The dictionaries: category ids and region names for validating
    /// parameters (and region aliases: `滁州` means `滁州市`); swapped by a
    /// reload.
    pub lexicon: Arc<SharedLexicon>,
    /// Extra readiness check; `None`: ready whenever the index is open.
    pub ready: Option<ReadyCheck>,
    /// The alerts: the latest message of each (a following store reloads
    /// the log another process writes).
    pub alerts: Arc<Mutex<AlertStore>>,
    /// The analysts' acknowledgements of alerts (`DATA_DIR/acks.jsonl`).
    pub acks: Arc<Mutex<AckLog>>,
    /// Tokens for `/api/v1/*`; none: open.
    pub auth: Arc<Auth>,
    /// Dictionary reload (`POST /api/v1/admin/reload`); `None`: not offered.
    pub reload: Option<Arc<dyn DictionaryReload>>,
    /// The display zone (`[display] timezone`), seconds east of UTC: times
    /// in CSV exports are written in it.
    pub display_offset_secs: i32,
    /// Keyword watches (`/api/v1/watches`); `None`: not offered.
    pub watches: Option<Arc<dyn WatchAdmin>>,
}

/// `GET /api/v1/alerts`.
#[derive(serde::Serialize)]
struct AlertList {
    total: usize,
    alerts: Vec<acks::AlertView>,
}

/// `GET /api/v1/alerts/{id}`.
#[derive(serde::Serialize)]
struct AlertDetail {
    alert: acks::AlertView,
    acks: Vec<acks::AckView>,
    posts: yuqing_index::SearchResponse,
}

/// The display zone unless configured: Beijing time, seconds east of UTC.
pub const DEFAULT_DISPLAY_OFFSET_SECS: i32 = 8 * 3600;

/// Posts returned with one alert.
pub const ALERT_POSTS: usize = 50;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"error": {"code": self.code, "message": self.message}})),
        )
            .into_response()
    }
}

impl From<ParamError> for ApiError {
    fn from(e: ParamError) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.to_string())
    }
}

impl From<IndexError> for ApiError {
    fn from(e: IndexError) -> Self {
        match &e {
            IndexError::BadQuery { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.to_string())
            }
            IndexError::BadRequest { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.to_string())
            }
            _ => {
                tracing::error!(error = %e, "request failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the server failed to answer; see its log",
                )
            }
        }
    }
}

/// Runs blocking index work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "search task failed");
        Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed to answer; see its log",
        ))
    })
}

async fn search(
    State(s): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    let req = params::search(raw.as_deref(), &s.lexicon.load())?;
    let index = Arc::clone(&s.index);
    let res = blocking(move || index.search(&req).map_err(ApiError::from)).await?;
    Ok(Json(res))
}

async fn histogram(
    State(s): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    let req = params::histogram(raw.as_deref(), &s.lexicon.load())?;
    let index = Arc::clone(&s.index);
    let res = blocking(move || index.histogram(&req).map_err(ApiError::from)).await?;
    Ok(Json(res))
}

async fn facets(
    State(s): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    let req = params::facets(raw.as_deref(), &s.lexicon.load())?;
    let index = Arc::clone(&s.index);
    let res = blocking(move || index.facets(&req).map_err(ApiError::from)).await?;
    Ok(Json(res))
}

/// Bytes an export buffers before handing a chunk to the connection.
const EXPORT_CHUNK: usize = 64 * 1024;

async fn export_posts(
    State(s): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (req, format) = params::export(raw.as_deref(), &s.lexicon.load())?;
    // Check the query and filters (and count the matches) before the
    // answer starts: a bad one is still a 400.
    let probe = SearchRequest {
        q: req.q.clone(),
        filters: req.filters.clone(),
        sort: req.sort,
        limit: 1,
        offset: 0,
        cursor: None,
    };
    let index = Arc::clone(&s.index);
    let total = blocking(move || index.search(&probe).map_err(ApiError::from))
        .await?
        .total;
    let writer = export::RowWriter {
        format,
        offset_secs: s.display_offset_secs,
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let index = Arc::clone(&s.index);
    tokio::task::spawn_blocking(move || {
        let m = metrics();
        let rows = m.export_rows.with_label_values(&[format.as_str()]);
        let mut buf = Vec::with_capacity(EXPORT_CHUNK + 4096);
        writer.start(&mut buf);
        let outcome = index.export(&req, |post| {
            writer.row(post, &mut buf);
            rows.inc();
            if buf.len() >= EXPORT_CHUNK {
                let chunk = std::mem::replace(&mut buf, Vec::with_capacity(EXPORT_CHUNK + 4096));
                if tx.blocking_send(Ok(chunk)).is_err() {
                    return std::ops::ControlFlow::Break(());
                }
            }
            std::ops::ControlFlow::Continue(())
        });
        let result = match outcome {
            Ok(summary) if summary.complete => {
                if tx.blocking_send(Ok(buf)).is_err() {
                    "cancelled"
                } else {
                    "complete"
                }
            }
            Ok(_) => "cancelled",
            Err(e) => {
                tracing::error!(error = %e, "export failed");
                // An error item aborts the answer: the client sees it cut
                // short, not a file that looks complete.
                let _ = tx.blocking_send(Err(std::io::Error::other("export failed")));
                "failed"
            }
        };
        m.exports
            .with_label_values(&[format.as_str(), result])
            .inc();
        tracing::debug!(format = format.as_str(), outcome = result, "export");
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let filename = format!("yuqing-export.{}", format.as_str());
    let mut response = axum::body::Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&total.to_string()) {
        headers.insert("x-total-count", v);
    }
    Ok(response)
}

/// A `{id}` path segment; one that is not UTF-8 once percent-decoded is
/// a 400 naming it.
fn path_id(id: Result<Path<String>, PathRejection>, what: &str) -> Result<String, ApiError> {
    match id {
        Ok(Path(id)) => Ok(id),
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("{what} id in the path: {}", e.body_text()),
        )),
    }
}

async fn post(
    State(s): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(id, "post")?;
    if id.is_empty() || id.len() > yuqing_model::MAX_ID_BYTES {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("post id must be 1 to {} bytes", yuqing_model::MAX_ID_BYTES),
        ));
    }
    let index = Arc::clone(&s.index);
    let wanted = id.clone();
    let found = blocking(move || index.get(&wanted).map_err(ApiError::from)).await?;
    match found {
        Some(p) => Ok(Json(yuqing_index::PostView::from(p))),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no post with id `{id}`"),
        )),
    }
}

fn internal(what: &str) -> ApiError {
    tracing::error!("{what}");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the server failed to answer; see its log",
    )
}

async fn alerts(
    State(s): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    let q = params::alerts(raw.as_deref(), &s.lexicon.load())?;
    let mut store = s
        .alerts
        .lock()
        .map_err(|_| internal("the alert store is poisoned"))?;
    if let Err(e) = store.refresh() {
        tracing::warn!(error = %e, "could not reload the alert log");
    }
    let mut log = s
        .acks
        .lock()
        .map_err(|_| internal("the acknowledgement log is poisoned"))?;
    acks::refreshed(&mut log);
    let alerts: Vec<_> = store
        .list(&q, &log)
        .into_iter()
        .map(|a| acks::AlertView::new(a, &log))
        .collect();
    Ok(Json(AlertList {
        total: alerts.len(),
        alerts,
    }))
}

async fn alert(
    State(s): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(id, "alert")?;
    let found = {
        let mut store = s
            .alerts
            .lock()
            .map_err(|_| internal("the alert store is poisoned"))?;
        if let Err(e) = store.refresh() {
            tracing::warn!(error = %e, "could not reload the alert log");
        }
        store.get(&id).cloned()
    };
    let Some(alert) = found else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no alert with id `{id}`"),
        ));
    };
    // Its posts: the category (in the region) during the window, best
    // scores first; for a watch alert, the watch's query and filters.
    let req = watches::posts_of(&s, &alert).unwrap_or_else(|| SearchRequest {
        q: String::new(),
        filters: Filters {
            category: Some(alert.category.clone()),
            region: alert.region.clone(),
            from: Timestamp::parse_rfc3339(&alert.window_start).ok(),
            to: Timestamp::parse_rfc3339(&alert.window_end).ok(),
            ..Filters::default()
        },
        sort: Sort::Score,
        limit: ALERT_POSTS,
        offset: 0,
        cursor: None,
    });
    let index = Arc::clone(&s.index);
    let posts = blocking(move || index.search(&req).map_err(ApiError::from)).await?;
    let (alert, history) = {
        let mut log = s
            .acks
            .lock()
            .map_err(|_| internal("the acknowledgement log is poisoned"))?;
        acks::refreshed(&mut log);
        let history = acks::history(&log, &alert.alert_id);
        (acks::AlertView::new(alert, &log), history)
    };
    Ok(Json(AlertDetail {
        alert,
        acks: history,
        posts,
    }))
}

async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(s): State<AppState>) -> Response {
    match s.ready.as_ref().map_or(Ok(()), |check| check()) {
        Ok(()) => Json(json!({"status": "ready", "posts": s.index.num_docs()})).into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not_ready", "reason": reason})),
        )
            .into_response(),
    }
}

async fn metrics_text() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(yuqing_metrics::CONTENT_TYPE),
        )],
        yuqing_metrics::encode(),
    )
        .into_response()
}

async fn admin_reload(State(s): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let Some(reloader) = s.reload.clone() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "this process does not reload dictionaries",
        ));
    };
    let outcome = tokio::task::spawn_blocking(move || reloader.reload())
        .await
        .map_err(|_| internal("the reload task failed"))?;
    match outcome {
        Ok(report) => Ok(Json(json!({ "reloaded": report }))),
        Err(message) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_dictionaries",
            message,
        )),
    }
}

/// Why the token check refused a request.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    /// No valid token: 401.
    Unauthorized,
    /// An analyst token on an admin route: 403.
    Forbidden,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Unauthorized => {
                let mut r = ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "a valid bearer token is required",
                )
                .into_response();
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                r
            }
            Refusal::Forbidden => ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this needs an admin token",
            )
            .into_response(),
        }
    }
}

/// The token check for `/api/*` when tokens are configured: `Ok` with the
/// name of the token (none when the API is open or the path not under
/// `/api/`).
fn authorize(auth: &Auth, request: &Request) -> Result<Option<String>, Refusal> {
    let path = request.uri().path();
    if !path.starts_with("/api/") || !auth.enabled() {
        return Ok(None);
    }
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match auth.check(header) {
        None => Err(Refusal::Unauthorized),
        Some(t)
            if (path.starts_with("/api/v1/admin/") || watches::is_watch_path(path))
                && t.role != Role::Admin =>
        {
            Err(Refusal::Forbidden)
        }
        Some(t) => Ok(Some(t.name.clone())),
    }
}

/// Per request: a span, the request metrics, and (for `/api/v1/*`) the
/// token check.
async fn observe(State(s): State<AppState>, request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = request.method().clone();
    let span = tracing::debug_span!("request", %method, route = %route);
    let response = match authorize(&s.auth, &request) {
        Err(refused) => refused.into_response(),
        Ok(token) => {
            if let Some(name) = token {
                let _entered = span.enter();
                tracing::trace!(token = %name, "authorised");
            }
            tracing::Instrument::instrument(next.run(request), span.clone()).await
        }
    };
    let status = response.status();
    let elapsed = started.elapsed().as_secs_f64();
    let m = metrics();
    m.http_requests
        .with_label_values(&[route.as_str(), status.as_str()])
        .inc();
    m.http_duration
        .with_label_values(&[route.as_str()])
        .observe(elapsed);
    let _entered = span.enter();
    tracing::debug!(status = status.as_u16(), ms = elapsed * 1000.0, "request");
    response
}

/// Unknown routes: 404, after the token check (an unknown `/api/` path
/// says nothing to a client without a token).
async fn not_found(State(s): State<AppState>, request: Request) -> Response {
    if let Err(refused) = authorize(&s.auth, &request) {
        return refused.into_response();
    }
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no such route: {}", request.uri().path()),
    )
    .into_response()
}

/// Longest request target (path and query) answered by the API, bytes;
/// longer ones are a 414. (Beyond 64 KiB the HTTP layer answers 414
/// itself.)
pub const MAX_URI_BYTES: usize = 32 * 1024;
/// Most request headers; more are a 431.
pub const MAX_HEADERS: usize = 100;
/// Largest header block (names and values), bytes; larger is a 431.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

fn error_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        413 => "payload_too_large",
        414 => "uri_too_long",
        415 => "unsupported_media_type",
        431 => "headers_too_large",
        503 => "unavailable",
        s if s >= 500 => "internal",
        _ => "bad_request",
    }
}

/// Outermost: refuses over-long request targets (414) and header blocks
/// (431), and turns every error answer under `/api/` that is not already
/// the JSON error shape (a wrong method, an extractor's rejection) into it.
async fn json_errors(request: Request, next: Next) -> Response {
    let uri_bytes = request
        .uri()
        .path_and_query()
        .map_or(0, |p| p.as_str().len());
    if uri_bytes > MAX_URI_BYTES {
        return ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the request target is {uri_bytes} bytes, over the limit of {MAX_URI_BYTES}"),
        )
        .into_response();
    }
    let headers = request.headers();
    if headers.len() > MAX_HEADERS {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!(
                "the request has {} headers, over the limit of {MAX_HEADERS}",
                headers.len()
            ),
        )
        .into_response();
    }
    let header_bytes: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!(
                "the request headers are {header_bytes} bytes, over the limit of {MAX_HEADER_BYTES}"
            ),
        )
        .into_response();
    }
    let path = request.uri().path().to_string();
    let api = path.starts_with("/api/");
    let method = request.method().clone();
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !api || is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let message = if status == StatusCode::METHOD_NOT_ALLOWED {
        // The `Allow` header (added after this layer) lists the methods.
        format!("method {method} is not allowed on {path} (the Allow header lists those that are)")
    } else {
        let text = axum::body::to_bytes(body, 4096)
            .await
            .ok()
            .and_then(|b| String::from_utf8(b.to_vec()).ok())
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        text.unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string())
    };
    let body = json!({"error": {"code": error_code(status), "message": message}}).to_string();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, axum::body::Body::from(body))
}

async fn meta(State(s): State<AppState>) -> impl IntoResponse {
    let lexicon = s.lexicon.load();
    let categories: Vec<_> = lexicon
        .categories()
        .iter()
        .map(|c| json!({"id": c.id, "name_zh": c.name_zh, "name_en": c.name_en}))
        .collect();
    let regions: Vec<&str> = lexicon.regions().iter().map(|r| r.name.as_str()).collect();
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "categories": categories,
        "regions": regions,
        "levels": ["blue", "yellow", "orange", "red"],
        "display": {
            "timezone": yuqing_model::format_utc_offset(s.display_offset_secs),
            "offset_secs": s.display_offset_secs,
        },
    }))
}

fn api_routes() -> Router<AppState> {
    Router::new()
        .route("/", get(web::index))
        .route("/assets/app.js", get(web::app_js))
        .route("/assets/app.css", get(web::app_css))
        .route("/api/v1/meta", get(meta))
        .route("/api/v1/search", get(search))
        .route("/api/v1/histogram", get(histogram))
        .route("/api/v1/facets", get(facets))
        .route("/api/v1/posts/{id}", get(post))
        .route("/api/v1/export", get(export_posts))
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/alerts/{id}", get(alert))
        .route("/api/v1/alerts/{id}/ack", routing::post(acks::ack_alert))
        .route("/api/v1/admin/reload", routing::post(admin_reload))
        .merge(watches::routes())
}

fn ops_routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
}

fn finish(routes: Router<AppState>, state: AppState) -> Router {
    routes
        .fallback(not_found)
        .route_layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(middleware::from_fn(json_errors))
        .with_state(state)
}

/// Every route: the API and the operations routes (`/healthz`, `/readyz`,
/// `/metrics`).
pub fn router(state: AppState) -> Router {
    finish(api_routes().merge(ops_routes()), state)
}

/// The API alone, when the operations routes have a listener of their own.
pub fn api_router(state: AppState) -> Router {
    finish(api_routes(), state)
}

/// The operations routes alone (`/healthz`, `/readyz`, `/metrics`), never
/// behind a token.
pub fn ops_router(state: AppState) -> Router {
    finish(ops_routes(), state)
}

/// Serves the API on `listener` until `shutdown` completes, then lets
/// requests in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_router(listener, router(state), Limits::default(), shutdown).await
}

/// Serves `state` on `listener` until `stop` turns true. With `ops`, the
/// operations routes are served on that listener of their own and the
/// main one carries the API and the page alone ([`api_router`],
/// [`ops_router`]); a failure of the operations listener is logged and the
/// API keeps serving. Both listeners apply `limits`.
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    ops: Option<tokio::net::TcpListener>,
    state: AppState,
    limits: Limits,
    stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    async fn stopped(mut stop: tokio::sync::watch::Receiver<bool>) {
        let _ = stop.wait_for(|v| *v).await;
    }
    let Some(ops) = ops else {
        return serve_router(listener, router(state), limits, stopped(stop)).await;
    };
    let ops_server = serve_router(
        ops,
        ops_router(state.clone()),
        limits,
        stopped(stop.clone()),
    );
    let api_server = serve_router(listener, api_router(state), limits, stopped(stop));
    let (ops, api) = tokio::join!(ops_server, api_server);
    if let Err(e) = ops {
        tracing::error!(error = %e, "ops HTTP server failed");
    }
    api
}

/// Serves `router` (see [`api_router`], [`ops_router`]) on `listener`
/// with `limits` until `shutdown` completes, then lets the requests in
/// flight finish.
pub async fn serve_router(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    conn::serve(listener, router, limits, shutdown).await
}
