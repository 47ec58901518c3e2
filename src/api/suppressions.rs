//! `GET /v1/suppressions`, `POST /v1/suppressions` and `DELETE
//! /v1/suppressions/{id}`: the analysts' suppressions (a registrable domain
//! no longer alerting for one brand, or for every brand). Each change is
//! kept in the store with who and why, and applies to the next certificate:
//! the pipeline's set is replaced from the store after it.

use super::extract::{json_body, query};
use super::{ApiError, AppState};
use crate::domain::Fqdn;
use crate::model::{IncidentId, Suppression};
use crate::store::NewSuppression;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;

/// Longest reason kept.
const MAX_REASON: usize = 1000;
/// Longest actor name.
const MAX_ACTOR: usize = 200;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    /// Include removed suppressions (the audit).
    removed: Option<bool>,
}

pub(super) async fn list(
    State(state): State<AppState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let q = query(q)?;
    let all = state.store.suppressions(q.removed.unwrap_or(false)).await?;
    Ok(Json(json!({"suppressions": all})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddRequest {
    /// A name; its registrable domain is suppressed.
    domain: String,
    /// A protected domain of the list; absent: every brand.
    brand: Option<String>,
    reason: String,
    actor: Option<String>,
}

fn checked_text(what: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.trim().is_empty() {
        return Err(ApiError::BadRequest(format!("{what} must not be empty")));
    }
    if value.chars().count() > max {
        return Err(ApiError::BadRequest(format!(
            "{what} is longer than {max} characters"
        )));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ApiError::BadRequest(format!(
            "{what} holds control characters"
        )));
    }
    Ok(())
}

/// Check and store a suppression, then refresh the pipeline's set.
pub(super) async fn suppress(
    state: &AppState,
    domain: &str,
    brand: Option<&str>,
    reason: String,
    actor: String,
    incident_id: Option<IncidentId>,
) -> Result<Suppression, ApiError> {
    checked_text("reason", &reason, MAX_REASON)?;
    checked_text("actor", &actor, MAX_ACTOR)?;
    let name =
        Fqdn::parse(domain).map_err(|e| ApiError::BadRequest(format!("domain {domain:?}: {e}")))?;
    let brand = match brand {
        None => None,
        Some(b) => {
            let key = Fqdn::parse_domain(b)
                .map_err(|e| ApiError::BadRequest(format!("brand {b:?}: {e}")))?;
            let key = key.unicode().to_owned();
            let listed = state
                .snapshots
                .current_list()
                .is_some_and(|l| l.brands.iter().any(|e| e.domain.unicode() == key));
            if !listed {
                return Err(ApiError::BadRequest(format!(
                    "brand {key:?} is not a protected domain of the active list"
                )));
            }
            Some(key)
        }
    };
    let added = state
        .store
        .add_suppression(NewSuppression {
            domain: name.registrable_domain_ascii().to_owned(),
            brand,
            reason,
            created_by: actor,
            incident_id,
        })
        .await?;
    refresh(state).await?;
    share(state, &added).await;
    tracing::info!(
        suppression = added.id, domain = %added.domain, brand = ?added.brand,
        by = %added.created_by, "suppression added"
    );
    Ok(added)
}

/// On a bus, hand the change to the cluster. It is kept here already, so a
/// broker that does not take it fails nothing: the change holds in this
/// process, and the error says the others do not have it.
async fn share(state: &AppState, change: &Suppression) {
    let Some(cluster) = &state.shared_suppressions else {
        return;
    };
    if let Err(e) = cluster.share(change).await {
        state
            .metrics
            .add(&state.metrics.bus_suppressions_unshared, 1);
        tracing::error!(error = %e, suppression = change.id, domain = %change.domain,
            "suppression not shared with the cluster; it holds in this process only");
    }
}

async fn refresh(state: &AppState) -> Result<(), ApiError> {
    let active = state.store.suppressions(false).await?;
    state.suppressions.replace(&active);
    Ok(())
}

pub(super) async fn add(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let req: AddRequest = json_body(body)?;
    let actor = req.actor.unwrap_or_else(|| "api".into());
    let added = suppress(
        &state,
        &req.domain,
        req.brand.as_deref(),
        req.reason,
        actor,
        None,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(json!({"suppression": added}))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RemoveQuery {
    actor: Option<String>,
}

pub(super) async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
    q: Result<Query<RemoveQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let q = query(q)?;
    let not_found = || ApiError::NotFound(format!("no suppression {id}"));
    let parsed: i64 = id.parse().map_err(|_| not_found())?;
    let actor = q.actor.unwrap_or_else(|| "api".into());
    checked_text("actor", &actor, MAX_ACTOR)?;
    let removed = state
        .store
        .remove_suppression(parsed, actor)
        .await?
        .ok_or_else(not_found)?;
    refresh(&state).await?;
    share(&state, &removed).await;
    tracing::info!(suppression = removed.id, by = ?removed.removed_by, "suppression removed");
    Ok(Json(json!({"suppression": removed})))
}
