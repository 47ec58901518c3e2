//! The stage between sources and sinks: drop certificates already seen
//! (sha256), match the rest against the current list snapshot, turn verdicts
//! into incidents, and commit them (with their outbox rows) to the store
//! before waking the delivery workers.
//!
//! [`Pipeline::process`] is synchronous and shared by the service's task
//! ([`run`]) and `certsentry replay`, so a back-test decides exactly what the
//! service would.

use crate::cert::CertEvent;
use crate::incident::Incident;
use crate::matcher::{Matcher, NameStats, Verdict};
use crate::metrics::Metrics;
use crate::source::{FrameCert, FrameError, SourceItem};
use crate::store::{DedupPolicy, Recorded, Store, StoreError};
use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{Notify, broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Certificates seen recently, by fingerprint: the same certificate arrives
/// from several logs and again after a reconnect.
struct RecentCerts {
    window: Duration,
    capacity: usize,
    seen: HashMap<String, Instant>,
    order: VecDeque<(Instant, String)>,
}

impl RecentCerts {
    fn new(window: Duration, capacity: usize) -> Self {
        RecentCerts {
            window,
            capacity,
            seen: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// True when `key` was already seen within the window; records it otherwise.
    fn check_and_insert(&mut self, key: &str, now: Instant) -> bool {
        while let Some((t, k)) = self.order.front() {
            let expired = now.duration_since(*t) > self.window;
            if !expired && self.order.len() < self.capacity {
                break;
            }
            if self.seen.get(k) == Some(t) {
                self.seen.remove(k);
            }
            self.order.pop_front();
        }
        if self.window.is_zero() {
            return false;
        }
        if let Some(t) = self.seen.get(key)
            && now.duration_since(*t) <= self.window
        {
            return true;
        }
        self.seen.insert(key.to_owned(), now);
        self.order.push_back((now, key.to_owned()));
        false
    }
}

/// A certificate as the pipeline receives it: a whole event (CT logs,
/// `/domains-only`), or a certstream frame whose event is built only if a
/// name matches.
#[derive(Debug, Clone, Copy)]
pub enum Cert<'a> {
    Event(&'a CertEvent),
    Frame(&'a FrameCert),
}

impl<'a> Cert<'a> {
    pub fn names(&self) -> &'a [String] {
        match self {
            Cert::Event(e) => &e.certificate.all_domains,
            Cert::Frame(f) => f.names(),
        }
    }

    pub fn source(&self) -> &'a str {
        match self {
            Cert::Event(e) => &e.source,
            Cert::Frame(f) => f.source(),
        }
    }

    /// Unix seconds when the source saw it (0 when unknown).
    pub fn seen(&self) -> f64 {
        match self {
            Cert::Event(e) => e.ct.seen,
            Cert::Frame(f) => f.seen(),
        }
    }

    pub fn fingerprint(&self) -> Option<&'a str> {
        match self {
            Cert::Event(e) => e.dedup_fingerprint(),
            Cert::Frame(f) => f.fingerprint(),
        }
    }

    /// The whole event; a frame's issuers only `with_chain` (the certstream
    /// server relays them; an incident does not carry them).
    pub fn event(&self, with_chain: bool) -> Result<Cow<'a, CertEvent>, FrameError> {
        match self {
            Cert::Event(e) => Ok(Cow::Borrowed(*e)),
            Cert::Frame(f) if with_chain => f.relayed_event().map(Cow::Owned),
            Cert::Frame(f) => f.event().map(Cow::Owned),
        }
    }

    /// The whole event; should the frame not give one (a member the scan
    /// checked only for structure is malformed, and so is the leaf), an
    /// event with just its names, so a match is never lost.
    fn event_or_names(&self, with_chain: bool) -> Cow<'a, CertEvent> {
        match (self.event(with_chain), self) {
            (Ok(e), _) => e,
            (Err(e), Cert::Frame(f)) => {
                tracing::warn!(error = %e, "certificate kept with its names only");
                Cow::Owned(f.names_only())
            }
            (Err(_), Cert::Event(e)) => Cow::Borrowed(*e),
        }
    }
}

/// What matching one certificate found.
#[derive(Debug)]
pub struct Matched<'a> {
    /// Best first, one per (brand, registrable domain).
    pub verdicts: Vec<Verdict>,
    pub stats: NameStats,
    /// The whole certificate, when there is a verdict about it.
    pub event: Option<Cow<'a, CertEvent>>,
}

/// Match a certificate's names; build its whole event only when one matched
/// (the issuer then adjusts the scores).
pub fn match_cert<'a>(matcher: &Matcher, cert: Cert<'a>) -> Matched<'a> {
    let (mut verdicts, stats) = matcher.match_names(cert.names());
    if verdicts.is_empty() {
        return Matched {
            verdicts,
            stats,
            event: None,
        };
    }
    let event = cert.event_or_names(false);
    matcher.adjust_for_issuer(&mut verdicts, &event.certificate.issuer);
    Matched {
        verdicts,
        stats,
        event: Some(event),
    }
}

pub struct Pipeline {
    store: Store,
    /// Names of the configured sinks: every new incident gets one outbox row each.
    sinks: Vec<String>,
    dedup: DedupPolicy,
    metrics: Arc<Metrics>,
    ids: ulid::Generator,
    recent: RecentCerts,
}

impl Pipeline {
    pub fn new(
        store: Store,
        sinks: Vec<String>,
        dedup: DedupPolicy,
        cert_dedup_window: Duration,
        metrics: Arc<Metrics>,
    ) -> Pipeline {
        Pipeline {
            store,
            sinks,
            dedup,
            metrics,
            ids: ulid::Generator::new(),
            recent: RecentCerts::new(cert_dedup_window, 200_000),
        }
    }

    /// Match one event and record what it raises. Returns the new incidents
    /// (repeat sightings update the store and are not returned).
    pub fn process(
        &mut self,
        matcher: &Matcher,
        cert: Cert<'_>,
        now: SystemTime,
    ) -> Result<Vec<Incident>, StoreError> {
        if let Some(fp) = cert.fingerprint()
            && self.recent.check_and_insert(fp, Instant::now())
        {
            self.metrics.add(&self.metrics.duplicate_certs, 1);
            return Ok(Vec::new());
        }
        let matched = match_cert(matcher, cert);
        self.metrics
            .add(&self.metrics.names_checked, matched.stats.checked);
        self.metrics
            .add(&self.metrics.names_invalid, matched.stats.invalid);
        let Some(event) = matched.event else {
            return Ok(Vec::new());
        };
        let event = event.as_ref();
        let mut fresh = Vec::new();
        for verdict in matched.verdicts {
            self.metrics.count_match(verdict.detail.kind);
            let id = self
                .ids
                .generate_from_datetime(now)
                .unwrap_or_else(|overflow| overflow.commit_overflow_increment());
            let incident = Incident::new(verdict, event, id, now);
            match self.store.record(&incident, &self.sinks, self.dedup, now)? {
                Recorded::New => {
                    self.metrics.add(&self.metrics.incidents_new, 1);
                    tracing::info!(
                        incident = %incident.id, brand = %incident.brand, domain = %incident.domain,
                        kind = incident.detail.kind.as_str(), score = incident.score,
                        "new incident"
                    );
                    fresh.push(incident);
                }
                Recorded::Update { of, sightings } => {
                    self.metrics.add(&self.metrics.incidents_updates, 1);
                    tracing::info!(
                        incident = %incident.id, update_of = %of, sightings, domain = %incident.domain,
                        "new certificate for a known lookalike: update queued"
                    );
                    fresh.push(incident);
                }
                Recorded::Repeated { id, sightings } => {
                    self.metrics.add(&self.metrics.incidents_repeated, 1);
                    tracing::debug!(incident = %id, sightings, domain = %incident.domain, "repeat sighting");
                }
            }
        }
        Ok(fresh)
    }
}

/// The pipeline task: waits for the first good list, then processes events
/// until the source closes or shutdown.
pub async fn run(
    mut pipeline: Pipeline,
    mut rx: mpsc::Receiver<SourceItem>,
    mut snapshots: watch::Receiver<Option<Arc<Matcher>>>,
    wake: Vec<Arc<Notify>>,
    // every event, for the certstream-compatible server
    events_out: Option<broadcast::Sender<Arc<CertEvent>>>,
    shutdown: CancellationToken,
) {
    tokio::select! {
        _ = shutdown.cancelled() => return,
        r = snapshots.wait_for(|s| s.is_some()) => if r.is_err() { return },
    }
    loop {
        let item = tokio::select! {
            _ = shutdown.cancelled() => return,
            e = rx.recv() => match e {
                Some(e) => e,
                None => return,
            },
        };
        match item {
            SourceItem::Event(event) => handle(
                &mut pipeline,
                &snapshots,
                &wake,
                &events_out,
                Cert::Event(&event),
            ),
            SourceItem::Frame(frame) => handle(
                &mut pipeline,
                &snapshots,
                &wake,
                &events_out,
                Cert::Frame(&frame),
            ),
            SourceItem::Batch {
                events,
                log,
                next_index,
                tree_size,
            } => {
                for event in &events {
                    handle(
                        &mut pipeline,
                        &snapshots,
                        &wake,
                        &events_out,
                        Cert::Event(event),
                    );
                }
                // every event above is recorded: the position may move
                if let Err(e) =
                    pipeline
                        .store
                        .set_ct_position(&log, next_index, tree_size, SystemTime::now())
                {
                    pipeline.metrics.add(&pipeline.metrics.store_errors, 1);
                    tracing::error!(error = %e, %log, "cannot store the CT log position");
                }
            }
        }
    }
}

/// Match and record one event, wake the sinks, publish it to the server.
fn handle(
    pipeline: &mut Pipeline,
    snapshots: &watch::Receiver<Option<Arc<Matcher>>>,
    wake: &[Arc<Notify>],
    events_out: &Option<broadcast::Sender<Arc<CertEvent>>>,
    cert: Cert<'_>,
) {
    let Some(matcher) = snapshots.borrow().clone() else {
        return;
    };
    let span = tracing::debug_span!("match", source = cert.source(), names = cert.names().len());
    let enter = span.enter();
    // SQLite is touched only when a name matched: a short, local write.
    match pipeline.process(&matcher, cert, SystemTime::now()) {
        Ok(fresh) if !fresh.is_empty() => {
            for w in wake {
                w.notify_one();
            }
        }
        Ok(_) => {}
        Err(e) => {
            pipeline.metrics.add(&pipeline.metrics.store_errors, 1);
            tracing::error!(error = %e, "cannot record incident");
        }
    }
    drop(enter);
    if let Some(out) = events_out
        && out.receiver_count() > 0
    {
        let _ = out.send(Arc::new(cert.event_or_names(true).into_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_certs_window() {
        let mut r = RecentCerts::new(Duration::from_secs(10), 3);
        let t = Instant::now();
        assert!(!r.check_and_insert("a", t));
        assert!(r.check_and_insert("a", t + Duration::from_secs(5)));
        assert!(!r.check_and_insert("a", t + Duration::from_secs(11)));
        // capacity evicts the oldest
        assert!(!r.check_and_insert("b", t + Duration::from_secs(12)));
        assert!(!r.check_and_insert("c", t + Duration::from_secs(12)));
        assert!(!r.check_and_insert("d", t + Duration::from_secs(12)));
        assert!(r.order.len() <= 3);
    }
}
