//! What every HTTP sink shares: the endpoint and its credentials
//! ([`HttpSettings`], flattened into each format's section), the client
//! (the service's, or one with the sink's own TLS settings), the
//! `Idempotency-Key`, Standard Webhooks signing, extra headers, and reading
//! the answer. A format ([`HttpFormat`]) only says where, what and how it
//! authenticates, and how its platform reports a duplicate or a refusal.

use super::outcome::{MAX_ERROR_BODY, Outcome, classify, read_prefix};
use super::{Deliver, SinkContext, SinkError, SinkKind, UnknownKeys};
use crate::config::{ConfigError, Secret, invalid, require_http_url};
use crate::model::Incident;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::future::BoxFuture;
use hmac::{KeyInit, Mac};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpSettings {
    pub url: String,
    /// HTTP Basic user; for XSOAR `_header:<Name>` sends the password as header `<Name>`.
    pub username: String,
    pub password: Secret,
    /// The API credential: `Authorization: Bearer` for `webhook` and
    /// `thehive`, the `Authorization` API key for `xsoar-rest`, the
    /// `ph-auth-token` for `splunk-soar`.
    pub token: Secret,
    /// Standard Webhooks signing secret (`whsec_<base64>` or raw): adds
    /// `webhook-id`, `webhook-timestamp` and `webhook-signature`.
    pub secret: Secret,
    /// Extra headers; values are treated as secrets.
    pub headers: BTreeMap<String, Secret>,
    /// PEM file of extra CA certificates trusted for this sink.
    pub ca_file: PathBuf,
    /// Turn TLS certificate verification off for this sink (logged as a warning).
    pub tls_insecure_skip_verify: bool,
}

impl HttpSettings {
    /// Check the shared keys; returns the signing key, parsed once.
    pub(super) fn validate(
        &self,
        key: &dyn Fn(&str) -> String,
    ) -> Result<Option<Vec<u8>>, ConfigError> {
        require_http_url(&key("url"), &self.url, false)?;
        if !self.ca_file.as_os_str().is_empty() && !self.ca_file.is_file() {
            return Err(invalid(
                key("ca_file"),
                format!("{} is not a readable file", self.ca_file.display()),
            ));
        }
        if self.secret.is_empty() {
            return Ok(None);
        }
        signing_key(self.secret.expose())
            .map(Some)
            .map_err(|e| invalid(key("secret"), e))
    }

    /// `token` must be set (`kind` needs it).
    pub(super) fn require_token(
        &self,
        key: &dyn Fn(&str) -> String,
        kind: &str,
    ) -> Result<(), ConfigError> {
        if self.token.is_empty() {
            return Err(invalid(
                key("token"),
                format!("is required for kind = \"{kind}\""),
            ));
        }
        Ok(())
    }

    /// Bearer with `token`, else Basic with `username`/`password`.
    pub(super) fn bearer_or_basic(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        if !self.token.is_empty() {
            req.bearer_auth(self.token.expose())
        } else if !self.username.is_empty() {
            req.basic_auth(&self.username, Some(self.password.expose()))
        } else {
            req
        }
    }
}

/// The HMAC key of a Standard Webhooks secret: the base64 after `whsec_`, or
/// the secret's bytes when it has no prefix.
pub(super) fn signing_key(secret: &str) -> Result<Vec<u8>, String> {
    match secret.strip_prefix("whsec_") {
        Some(b64) => STANDARD
            .decode(b64)
            .map_err(|e| format!("whsec_ secret is not valid base64: {e}")),
        None => Ok(secret.as_bytes().to_vec()),
    }
}

/// `webhook-signature`: `v1,` + base64(HMAC-SHA256(key, "id.timestamp.body")).
pub(super) fn signature(key: &[u8], id: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// One SOAR's request format: its settings type, flattening
/// [`HttpSettings`] and catching [`UnknownKeys`].
pub(super) trait HttpFormat: Clone + Send + Sync + 'static {
    /// The shared part of the settings.
    fn http(&self) -> &HttpSettings;
    fn unknown(&self) -> &UnknownKeys;
    /// The kind's own keys (the shared ones are checked first).
    fn check(&self, _key: &dyn Fn(&str) -> String) -> Result<(), ConfigError> {
        Ok(())
    }
    fn url(&self) -> String {
        self.http().url.clone()
    }
    fn body(&self, incident: &Incident) -> serde_json::Value;
    fn auth(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder;
    /// Whether a 2xx answer's body must be read (Splunk SOAR reports a
    /// refusal in one).
    fn reads_success_body(&self) -> bool {
        false
    }
    /// The platform's own reading of an answer: a duplicate that counts as
    /// delivered, a refusal inside a 2xx. `None` leaves it to the status.
    fn judge(&self, _status: StatusCode, _body: &str) -> Option<Outcome> {
        None
    }
    /// The platform's id of the record a successful creation made, read
    /// from its answer (needs [`HttpFormat::reads_success_body`]).
    fn record_id(&self, _body: &str) -> Option<String> {
        None
    }
    /// The requests that apply `incident`, an update, to `record` (the
    /// platform's id of the incident it updates) in place. Empty when the
    /// platform has no such update: the update is then sent as a record of
    /// its own, carrying `update_of`.
    fn update(&self, _incident: &Incident, _record: &str) -> Vec<Call> {
        Vec::new()
    }
}

impl<F: HttpFormat> SinkKind for F {
    fn validate(
        &self,
        kind: &str,
        key: &dyn Fn(&str) -> String,
    ) -> Result<Option<Vec<u8>>, ConfigError> {
        self.unknown().check(key, kind)?;
        let signing_key = self.http().validate(key)?;
        self.check(key)?;
        Ok(signing_key)
    }

    fn build(
        &self,
        name: &str,
        signing_key: Option<Vec<u8>>,
        ctx: &SinkContext,
    ) -> Result<Box<dyn Deliver>, SinkError> {
        Ok(Box::new(HttpSink::build(
            name,
            self.clone(),
            signing_key,
            ctx,
        )?))
    }
}

/// An HTTP sink of format `F`.
pub(super) struct HttpSink<F> {
    format: F,
    client: reqwest::Client,
    /// The Standard Webhooks HMAC key (a sink with a `secret`).
    signing_key: Option<Vec<u8>>,
}

impl<F: HttpFormat> HttpSink<F> {
    /// Build a sink. It shares the service's client unless it has its own
    /// TLS settings (`ca_file`, `tls_insecure_skip_verify`).
    pub(super) fn build(
        name: &str,
        format: F,
        signing_key: Option<Vec<u8>>,
        ctx: &SinkContext,
    ) -> Result<HttpSink<F>, SinkError> {
        let err = |problem: String| SinkError::Build {
            sink: name.to_owned(),
            problem,
        };
        let s = format.http();
        let own_tls = !s.ca_file.as_os_str().is_empty() || s.tls_insecure_skip_verify;
        let client = if own_tls {
            let mut builder =
                crate::http::builder(crate::http::USER_AGENT, ctx.delivery.request_timeout);
            if !s.ca_file.as_os_str().is_empty() {
                let pem = std::fs::read(&s.ca_file)
                    .map_err(|e| err(format!("ca_file {}: {e}", s.ca_file.display())))?;
                let certs = reqwest::Certificate::from_pem_bundle(&pem)
                    .map_err(|e| err(format!("ca_file {}: {e}", s.ca_file.display())))?;
                if certs.is_empty() {
                    return Err(err(format!(
                        "ca_file {} holds no PEM certificate",
                        s.ca_file.display()
                    )));
                }
                for cert in certs {
                    builder = builder.add_root_certificate(cert);
                }
            }
            if s.tls_insecure_skip_verify {
                tracing::warn!(sink = %name, "TLS certificate verification is OFF for this sink (tls_insecure_skip_verify)");
                builder = builder.danger_accept_invalid_certs(true);
            }
            builder.build().map_err(|e| err(e.to_string()))?
        } else {
            ctx.client.clone()
        };
        Ok(HttpSink {
            format,
            client,
            signing_key,
        })
    }

    /// The exact request this sink sends for `incident`: its creation, or
    /// `call`, one request of an update in place.
    fn request(&self, incident: &Incident, call: Option<&Call>) -> reqwest::RequestBuilder {
        let key = incident.idempotency_key();
        let created;
        let (method, url, body) = match call {
            Some(c) => (c.method.clone(), c.url.clone(), &c.body),
            None => {
                created = self.format.body(incident);
                (reqwest::Method::POST, self.format.url(), &created)
            }
        };
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        let mut req = self
            .client
            .request(method, url)
            .header("Idempotency-Key", &key)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        req = self.format.auth(req);
        if let Some(signing_key) = &self.signing_key {
            let now = crate::model::unix_now();
            req = req
                .header("webhook-id", &key)
                .header("webhook-timestamp", now.to_string())
                .header(
                    "webhook-signature",
                    signature(signing_key, &key, now, &bytes),
                );
        }
        for (name, value) in &self.format.http().headers {
            req = req.header(name.as_str(), value.expose());
        }
        req.body(bytes)
    }

    /// Send one request; the outcome and, when it was read, the answer.
    async fn send(&self, req: reqwest::RequestBuilder) -> (Outcome, String) {
        let resp = match req.send().await {
            Ok(resp) => resp,
            Err(e) => {
                let reason = crate::http::without_url(&e);
                return (
                    Outcome::Retry {
                        after: None,
                        reason,
                    },
                    String::new(),
                );
            }
        };
        let status = resp.status();
        if status.is_success() && !self.format.reads_success_body() {
            return (Outcome::Delivered, String::new());
        }
        let headers = resp.headers().clone();
        let body = read_prefix(resp, MAX_ERROR_BODY).await;
        let outcome = self
            .format
            .judge(status, &body)
            .unwrap_or_else(|| classify(status, &headers, &body));
        (outcome, body)
    }
}

/// A record id from a platform's answer (a string or a number), kept only
/// when it is plain enough to go into a URL path as it is.
pub(super) fn record_id(v: &serde_json::Value) -> Option<String> {
    let id = match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) if n.is_u64() => n.to_string(),
        _ => return None,
    };
    let plain = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"~_-.".contains(&b));
    (plain && id != "." && id != "..").then_some(id)
}

/// One request of an update in place (TheHive's PATCH of the alert, say).
#[derive(Debug, Clone)]
pub(super) struct Call {
    pub(super) method: reqwest::Method,
    pub(super) url: String,
    pub(super) body: serde_json::Value,
}

impl<F: HttpFormat> Deliver for HttpSink<F> {
    fn deliver<'a>(
        &'a self,
        incident: &'a Incident,
        record: Option<&'a str>,
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let calls = match record {
                Some(record) if incident.update_of.is_some() => {
                    self.format.update(incident, record)
                }
                _ => Vec::new(),
            };
            if calls.is_empty() {
                let (outcome, body) = self.send(self.request(incident, None)).await;
                return match (outcome, self.format.record_id(&body)) {
                    (Outcome::Delivered, Some(id)) => Outcome::Recorded(id),
                    (outcome, _) => outcome,
                };
            }
            // every call is idempotent (a PATCH to the same values, an
            // observable or artifact the platform already has counts as
            // delivered), so a retry sends them all again
            for call in &calls {
                match self.send(self.request(incident, Some(call))).await.0 {
                    Outcome::Delivered | Outcome::Recorded(_) => {}
                    other => return other,
                }
            }
            Outcome::Delivered
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_ids_are_kept_only_when_they_fit_a_url_path_as_they_are() {
        use serde_json::json;
        assert_eq!(record_id(&json!("~41")).as_deref(), Some("~41"));
        assert_eq!(record_id(&json!(7)).as_deref(), Some("7"));
        for bad in [
            json!("../admin"),
            json!("a/b"),
            json!("x?y"),
            json!(""),
            json!(-1),
            json!(".."),
            json!(null),
        ] {
            assert_eq!(record_id(&bad), None, "{bad}");
        }
        assert_eq!(record_id(&json!("a".repeat(129))), None);
    }

    /// The example of the Standard Webhooks specification.
    #[test]
    fn standard_webhooks_reference_vector() {
        let key = signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = signature(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(signing_key("whsec_!!!").is_err());
        assert_eq!(signing_key("plain").unwrap(), b"plain");
    }
}
