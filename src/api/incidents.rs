//! `GET /v1/incidents` (the pull API: creation order, cursor, filters),
//! `GET /v1/incidents/{id}` (with its triage history), `PATCH
//! /v1/incidents/{id}` (triage: state, assignee, comment; audited) and `GET /v1/incidents/export` (JSON Lines or
//! CSV, streamed page by page).

use super::extract::{json_body, query};
use super::{ApiError, AppState, MAX_PAGE};
use crate::export::ExportFormat;
use crate::model::{IncidentId, Timestamp, TriageChange, TriageState};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IncidentQuery {
    after: Option<String>,
    limit: Option<usize>,
    /// Whose incidents (`[[tenants]]`; `default` without tenants).
    tenant: Option<String>,
    brand: Option<String>,
    severity: Option<String>,
    kind: Option<String>,
    /// RFC 3339: incidents first seen at or after.
    since: Option<String>,
    /// Export only: `jsonl` (default) or `csv`.
    format: Option<String>,
    /// Triage state (`new` includes the never triaged).
    triage: Option<String>,
    /// Text in the domain or brand.
    q: Option<String>,
    /// RFC 3339: incidents changed at or after (a mirroring SOAR's poll).
    modified_since: Option<String>,
    /// `desc`: newest first, paged with `before` (the console's queue).
    order: Option<String>,
    before: Option<String>,
}

impl IncidentQuery {
    fn filter(&self) -> Result<crate::store::IncidentFilter, ApiError> {
        let mut f = crate::export::parse_filter(
            self.brand.clone(),
            self.severity.clone(),
            self.kind.clone(),
            self.since.as_deref(),
        )
        .map_err(ApiError::BadRequest)?;
        if let Some(t) = &self.tenant {
            crate::watchlist::valid_tenant_id(t).map_err(ApiError::BadRequest)?;
            f.tenant = Some(t.clone());
        }
        if let Some(t) = &self.triage {
            let state: TriageState = t.parse().map_err(ApiError::BadRequest)?;
            f.triage = Some(state.as_str().to_owned());
        }
        if let Some(t) = &self.modified_since {
            let at = Timestamp::parse(t).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "modified_since must be an RFC 3339 time such as 2026-01-31T00:00:00Z, not {t:?}"
                ))
            })?;
            f.modified_since_ms = Some(at.unix_ms());
        }
        if let Some(q) = &self.q {
            if q.chars().count() > 253 {
                return Err(ApiError::BadRequest(
                    "q is longer than 253 characters".into(),
                ));
            }
            let q = q.trim().to_lowercase();
            f.text = (!q.is_empty()).then_some(q);
        }
        Ok(f)
    }
}

pub(super) async fn list(
    State(state): State<AppState>,
    q: Result<Query<IncidentQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let q = query(q)?;
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::BadRequest(format!(
            "limit must be 1 to {MAX_PAGE}"
        )));
    }
    let id = |what: &str, v: &Option<String>| match v {
        Some(v) => v
            .parse::<IncidentId>()
            .map(Some)
            .map_err(|_| ApiError::BadRequest(format!("{what} must be an incident id"))),
        None => Ok(None),
    };
    let after = id("after", &q.after)?;
    let before = id("before", &q.before)?;
    if q.format.is_some() {
        return Err(ApiError::BadRequest(
            "format is for /v1/incidents/export".into(),
        ));
    }
    let newest_first = match q.order.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(o) => {
            return Err(ApiError::BadRequest(format!(
                "order must be asc or desc, not {o:?}"
            )));
        }
    };
    if newest_first && after.is_some() || !newest_first && before.is_some() {
        return Err(ApiError::BadRequest(
            "after pages oldest first, before pages newest first (order=desc)".into(),
        ));
    }
    let page = if newest_first {
        state
            .store
            .incidents_newest(q.filter()?, before, limit)
            .await?
    } else {
        state.store.incidents(q.filter()?, after, limit).await?
    };
    let next = if page.len() == limit {
        page.last().map(|i| i.id)
    } else {
        None
    };
    Ok(Json(json!({"incidents": page, "next": next})))
}

/// Every matching incident as JSON Lines or CSV, streamed page by page.
pub(super) async fn export(
    State(state): State<AppState>,
    q: Result<Query<IncidentQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    if q.after.is_some() || q.limit.is_some() || q.before.is_some() || q.order.is_some() {
        return Err(ApiError::BadRequest(
            "export takes no after/before/limit/order: it returns every matching incident, oldest first"
                .into(),
        ));
    }
    let format: ExportFormat = q
        .format
        .as_deref()
        .unwrap_or("jsonl")
        .parse()
        .map_err(ApiError::BadRequest)?;
    let chunks = crate::export::chunks(state.store.clone(), q.filter()?, format);
    let body = axum::body::Body::from_stream(futures_util::StreamExt::map(chunks, |c| {
        c.map(|(text, _)| text).map_err(|e| {
            tracing::error!(error = %e, "incident export failed");
            std::io::Error::other(e.to_string())
        })
    }));
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"certsentry-incidents.{}\"",
                    format.extension()
                ),
            ),
        ],
        body,
    )
        .into_response())
}

pub(super) async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let not_found = || ApiError::NotFound(format!("no incident {id}"));
    let parsed: IncidentId = id.parse().map_err(|_| not_found())?;
    let incident = state.store.incident(parsed).await?.ok_or_else(not_found)?;
    let history = state.store.triage_history(parsed).await?;
    let mut body = serde_json::to_value(incident).map_err(|e| ApiError::Internal(e.to_string()))?;
    body["triage_history"] = json!(history);
    Ok(Json(body))
}

/// Longest assignee or actor name.
const MAX_NAME: usize = 200;
/// Longest triage comment.
const MAX_COMMENT: usize = 10_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TriageRequest {
    state: Option<String>,
    /// An empty string clears the assignee.
    assignee: Option<String>,
    comment: Option<String>,
    /// Who made the change (the console's analyst, a SOAR user); "api" when absent.
    actor: Option<String>,
    /// With a false-positive or brand-owned verdict: stop alerting on this
    /// registrable domain for this brand (`brand`) or for every brand
    /// (`domain`).
    suppress: Option<String>,
}

/// `PATCH /v1/incidents/{id}`: change its triage; the change is audited.
pub(super) async fn triage(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let req: TriageRequest = json_body(body)?;
    let not_found = || ApiError::NotFound(format!("no incident {id}"));
    let parsed: IncidentId = id.parse().map_err(|_| not_found())?;
    let triage_state = match &req.state {
        Some(s) => Some(s.parse::<TriageState>().map_err(ApiError::BadRequest)?),
        None => None,
    };
    if let Some(how) = &req.suppress
        && how != "brand"
        && how != "domain"
    {
        return Err(ApiError::BadRequest(format!(
            "suppress must be brand (this brand only) or domain (every brand), not {how:?}"
        )));
    }
    if triage_state.is_none() && req.assignee.is_none() && req.comment.is_none() {
        return Err(ApiError::BadRequest(
            "give at least one of state, assignee and comment".into(),
        ));
    }
    let actor = req.actor.unwrap_or_else(|| "api".into());
    for (what, value, max) in [
        ("actor", Some(&actor), MAX_NAME),
        ("assignee", req.assignee.as_ref(), MAX_NAME),
        ("comment", req.comment.as_ref(), MAX_COMMENT),
    ] {
        if let Some(v) = value {
            if v.chars().count() > max {
                return Err(ApiError::BadRequest(format!(
                    "{what} is longer than {max} characters"
                )));
            }
            if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
                return Err(ApiError::BadRequest(format!(
                    "{what} holds control characters"
                )));
            }
        }
    }
    if actor.trim().is_empty() {
        return Err(ApiError::BadRequest("actor must not be empty".into()));
    }
    // a suppression needs a verdict that says the lookalike is harmless
    let before = state.store.incident(parsed).await?.ok_or_else(not_found)?;
    let verdict = triage_state.or(before.triage.as_ref().map(|t| t.state));
    if req.suppress.is_some()
        && !matches!(
            verdict,
            Some(TriageState::FalsePositive | TriageState::BrandOwned)
        )
    {
        return Err(ApiError::BadRequest(
            "suppress goes with the state false_positive or brand_owned".into(),
        ));
    }
    let comment = req.comment.filter(|c| !c.trim().is_empty());
    let change = TriageChange {
        at: Timestamp::now(),
        actor: actor.clone(),
        state: triage_state,
        assignee: req.assignee,
        comment: comment.clone(),
    };
    let incident = state
        .store
        .triage(parsed, change)
        .await?
        .ok_or_else(not_found)?;
    tracing::info!(incident = %parsed, triage = ?incident.triage, "incident triaged");
    let mut body =
        serde_json::to_value(&incident).map_err(|e| ApiError::Internal(e.to_string()))?;
    if let Some(how) = &req.suppress {
        let verdict = verdict.map(|v| v.as_str()).unwrap_or("triage");
        let reason = comment.unwrap_or_else(|| format!("triaged {verdict}"));
        let brand = (how == "brand").then_some(incident.brand.as_str());
        let added = super::suppressions::suppress(
            &state,
            &incident.registrable_domain,
            brand,
            reason,
            actor,
            Some(parsed),
        )
        .await?;
        body["suppression"] = json!(added);
    }
    Ok(Json(body))
}
