//! Delivery: the outbox worker and one module per SOAR request format.
//!
//! A sink is a request builder (a pure mapping of [`Incident`] to an HTTP
//! request) plus a retry classifier ([`classify`]). The worker takes due
//! outbox rows, sends them with bounded concurrency, and records the outcome:
//! delivered rows are deleted, retryable failures are rescheduled with
//! exponential backoff (honouring `Retry-After`), permanent ones are kept as
//! `failed` and shown in `/v1/status` and `/metrics`.

mod webhook;
mod xsoar_webhook;

use crate::config::{DeliverySettings, SinkKind, SinkSettings};
use crate::incident::Incident;
use crate::metrics::Metrics;
use crate::store::{OutboxItem, Store, StoreError, unix_ms};
use futures_util::StreamExt;
use reqwest::StatusCode;
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

/// A configured destination.
#[derive(Debug)]
pub struct Sink {
    pub name: String,
    settings: SinkSettings,
    client: reqwest::Client,
}

impl Sink {
    pub fn from_config(settings: &SinkSettings, client: reqwest::Client) -> Sink {
        Sink {
            name: settings.name.clone(),
            settings: settings.clone(),
            client,
        }
    }

    /// The exact request this sink sends for `incident`.
    pub fn request(&self, incident: &Incident) -> reqwest::RequestBuilder {
        let s = &self.settings;
        let body = match s.kind {
            SinkKind::Webhook => webhook::body(incident),
            SinkKind::XsoarWebhook => xsoar_webhook::body(incident, s),
        };
        let mut req = self
            .client
            .post(&s.url)
            .header("Idempotency-Key", &incident.dedup_key)
            .header(
                "User-Agent",
                concat!("certsentry/", env!("CARGO_PKG_VERSION")),
            )
            .json(&body);
        req = match s.kind {
            SinkKind::XsoarWebhook => xsoar_webhook::auth(req, s),
            SinkKind::Webhook => webhook::auth(req, s),
        };
        for (name, value) in &s.headers {
            req = req.header(name.as_str(), value.expose());
        }
        req
    }

    pub async fn deliver(&self, incident: &Incident) -> Outcome {
        classify(self.request(incident).send().await)
    }
}

/// The retry classifier: connection errors, 408, 429 and 5xx are retried;
/// other 4xx are permanent; 2xx is delivered.
pub fn classify(result: Result<reqwest::Response, reqwest::Error>) -> Outcome {
    match result {
        Err(e) => Outcome::Retry {
            after: None,
            reason: crate::watchlist::without_url(&e),
        },
        Ok(resp) => {
            let status = resp.status();
            if status.is_success() {
                return Outcome::Delivered;
            }
            let retryable = status == StatusCode::REQUEST_TIMEOUT
                || status == StatusCode::TOO_MANY_REQUESTS
                || status.is_server_error();
            let reason = format!("HTTP {status}");
            if retryable {
                Outcome::Retry {
                    after: retry_after(resp.headers()),
                    reason,
                }
            } else {
                Outcome::Failed(reason)
            }
        }
    }
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
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
    fn retry_after_parses_seconds_and_dates() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        let future = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        h.insert("retry-after", future.parse().unwrap());
        let d = retry_after(&h).unwrap();
        assert!(d > Duration::from_secs(100) && d <= Duration::from_secs(120));
        h.insert("retry-after", "garbage".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }
}
