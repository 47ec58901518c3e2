//! Who may call what. `api.tokens` names each token and gives it a role:
//! `viewer` reads, `analyst` also triages (incidents, suppressions),
//! `admin` also changes lists and deliveries. The legacy `api.token` is an
//! admin token named `token`. Without any token (loopback only, or
//! `api.allow_unauthenticated`) every caller is `anonymous`, admin.
//!
//! A caller is a bearer token (scripts, SOAR integrations) or a session:
//! `POST /v1/session` with a token sets an HttpOnly, SameSite=Strict cookie
//! (`Secure` when the request came over TLS through a proxy, or with
//! `api.secure_cookies`) and returns a CSRF token that every state-changing
//! request of that session must carry in `X-CSRF-Token`. Sign-in failures
//! are limited per client address. A state-changing request whose `Origin`
//! is not this host is refused whoever sends it (a page elsewhere cannot
//! drive a console on 127.0.0.1). Every state-changing request, refused or
//! not, goes into the audit log.

use super::{ApiError, AppState};
use crate::config::{ConfigError, Secret, invalid};
use crate::parallel::lock;
use crate::store::NewAuditEntry;
use axum::Json;
use axum::extract::{ConnectInfo, MatchedPath, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The session cookie.
const COOKIE: &str = "certsentry_session";
/// The header a session's state-changing requests carry.
const CSRF_HEADER: &str = "x-csrf-token";
/// Sessions kept at most (the oldest go first).
const MAX_SESSIONS: usize = 10_000;
/// The window sign-in failures are counted in.
const FAILURE_WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Analyst,
    Admin,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }
}

/// `[[api.tokens]]`: one caller.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    /// Who this is, as the audit log and triage show it.
    pub name: String,
    pub token: Secret,
    #[serde(default = "least")]
    pub role: Role,
}

fn least() -> Role {
    Role::Viewer
}

/// Check `[[api.tokens]]` (names and tokens present and unique).
pub(super) fn validate(tokens: &[TokenSettings], legacy: &Secret) -> Result<(), ConfigError> {
    let mut names = std::collections::HashSet::new();
    let mut secrets = std::collections::HashSet::new();
    if !legacy.is_empty() {
        secrets.insert(legacy.expose());
    }
    for t in tokens {
        let name = t.name.trim();
        if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
            return Err(invalid(
                "api.tokens.name",
                format!("{:?}: 1 to 100 printable characters", t.name),
            ));
        }
        if !names.insert(name) {
            return Err(invalid(
                "api.tokens.name",
                format!("{name:?} is given twice"),
            ));
        }
        if t.token.expose().trim().is_empty() {
            return Err(invalid(
                "api.tokens.token",
                format!("the token of {name:?} is empty"),
            ));
        }
        if !secrets.insert(t.token.expose()) {
            return Err(invalid(
                "api.tokens.token",
                format!("the token of {name:?} is also another caller's"),
            ));
        }
    }
    Ok(())
}

/// Who is calling, once authenticated.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) name: String,
    pub(crate) role: Role,
    /// The session's CSRF token; `None` for a bearer token or no auth.
    csrf: Option<String>,
}

struct Session {
    caller: Caller,
    expires: Instant,
}

/// The callers, their sessions and the sign-in failures.
pub(crate) struct Auth {
    tokens: Vec<(String, Secret, Role)>,
    ttl: Duration,
    attempts: u32,
    secure_cookies: bool,
    sessions: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("callers", &self.tokens.len())
            .finish_non_exhaustive()
    }
}

impl Auth {
    pub(crate) fn new(s: &super::ApiSettings) -> Auth {
        let mut tokens: Vec<(String, Secret, Role)> = s
            .tokens
            .iter()
            .map(|t| (t.name.trim().to_owned(), t.token.clone(), t.role))
            .collect();
        if !s.token.is_empty() {
            tokens.push(("token".into(), s.token.clone(), Role::Admin));
        }
        Auth {
            tokens,
            ttl: s.session_ttl,
            attempts: s.sign_in_attempts,
            secure_cookies: s.secure_cookies,
            sessions: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// No token configured: everyone is an anonymous admin.
    pub(crate) fn is_open(&self) -> bool {
        self.tokens.is_empty()
    }

    fn by_token(&self, given: &str) -> Option<Caller> {
        // compare with every token, so the time does not say which matched
        let mut found = None;
        for (name, secret, role) in &self.tokens {
            if constant_time_eq(given.as_bytes(), secret.expose().as_bytes()) {
                found = Some(Caller {
                    name: name.clone(),
                    role: *role,
                    csrf: None,
                });
            }
        }
        found
    }

    fn by_session(&self, id: &str) -> Option<Caller> {
        let mut sessions = lock(&self.sessions);
        match sessions.get(id) {
            Some(s) if s.expires > Instant::now() => Some(s.caller.clone()),
            Some(_) => {
                sessions.remove(id);
                None
            }
            None => None,
        }
    }

    fn open_session(&self, mut caller: Caller) -> Result<(String, Caller), ApiError> {
        let id = random_hex()?;
        caller.csrf = Some(random_hex()?);
        let mut sessions = lock(&self.sessions);
        let now = Instant::now();
        sessions.retain(|_, s| s.expires > now);
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| k.clone())
        {
            sessions.remove(&oldest);
        }
        sessions.insert(
            id.clone(),
            Session {
                caller: caller.clone(),
                expires: now + self.ttl,
            },
        );
        Ok((id, caller))
    }

    /// How long `addr` must wait before trying again, if it must.
    fn held(&self, addr: Option<IpAddr>) -> Option<Duration> {
        let addr = addr?;
        let failures = lock(&self.failures);
        let (count, since) = failures.get(&addr)?;
        let waited = since.elapsed();
        (*count >= self.attempts && waited < FAILURE_WINDOW).then(|| FAILURE_WINDOW - waited)
    }

    fn failed(&self, addr: Option<IpAddr>) {
        let Some(addr) = addr else { return };
        let mut failures = lock(&self.failures);
        if failures.len() > MAX_SESSIONS {
            failures.retain(|_, (_, since)| since.elapsed() < FAILURE_WINDOW);
        }
        let e = failures.entry(addr).or_insert((0, Instant::now()));
        if e.1.elapsed() >= FAILURE_WINDOW {
            *e = (0, Instant::now());
        }
        e.0 += 1;
    }
}

fn random_hex() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| ApiError::Internal(format!("no randomness for a session: {e}")))?;
    Ok(hex::encode(bytes))
}

pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The role a route needs.
fn required(method: &Method, path: &str) -> Role {
    if matches!(*method, Method::GET | Method::HEAD) {
        return if path == "/v1/audit" {
            Role::Admin
        } else {
            Role::Viewer
        };
    }
    match path {
        // trying a name changes nothing; signing out is one's own session
        "/v1/match" | "/v1/session" => Role::Viewer,
        "/v1/incidents/{id}" | "/v1/suppressions" | "/v1/suppressions/{id}" => Role::Analyst,
        _ => Role::Admin,
    }
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether an `Origin` header names another site than the `Host` asked.
fn foreign_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_host = origin
        .split_once("://")
        .map_or(origin, |(_, rest)| rest)
        .trim_end_matches('/');
    !origin_host.eq_ignore_ascii_case(host)
}

fn forbidden(detail: String) -> Response {
    (
        StatusCode::FORBIDDEN,
        Json(json!({"error": "forbidden", "detail": detail})),
    )
        .into_response()
}

/// Authenticate, check the role (and CSRF for a session), and audit every
/// state-changing request.
pub(super) async fn authorize(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| req.uri().path().to_owned());
    // inside `/v1` the request's own URI has lost the prefix
    let target = req
        .extensions()
        .get::<axum::extract::OriginalUri>()
        .map_or_else(|| req.uri().path().to_owned(), |u| u.path().to_owned());
    let changes = changes_state(&method);
    let auth = &state.auth;
    let headers = req.headers();

    if changes && foreign_origin(headers) {
        audit(&state, "unknown", "none", &method, &route, &target, 403).await;
        return forbidden("the request comes from another site (Origin)".into());
    }
    // signing in needs no caller
    if route == "/v1/session" && method == Method::POST {
        return next.run(req).await;
    }
    let caller = if auth.is_open() {
        Some(Caller {
            name: "anonymous".into(),
            role: Role::Admin,
            csrf: None,
        })
    } else if let Some(v) = headers.get(header::AUTHORIZATION) {
        v.to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .and_then(|t| auth.by_token(t))
    } else {
        cookie(headers, COOKIE).and_then(|id| auth.by_session(id))
    };
    let Some(caller) = caller else {
        if changes {
            audit(&state, "unknown", "none", &method, &route, &target, 401).await;
        }
        return ApiError::Unauthorized.into_response();
    };
    // a refusal of a change is audited with who asked
    let refused = |caller: &Caller| {
        let (name, role) = (caller.name.clone(), caller.role.as_str());
        let (state, method, route, target) = (&state, &method, &route, &target);
        async move { audit(state, &name, role, method, route, target, 403).await }
    };
    if changes && let Some(csrf) = &caller.csrf {
        let given = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !constant_time_eq(given.as_bytes(), csrf.as_bytes()) {
            refused(&caller).await;
            return forbidden(format!("missing or wrong {CSRF_HEADER} header"));
        }
    }
    let needs = required(&method, &route);
    if caller.role < needs {
        if changes {
            refused(&caller).await;
        }
        return forbidden(format!(
            "{} is {}; this needs the {} role",
            caller.name,
            caller.role.as_str(),
            needs.as_str()
        ));
    }
    let (name, role) = (caller.name.clone(), caller.role);
    let mut req = req;
    req.extensions_mut().insert(caller);
    let resp = next.run(req).await;
    if changes {
        let status = resp.status().as_u16();
        audit(
            &state,
            &name,
            role.as_str(),
            &method,
            &route,
            &target,
            status,
        )
        .await;
    }
    resp
}

async fn audit(
    state: &AppState,
    actor: &str,
    role: &str,
    method: &Method,
    route: &str,
    target: &str,
    status: u16,
) {
    let entry = NewAuditEntry {
        actor: actor.to_owned(),
        role: role.to_owned(),
        action: format!("{method} {route}"),
        target: target.to_owned(),
        status,
    };
    if let Err(e) = state.store.audit_record(entry).await {
        tracing::error!(error = %e, actor, action = %method, route, "could not write the audit log");
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SignIn {
    token: String,
}

fn session_body(caller: &Caller, expires_in: Option<Duration>) -> serde_json::Value {
    json!({
        "name": caller.name,
        "role": caller.role,
        "csrf_token": caller.csrf,
        "expires_in_seconds": expires_in.map(|d| d.as_secs()),
    })
}

/// `POST /v1/session`: a token in, a session cookie and a CSRF token out.
pub(super) async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Json<SignIn>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let auth = &state.auth;
    let addr = Some(peer.ip());
    if let Some(wait) = auth.held(addr) {
        let secs = wait.as_secs().max(1);
        let mut resp = (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({"error": "too many requests",
                        "detail": format!("too many failed sign-ins from this address; try again in {secs} s")})),
        )
            .into_response();
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Ok(resp);
    }
    let Json(req) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if auth.is_open() {
        return Err(ApiError::Conflict(
            "no api.tokens are set: there is nothing to sign in to".into(),
        ));
    }
    let Some(caller) = auth.by_token(req.token.trim()) else {
        auth.failed(addr);
        audit(
            &state,
            "unknown",
            "none",
            &Method::POST,
            "/v1/session",
            "/v1/session",
            401,
        )
        .await;
        return Err(ApiError::Unauthorized);
    };
    let (id, caller) = auth.open_session(caller)?;
    audit(
        &state,
        &caller.name,
        caller.role.as_str(),
        &Method::POST,
        "/v1/session",
        "/v1/session",
        200,
    )
    .await;
    let behind_tls = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    let secure = if auth.secure_cookies || behind_tls {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
        auth.ttl.as_secs()
    );
    let mut resp = Json(session_body(&caller, Some(auth.ttl))).into_response();
    let v = HeaderValue::from_str(&cookie).map_err(|e| ApiError::Internal(e.to_string()))?;
    resp.headers_mut().insert(header::SET_COOKIE, v);
    Ok(resp)
}

/// `GET /v1/session`: who the caller is (and the session's CSRF token).
pub(super) async fn whoami(axum::Extension(caller): axum::Extension<Caller>) -> Response {
    Json(session_body(&caller, None)).into_response()
}

/// `DELETE /v1/session`: sign out.
pub(super) async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie(&headers, COOKIE) {
        lock(&state.auth.sessions).remove(id);
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let gone = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    if let Ok(v) = HeaderValue::from_str(&gone) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuditQuery {
    before: Option<i64>,
    limit: Option<usize>,
}

/// `GET /v1/audit`: the audit log, newest first.
pub(super) async fn audit_log(
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> Result<Response, ApiError> {
    let limit = q.limit.unwrap_or(100).clamp(1, super::MAX_PAGE);
    let entries = state.store.audit_list(q.before, limit).await?;
    let next = (entries.len() == limit)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    Ok(Json(json!({"entries": entries, "next_before": next})).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_need_the_roles_the_console_promises() {
        assert_eq!(required(&Method::GET, "/v1/incidents"), Role::Viewer);
        assert_eq!(required(&Method::POST, "/v1/match"), Role::Viewer);
        assert_eq!(
            required(&Method::PATCH, "/v1/incidents/{id}"),
            Role::Analyst
        );
        assert_eq!(required(&Method::POST, "/v1/suppressions"), Role::Analyst);
        assert_eq!(required(&Method::PUT, "/v1/lists/current"), Role::Admin);
        assert_eq!(
            required(&Method::POST, "/v1/deliveries/{id}/retry"),
            Role::Admin
        );
        assert_eq!(required(&Method::GET, "/v1/audit"), Role::Admin);
        assert!(Role::Viewer < Role::Analyst && Role::Analyst < Role::Admin);
    }

    #[test]
    fn origins_are_compared_with_the_host() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
        assert!(!foreign_origin(&h), "no Origin: a script or curl");
        h.insert(header::ORIGIN, "http://127.0.0.1:8080".parse().unwrap());
        assert!(!foreign_origin(&h));
        h.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(foreign_origin(&h));
        h.insert(header::ORIGIN, "null".parse().unwrap());
        assert!(foreign_origin(&h));
    }

    #[test]
    fn token_names_and_tokens_must_be_unique() {
        let t = |name: &str, token: &str| TokenSettings {
            name: name.into(),
            token: Secret::new(token),
            role: Role::Viewer,
        };
        assert!(validate(&[t("a", "x1"), t("b", "x2")], &Secret::default()).is_ok());
        assert!(validate(&[t("a", "x1"), t("a", "x2")], &Secret::default()).is_err());
        assert!(validate(&[t("a", "x1"), t("b", "x1")], &Secret::default()).is_err());
        assert!(validate(&[t("a", "x1")], &Secret::new("x1")).is_err());
        assert!(validate(&[t("", "x1")], &Secret::default()).is_err());
        assert!(validate(&[t("a", " ")], &Secret::default()).is_err());
    }
}
