//! `POST /v1/match`: verdicts with their explanation for up to
//! [`MAX_MATCH_NAMES`] names.

use super::extract::json_body;
use super::{ApiError, AppState};
use crate::matcher::verdict_json;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use serde::Deserialize;
use serde_json::json;

/// Most names accepted by one `POST /v1/match`.
pub(super) const MAX_MATCH_NAMES: usize = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MatchRequest {
    names: Vec<String>,
}

pub(super) async fn match_names(
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
        .snapshots
        .snapshot()
        .ok_or_else(|| ApiError::Unavailable("no list loaded yet".into()))?;
    let results: Vec<serde_json::Value> = req
        .names
        .iter()
        .map(|raw| {
            let mut v = verdict_json(&matcher, raw);
            // a suppressed verdict raises no incident: say which suppression
            let by = match (v["brand"].as_str(), v["registrable_domain"].as_str()) {
                (Some(brand), Some(domain)) => state.suppressions.find(brand, domain),
                _ => None,
            };
            if let Some(id) = by {
                v["incident"] = json!(false);
                v["suppressed_by"] = json!(id);
            }
            v
        })
        .collect();
    Ok(Json(json!({"results": results})))
}
