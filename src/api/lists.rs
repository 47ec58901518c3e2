//! `GET /v1/lists/current`, `PUT /v1/lists/current` (list sync from a SOAR),
//! `POST /v1/lists/reload`, `POST
//! /v1/lists/generate` (optionally saved as an XSOAR list) and `GET
//! /v1/lists/generate/fuzzers`.

use super::extract::json_body;
use super::{ApiError, AppState};
use crate::generate::{Format, Fuzzer, GenerateOptions};
use crate::watchlist::{LoadError, XSOAR_LIST_MAX_CHARS, save_xsoar_list};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::json;

/// Most domains one `POST /v1/lists/generate` takes.
pub(super) const MAX_GENERATE_DOMAINS: usize = 100;
/// Largest `limit` per domain.
pub(super) const MAX_GENERATE_LIMIT: usize = 100_000;
/// Most variants one generate response holds (all domains together).
pub(super) const MAX_GENERATE_OUTPUT: usize = 1_000_000;

pub(super) async fn current(
    State(state): State<AppState>,
    query: Result<Query<ReplaceQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if let Some(tenant) = &query.tenant {
        // one tenant's own list, as its source gave it
        return state
            .snapshots
            .tenant_list(tenant)
            .map(Json)
            .ok_or_else(|| {
                ApiError::NotFound(format!("no list of a tenant {tenant:?} is loaded"))
            });
    }
    let list = state
        .snapshots
        .current_list()
        .ok_or_else(|| ApiError::Unavailable("no list loaded yet".into()))?;
    Ok(Json(list.to_json()))
}

/// `PUT /v1/lists/current`: the body is the list JSON, checked like a
/// reload; kept in `watchlist.path` and published. The body limit is
/// `watchlist.max_bytes` (set on the route).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReplaceQuery {
    /// With `[[tenants]]`: whose list.
    tenant: Option<String>,
}

pub(super) async fn replace(
    State(state): State<AppState>,
    query: Result<Query<ReplaceQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let body = body.map_err(|e| match e.status() {
        axum::http::StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLargeFor(format!(
            "the list is larger than watchlist.max_bytes ({} bytes)",
            state.snapshots.max_bytes()
        )),
        _ => ApiError::BadRequest(e.body_text()),
    })?;
    let text = String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::BadRequest("the list must be UTF-8 JSON".into()))?;
    drop(body);
    let replaced = match &query.tenant {
        Some(tenant) => state.snapshots.replace_tenant(tenant, text).await,
        None => state.snapshots.replace(text).await,
    };
    match replaced {
        Ok(status) => Ok(Json(json!({"replaced": true, "list": status}))),
        Err(e @ (LoadError::NotKept(_) | LoadError::TenantNeeded)) => {
            Err(ApiError::Conflict(e.to_string()))
        }
        Err(e @ LoadError::UnknownTenant(_)) => Err(ApiError::NotFound(e.to_string())),
        Err(e @ (LoadError::Invalid(_) | LoadError::TooLarge(_))) => Err(ApiError::Unprocessable {
            error: "list refused; the last good list stays active".into(),
            detail: e.to_string(),
        }),
        Err(e) => {
            tracing::error!(error = %e, "pushed list could not be kept");
            Err(ApiError::Internal(e.to_string()))
        }
    }
}

pub(super) async fn reload(
    State(state): State<AppState>,
) -> Result<Json<serde_json::Value>, ApiError> {
    match state.snapshots.reload().await {
        Ok(status) => Ok(Json(json!({"reloaded": true, "list": status}))),
        Err(e) => Err(ApiError::Unprocessable {
            error: "list reload failed; the last good list stays active".into(),
            detail: e.to_string(),
        }),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GenerateRequest {
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
pub(super) struct GenerateQuery {
    #[serde(default)]
    explain: bool,
}

pub(super) async fn fuzzers() -> Json<serde_json::Value> {
    let fuzzers: Vec<serde_json::Value> = Fuzzer::ALL
        .iter()
        .map(|f| json!({"name": f.name(), "family": f.family(), "description": f.description()}))
        .collect();
    Json(json!({"fuzzers": fuzzers}))
}

pub(super) async fn generate(
    State(state): State<AppState>,
    query: Result<Query<GenerateQuery>, QueryRejection>,
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
    if chars > XSOAR_LIST_MAX_CHARS {
        return Err(ApiError::TooLargeFor(format!(
            "the list is {chars} characters; an XSOAR list holds at most {}: lower limit, pick fewer fuzzers or use format=labels",
            XSOAR_LIST_MAX_CHARS
        )));
    }
    save_xsoar_list(&state.xsoar, &state.client, &name, &data)
        .await
        .map_err(|e| ApiError::BadGateway(e.to_string()))?;
    Ok(Json(
        json!({"list": list, "saved": {"name": name, "characters": chars}}),
    ))
}
