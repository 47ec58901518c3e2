//! `/v1/rules`: the regex and keyword rules. Those in `[[matcher.rules]]`
//! are shown read-only (the config file is theirs); those added here live
//! in the store and are merged into the next matcher snapshot at once.

use super::extract::json_body;
use super::{ApiError, AppState};
use crate::matcher::RuleSettings;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::json;

/// Who adds a rule: the signed-in caller, else `api`.
fn actor(caller: Option<axum::Extension<super::auth::Caller>>) -> String {
    caller.map_or_else(|| "api".to_owned(), |c| c.0.name.clone())
}

/// `GET /v1/rules`.
pub(super) async fn list(
    State(state): State<AppState>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let configured = state.snapshots.configured_rules();
    let stored = state.store.rules().await?;
    Ok(Json(json!({"configured": configured, "console": stored})))
}

/// `POST /v1/rules`: check, keep, apply.
pub(super) async fn add(
    State(state): State<AppState>,
    caller: Option<axum::Extension<super::auth::Caller>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let rule: RuleSettings = json_body(body)?;
    let mut all: Vec<RuleSettings> = state
        .store
        .rules()
        .await?
        .into_iter()
        .map(|r| r.rule)
        .collect();
    // the new rule on its own first, so the error names it plainly
    state
        .snapshots
        .with_rules(std::slice::from_ref(&rule))
        .map_err(|e| ApiError::BadRequest(e.to_string().replacen("rules[0]", "rule", 1)))?;
    all.push(rule.clone());
    let config = state
        .snapshots
        .with_rules(&all)
        .map_err(|e| ApiError::Conflict(e.to_string()))?;
    let Some(id) = state.store.add_rule(rule.clone(), actor(caller)).await? else {
        return Err(ApiError::Conflict(format!(
            "a rule named {:?} exists",
            rule.name
        )));
    };
    state
        .snapshots
        .use_config(config)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    tracing::info!(rule = %rule.name, id, "rule added");
    Ok((StatusCode::CREATED, Json(json!({"id": id, "rule": rule}))))
}

/// `DELETE /v1/rules/{id}`.
pub(super) async fn remove(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    if !state.store.remove_rule(id).await? {
        return Err(ApiError::NotFound(format!("no console rule {id}")));
    }
    let rest: Vec<RuleSettings> = state
        .store
        .rules()
        .await?
        .into_iter()
        .map(|r| r.rule)
        .collect();
    let config = state
        .snapshots
        .with_rules(&rest)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    state
        .snapshots
        .use_config(config)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    tracing::info!(id, "rule removed");
    Ok(StatusCode::NO_CONTENT)
}
