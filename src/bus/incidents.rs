//! Incidents over the bus: a matcher without the `delivery` role publishes
//! each incident to the stream `INCIDENTS` (subjects
//! `incidents.<tenant>.<brand>`), and `delivery` processes deliver them to
//! their sinks, one durable consumer per sink (`deliver-<sink>`).
//!
//! - A new incident is published only by the matcher that raised it first:
//!   its dedup key is created in the KV bucket `incident_dedup` (max age:
//!   `incidents.dedup_window`) with the incident's id as value. Another
//!   matcher that raises the same (brand, registrable domain) within the
//!   window finds the key taken by another id and publishes nothing.
//! - The message id is the incident's idempotency key, so a publish tried
//!   again (a matcher killed after the stream took it) is dropped by the
//!   stream.
//! - The stream keeps incidents for `bus.incidents_max_age` whether or not
//!   a consumer exists yet (limits retention), and refuses new ones when
//!   full (`discard new`): the matcher's outbox holds them and tries again.
//! - Incidents a sink refused for good, or that reached `bus.max_deliver`,
//!   go to `DELIVERY_FAILED` (subjects `failed.<sink>`), with the reason.

use super::BusSettings;
use crate::model::Incident;
use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer, kv, message::PublishMessage, stream};
use bytes::Bytes;
use std::time::Duration;

pub(crate) const DEDUP: &str = "incident_dedup";

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
        Ok(IncidentBus {
            js,
            dedup,
            settings: settings.clone(),
        })
    }

    /// Publish `incident` (a new one only if this matcher raised it first),
    /// waiting for the stream's acknowledgement.
    pub(crate) async fn publish(&self, incident: &Incident) -> Result<Published, String> {
        if incident.update_of.is_none() {
            let key = incident.dedup_key.as_str();
            let id = incident.id.to_string();
            match self.dedup.create(key, Bytes::from(id.clone())).await {
                Ok(_) => {}
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                    let holder = self.dedup.get(key).await.map_err(|e| e.to_string())?;
                    match holder {
                        Some(other) if other.as_ref() != id.as_bytes() => {
                            return Ok(Published::RaisedElsewhere(
                                String::from_utf8_lossy(&other).into_owned(),
                            ));
                        }
                        // this incident's own (a publish tried again), or
                        // gone since: publish
                        _ => {}
                    }
                }
                Err(e) => return Err(format!("incident dedup: {e}")),
            }
        }
        let payload = serde_json::to_vec(incident).map_err(|e| e.to_string())?;
        let subject = format!("incidents.default.{}", token(&incident.brand));
        let message = PublishMessage::build()
            .payload(payload.into())
            .message_id(incident.idempotency_key());
        self.js
            .send_publish(subject, message)
            .await
            .map_err(|e| e.to_string())?
            .await
            .map_err(|e| e.to_string())?;
        Ok(Published::Sent)
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
