//! `GET /v1/incidents` (the pull API: creation order, cursor, filters),
//! `GET /v1/incidents/{id}` and `GET /v1/incidents/export` (JSON Lines or
//! CSV, streamed page by page).

use super::extract::query;
use super::{ApiError, AppState, MAX_PAGE};
use crate::export::ExportFormat;
use crate::model::IncidentId;
use axum::Json;
use axum::extract::rejection::QueryRejection;
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
    let after = match &q.after {
        Some(after) => Some(
            after
                .parse::<IncidentId>()
                .map_err(|_| ApiError::BadRequest("after must be an incident id".into()))?,
        ),
        None => None,
    };
    if q.format.is_some() {
        return Err(ApiError::BadRequest(
            "format is for /v1/incidents/export".into(),
        ));
    }
    let page = state.store.incidents(q.filter()?, after, limit).await?;
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
    if q.after.is_some() || q.limit.is_some() {
        return Err(ApiError::BadRequest(
            "export takes no after/limit: it returns every matching incident".into(),
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
    Ok(Json(
        serde_json::to_value(incident).map_err(|e| ApiError::Internal(e.to_string()))?,
    ))
}
