//! `GET /healthz`, `GET /readyz` and `GET /metrics`.

use super::{ApiError, AppState};
use crate::metrics::Family;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub(super) async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

pub(super) async fn readyz(State(state): State<AppState>) -> Response {
    let list = state.snapshots.status();
    let loaded = list.loaded_at.is_some();
    let store_ok = !state.metrics.store_unavailable();
    let ready = loaded && store_ok;
    let body = json!({
        "ready": ready,
        "list_loaded": loaded,
        "list_error": list.last_error,
        "store_writable": store_ok,
        "degraded": list.last_error.is_some() || !store_ok,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

pub(super) async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let outbox = state.store.outbox_counts().await?;
    let usage = state.store.usage().await?;
    let list = state.snapshots.status();
    let per_sink = |value: fn(&crate::store::OutboxCounts) -> u64| {
        outbox
            .iter()
            .map(|c| (Some(("sink", c.sink.clone())), value(c)))
            .collect()
    };
    let one = |value: u64| vec![(None, value)];
    let gauges = [
        Family {
            name: "certsentry_deliveries_pending",
            help: "deliveries waiting in the outbox",
            samples: per_sink(|c| c.pending),
        },
        Family {
            name: "certsentry_deliveries_failed",
            help: "deliveries failed and kept",
            samples: per_sink(|c| c.failed),
        },
        Family {
            name: "certsentry_store_unavailable",
            help: "1 while the store refuses writes and intake is held",
            samples: one(u64::from(state.metrics.store_unavailable())),
        },
        Family {
            name: "certsentry_store_bytes",
            help: "size of the SQLite store, its write-ahead log included",
            samples: one(usage.bytes),
        },
        Family {
            name: "certsentry_store_incidents",
            help: "incidents kept in the store",
            samples: one(usage.incidents),
        },
        Family {
            name: "certsentry_store_outbox_rows",
            help: "rows in the delivery outbox (pending and failed)",
            samples: one(usage.outbox_rows),
        },
        Family {
            name: "certsentry_list_brands",
            help: "protected domains in the active list",
            samples: one(list.brands as u64),
        },
        Family {
            name: "certsentry_list_variants",
            help: "variants in the active list",
            samples: one(list.variants as u64),
        },
        Family {
            name: "certsentry_list_last_reload_timestamp_seconds",
            help: "unix time of the last good list load",
            samples: one(list.loaded_at.unwrap_or(0)),
        },
        Family {
            name: "certsentry_list_reload_failures_total",
            help: "list loads that failed",
            samples: one(list.reloads_failed),
        },
        Family {
            name: "certsentry_list_error",
            help: "1 when the last list load failed",
            samples: one(u64::from(list.last_error.is_some())),
        },
    ];
    let text = state.metrics.render(&gauges);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}
