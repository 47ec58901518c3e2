//! Delivery across the bus (`[bus]`, issue #19), both ends:
//!
//! - [`BusSink`]: a matcher (with the `delivery` role or not) hands its
//!   incidents to the incidents' stream through its outbox like any sink, so a
//!   matcher killed before the stream took one sends it after its restart;
//! - [`deliver_from_bus`]: a `delivery` process delivers what the stream
//!   holds to one configured sink, through that sink's durable consumer.
//!   A message is acknowledged only once the sink has answered; a slow
//!   answer keeps the message with progress acknowledgements; a retryable
//!   refusal is handed back with the backoff of `[delivery]` (or the sink's
//!   `Retry-After`); a permanent one, or the last of `bus.max_deliver`
//!   tries, goes to the failed stream. What the sink made of a new incident
//!   (its record's id) is kept on the bus, and an update goes to that
//!   record; an update whose incident the sink has not taken yet waits.

use super::{Deliver, DeliverySettings, Outcome, Sink};
use crate::bus::{BusSettings, IncidentBus, Published};
use crate::metrics::Metrics;
use crate::model::Incident;
use async_nats::jetstream::{self, AckKind};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// The outbox's name for the incidents' stream.
pub(crate) const NAME: &str = "bus";

/// Publishes incidents to the incidents' stream (a matcher's only sink).
pub(crate) struct BusSink {
    settings: BusSettings,
    dedup_window: Duration,
    connection: Mutex<Option<Arc<IncidentBus>>>,
}

impl BusSink {
    pub(crate) fn new(settings: BusSettings, dedup_window: Duration) -> BusSink {
        BusSink {
            settings,
            dedup_window,
            connection: Mutex::new(None),
        }
    }

    async fn connection(&self) -> Result<Arc<IncidentBus>, String> {
        let mut held = self.connection.lock().await;
        if let Some(c) = &*held {
            return Ok(c.clone());
        }
        let c = Arc::new(IncidentBus::connect(&self.settings, self.dedup_window).await?);
        *held = Some(c.clone());
        Ok(c)
    }
}

impl Deliver for BusSink {
    fn deliver<'a>(&'a self, incident: &'a Incident, _: Option<&'a str>) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let published = match self.connection().await {
                Ok(bus) => bus.publish(incident).await,
                Err(e) => Err(e),
            };
            match published {
                Ok(Published::Sent) => Outcome::Delivered,
                Ok(Published::RaisedElsewhere(other)) => {
                    tracing::info!(incident = %incident.id, other = %other, domain = %incident.domain,
                        "another matcher raised this lookalike first; not published again");
                    Outcome::Delivered
                }
                Err(reason) => Outcome::Retry {
                    after: None,
                    reason: format!("bus: {reason}"),
                },
            }
        })
    }
}

/// The wait before try `delivered` + 1 of a refused delivery.
fn backoff(settings: &DeliverySettings, delivered: i64) -> Duration {
    let doublings = u32::try_from(delivered.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(20);
    settings
        .initial_backoff
        .saturating_mul(1 << doublings)
        .min(settings.max_backoff)
}

/// Deliver the incidents' stream to `sink` until shutdown, reconnecting
/// with backoff when the broker goes away.
pub(crate) async fn deliver_from_bus(
    bus: BusSettings,
    sink: Arc<Sink>,
    routes: Arc<crate::tenants::SinkRoutes>,
    delivery: DeliverySettings,
    dedup_window: Duration,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    use tracing::Instrument;
    let span = tracing::info_span!("deliver_from_bus", sink = %sink.name);
    async move {
        let mut delay = delivery.initial_backoff;
        let ack_wait = bus.ack_wait.max(delivery.request_timeout * 2);
        let pending = i64::try_from(delivery.concurrency * 4).unwrap_or(64);
        loop {
            let taken = async {
                let conn = IncidentBus::connect(&bus, dedup_window).await?;
                let consumer = conn.consumer(&sink.name, ack_wait, pending).await?;
                let messages = consumer
                    .stream()
                    .expires(crate::bus::PULL_EXPIRES)
                    .heartbeat(crate::bus::PULL_HEARTBEAT)
                    .messages()
                    .await
                    .map_err(|e| e.to_string())?;
                Ok::<_, String>((conn, messages))
            }
            .await;
            let (conn, messages) = match taken {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(error = %e, "incidents' stream not readable; trying again");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            delay = delivery.initial_backoff;
            tracing::info!("delivering incidents from the bus");
            let conn = &conn;
            let (sink, delivery, metrics, routes) = (&sink, &delivery, &metrics, &routes);
            let mut handled = std::pin::pin!(messages
                .take_until(shutdown.cancelled())
                .map(|m| async move {
                    match m {
                        Ok(m) => {
                            handle(conn, sink, routes, delivery, metrics, ack_wait, m).await;
                            true
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "reading the incidents' stream failed; reconnecting");
                            false
                        }
                    }
                })
                .buffer_unordered(delivery.concurrency));
            let mut broken = false;
            while let Some(ok) = handled.next().await {
                if !ok {
                    broken = true;
                    break;
                }
            }
            if !broken || shutdown.is_cancelled() {
                return;
            }
        }
    }
    .instrument(span)
    .await
}

/// One incident to the sink, and what the stream is told of it.
async fn handle(
    conn: &IncidentBus,
    sink: &Sink,
    routes: &crate::tenants::SinkRoutes,
    delivery: &DeliverySettings,
    metrics: &Metrics,
    ack_wait: Duration,
    message: jetstream::Message,
) {
    let delivered = message.info().map_or(1, |i| i.delivered);
    let incident: Incident = match serde_json::from_slice(&message.payload) {
        Ok(i) => i,
        Err(e) => {
            metrics.add(&metrics.bus_bad_messages, 1);
            tracing::error!(error = %e, "incidents' stream message is not an incident");
            fail(
                conn,
                sink,
                metrics,
                &message,
                None,
                &format!("not an incident: {e}"),
            )
            .await;
            return;
        }
    };
    if !routes.routes(&incident.tenant, &sink.name) {
        // another tenant's: not this sink's to deliver
        let _ = message.ack().await;
        return;
    }
    let last_try = delivered >= conn.max_deliver();
    // an update goes to the record the sink made of its incident
    let record = if incident.update_of.is_some() {
        match conn
            .record_of(&sink.name, incident.dedup_key.as_str())
            .await
        {
            Ok(Some(record)) => record,
            Ok(None) if !last_try => {
                // its incident is still on its way to this sink
                let wait = backoff(delivery, delivered);
                tracing::debug!(incident = %incident.id, ?wait, "update waits for its incident's delivery");
                let _ = message.ack_with(AckKind::Nak(Some(wait))).await;
                return;
            }
            Err(e) if !last_try => {
                let wait = backoff(delivery, delivered);
                tracing::warn!(error = %e, ?wait, "sink records not readable; the update waits");
                let _ = message.ack_with(AckKind::Nak(Some(wait))).await;
                return;
            }
            Ok(None) | Err(_) => {
                tracing::warn!(incident = %incident.id, domain = %incident.domain,
                    "the incident this update adds to never reached the sink; sent on its own");
                None
            }
        }
    } else {
        None
    };
    let new_incident = incident
        .update_of
        .is_none()
        .then(|| incident.dedup_key.as_str());
    // keep the message ours while the sink takes its time
    let outcome = {
        let send = sink.deliver(&incident, record.as_deref());
        tokio::pin!(send);
        let mut progress = tokio::time::interval(ack_wait / 3);
        progress.tick().await;
        loop {
            tokio::select! {
                outcome = &mut send => break outcome,
                _ = progress.tick() => {
                    let _ = message.ack_with(AckKind::Progress).await;
                }
            }
        }
    };
    match outcome {
        Outcome::Delivered | Outcome::Recorded(_) => {
            metrics.add(&metrics.deliveries_ok, 1);
            tracing::info!(incident = %incident.id, domain = %incident.domain, "delivered");
            if let Some(key) = new_incident {
                let made = match &outcome {
                    Outcome::Recorded(id) => Some(id.as_str()),
                    _ => None,
                };
                if let Err(e) = conn.keep_record(&sink.name, key, made).await {
                    // its updates wait, then go on their own at their last try
                    tracing::warn!(error = %e, incident = %incident.id, "the sink's record not kept on the bus");
                }
            }
            if let Err(e) = message.ack().await {
                // the stream hands it out again; the sink's idempotency key
                // keeps the second delivery from becoming a second record
                tracing::warn!(error = %e, "acknowledgement lost; the incident comes again");
            }
        }
        Outcome::Retry { reason, .. } if last_try => {
            fail(
                conn,
                sink,
                metrics,
                &message,
                new_incident,
                &format!("gave up after {delivered} tries: {reason}"),
            )
            .await;
        }
        Outcome::Retry { after, reason } => {
            metrics.add(&metrics.deliveries_retried, 1);
            let wait = after.unwrap_or_else(|| backoff(delivery, delivered));
            tracing::warn!(incident = %incident.id, %reason, ?wait, "delivery refused; trying again");
            let _ = message.ack_with(AckKind::Nak(Some(wait))).await;
        }
        Outcome::Failed(reason) => fail(conn, sink, metrics, &message, new_incident, &reason).await,
    }
}

/// Into the failed stream, then off the sink's consumer for good. If the
/// failed stream does not take it, the message is handed back instead.
/// `new_incident`: the dedup key of a new incident, whose updates then go
/// on their own instead of waiting for it.
async fn fail(
    conn: &IncidentBus,
    sink: &Sink,
    metrics: &Metrics,
    message: &jetstream::Message,
    new_incident: Option<&str>,
    reason: &str,
) {
    metrics.add(&metrics.deliveries_failed, 1);
    tracing::error!(sink = %sink.name, %reason, "delivery failed for good; kept in the failed stream");
    match conn.fail(&sink.name, message.payload.clone(), reason).await {
        Ok(()) => {
            if let Some(key) = new_incident
                && let Err(e) = conn.keep_record(&sink.name, key, None).await
            {
                tracing::warn!(error = %e, "the refusal not kept on the bus; its updates wait");
            }
            let _ = message.ack_with(AckKind::Term).await;
        }
        Err(e) => {
            tracing::error!(error = %e, "the failed stream did not take it; trying again");
            let _ = message
                .ack_with(AckKind::Nak(Some(Duration::from_secs(5))))
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_back_off_by_the_tries_so_far() {
        let s = DeliverySettings {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            ..DeliverySettings::default()
        };
        assert_eq!(backoff(&s, 1), Duration::from_millis(100));
        assert_eq!(backoff(&s, 3), Duration::from_millis(400));
        assert_eq!(backoff(&s, 60), Duration::from_secs(1));
    }
}
