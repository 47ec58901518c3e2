//! `GET /v1/deliveries` (outbox rows, pending or failed) and `POST
//! /v1/deliveries/{id}/retry`.

use super::extract::query;
use super::{ApiError, AppState, MAX_PAGE};
use crate::store::Requeue;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DeliveryQuery {
    state: Option<String>,
    sink: Option<String>,
    after: Option<i64>,
    limit: Option<usize>,
}

pub(super) async fn list(
    State(state): State<AppState>,
    q: Result<Query<DeliveryQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let q = query(q)?;
    if let Some(s) = &q.state
        && !["pending", "failed"].contains(&s.as_str())
    {
        return Err(ApiError::BadRequest(
            "state must be pending or failed (delivered rows leave the outbox)".into(),
        ));
    }
    if let Some(sink) = &q.sink
        && !state.sinks.contains(sink)
    {
        return Err(ApiError::BadRequest(format!("no sink named {sink:?}")));
    }
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::BadRequest(format!(
            "limit must be 1 to {MAX_PAGE}"
        )));
    }
    let after = q.after.unwrap_or(0);
    let page = state
        .store
        .deliveries(q.state, q.sink, after, limit)
        .await?;
    let next = if page.len() == limit {
        page.last().map(|d| d.id)
    } else {
        None
    };
    Ok(Json(json!({"deliveries": page, "next": next})))
}

pub(super) async fn retry(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::BadRequest("delivery id must be a number".into()))?;
    let outcome = state
        .store
        .retry_delivery(id, std::time::SystemTime::now())
        .await?;
    match outcome {
        Requeue::Requeued => {
            tracing::info!(delivery = id, "failed delivery requeued by API");
            for wake in &state.wakes {
                wake.notify_one();
            }
            Ok(Json(json!({"id": id, "state": "pending"})))
        }
        Requeue::NotFailed => Err(ApiError::Conflict(format!(
            "delivery {id} is pending, not failed"
        ))),
        Requeue::NotFound => Err(ApiError::NotFound(format!("no delivery {id}"))),
    }
}
