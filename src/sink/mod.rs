//! Delivery: the outbox worker and one module per SOAR request format.
//!
//! A sink is a request builder (a pure mapping of [`Incident`] to an HTTP
//! request) plus a retry classifier ([`classify`]). The worker takes due
//! outbox rows, sends them with bounded concurrency, and records the outcome:
//! delivered rows are deleted, retryable failures are rescheduled with
//! exponential backoff (honouring `Retry-After`), permanent ones are kept as
//! `failed` and shown in `/v1/status` and `/metrics`.

mod splunk_soar;
mod thehive;
mod webhook;
mod xsoar_rest;
mod xsoar_webhook;

pub use webhook::{signature as webhook_signature, signing_key as webhook_signing_key};

use crate::config::{DeliverySettings, SinkKind, SinkSettings};
use crate::incident::Incident;
use crate::metrics::Metrics;
use crate::store::{OutboxItem, Store, StoreError, unix_ms};
use futures_util::StreamExt;
use reqwest::StatusCode;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Try again later; `after` is the server's `Retry-After` when it sent one.
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    /// The sink refused the request for good (other 4xx).
    Failed(String),
}

/// A sink that cannot be built from its settings.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("sink {sink}: {problem}")]
    Build { sink: String, problem: String },
}

/// A configured destination.
#[derive(Debug)]
pub struct Sink {
    pub name: String,
    settings: SinkSettings,
    client: reqwest::Client,
    /// The Standard Webhooks HMAC key (`webhook` with a `secret`).
    signing_key: Option<Vec<u8>>,
}

/// Most bytes of a refusal's body read for classification and the error text.
const MAX_ERROR_BODY: usize = 64 * 1024;

impl Sink {
    /// Build a sink. It shares `client` unless it has its own TLS settings
    /// (`ca_file`, `tls_insecure_skip_verify`), which get a client of their own.
    pub fn from_config(
        settings: &SinkSettings,
        client: reqwest::Client,
        delivery: &DeliverySettings,
    ) -> Result<Sink, SinkError> {
        let err = |problem: String| SinkError::Build {
            sink: settings.name.clone(),
            problem,
        };
        let signing_key = if settings.secret.is_empty() {
            None
        } else {
            Some(webhook::signing_key(settings.secret.expose()).map_err(err)?)
        };
        let own_tls = !settings.ca_file.as_os_str().is_empty() || settings.tls_insecure_skip_verify;
        let client = if own_tls {
            let mut builder = reqwest::Client::builder()
                .timeout(delivery.request_timeout)
                .connect_timeout(Duration::from_secs(10))
                .user_agent(concat!("certsentry/", env!("CARGO_PKG_VERSION")));
            if !settings.ca_file.as_os_str().is_empty() {
                let pem = std::fs::read(&settings.ca_file)
                    .map_err(|e| err(format!("ca_file {}: {e}", settings.ca_file.display())))?;
                let certs = reqwest::Certificate::from_pem_bundle(&pem)
                    .map_err(|e| err(format!("ca_file {}: {e}", settings.ca_file.display())))?;
                if certs.is_empty() {
                    return Err(err(format!(
                        "ca_file {} holds no PEM certificate",
                        settings.ca_file.display()
                    )));
                }
                for cert in certs {
                    builder = builder.add_root_certificate(cert);
                }
            }
            if settings.tls_insecure_skip_verify {
                tracing::warn!(sink = %settings.name, "TLS certificate verification is OFF for this sink (tls_insecure_skip_verify)");
                builder = builder.danger_accept_invalid_certs(true);
            }
            builder.build().map_err(|e| err(e.to_string()))?
        } else {
            client
        };
        Ok(Sink {
            name: settings.name.clone(),
            settings: settings.clone(),
            client,
            signing_key,
        })
    }

    pub fn kind(&self) -> SinkKind {
        self.settings.kind
    }

    /// The exact request this sink sends for `incident`.
    pub fn request(&self, incident: &Incident) -> reqwest::RequestBuilder {
        let s = &self.settings;
        let key = incident.idempotency_key();
        let (url, body) = match s.kind {
            SinkKind::Webhook => (s.url.clone(), webhook::body(incident)),
            SinkKind::XsoarWebhook => (s.url.clone(), xsoar_webhook::body(incident, s)),
            SinkKind::XsoarRest => (xsoar_rest::url(s), xsoar_rest::body(incident, s)),
            SinkKind::Thehive => (thehive::url(s), thehive::body(incident, s)),
            SinkKind::SplunkSoar => (splunk_soar::url(s), splunk_soar::body(incident, s)),
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut req = self
            .client
            .post(url)
            .header("Idempotency-Key", &key)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(
                reqwest::header::USER_AGENT,
                concat!("certsentry/", env!("CARGO_PKG_VERSION")),
            );
        req = match s.kind {
            SinkKind::Webhook => webhook::auth(req, s),
            SinkKind::XsoarWebhook => xsoar_webhook::auth(req, s),
            SinkKind::XsoarRest => xsoar_rest::auth(req, s),
            SinkKind::Thehive => thehive::auth(req, s),
            SinkKind::SplunkSoar => splunk_soar::auth(req, s),
        };
        if let Some(signing_key) = &self.signing_key {
            let now = crate::watchlist::unix_now();
            req = webhook::sign(req, signing_key, &key, now, &bytes);
        }
        for (name, value) in &s.headers {
            req = req.header(name.as_str(), value.expose());
        }
        req.body(bytes)
    }

    pub async fn deliver(&self, incident: &Incident) -> Outcome {
        let resp = match self.request(incident).send().await {
            Ok(resp) => resp,
            Err(e) => {
                return Outcome::Retry {
                    after: None,
                    reason: crate::watchlist::without_url(&e),
                };
            }
        };
        let status = resp.status();
        let reads_body = !status.is_success() || self.settings.kind == SinkKind::SplunkSoar;
        if !reads_body {
            return Outcome::Delivered;
        }
        let headers = resp.headers().clone();
        let body = read_prefix(resp, MAX_ERROR_BODY).await;
        let duplicate = match self.settings.kind {
            SinkKind::Thehive => thehive::duplicate(status, &body),
            SinkKind::SplunkSoar => splunk_soar::duplicate(status, &body),
            _ => false,
        };
        if duplicate && !status.is_server_error() {
            return Outcome::Delivered;
        }
        if status.is_success() {
            return match splunk_soar::refused(&body) {
                Some(message) if self.settings.kind == SinkKind::SplunkSoar => {
                    Outcome::Failed(format!("HTTP {status}: {}", snippet(&message)))
                }
                _ => Outcome::Delivered,
            };
        }
        classify(status, &headers, &body)
    }
}

/// Read at most `max` bytes of a response body, lossily as text.
async fn read_prefix(mut resp: reqwest::Response, max: usize) -> String {
    let mut buf = Vec::new();
    while buf.len() < max {
        match resp.chunk().await {
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
            _ => break,
        }
    }
    buf.truncate(max);
    String::from_utf8_lossy(&buf).into_owned()
}

/// The start of a response body for an error message, on one line.
fn snippet(body: &str) -> String {
    let one_line: String = body
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    one_line.trim().to_owned()
}

/// The retry classifier for a refusal: 408, 429 and 5xx are retried (after
/// `Retry-After` when given); other statuses are permanent.
pub fn classify(status: StatusCode, headers: &reqwest::header::HeaderMap, body: &str) -> Outcome {
    if status.is_success() {
        return Outcome::Delivered;
    }
    let retryable = status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error();
    let detail = snippet(body);
    let reason = if detail.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {detail}")
    };
    if retryable {
        Outcome::Retry {
            after: crate::retry::retry_after(headers),
            reason,
        }
    } else {
        Outcome::Failed(reason)
    }
}

/// Hex without colons, lower-case: `AB:CD` becomes `abcd` (hash observables).
pub(crate) fn plain_hex(colon_hex: &str) -> String {
    colon_hex
        .chars()
        .filter(|c| *c != ':')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The certificate's names that sit under the lookalike registrable domain
/// (wildcards stripped), sorted and without duplicates.
pub(crate) fn lookalike_names(incident: &Incident) -> Vec<String> {
    let reg = incident.registrable_domain.to_ascii_lowercase();
    let dotted = format!(".{reg}");
    let mut names: BTreeSet<String> = BTreeSet::new();
    let all = incident
        .certificate
        .all_domains
        .iter()
        .chain(std::iter::once(&incident.domain));
    for name in all {
        let n = name.trim_start_matches("*.").to_ascii_lowercase();
        if n == reg || n.ends_with(&dotted) {
            names.insert(n);
        }
    }
    names.into_iter().collect()
}

/// RFC 3339 to Unix milliseconds (0 when unparsable).
pub(crate) fn epoch_ms(rfc3339: &str) -> i64 {
    humantime::parse_rfc3339(rfc3339)
        .map(unix_ms)
        .unwrap_or_default()
}

/// A Markdown description of an incident for case tools.
pub(crate) fn markdown(incident: &Incident) -> String {
    let c = &incident.certificate;
    let or_dash = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
    let date = |t: Option<i64>| {
        t.and_then(|secs| u64::try_from(secs).ok())
            .map(|secs| {
                humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(secs))
                    .to_string()
            })
            .unwrap_or_else(|| "-".into())
    };
    format!(
        "**{explanation}**\n\n\
         | | |\n|---|---|\n\
         | Brand | {brand} |\n\
         | Lookalike | {domain} ({unicode}) |\n\
         | Match | {kind}, score {score}, {severity:?} |\n\
         | Subject | {subject} |\n\
         | Issuer | {issuer} |\n\
         | Names | {names} |\n\
         | Serial | {serial} |\n\
         | SHA-256 | {sha256} |\n\
         | SHA-1 | {sha1} |\n\
         | Valid | {nb} to {na} |\n\
         | CT log | {log} #{index} |\n\
         | Link | {link} |\n",
        explanation = incident.detail.explanation,
        brand = incident.brand,
        domain = incident.domain,
        unicode = incident.domain_unicode,
        kind = incident.detail.kind.as_str(),
        score = incident.score,
        severity = incident.severity,
        subject = or_dash(&c.subject.aggregated),
        issuer = or_dash(&c.issuer.aggregated),
        names = c.all_domains.join(", "),
        serial = c.serial_number,
        sha256 = c.sha256,
        sha1 = c.sha1,
        nb = date(c.not_before),
        na = date(c.not_after),
        log = incident.ct.log_name,
        index = incident
            .ct
            .cert_index
            .map_or_else(|| "-".to_owned(), |i| i.to_string()),
        link = incident.ct.cert_link,
    )
}

/// Drains one sink's outbox.
pub struct DeliveryWorker {
    pub sink: Arc<Sink>,
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub settings: DeliverySettings,
    /// Signalled when the pipeline queued something new.
    pub wake: Arc<Notify>,
}

impl DeliveryWorker {
    /// Send every due delivery once. Returns how many were attempted.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let store = self.store.clone();
        let sink_name = self.sink.name.clone();
        let batch = (self.settings.concurrency * 4).max(16);
        let due: Vec<OutboxItem> = tokio::task::spawn_blocking(move || {
            store.due(&sink_name, unix_ms(SystemTime::now()), batch)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))??;
        let n = due.len();
        let results: Vec<(OutboxItem, Outcome)> = futures_util::stream::iter(due)
            .map(|item| async move {
                let outcome = self.sink.deliver(&item.incident).await;
                (item, outcome)
            })
            .buffer_unordered(self.settings.concurrency)
            .collect()
            .await;
        for (item, outcome) in results {
            self.record(item, outcome).await?;
        }
        Ok(n)
    }

    async fn record(&self, item: OutboxItem, outcome: Outcome) -> Result<(), StoreError> {
        let store = self.store.clone();
        let now = SystemTime::now();
        let age = Duration::from_millis((unix_ms(now) - item.created_ms).max(0) as u64);
        let span = tracing::info_span!("deliver", sink = %self.sink.name, incident = %item.incident.id, domain = %item.incident.domain);
        let _enter = span.enter();
        let action = match outcome {
            Outcome::Delivered => {
                self.metrics.add(&self.metrics.deliveries_ok, 1);
                tracing::info!(attempts = item.attempts + 1, "delivered");
                Action::Delete
            }
            Outcome::Retry { reason, .. } if age >= self.settings.max_age => {
                self.metrics.add(&self.metrics.deliveries_failed, 1);
                let reason = format!(
                    "gave up after {}: {reason}",
                    humantime::format_duration(Duration::from_secs(age.as_secs()))
                );
                tracing::error!(%reason, "delivery failed permanently");
                Action::Fail(reason)
            }
            Outcome::Retry { after, reason } => {
                self.metrics.add(&self.metrics.deliveries_retried, 1);
                let delay = match after {
                    Some(a) => a.min(self.settings.max_backoff),
                    None => crate::retry::backoff(
                        item.attempts,
                        self.settings.initial_backoff,
                        self.settings.max_backoff,
                    ),
                };
                tracing::warn!(%reason, retry_in = ?delay, attempts = item.attempts + 1, "delivery will be retried");
                Action::Retry(unix_ms(now + delay), reason)
            }
            Outcome::Failed(reason) => {
                self.metrics.add(&self.metrics.deliveries_failed, 1);
                tracing::error!(%reason, "delivery refused by the sink; kept as failed");
                Action::Fail(reason)
            }
        };
        drop(_enter);
        tokio::task::spawn_blocking(move || match action {
            Action::Delete => store.mark_delivered(item.id),
            Action::Retry(at, reason) => store.mark_retry(item.id, at, &reason),
            Action::Fail(reason) => store.mark_failed(item.id, &reason),
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Deliver until cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let attempted = match self.run_once().await {
                Ok(n) => n,
                Err(e) => {
                    self.metrics.add(&self.metrics.store_errors, 1);
                    tracing::error!(error = %e, sink = %self.sink.name, "outbox read failed");
                    0
                }
            };
            if attempted > 0 {
                continue;
            }
            let wait = self.idle_wait().await;
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// How long to sleep with nothing due: until the next retry, at most the poll interval.
    async fn idle_wait(&self) -> Duration {
        let store = self.store.clone();
        let name = self.sink.name.clone();
        let next = tokio::task::spawn_blocking(move || store.next_due_ms(&name))
            .await
            .ok()
            .and_then(|r| r.ok())
            .flatten();
        let poll = self.settings.poll_interval;
        match next {
            Some(at) => {
                let now = unix_ms(SystemTime::now());
                Duration::from_millis((at - now).max(5) as u64).min(poll)
            }
            None => poll,
        }
    }
}

enum Action {
    Delete,
    Retry(i64, String),
    Fail(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_settings_build_their_own_client_or_fail_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("ca.pem");
        std::fs::write(&garbage, "not a certificate").unwrap();
        let mut s = SinkSettings {
            name: "internal".into(),
            url: "https://xsoar.internal".into(),
            ca_file: garbage,
            ..SinkSettings::default()
        };
        let d = DeliverySettings::default();
        let e = Sink::from_config(&s, reqwest::Client::new(), &d)
            .unwrap_err()
            .to_string();
        assert!(e.contains("internal") && e.contains("ca.pem"), "{e}");
        s.ca_file = std::path::PathBuf::new();
        s.tls_insecure_skip_verify = true;
        assert!(Sink::from_config(&s, reqwest::Client::new(), &d).is_ok());
        s.secret = crate::config::Secret::new("whsec_***");
        assert!(Sink::from_config(&s, reqwest::Client::new(), &d).is_err());
    }
}
