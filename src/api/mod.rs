//! The HTTP API (axum), one file per resource: `health` (liveness,
//! readiness, metrics), `status`, `lists` (the active list, reload,
//! generate), `matching`, `incidents` (pull, one, export) and `deliveries`.
//! `openapi.yaml` describes exactly [`ROUTES`]; a test keeps the three
//! (spec, table, router) equal.
//!
//! `/v1` routes take a bearer token or a session when tokens are set, and
//! check the caller's role ([`auth`]). Errors are JSON
//! `{"error": "...", "detail": ...}` ([`ApiError`]).

mod auth;
mod console;
mod deliveries;
mod error;
mod events;
mod extract;
mod health;
mod incidents;
mod lists;
mod matching;
mod rules;
mod status;
mod suppressions;

pub(crate) use auth::Auth;
pub use auth::{Role, TokenSettings};
pub(crate) use error::ApiError;

use crate::config::{ConfigError, Secret};
use crate::metrics::Metrics;
use crate::snapshot::SnapshotHandle;
use crate::source::SourceState;
use crate::store::Store;
use crate::watchlist::XsoarListSettings;
use axum::Router;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;

/// Every route the router serves: (method, path in OpenAPI syntax).
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/"),
    ("get", "/console.js"),
    ("get", "/console.css"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/v1/status"),
    ("get", "/v1/status/history"),
    ("get", "/v1/lists/current"),
    ("put", "/v1/lists/current"),
    ("post", "/v1/lists/reload"),
    ("post", "/v1/lists/generate"),
    ("get", "/v1/lists/generate/fuzzers"),
    ("post", "/v1/match"),
    ("get", "/v1/incidents"),
    ("get", "/v1/incidents/export"),
    ("get", "/v1/incidents/{id}"),
    ("patch", "/v1/incidents/{id}"),
    ("get", "/v1/events"),
    ("get", "/v1/suppressions"),
    ("post", "/v1/suppressions"),
    ("delete", "/v1/suppressions/{id}"),
    ("get", "/v1/deliveries"),
    ("post", "/v1/deliveries/{id}/retry"),
    ("get", "/v1/rules"),
    ("post", "/v1/rules"),
    ("delete", "/v1/rules/{id}"),
    ("post", "/v1/session"),
    ("get", "/v1/session"),
    ("delete", "/v1/session"),
    ("get", "/v1/audit"),
];

/// Largest page of `GET /v1/incidents` and `GET /v1/deliveries`.
pub(crate) const MAX_PAGE: usize = 1000;

/// `[api]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiSettings {
    pub listen: SocketAddr,
    /// An admin token named `token` (kept for older configs; prefer `tokens`).
    pub token: Secret,
    /// The callers: a name, a token and a role each.
    pub tokens: Vec<TokenSettings>,
    /// How long a console session lasts.
    #[serde(with = "crate::config::duration")]
    pub session_ttl: std::time::Duration,
    /// Failed sign-ins one address may make per minute.
    pub sign_in_attempts: u32,
    /// Mark the session cookie `Secure` even without `X-Forwarded-Proto: https`.
    pub secure_cookies: bool,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Listen beyond loopback without a token (refused unless set; logged).
    pub allow_unauthenticated: bool,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            token: Secret::default(),
            tokens: Vec::new(),
            session_ttl: std::time::Duration::from_secs(12 * 3600),
            sign_in_attempts: 5,
            secure_cookies: false,
            max_body_bytes: 1024 * 1024,
            allow_unauthenticated: false,
        }
    }
}

impl ApiSettings {
    /// The API is never open to the network without a token: a
    /// non-loopback `listen` needs `token`, or an explicit
    /// `allow_unauthenticated = true`.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        auth::validate(&self.tokens, &self.token)?;
        crate::config::require_positive(&[("api.session_ttl", self.session_ttl)])?;
        if self.sign_in_attempts == 0 {
            return Err(crate::config::invalid(
                "api.sign_in_attempts",
                "must be at least 1",
            ));
        }
        if self.token.is_empty() && self.tokens.is_empty() && !self.listen.ip().is_loopback() {
            if !self.allow_unauthenticated {
                return Err(crate::config::invalid(
                    "api.tokens",
                    format!(
                        "api.listen = {} is reachable from the network: set api.tokens \
                         (or api.allow_unauthenticated = true to run without one)",
                        self.listen
                    ),
                ));
            }
            tracing::warn!(listen = %self.listen, "the API listens beyond loopback without a token (api.allow_unauthenticated)");
        }
        if self.max_body_bytes == 0 {
            return Err(crate::config::invalid(
                "api.max_body_bytes",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// What the handlers read and touch.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub snapshots: SnapshotHandle,
    pub metrics: Arc<Metrics>,
    pub source: SourceState,
    pub sinks: Vec<String>,
    /// Which of `sinks` get which tenant's incidents.
    pub routes: Arc<crate::tenants::SinkRoutes>,
    /// The callers and their sessions.
    pub(crate) auth: Arc<auth::Auth>,
    pub started_at: u64,
    /// Where `save_as` stores generated lists (the list source's XSOAR).
    pub xsoar: XsoarListSettings,
    pub client: reqwest::Client,
    /// One per sink worker, in `sinks` order: wakes it when work is queued.
    pub wakes: Vec<Arc<tokio::sync::Notify>>,
    /// The analysts' suppressions the pipeline consults; replaced from the
    /// store after each change.
    pub suppressions: Arc<crate::model::Suppressions>,
    /// Incidents as they are recorded, for `GET /v1/events`.
    pub incident_feed: tokio::sync::broadcast::Sender<crate::model::Incident>,
    /// Cancelled at shutdown: ends the event streams.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// With `[bus]`: the cluster as the broker sees it, for `/v1/status`.
    pub(crate) cluster: Option<Arc<dyn crate::bus::ClusterStatus>>,
    /// With `[bus]`: where suppression changes go so that every matcher
    /// applies them.
    pub(crate) shared_suppressions: Option<Arc<dyn crate::bus::SharedSuppressions>>,
}

pub(crate) fn router(state: AppState, max_body_bytes: usize) -> Router {
    let v1 =
        Router::new()
            .route("/status", get(status::status))
            .route("/status/history", get(status::history))
            .route(
                "/lists/current",
                get(lists::current).put(lists::replace).layer(
                    axum::extract::DefaultBodyLimit::max(state.snapshots.max_bytes()),
                ),
            )
            .route("/lists/reload", post(lists::reload))
            .route("/lists/generate", post(lists::generate))
            .route("/lists/generate/fuzzers", get(lists::fuzzers))
            .route("/match", post(matching::match_names))
            .route("/incidents", get(incidents::list))
            .route("/incidents/export", get(incidents::export))
            .route(
                "/incidents/{id}",
                get(incidents::get).patch(incidents::triage),
            )
            .route(
                "/suppressions",
                get(suppressions::list).post(suppressions::add),
            )
            .route(
                "/suppressions/{id}",
                axum::routing::delete(suppressions::remove),
            )
            .route("/events", get(events::events))
            .route("/deliveries", get(deliveries::list))
            .route("/deliveries/{id}/retry", post(deliveries::retry))
            .route(
                "/session",
                post(auth::sign_in).get(auth::whoami).delete(auth::sign_out),
            )
            .route("/audit", get(auth::audit_log))
            .route("/rules", get(rules::list).post(rules::add))
            .route("/rules/{id}", axum::routing::delete(rules::remove))
            .route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                auth::authorize,
            ));
    Router::new()
        .route("/", get(console::index))
        .route("/console.js", get(console::script))
        .route("/console.css", get(console::style))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .nest("/v1", v1)
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .layer(axum::extract::DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}
