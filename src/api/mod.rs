//! The HTTP API (axum): health, metrics, status, the list, matching and the
//! incident pull API. `openapi.yaml` describes exactly [`ROUTES`]; a test
//! keeps the three (spec, table, router) equal.
//!
//! `/v1` routes take a bearer token when `api.token` is set. Errors are JSON
//! `{"error": "...", "detail": ...}`.

mod error;

pub use error::ApiError;

use crate::config::Secret;
use crate::domain::Fqdn;
use crate::generate::{Format, Fuzzer, GenerateOptions};
use crate::metrics::Metrics;
use crate::source::SourceState;
use crate::store::Store;
use crate::watchlist::WatchlistHandle;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// Every route the router serves: (method, path in OpenAPI syntax).
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/v1/status"),
    ("get", "/v1/lists/current"),
    ("post", "/v1/lists/reload"),
    ("post", "/v1/lists/generate"),
    ("get", "/v1/lists/generate/fuzzers"),
    ("post", "/v1/match"),
    ("get", "/v1/incidents"),
    ("get", "/v1/incidents/export"),
    ("get", "/v1/incidents/{id}"),
    ("get", "/v1/deliveries"),
    ("post", "/v1/deliveries/{id}/retry"),
];

/// Most names accepted by one `POST /v1/match`.
pub const MAX_MATCH_NAMES: usize = 1000;
/// Largest page of `GET /v1/incidents`.
pub const MAX_PAGE: usize = 1000;
/// Most domains one `POST /v1/lists/generate` takes.
pub const MAX_GENERATE_DOMAINS: usize = 100;
/// Largest `limit` per domain.
pub const MAX_GENERATE_LIMIT: usize = 100_000;
/// Most variants one generate response holds (all domains together).
pub const MAX_GENERATE_OUTPUT: usize = 1_000_000;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub watchlist: WatchlistHandle,
    pub metrics: Arc<Metrics>,
    pub source: SourceState,
    pub sinks: Vec<String>,
    pub token: Secret,
    pub started_at: u64,
    /// Where `save_as` stores generated lists (the list source's XSOAR).
    pub xsoar: crate::config::XsoarListSettings,
    pub client: reqwest::Client,
    /// One per sink worker, in `sinks` order: wakes it when work is queued.
    pub wakes: Vec<Arc<tokio::sync::Notify>>,
}

pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    let v1 = Router::new()
        .route("/status", get(status))
        .route("/lists/current", get(current_list))
        .route("/lists/reload", post(reload_list))
        .route("/lists/generate", post(generate_list))
        .route("/lists/generate/fuzzers", get(list_fuzzers))
        .route("/match", post(match_names))
        .route("/incidents", get(list_incidents))
        .route("/incidents/export", get(export_incidents))
        .route("/incidents/{id}", get(get_incident))
        .route("/deliveries", get(list_deliveries))
        .route("/deliveries/{id}/retry", post(retry_delivery))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_token,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .nest("/v1", v1)
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .layer(axum::extract::DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if state.token.is_empty() {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if constant_time_eq(given.as_bytes(), state.token.expose().as_bytes()) {
        next.run(req).await
    } else {
        ApiError::Unauthorized.into_response()
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(state): State<AppState>) -> Response {
    let list = state.watchlist.status();
    let loaded = list.loaded_at.is_some();
    let body = json!({
        "ready": loaded,
        "list_loaded": loaded,
        "list_error": list.last_error,
        "degraded": list.last_error.is_some(),
    });
    let status = if loaded {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let store = state.store.clone();
    let outbox = tokio::task::spawn_blocking(move || store.outbox_counts()).await??;
    let text = state.metrics.render(&state.watchlist.status(), &outbox);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

async fn status(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let store = state.store.clone();
    let (outbox, incidents, positions) = tokio::task::spawn_blocking(move || {
        Ok::<_, crate::store::StoreError>((
            store.outbox_counts()?,
            store.incident_count()?,
            store.ct_positions()?,
        ))
    })
    .await??;
    let ct_logs: Vec<serde_json::Value> = positions
        .into_iter()
        .map(|(log, next, size, updated)| {
            json!({"log": log, "next_index": next, "tree_size": size,
                   "behind": size.saturating_sub(next), "updated_ms": updated})
        })
        .collect();
    let mut sinks = Vec::new();
    for name in &state.sinks {
        let c = outbox.iter().find(|c| &c.sink == name);
        sinks.push(json!({
            "name": name,
            "pending": c.map_or(0, |c| c.pending),
            "failed": c.map_or(0, |c| c.failed),
        }));
    }
    let m = &state.metrics;
    let get = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    Ok(Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "started_at": state.started_at,
        "source": state.source.get(),
        "list": state.watchlist.status(),
        "incidents": incidents,
        "sinks": sinks,
        "ct_logs": ct_logs,
        "counters": {
            "frames": get(&m.frames),
            "bad_frames": get(&m.bad_frames),
            "reconnects": get(&m.reconnects),
            "names_checked": get(&m.names_checked),
            "incidents_new": get(&m.incidents_new),
            "deliveries_ok": get(&m.deliveries_ok),
            "deliveries_failed": get(&m.deliveries_failed),
            "ct_entries": get(&m.ct_entries),
            "ct_bad_entries": get(&m.ct_bad_entries),
            "ct_request_errors": get(&m.ct_request_errors),
            "ct_tree_heads_refused": get(&m.ct_tree_heads_refused),
            "ct_tree_mismatches": get(&m.ct_tree_mismatches),
            "ct_tree_checks": get(&m.ct_tree_checks),
            "stream_clients": get(&m.stream_clients),
            "stream_clients_dropped": get(&m.stream_clients_dropped),
        }
    })))
}

async fn current_list(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let list = state
        .watchlist
        .current_list()
        .ok_or_else(|| ApiError::Unavailable("no list loaded yet".into()))?;
    Ok(Json(list.to_json()))
}

async fn reload_list(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    match state.watchlist.reload().await {
        Ok(status) => Ok(Json(json!({"reloaded": true, "list": status}))),
        Err(e) => Err(ApiError::Unprocessable {
            error: "list reload failed; the last good list stays active".into(),
            detail: e.to_string(),
        }),
    }
}

/// Parse a JSON body ourselves so malformed requests get our JSON errors.
fn json_body<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let bytes = body.map_err(|r| match r.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge,
        _ => ApiError::BadRequest(r.body_text()),
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MatchRequest {
    names: Vec<String>,
}

async fn match_names(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let req: MatchRequest = json_body(body)?;
    if req.names.is_empty() {
        return Err(ApiError::BadRequest("names must not be empty".into()));
    }
    if req.names.len() > MAX_MATCH_NAMES {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_MATCH_NAMES} names per request"
        )));
    }
    let matcher = state
        .watchlist
        .snapshot()
        .ok_or_else(|| ApiError::Unavailable("no list loaded yet".into()))?;
    let results: Vec<serde_json::Value> = req
        .names
        .iter()
        .map(|raw| match_one(&matcher, raw))
        .collect();
    Ok(Json(json!({"results": results})))
}

/// One name's verdict in the shape `POST /v1/match` and `certsentry match` print.
pub fn match_one(matcher: &crate::matcher::Matcher, raw: &str) -> serde_json::Value {
    match Fqdn::parse(raw) {
        Err(e) => json!({"name": raw, "matched": false, "error": e.to_string()}),
        Ok(name) => {
            let own = matcher.is_own(&name);
            let verdicts = matcher.match_name(&name);
            let best = verdicts.first();
            json!({
                "name": raw,
                "domain": name.ascii(),
                "domain_unicode": name.unicode(),
                "registrable_domain": name.registrable_domain_ascii(),
                "matched": best.is_some(),
                "own_domain": own,
                "brand": best.map(|v| v.brand.clone()),
                "kind": best.map(|v| v.detail.kind.as_str()),
                "score": best.map(|v| v.score),
                "severity": best.map(|v| v.severity),
                "explanation": best.map(|v| v.detail.explanation.clone()),
                "verdicts": verdicts,
            })
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IncidentQuery {
    after: Option<String>,
    limit: Option<usize>,
    brand: Option<String>,
    severity: Option<String>,
    kind: Option<String>,
    /// RFC 3339: incidents first seen at or after.
    since: Option<String>,
    /// Export only: `jsonl` (default) or `csv`.
    format: Option<String>,
}

impl IncidentQuery {
    fn filter(&self) -> Result<crate::store::IncidentFilter, ApiError> {
        crate::export::parse_filter(
            self.brand.clone(),
            self.severity.clone(),
            self.kind.clone(),
            self.since.as_deref(),
        )
        .map_err(ApiError::BadRequest)
    }
}

fn query<T>(q: Result<Query<T>, axum::extract::rejection::QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::BadRequest(e.body_text()))
}

async fn list_incidents(
    State(state): State<AppState>,
    q: Result<Query<IncidentQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let q = query(q)?;
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::BadRequest(format!(
            "limit must be 1 to {MAX_PAGE}"
        )));
    }
    if let Some(after) = &q.after
        && after.parse::<ulid::Ulid>().is_err()
    {
        return Err(ApiError::BadRequest("after must be an incident id".into()));
    }
    if q.format.is_some() {
        return Err(ApiError::BadRequest(
            "format is for /v1/incidents/export".into(),
        ));
    }
    let filter = q.filter()?;
    let store = state.store.clone();
    let after = q.after.clone();
    let page = tokio::task::spawn_blocking(move || {
        store.incidents_where(&filter, after.as_deref(), limit)
    })
    .await??;
    let next = if page.len() == limit {
        page.last().map(|i| i.id.clone())
    } else {
        None
    };
    Ok(Json(json!({"incidents": page, "next": next})))
}

/// Every matching incident as JSON Lines or CSV, streamed page by page.
async fn export_incidents(
    State(state): State<AppState>,
    q: Result<Query<IncidentQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    if q.after.is_some() || q.limit.is_some() {
        return Err(ApiError::BadRequest(
            "export takes no after/limit: it returns every matching incident".into(),
        ));
    }
    let format: crate::export::ExportFormat = q
        .format
        .as_deref()
        .unwrap_or("jsonl")
        .parse()
        .map_err(ApiError::BadRequest)?;
    let filter = q.filter()?;
    let store = state.store.clone();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        let result = crate::export::export(&store, &filter, format, |chunk| {
            tx.blocking_send(Ok(chunk)).is_ok()
        });
        if let Err(e) = result {
            tracing::error!(error = %e, "incident export failed");
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    let body = axum::body::Body::from_stream(tokio_stream_from(rx));
    let ext = match format {
        crate::export::ExportFormat::Jsonl => "jsonl",
        crate::export::ExportFormat::Csv => "csv",
    };
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"certsentry-incidents.{ext}\""),
            ),
        ],
        body,
    )
        .into_response())
}

fn tokio_stream_from<T: Send + 'static>(
    rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + 'static {
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveryQuery {
    state: Option<String>,
    sink: Option<String>,
    after: Option<i64>,
    limit: Option<usize>,
}

async fn list_deliveries(
    State(state): State<AppState>,
    q: Result<Query<DeliveryQuery>, axum::extract::rejection::QueryRejection>,
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
    let store = state.store.clone();
    let after = q.after.unwrap_or(0);
    let page = tokio::task::spawn_blocking(move || {
        store.deliveries(q.state.as_deref(), q.sink.as_deref(), after, limit)
    })
    .await??;
    let next = if page.len() == limit {
        page.last().map(|d| d.id)
    } else {
        None
    };
    Ok(Json(json!({"deliveries": page, "next": next})))
}

async fn retry_delivery(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::BadRequest("delivery id must be a number".into()))?;
    let store = state.store.clone();
    let outcome =
        tokio::task::spawn_blocking(move || store.retry_delivery(id, std::time::SystemTime::now()))
            .await??;
    match outcome {
        crate::store::Requeue::Requeued => {
            tracing::info!(delivery = id, "failed delivery requeued by API");
            for wake in &state.wakes {
                wake.notify_one();
            }
            Ok(Json(json!({"id": id, "state": "pending"})))
        }
        crate::store::Requeue::NotFailed => Err(ApiError::Conflict(format!(
            "delivery {id} is pending, not failed"
        ))),
        crate::store::Requeue::NotFound => Err(ApiError::NotFound(format!("no delivery {id}"))),
    }
}

async fn get_incident(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let store = state.store.clone();
    let lookup = id.clone();
    let incident = tokio::task::spawn_blocking(move || store.incident(&lookup))
        .await??
        .ok_or_else(|| ApiError::NotFound(format!("no incident {id}")))?;
    Ok(Json(
        serde_json::to_value(incident).map_err(|e| ApiError::Internal(e.to_string()))?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GenerateRequest {
    domains: Vec<String>,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    fuzzers: Option<Vec<String>>,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    include_unicode: Option<bool>,
    #[serde(default)]
    include_punycode: Option<bool>,
    /// Store the list in XSOAR under this name.
    #[serde(default)]
    save_as: Option<String>,
}

#[derive(Deserialize)]
struct GenerateQuery {
    #[serde(default)]
    explain: bool,
}

async fn list_fuzzers() -> Json<serde_json::Value> {
    let fuzzers: Vec<serde_json::Value> = Fuzzer::ALL
        .iter()
        .map(|f| json!({"name": f.name(), "family": f.family(), "description": f.description()}))
        .collect();
    Json(json!({"fuzzers": fuzzers}))
}

async fn generate_list(
    State(state): State<AppState>,
    query: Result<Query<GenerateQuery>, axum::extract::rejection::QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let req: GenerateRequest = json_body(body)?;
    if req.domains.is_empty() {
        return Err(ApiError::BadRequest("domains must not be empty".into()));
    }
    if req.domains.len() > MAX_GENERATE_DOMAINS {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_GENERATE_DOMAINS} domains per request"
        )));
    }
    let format: Format = match req.format.as_deref() {
        None => Format::Domains,
        Some(f) => f.parse().map_err(ApiError::BadRequest)?,
    };
    if let Some(limit) = req.limit
        && !(1..=MAX_GENERATE_LIMIT).contains(&limit)
    {
        return Err(ApiError::BadRequest(format!(
            "limit must be 1 to {MAX_GENERATE_LIMIT}"
        )));
    }
    let fuzzers = crate::generate::parse_fuzzers(req.fuzzers.as_deref().unwrap_or(&[]))
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    for d in &req.domains {
        crate::generate::parse_domain(d).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    }
    if let Some(name) = &req.save_as {
        if name.trim().is_empty() {
            return Err(ApiError::BadRequest("save_as must not be empty".into()));
        }
        if state.xsoar.base_url.is_empty() {
            return Err(ApiError::BadRequest(
                "save_as needs XSOAR configured (watchlist.xsoar.base_url)".into(),
            ));
        }
    }
    let opts = GenerateOptions {
        fuzzers,
        format,
        limit: req.limit,
        include_unicode: req.include_unicode.unwrap_or(true),
        include_punycode: req.include_punycode.unwrap_or(true),
    };
    let domains = req.domains.clone();
    let explain = q.explain;
    let list = tokio::task::spawn_blocking(move || {
        crate::generate::build_list(&domains, &opts, explain, |_| {})
    })
    .await?
    .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let total: usize = list.as_object().map_or(0, |m| {
        m.values().filter_map(|v| v.as_array()).map(Vec::len).sum()
    });
    if total > MAX_GENERATE_OUTPUT {
        return Err(ApiError::BadRequest(format!(
            "the list would hold {total} entries, more than {MAX_GENERATE_OUTPUT}: lower limit or send fewer domains"
        )));
    }
    let Some(name) = req.save_as else {
        return Ok(Json(list));
    };
    let data = list.to_string();
    let chars = data.chars().count();
    if chars > crate::watchlist::XSOAR_LIST_MAX_CHARS {
        return Err(ApiError::TooLargeFor(format!(
            "the list is {chars} characters; an XSOAR list holds at most {}: lower limit, pick fewer fuzzers or use format=labels",
            crate::watchlist::XSOAR_LIST_MAX_CHARS
        )));
    }
    crate::watchlist::save_xsoar_list(&state.xsoar, &state.client, &name, &data)
        .await
        .map_err(|e| ApiError::BadGateway(e.to_string()))?;
    Ok(Json(
        json!({"list": list, "saved": {"name": name, "characters": chars}}),
    ))
}
