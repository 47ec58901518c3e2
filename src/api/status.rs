//! `GET /v1/status`: the source, the list, the incidents, each sink's
//! outbox, the CT logs' positions, the enrichment jobs and every counter.
//! `GET /v1/status/history`: incidents per hour and names per second.

use super::{ApiError, AppState};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde_json::json;
use std::sync::atomic::Ordering;

pub(super) async fn status(
    State(state): State<AppState>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let outbox = state.store.outbox_counts().await?;
    let positions = state.store.ct_positions().await?;
    let enrichment = state.store.enrich_counts().await?;
    // one count of the incidents (`incidents` and `store.incidents`)
    let usage = state.store.usage().await?;
    let incidents = usage.incidents;
    let ct_logs: Vec<serde_json::Value> = positions
        .into_iter()
        .map(|p| {
            json!({"log": p.log, "next_index": p.next_index, "tree_size": p.tree_size,
                   "behind": p.tree_size.saturating_sub(p.next_index), "updated_ms": p.updated_ms})
        })
        .collect();
    let sinks: Vec<serde_json::Value> = state
        .sinks
        .iter()
        .map(|name| {
            let c = outbox.iter().find(|c| &c.sink == name);
            json!({
                "name": name,
                "pending": c.map_or(0, |c| c.pending),
                "failed": c.map_or(0, |c| c.failed),
            })
        })
        .collect();
    let mut counters: serde_json::Map<String, serde_json::Value> = state
        .metrics
        .counters()
        .into_iter()
        .map(|c| (c.key.to_owned(), c.value.into()))
        .collect();
    counters.insert(
        "stream_clients".into(),
        state.metrics.stream_clients.load(Ordering::Relaxed).into(),
    );
    let bus = match &state.cluster {
        Some(cluster) => cluster.status().await,
        None => serde_json::Value::Null,
    };
    let mut enrichment = serde_json::to_value(enrichment).unwrap_or_default();
    enrichment["enrichers"] = json!(state.metrics.enrichers());
    Ok(Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "started_at": state.started_at,
        "source": state.source.get(),
        "list": state.snapshots.status(),
        "incidents": incidents,
        "sinks": sinks,
        "ct_logs": ct_logs,
        "enrichment": enrichment,
        "store": usage,
        "counters": counters,
        "bus": bus,
    })))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HistoryQuery {
    hours: Option<u32>,
}

/// `GET /v1/status/history?hours=24` (1 to 48).
pub(super) async fn history(
    State(state): State<AppState>,
    q: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Json<crate::store::History>, ApiError> {
    let q = super::extract::query(q)?;
    let hours = q.hours.unwrap_or(24);
    if !(1..=48).contains(&hours) {
        return Err(ApiError::BadRequest("hours must be 1 to 48".into()));
    }
    let h = state
        .store
        .history(crate::model::Timestamp::now(), hours)
        .await?;
    Ok(Json(h))
}
