//! The delivery worker: a loop over one sink's durable queue with explicit
//! outcomes. It takes due outbox rows, sends them with bounded concurrency,
//! and records the outcome: delivered rows are deleted, retryable failures
//! are rescheduled with exponential backoff (honouring `Retry-After`, up to
//! `delivery.max_age`), permanent ones are kept as `failed` and shown in
//! `/v1/status` and `/metrics`.

use super::{DeliverySettings, Outcome, Sink};
use crate::metrics::Metrics;
use crate::model::unix_ms;
use crate::store::{OutboxItem, Store, StoreError};
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

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
        let batch = (self.settings.concurrency * 4).max(16);
        let due: Vec<OutboxItem> = self
            .store
            .due(&self.sink.name, unix_ms(SystemTime::now()), batch)
            .await?;
        let n = due.len();
        let results: Vec<(OutboxItem, Outcome)> = futures_util::stream::iter(due)
            .map(|item| async move {
                let outcome = self
                    .sink
                    .deliver(&item.incident, item.record.as_deref())
                    .await;
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
        let now = SystemTime::now();
        let age = Duration::from_millis((unix_ms(now) - item.created_ms).max(0) as u64);
        let span = tracing::info_span!("deliver", sink = %self.sink.name, incident = %item.incident.id, domain = %item.incident.domain);
        let _enter = span.enter();
        let action = match outcome {
            Outcome::Delivered => {
                self.metrics.add(&self.metrics.deliveries_ok, 1);
                tracing::info!(
                    attempts = item.attempts + 1,
                    in_place = item.record.is_some(),
                    "delivered"
                );
                Action::Delete(None)
            }
            Outcome::Recorded(record) => {
                self.metrics.add(&self.metrics.deliveries_ok, 1);
                tracing::info!(attempts = item.attempts + 1, %record, "delivered");
                Action::Delete(Some(record))
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
        match action {
            Action::Delete(record) => self.store.mark_delivered(item.id, record).await,
            Action::Retry(at, reason) => self.store.mark_retry(item.id, at, reason).await,
            Action::Fail(reason) => self.store.mark_failed(item.id, reason).await,
        }
    }

    /// Deliver until cancelled; an attempt in progress finishes and is
    /// recorded first.
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
            if shutdown.is_cancelled() {
                return;
            }
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
        let next = self.store.next_due_ms(&self.sink.name).await.ok().flatten();
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
    /// Delivered; the record the sink named, if it did.
    Delete(Option<String>),
    Retry(i64, String),
    Fail(String),
}
