//! Keyword watches as the API sees them (`/api/v1/watches`, admin token):
//! something that lists, adds and removes watches; the process that
//! evaluates them (the pipeline's watch registry) provides it, and a
//! change takes effect there without a restart. The server only checks the
//! request's shape and turns the answers into HTTP.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get};
use serde_json::{Value, json};
use yuqing_index::{Filters, SearchRequest, Sort};
use yuqing_model::Timestamp;

use crate::{ApiError, AppState, internal, path_id};

/// Largest request body of `POST /api/v1/watches`, bytes.
pub const MAX_WATCH_BODY: usize = 16 * 1024;

/// Why a watch change was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchRefusal {
    /// Not a valid watch (400; the message names the watch and the problem).
    Invalid(String),
    /// A watch of that name exists, or the watch comes from the
    /// configuration (409).
    Conflict(String),
    /// No watch of that name (404).
    NotFound(String),
    /// The change could not be kept (500).
    Failed(String),
}

/// The watches of a process. Blocking calls (a change writes a file): the
/// routes call them off the async threads.
pub trait WatchAdmin: Send + Sync {
    /// Every watch, each an object with its keys and `origin`
    /// (`config` or `api`).
    fn list(&self) -> Vec<Value>;
    /// Adds the watch `body` describes; answers it as stored.
    fn create(&self, body: Value) -> Result<Value, WatchRefusal>;
    /// Removes the watch named `name`.
    fn delete(&self, name: &str) -> Result<(), WatchRefusal>;
}

impl From<WatchRefusal> for ApiError {
    fn from(r: WatchRefusal) -> Self {
        match r {
            WatchRefusal::Invalid(m) => ApiError::new(StatusCode::BAD_REQUEST, "bad_watch", m),
            WatchRefusal::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            WatchRefusal::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, "not_found", m),
            WatchRefusal::Failed(m) => internal(&m),
        }
    }
}

fn admin(s: &AppState) -> Result<std::sync::Arc<dyn WatchAdmin>, ApiError> {
    s.watches.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "this process does not evaluate watches (they live in `yuqing run`)",
        )
    })
}

async fn off_thread<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, WatchRefusal> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| internal("the watch task failed"))?
        .map_err(ApiError::from)
}

async fn list(State(s): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let admin = admin(&s)?;
    let watches = off_thread(move || Ok(admin.list())).await?;
    Ok(Json(json!({"total": watches.len(), "watches": watches})))
}

async fn create(State(s): State<AppState>, body: Bytes) -> Result<impl IntoResponse, ApiError> {
    let admin = admin(&s)?;
    if body.len() > MAX_WATCH_BODY {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "the body is {} bytes, over the limit of {MAX_WATCH_BODY}",
                body.len()
            ),
        ));
    }
    let value: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("the body is not JSON: {e}"),
        )
    })?;
    if !value.is_object() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the body must be a JSON object: {\"name\", \"query\", ...}",
        ));
    }
    let stored = off_thread(move || admin.create(value)).await?;
    Ok((StatusCode::CREATED, Json(json!({ "watch": stored }))))
}

async fn remove(
    State(s): State<AppState>,
    name: Result<Path<String>, PathRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let admin = admin(&s)?;
    let name = path_id(name, "watch")?;
    let deleted = name.clone();
    off_thread(move || admin.delete(&name)).await?;
    Ok(Json(json!({ "deleted": deleted })))
}

/// `/api/v1/watches` and `/api/v1/watches/{name}`.
pub(crate) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/api/v1/watches", get(list).post(create))
        .route("/api/v1/watches/{name}", delete(remove))
}

/// Whether `path` is a watch route (they need an admin token).
pub(crate) fn is_watch_path(path: &str) -> bool {
    path == "/api/v1/watches" || path.starts_with("/api/v1/watches/")
}

/// The posts of a watch alert: the watch's query and filters during the
/// alert's window (`None` for other alerts, or a watch no longer there).
pub(crate) fn posts_of(s: &AppState, alert: &yuqing_spike::Alert) -> Option<SearchRequest> {
    if alert.trigger != yuqing_spike::Trigger::Watch {
        return None;
    }
    let name = alert.watch.as_deref()?;
    let watch = s
        .watches
        .as_ref()?
        .list()
        .into_iter()
        .find(|w| w["name"] == name)?;
    let text = |key: &str| watch[key].as_str().map(str::to_string);
    let from = Timestamp::parse_rfc3339(&alert.window_start).ok();
    // The window's end is the latest report: include it.
    let to = Timestamp::parse_rfc3339(&alert.window_end)
        .ok()
        .and_then(|t| Timestamp::from_millis(t.as_millis() + 1).ok());
    Some(SearchRequest {
        q: text("query")?,
        filters: Filters {
            category: text("category"),
            region: alert.region.clone().or_else(|| text("region")),
            level: text("level").and_then(|l| l.parse().ok()),
            from,
            to,
            ..Filters::default()
        },
        sort: Sort::Score,
        limit: crate::ALERT_POSTS,
        offset: 0,
        cursor: None,
    })
}
