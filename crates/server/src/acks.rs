//! Acknowledgements over HTTP: `POST /api/v1/alerts/{id}/ack`, and the
//! `ack` (latest) and `acks` (history) the alert routes show.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Serialize;
use serde_json::{Map, Value};
use yuqing_alertlog::{Ack, AckLog};
use yuqing_metrics::metrics;
use yuqing_model::Timestamp;
use yuqing_spike::Alert;

use crate::{ApiError, AppState, blocking, internal, path_id};

/// An acknowledgement as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AckView {
    by: String,
    verdict: &'static str,
    note: Option<String>,
    at: String,
}

impl From<&Ack> for AckView {
    fn from(a: &Ack) -> Self {
        AckView {
            by: a.by.clone(),
            verdict: a.verdict.as_str(),
            note: a.note.clone(),
            at: a.at.clone(),
        }
    }
}

/// An alert message with its latest acknowledgement (`null`: none).
#[derive(Serialize)]
pub(crate) struct AlertView {
    #[serde(flatten)]
    alert: Alert,
    ack: Option<AckView>,
}

impl AlertView {
    pub(crate) fn new(alert: Alert, acks: &AckLog) -> AlertView {
        let ack = acks.latest(&alert.alert_id).map(AckView::from);
        AlertView { alert, ack }
    }
}

/// Every acknowledgement of an alert, oldest first.
pub(crate) fn history(acks: &AckLog, alert_id: &str) -> Vec<AckView> {
    acks.history(alert_id).iter().map(AckView::from).collect()
}

/// Reads the lines other processes appended; a failure is logged and the
/// log answers with what it holds.
pub(crate) fn refreshed(acks: &mut AckLog) {
    if let Err(e) = acks.refresh() {
        tracing::warn!(error = %e, "could not reload the acknowledgement log");
    }
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
}

/// The body's string field `name` (`null` or absent: `None`).
fn string_field<'a>(body: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(format!("field `{name}`: must be a string"))),
    }
}

/// `POST /api/v1/alerts/{id}/ack` with `{"by", "verdict", "note"}`: 201
/// with the acknowledgement recorded and the alert's history; 400 naming
/// the field; 404 for an alert the log does not hold.
pub(crate) async fn ack_alert(
    State(s): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(id, "alert")?;
    let value: Value = serde_json::from_slice(&body).map_err(|e| {
        bad(format!(
            "the body must be a JSON object {{\"by\", \"verdict\", \"note\"}}: {e}"
        ))
    })?;
    let Value::Object(fields) = value else {
        return Err(bad(
            "the body must be a JSON object {\"by\", \"verdict\", \"note\"}",
        ));
    };
    if let Some(unknown) = fields
        .keys()
        .find(|k| !["by", "verdict", "note"].contains(&k.as_str()))
    {
        return Err(bad(format!(
            "field `{unknown}`: unknown (known: by, verdict, note)"
        )));
    }
    let by = string_field(&fields, "by")?
        .ok_or_else(|| bad("field `by`: required (who acknowledges)"))?;
    let verdict = string_field(&fields, "verdict")?.ok_or_else(|| {
        bad("field `verdict`: required (confirmed, false_alarm, duplicate or monitoring)")
    })?;
    let note = string_field(&fields, "note")?;
    let now = Timestamp::now();
    let ack = Ack::new(&id, by, verdict, note, now.to_string()).map_err(|e| bad(e.to_string()))?;

    let alerts = Arc::clone(&s.alerts);
    let acks = Arc::clone(&s.acks);
    blocking(move || {
        let (category, opened_at) = {
            let mut store = alerts
                .lock()
                .map_err(|_| internal("the alert store is poisoned"))?;
            if let Err(e) = store.refresh() {
                tracing::warn!(error = %e, "could not reload the alert log");
            }
            let Some(alert) = store.get(&ack.alert_id) else {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    format!("no alert with id `{}`", ack.alert_id),
                ));
            };
            (
                alert.category.clone(),
                store.opened_at(&ack.alert_id).map(str::to_string),
            )
        };
        let mut log = acks
            .lock()
            .map_err(|_| internal("the acknowledgement log is poisoned"))?;
        refreshed(&mut log);
        let first = log.history(&ack.alert_id).is_empty();
        log.append(&ack).map_err(|e| {
            tracing::error!(error = %e, "could not record an acknowledgement");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the acknowledgement could not be recorded; see the server's log",
            )
        })?;
        let m = metrics();
        m.alert_verdicts
            .with_label_values(&[category.as_str(), ack.verdict.as_str()])
            .inc();
        if first && let Some(opened) = opened_at.and_then(|t| Timestamp::parse_rfc3339(&t).ok()) {
            let ms = (now.as_millis() - opened.as_millis()).max(0);
            m.alert_ack_seconds.observe(ms as f64 / 1000.0);
        }
        tracing::info!(
            alert_id = %ack.alert_id,
            by = %ack.by,
            verdict = ack.verdict.as_str(),
            "alert acknowledged"
        );
        Ok((
            StatusCode::CREATED,
            Json(serde_json::json!({
                "alert_id": ack.alert_id,
                "ack": AckView::from(&ack),
                "acks": history(&log, &ack.alert_id),
            })),
        ))
    })
    .await
}
