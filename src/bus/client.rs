//! The JetStream side: the stream and its consumer, [`publish`] (a reader's
//! sources into the stream) and [`consume`] (the stream into a matcher's
//! pipeline).

use super::BusSettings;
use crate::metrics::Metrics;
use crate::model::CertEvent;
use crate::source::SourceItem;
use crate::source::ct::Checkpoints;
use async_nats::jetstream::{self, consumer, message::PublishMessage, stream};
use bytes::Bytes;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// A pull request lasts this long, and the server says it is alive this
/// often while it has nothing: a request lost with a broker that restarted
/// is noticed within seconds (the client's defaults, 30 s and 15 s, left a
/// consumer idle for half a minute after a restart).
pub(crate) const PULL_EXPIRES: Duration = Duration::from_secs(5);
pub(crate) const PULL_HEARTBEAT: Duration = Duration::from_secs(2);

/// Certificates handed over at once published as one group, at most.
const PUBLISH_GROUP: usize = 512;
pub(super) const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Wait `delay` (then double it, up to the maximum); false on shutdown.
pub(crate) async fn pause(delay: &mut Duration, shutdown: &CancellationToken) -> bool {
    let wait = *delay;
    *delay = (*delay * 2).min(BACKOFF_MAX);
    tokio::select! {
        _ = shutdown.cancelled() => false,
        _ = tokio::time::sleep(wait) => true,
    }
}

/// Connect (trying again until the broker answers or shutdown), then make
/// sure the stream and the shared consumer exist. The consumer is made by
/// readers too: with interest retention a stream keeps nothing nobody
/// consumes, and a reader may start before any matcher.
pub(super) async fn connect(
    settings: &BusSettings,
    shutdown: &CancellationToken,
) -> Option<(jetstream::Context, stream::Stream)> {
    let mut delay = BACKOFF_FIRST;
    loop {
        match try_connect(settings).await {
            Ok(c) => return Some(c),
            Err(e) => {
                tracing::warn!(error = %e, url = %settings.url, "bus not ready; trying again");
                if !pause(&mut delay, shutdown).await {
                    return None;
                }
            }
        }
    }
}

/// How every connection to the broker is made.
fn options(settings: &BusSettings) -> async_nats::ConnectOptions {
    let options = async_nats::ConnectOptions::new()
        .name("certsentry")
        .connection_timeout(Duration::from_secs(5));
    match &settings.token {
        Some(token) => options.token(token.expose().to_owned()),
        None => options,
    }
}

/// A plain connection to the broker (request and reply), whose requests
/// wait up to `request_timeout` for their answer.
pub(crate) async fn client(
    settings: &BusSettings,
    request_timeout: Duration,
) -> Result<async_nats::Client, async_nats::Error> {
    Ok(options(settings)
        .request_timeout(Some(request_timeout))
        .connect(settings.url.as_str())
        .await?)
}

/// A JetStream context on a new connection to the broker.
pub(super) async fn jetstream(
    settings: &BusSettings,
) -> Result<jetstream::Context, async_nats::Error> {
    let client = options(settings).connect(settings.url.as_str()).await?;
    Ok(jetstream::new(client))
}

/// The oldest nats-server known to keep, through a crash, what one shard
/// has acknowledged and another has not read yet. 2.9.10 (Debian 12's)
/// drops those messages from an interest-retention stream on recovery
/// (`bus::a_broker_crash_loses_nothing_a_shard_has_still_to_read`);
/// 2.10.25 and 2.15.1 keep them.
const SAFE_FOR_SHARDS: (u32, u32, u32) = (2, 10, 25);

/// `major.minor.patch` of a server's version string (`2.10.25`,
/// `2.11.0-RC.1`), when it has one.
fn server_version(version: &str) -> Option<(u32, u32, u32)> {
    let mut parts = version.trim_start_matches('v').splitn(3, '.');
    let mut next = || -> Option<u32> {
        let digits: String = parts
            .next()?
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    };
    Some((next()?, next()?, next()?))
}

/// Whether brand shards on a server of `version` can lose certificates
/// in a broker crash (an unreadable version is not flagged).
fn loses_shards_on_crash(version: &str, shards: u16) -> bool {
    shards > 1 && server_version(version).is_some_and(|v| v < SAFE_FOR_SHARDS)
}

async fn try_connect(
    settings: &BusSettings,
) -> Result<(jetstream::Context, stream::Stream), async_nats::Error> {
    let js = jetstream(settings).await?;
    let version = js.client().server_info().version;
    if loses_shards_on_crash(&version, settings.shards) {
        tracing::warn!(
            server = %version,
            shards = settings.shards,
            "this nats-server drops, when it restarts after a crash, certificates one \
             shard has acknowledged and another has not read yet: use 2.10.25 or later"
        );
    }
    let stream = js
        .get_or_create_stream(stream::Config {
            name: settings.stream.clone(),
            subjects: vec!["certs.>".into()],
            retention: stream::RetentionPolicy::Interest,
            discard: stream::DiscardPolicy::New,
            max_bytes: i64::try_from(settings.max_bytes).unwrap_or(i64::MAX),
            storage: stream::StorageType::File,
            duplicate_window: settings.duplicate_window,
            ..Default::default()
        })
        .await?;
    // every shard's consumer, by every process: the stream keeps a
    // certificate until each shard's matcher has it (interest retention)
    for shard in 0..settings.shards.max(1) {
        let name = settings.shard_consumer(shard);
        stream
            .get_or_create_consumer(
                &name,
                consumer::pull::Config {
                    durable_name: Some(name.clone()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: settings.ack_wait,
                    max_deliver: settings.max_deliver,
                    max_ack_pending: settings.max_ack_pending,
                    ..Default::default()
                },
            )
            .await?;
    }
    Ok((js, stream))
}

/// One certificate on its way to the stream.
struct Outgoing {
    subject: String,
    id: Option<String>,
    payload: Bytes,
}

impl Outgoing {
    /// `ct_id`: the log's name, for CT entries (`<log>:<index>` is the id).
    fn of(event: &CertEvent, ct_log: Option<&str>) -> Result<Outgoing, serde_json::Error> {
        let token: String = event
            .source
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let id = match (ct_log, event.ct.cert_index) {
            (Some(log), Some(index)) => Some(format!("{log}:{index}")),
            _ => event.dedup_fingerprint().map(str::to_owned),
        };
        Ok(Outgoing {
            subject: format!("certs.{}", if token.is_empty() { "_" } else { &token }),
            id,
            payload: Bytes::from(serde_json::to_vec(event)?),
        })
    }
}

/// The reader's side: publish what the sources hand over, in order, until
/// they close or shutdown. A CT batch's position moves (in this process's
/// store) only once the stream has acknowledged every entry of it.
pub(crate) async fn publish(
    settings: BusSettings,
    mut rx: mpsc::Receiver<SourceItem>,
    positions: Arc<dyn Checkpoints>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let span = tracing::info_span!("bus_publish", stream = %settings.stream);
    async move {
        let Some((js, _)) = connect(&settings, &shutdown).await else {
            return;
        };
        tracing::info!(url = %settings.url, "publishing certificates to the bus");
        loop {
            let first = tokio::select! {
                _ = shutdown.cancelled() => return,
                item = rx.recv() => match item {
                    Some(item) => item,
                    None => return,
                },
            };
            // what else is waiting goes out with it: the stream's
            // acknowledgements are awaited once for the group, not one
            // round trip per certificate
            let mut items = vec![first];
            while items.len() < PUBLISH_GROUP {
                match rx.try_recv() {
                    Ok(item) => items.push(item),
                    Err(_) => break,
                }
            }
            let mut outgoing = Vec::new();
            let mut then = Vec::with_capacity(items.len());
            for item in items {
                let (events, position, recorded) = match item {
                    SourceItem::Event(e) => (vec![*e], None, None),
                    SourceItem::Frame(f) => (
                        vec![f.event().unwrap_or_else(|_| f.names_only())],
                        None,
                        None,
                    ),
                    SourceItem::Batch {
                        events,
                        log,
                        next_index,
                        tree_size,
                    } => (events, Some((log, next_index, tree_size)), None),
                    SourceItem::Acked { event, recorded } => (vec![*event], None, Some(recorded)),
                };
                let log = position.as_ref().map(|(log, _, _)| log.as_str());
                outgoing.extend(events.iter().filter_map(|e| match Outgoing::of(e, log) {
                    Ok(o) => Some(o),
                    Err(error) => {
                        metrics.add(&metrics.bus_bad_messages, 1);
                        tracing::error!(%error, "certificate not encoded for the bus; skipped");
                        None
                    }
                }));
                then.push((position, recorded));
            }
            if !publish_all(&js, outgoing, &metrics, &shutdown).await {
                return; // shutdown: nothing past the last acknowledged moved
            }
            // every certificate of the group is in the stream: positions
            // move, in the order the sources handed them over
            for (position, recorded) in then {
                if let Some(recorded) = recorded {
                    let _ = recorded.send(Vec::new());
                }
                if let Some((log, next_index, tree_size)) = position
                    && !commit(
                        &*positions,
                        &log,
                        next_index,
                        tree_size,
                        &metrics,
                        &shutdown,
                    )
                    .await
                {
                    return;
                }
            }
        }
    }
    .instrument(span)
    .await
}

/// Publish every message and wait for the stream's acknowledgements,
/// trying the refused ones again (broker away, stream full) until they
/// are taken or shutdown (false).
async fn publish_all(
    js: &jetstream::Context,
    mut pending: Vec<Outgoing>,
    metrics: &Metrics,
    shutdown: &CancellationToken,
) -> bool {
    let mut delay = BACKOFF_FIRST;
    while !pending.is_empty() {
        let mut waiting = Vec::with_capacity(pending.len());
        let mut failed = Vec::new();
        let mut last_error = None;
        for m in pending {
            let mut p = PublishMessage::build().payload(m.payload.clone());
            if let Some(id) = &m.id {
                p = p.message_id(id);
            }
            match js.send_publish(m.subject.clone(), p).await {
                Ok(ack) => waiting.push((m, ack)),
                Err(e) => {
                    last_error = Some(e.to_string());
                    failed.push(m);
                }
            }
        }
        // all at once: an acknowledgement's timeout runs from when it is
        // awaited, and awaited one after another, the acknowledgements a
        // dying broker never sent cost their timeout each (a group of 512
        // stalled the reader for over half an hour after a restart)
        let answers = futures_util::future::join_all(
            waiting
                .into_iter()
                .map(|(m, ack)| async move { (m, ack.await) }),
        )
        .await;
        for (m, answer) in answers {
            match answer {
                Ok(_) => metrics.add(&metrics.bus_published, 1),
                Err(e) => {
                    last_error = Some(e.to_string());
                    failed.push(m);
                }
            }
        }
        if !failed.is_empty() {
            metrics.add(&metrics.bus_publish_retries, failed.len() as u64);
            tracing::warn!(
                error = last_error.as_deref().unwrap_or(""),
                waiting = failed.len(),
                "the bus did not take certificates; trying again"
            );
            if !pause(&mut delay, shutdown).await {
                return false;
            }
        }
        pending = failed;
    }
    true
}

async fn commit(
    positions: &dyn Checkpoints,
    log: &str,
    next_index: u64,
    tree_size: u64,
    metrics: &Metrics,
    shutdown: &CancellationToken,
) -> bool {
    let mut delay = BACKOFF_FIRST;
    loop {
        match positions.commit(log, next_index, tree_size).await {
            Ok(()) => return true,
            Err(e) => {
                metrics.add(&metrics.store_errors, 1);
                tracing::error!(error = %e, log, "CT log position not stored; trying again");
                if !pause(&mut delay, shutdown).await {
                    return false;
                }
            }
        }
    }
}

/// The matcher's side: take certificates from the shared consumer and hand
/// them to the pipeline (`tx`), acknowledging each once it is recorded, and
/// with `incidents` (on a bus, every matcher: the incidents' dedup window)
/// once the incidents it made are in the incidents' stream too. A
/// matcher that dies in between leaves the certificate to another, which
/// publishes them (under the same idempotency keys).
pub(crate) async fn consume(
    settings: BusSettings,
    tx: mpsc::Sender<SourceItem>,
    incidents: Option<Duration>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let publisher: Arc<tokio::sync::OnceCell<super::IncidentBus>> = Arc::default();
    let consumer_name = settings.matcher_consumer();
    let span =
        tracing::info_span!("bus_consume", stream = %settings.stream, consumer = %consumer_name);
    async move {
        let mut delay = BACKOFF_FIRST;
        'connect: loop {
            let Some((_, stream)) = connect(&settings, &shutdown).await else {
                return;
            };
            let consumer: consumer::PullConsumer = match stream.get_consumer(&consumer_name).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "bus consumer not ready; trying again");
                    if !pause(&mut delay, &shutdown).await {
                        return;
                    }
                    continue;
                }
            };
            let mut messages = match consumer.stream().expires(PULL_EXPIRES).heartbeat(PULL_HEARTBEAT).messages().await {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "bus consumer not readable; trying again");
                    if !pause(&mut delay, &shutdown).await {
                        return;
                    }
                    continue;
                }
            };
            tracing::info!(url = %settings.url, "taking certificates from the bus");
            loop {
                let next = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    next = messages.next() => next,
                };
                let message = match next {
                    Some(Ok(m)) => m,
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "reading the bus failed; reconnecting");
                        if !pause(&mut delay, &shutdown).await {
                            return;
                        }
                        continue 'connect;
                    }
                    None => continue 'connect,
                };
                delay = BACKOFF_FIRST;
                let event: CertEvent = match serde_json::from_slice(&message.payload) {
                    Ok(e) => e,
                    Err(e) => {
                        // not ours to retry: a redelivery would fail the same way
                        metrics.add(&metrics.bus_bad_messages, 1);
                        tracing::error!(error = %e, subject = %message.subject, "bus message is not a certificate; dropped");
                        let _ = message.ack().await;
                        continue;
                    }
                };
                let (recorded, done) = oneshot::channel();
                let item = SourceItem::Acked {
                    event: Box::new(event),
                    recorded,
                };
                if tx.send(item).await.is_err() {
                    return; // the pipeline has stopped: the message is delivered again
                }
                let (metrics, publisher, settings) = (metrics.clone(), publisher.clone(), settings.clone());
                tokio::spawn(async move {
                    // dropped unrecorded (shutdown): delivered again after ack_wait
                    let Ok(fresh) = done.await else { return };
                    if let Some(window) = incidents
                        && !fresh.is_empty()
                    {
                        let published = async {
                            let bus = publisher
                                .get_or_try_init(|| super::IncidentBus::connect(&settings, window))
                                .await?;
                            for incident in &fresh {
                                bus.publish(incident).await?;
                            }
                            Ok::<_, String>(())
                        }
                        .await;
                        if let Err(e) = published {
                            // not acknowledged: the certificate comes again
                            // (the outbox publishes them meanwhile)
                            tracing::warn!(error = %e, "incidents not published yet; the certificate stays unacknowledged");
                            return;
                        }
                    }
                    match message.ack().await {
                        Ok(()) => metrics.add(&metrics.bus_consumed, 1),
                        Err(e) => tracing::warn!(error = %e, "bus acknowledgement lost; the certificate comes again"),
                    }
                });
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
    fn servers_that_lose_a_shard_s_certificates_in_a_crash_are_flagged() {
        assert_eq!(server_version("2.9.10"), Some((2, 9, 10)));
        assert_eq!(server_version("v2.11.0-RC.1"), Some((2, 11, 0)));
        assert_eq!(server_version("2.10"), None);
        assert_eq!(server_version(""), None);
        assert!(loses_shards_on_crash("2.9.10", 2));
        assert!(loses_shards_on_crash("2.10.24", 4));
        // one shard: one consumer, nothing another one still needs
        assert!(!loses_shards_on_crash("2.9.10", 1));
        for fixed in ["2.10.25", "2.11.0", "2.15.1", "3.0.0"] {
            assert!(!loses_shards_on_crash(fixed, 2), "{fixed}");
        }
        assert!(!loses_shards_on_crash("dev", 2));
    }

    #[test]
    fn ct_entries_are_named_by_log_and_index_and_others_by_hash() {
        let mut e = CertEvent {
            source: "google argon/2026".into(),
            ..CertEvent::default()
        };
        e.ct.cert_index = Some(42);
        e.certificate.sha256 = "AB:CD".into();
        let ct = Outgoing::of(&e, Some("argon2026h2")).unwrap();
        assert_eq!(ct.subject, "certs.google_argon_2026");
        assert_eq!(ct.id.as_deref(), Some("argon2026h2:42"));
        let other = Outgoing::of(&e, None).unwrap();
        assert_eq!(other.id.as_deref(), Some("AB:CD"));
        let back: CertEvent = serde_json::from_slice(&other.payload).unwrap();
        assert_eq!(back.ct.cert_index, Some(42));
    }
}
