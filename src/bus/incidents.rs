//! Incidents over the bus: every matcher (with the `delivery` role or not)
//! publishes each incident to the stream `INCIDENTS` (subjects
//! `incidents.<tenant>.<brand>`), and `delivery` processes deliver them to
//! their sinks, one durable consumer per sink (`deliver-<sink>`).
//!
//! - A new incident is published once per dedup window, whichever matcher
//!   raised it: its dedup key is created in the KV bucket `incident_dedup`
//!   (max age: `incidents.dedup_window`) as `pending <id>`, and set to
//!   `sent <id>` once the stream has it. Another matcher that raises the
//!   same (brand, registrable domain) within the window publishes nothing
//!   when it finds `sent`; when it finds `pending` (the first died before
//!   publishing) it publishes its own, under the same idempotency key.
//! - The message id is the incident's idempotency key, so a publish tried
//!   again (a matcher killed after the stream took it) is dropped by the
//!   stream.
//! - The stream keeps incidents for `bus.incidents_max_age` whether or not
//!   a consumer exists yet (limits retention), and refuses new ones when
//!   full (`discard new`): the matcher's outbox holds them and tries again.
//! - Incidents a sink refused for good, or that reached `bus.max_deliver`,
//!   go to `DELIVERY_FAILED` (subjects `failed.<sink>`), with the reason.
//! - What each sink made of a new incident is kept in the KV bucket
//!   `sink_records` (key `<sink>.<dedup_key>`, max age
//!   `bus.records_max_age`): the SOAR's own id of the record (TheHive's
//!   alert, Splunk SOAR's container), or empty when it names none. An update
//!   (a new sighting, an enrichment) then goes to that record, whichever
//!   delivery process sent the incident, as the single process's outbox
//!   does with its `sink_refs`.

use super::BusSettings;
use crate::model::Incident;
use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer, kv, message::PublishMessage, stream};
use bytes::Bytes;
use std::time::Duration;

pub(crate) const DEDUP: &str = "incident_dedup";
pub(crate) const RECORDS: &str = "sink_records";

/// What became of a publish.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Published {
    /// The stream has it (or had it: a copy is dropped by message id).
    Sent,
    /// Another matcher raised this lookalike first (its incident id).
    RaisedElsewhere(String),
}

/// A connection to the incidents' streams and the dedup bucket.
pub(crate) struct IncidentBus {
    js: jetstream::Context,
    dedup: kv::Store,
    records: kv::Store,
    settings: BusSettings,
}

/// A subject token from `s`: letters, digits, `-` and `_` only.
fn token(s: &str) -> String {
    let t: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if t.is_empty() { "_".into() } else { t }
}

/// The key of what `sink` made of the incident `dedup_key` names.
fn record_key(sink: &str, dedup_key: &str) -> String {
    format!("{}.{}", token(sink), token(dedup_key))
}

/// The consumer a sink's deliveries go through.
pub(crate) fn consumer_name(sink: &str) -> String {
    format!("deliver-{}", token(sink))
}

impl IncidentBus {
    /// Connect, and make the streams and the bucket when missing.
    pub(crate) async fn connect(
        settings: &BusSettings,
        dedup_window: Duration,
    ) -> Result<IncidentBus, String> {
        let js = super::client::jetstream(settings)
            .await
            .map_err(|e| e.to_string())?;
        js.get_or_create_stream(stream::Config {
            name: settings.incidents_stream.clone(),
            subjects: vec!["incidents.>".into()],
            retention: stream::RetentionPolicy::Limits,
            discard: stream::DiscardPolicy::New,
            max_bytes: i64::try_from(settings.max_bytes).unwrap_or(i64::MAX),
            max_age: settings.incidents_max_age,
            storage: stream::StorageType::File,
            duplicate_window: settings.duplicate_window,
            ..Default::default()
        })
        .await
        .map_err(|e| format!("stream {}: {e}", settings.incidents_stream))?;
        js.get_or_create_stream(stream::Config {
            name: settings.failed_stream.clone(),
            subjects: vec!["failed.>".into()],
            retention: stream::RetentionPolicy::Limits,
            max_age: settings.incidents_max_age,
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .map_err(|e| format!("stream {}: {e}", settings.failed_stream))?;
        let dedup = super::kv::open(&js, DEDUP, dedup_window).await?;
        let records = super::kv::open(&js, RECORDS, settings.records_max_age).await?;
        Ok(IncidentBus {
            js,
            dedup,
            records,
            settings: settings.clone(),
        })
    }

    /// Publish `incident` (a new one only if this matcher raised it first),
    /// waiting for the stream's acknowledgement.
    pub(crate) async fn publish(&self, incident: &Incident) -> Result<Published, String> {
        let key = incident.dedup_key.as_str();
        let id = incident.id.to_string();
        let new = incident.update_of.is_none();
        if new {
            let pending = Bytes::from(format!("pending {id}"));
            match self.dedup.create(key, pending).await {
                Ok(_) => {}
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                    let holder = self.dedup.get(key).await.map_err(|e| e.to_string())?;
                    let holder = holder.map(|h| String::from_utf8_lossy(&h).into_owned());
                    if let Some(other) = holder.as_deref().and_then(|h| h.strip_prefix("sent ")) {
                        if other == id {
                            return Ok(Published::Sent);
                        }
                        return Ok(Published::RaisedElsewhere(other.to_owned()));
                    }
                    // pending (its matcher may have died before publishing),
                    // or gone since: publish
                }
                Err(e) => return Err(format!("incident dedup: {e}")),
            }
        }
        let payload = serde_json::to_vec(incident).map_err(|e| e.to_string())?;
        let subject = format!(
            "incidents.{}.{}",
            token(&incident.tenant),
            token(&incident.brand)
        );
        let message = PublishMessage::build()
            .payload(payload.into())
            .message_id(incident.idempotency_key());
        self.js
            .send_publish(subject, message)
            .await
            .map_err(|e| e.to_string())?
            .await
            .map_err(|e| e.to_string())?;
        if new {
            // the stream has it: later sightings elsewhere publish nothing
            // (a failure here only means a second copy under the same key)
            if let Err(e) = self.dedup.put(key, Bytes::from(format!("sent {id}"))).await {
                tracing::warn!(error = %e, "incident dedup not marked sent");
            }
        }
        Ok(Published::Sent)
    }

    /// What `sink` made of the incident `dedup_key` names: `None` while it
    /// has not taken it (nor refused it for good), else the id of its record
    /// (`Some(None)`: it names none, or refused the incident).
    pub(crate) async fn record_of(
        &self,
        sink: &str,
        dedup_key: &str,
    ) -> Result<Option<Option<String>>, String> {
        let value = self
            .records
            .get(record_key(sink, dedup_key))
            .await
            .map_err(|e| e.to_string())?;
        Ok(value.map(|v| {
            let id = String::from_utf8_lossy(&v).into_owned();
            (!id.is_empty()).then_some(id)
        }))
    }

    /// Keep what `sink` made of the incident `dedup_key` names (see
    /// [`Self::record_of`]).
    pub(crate) async fn keep_record(
        &self,
        sink: &str,
        dedup_key: &str,
        record: Option<&str>,
    ) -> Result<(), String> {
        let value = Bytes::from(record.unwrap_or_default().to_owned());
        self.records
            .put(record_key(sink, dedup_key), value)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    /// Tries of one delivery before it goes to the failed stream.
    pub(crate) fn max_deliver(&self) -> i64 {
        self.settings.max_deliver
    }

    /// The durable consumer of `sink`'s deliveries, made when missing.
    pub(crate) async fn consumer(
        &self,
        sink: &str,
        ack_wait: Duration,
        max_ack_pending: i64,
    ) -> Result<consumer::PullConsumer, String> {
        let name = consumer_name(sink);
        let stream = self
            .js
            .get_stream(&self.settings.incidents_stream)
            .await
            .map_err(|e| e.to_string())?;
        stream
            .get_or_create_consumer(
                &name,
                consumer::pull::Config {
                    durable_name: Some(name.clone()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait,
                    max_deliver: self.settings.max_deliver,
                    max_ack_pending,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| format!("consumer {name}: {e}"))
    }

    /// Keep an incident `sink` could not deliver in the failed stream.
    pub(crate) async fn fail(
        &self,
        sink: &str,
        payload: Bytes,
        reason: &str,
    ) -> Result<(), String> {
        let mut headers = HeaderMap::new();
        headers.insert("Certsentry-Sink", sink);
        // a header value is one line
        let reason: String = reason
            .chars()
            .filter(|c| !c.is_control())
            .take(500)
            .collect();
        headers.insert("Certsentry-Reason", reason.as_str());
        self.js
            .publish_with_headers(format!("failed.{}", token(sink)), headers, payload)
            .await
            .map_err(|e| e.to_string())?
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

/// An api process's side: keep every incident of the stream in `model`,
/// from where it got to, until shutdown, and tell `feed` (`/v1/events`)
/// of each one kept. An ordered consumer of its own reads the stream; the
/// position moves with each incident kept, so a restart or a lost
/// connection resumes right after the last one.
pub(crate) async fn follow_incidents(
    settings: BusSettings,
    model: std::sync::Arc<dyn super::ReadModel>,
    feed: tokio::sync::broadcast::Sender<Incident>,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    use futures_util::StreamExt;
    use tracing::Instrument;
    let stream_name = settings.incidents_stream.clone();
    let span = tracing::info_span!("read_model", stream = %stream_name);
    async move {
        let mut delay = super::client::BACKOFF_FIRST;
        loop {
            let opened = async {
                let next = model.next_sequence(&stream_name).await?;
                let js = super::client::jetstream(&settings)
                    .await
                    .map_err(|e| e.to_string())?;
                let stream = js
                    .get_stream(&stream_name)
                    .await
                    .map_err(|e| e.to_string())?;
                let consumer = stream
                    .create_consumer(consumer::pull::OrderedConfig {
                        deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                            start_sequence: next,
                        },
                        ..Default::default()
                    })
                    .await
                    .map_err(|e| e.to_string())?;
                let messages = consumer.messages().await.map_err(|e| e.to_string())?;
                Ok::<_, String>((next, messages))
            }
            .await;
            let (from, mut messages) = match opened {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "incidents' stream not readable yet; trying again");
                    if !super::client::pause(&mut delay, &shutdown).await {
                        return;
                    }
                    continue;
                }
            };
            delay = super::client::BACKOFF_FIRST;
            tracing::info!(from, "keeping the incidents of the bus");
            loop {
                let next = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    next = messages.next() => next,
                };
                let message = match next {
                    Some(Ok(m)) => m,
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "reading the incidents' stream failed; resuming");
                        break;
                    }
                    None => break,
                };
                let Ok(info) = message.info() else {
                    continue;
                };
                let seq = info.stream_sequence;
                match serde_json::from_slice::<Incident>(&message.payload) {
                    Ok(incident) => {
                        if let Err(e) = model.keep(&stream_name, seq, incident.clone()).await {
                            metrics.add(&metrics.store_errors, 1);
                            tracing::error!(error = %e, seq, "incident not kept; resuming from it");
                            break;
                        }
                        // nobody listening is fine
                        let _ = feed.send(incident);
                    }
                    Err(e) => {
                        metrics.add(&metrics.bus_bad_messages, 1);
                        tracing::error!(error = %e, seq, "incidents' stream message is not an incident; skipped");
                    }
                }
            }
            if !super::client::pause(&mut delay, &shutdown).await {
                return;
            }
        }
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_and_consumers_are_plain_tokens() {
        assert_eq!(token("paypal.com"), "paypal_com");
        assert_eq!(token("bücher.de"), "b_cher_de");
        assert_eq!(consumer_name("xsoar prod"), "deliver-xsoar_prod");
        assert_eq!(token(""), "_");
    }
}
