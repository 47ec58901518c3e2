//! The stage between sources and the store: drop certificates already
//! seen (sha256), match the rest against the current list snapshot, turn
//! verdicts into incidents, and hand them to the [`Recorder`] (with their
//! outbox rows) before waking the delivery workers.
//!
//! [`Pipeline::process`] is synchronous and shared by the service's task
//! ([`run`]) and `certsentry replay`, so a back-test decides exactly what the
//! service would. The task retries a certificate the store could not record
//! until it can (taking nothing new meanwhile), so a CT position never moves
//! past an unrecorded certificate.

mod cert;
mod recent;
mod record;

pub use cert::{Cert, match_cert};
pub(crate) use record::RecordError;
pub use record::{DedupPolicy, IncidentSettings, Recorded, Recorder};

use crate::matcher::Matcher;
use crate::metrics::Metrics;
use crate::model::{CertEvent, Incident, Suppressions};
use crate::source::SourceItem;
use crate::tenants::SinkRoutes;
use recent::RecentCerts;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{Notify, broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;

pub struct Pipeline {
    recorder: Arc<dyn Recorder>,
    /// Which sinks get which tenant's incidents: every new incident gets
    /// one outbox row per sink of its tenant.
    routes: SinkRoutes,
    dedup: DedupPolicy,
    metrics: Arc<Metrics>,
    ids: ulid::Generator,
    recent: RecentCerts,
    /// What analysts suppressed: checked before a verdict becomes an incident.
    suppressions: Arc<Suppressions>,
    /// New incidents and updates, once recorded (the console's live feed).
    feed: Option<broadcast::Sender<Incident>>,
}

impl Pipeline {
    pub fn new(
        recorder: Arc<dyn Recorder>,
        routes: SinkRoutes,
        dedup: DedupPolicy,
        cert_dedup_window: Duration,
        metrics: Arc<Metrics>,
        suppressions: Arc<Suppressions>,
    ) -> Pipeline {
        Pipeline {
            recorder,
            routes,
            dedup,
            metrics,
            ids: ulid::Generator::new(),
            recent: RecentCerts::new(cert_dedup_window, 200_000),
            suppressions,
            feed: None,
        }
    }

    /// Publish each incident recorded (new or update) on `feed`.
    pub fn with_feed(mut self, feed: broadcast::Sender<Incident>) -> Pipeline {
        self.feed = Some(feed);
        self
    }

    fn publish(&self, incident: &Incident) {
        // no copy when nobody listens
        if let Some(feed) = &self.feed
            && feed.receiver_count() > 0
        {
            let _ = feed.send(incident.clone());
        }
    }

    /// Match one event and record what it raises. Returns the new incidents
    /// (repeat sightings update the store and are not returned).
    pub fn process(
        &mut self,
        matcher: &Matcher,
        cert: Cert<'_>,
        now: SystemTime,
    ) -> Result<Vec<Incident>, RecordError> {
        if let Some(fp) = cert.fingerprint()
            && self.recent.check_and_insert(fp, Instant::now())
        {
            self.metrics.add(&self.metrics.duplicate_certs, 1);
            self.metrics.add(&self.metrics.certs_processed, 1);
            return Ok(Vec::new());
        }
        let result = self.match_and_record(matcher, cert, now);
        match &result {
            Ok(_) => self.metrics.add(&self.metrics.certs_processed, 1),
            // tried again: counted when it is recorded
            Err(_) => {
                if let Some(fp) = cert.fingerprint() {
                    self.recent.forget(fp);
                }
            }
        }
        result
    }

    fn match_and_record(
        &mut self,
        matcher: &Matcher,
        cert: Cert<'_>,
        now: SystemTime,
    ) -> Result<Vec<Incident>, RecordError> {
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
            if let Some(by) = self
                .suppressions
                .find(&verdict.brand, &verdict.registrable_domain_ascii)
            {
                self.metrics.add(&self.metrics.incidents_suppressed, 1);
                tracing::debug!(
                    suppression = by, brand = %verdict.brand, domain = %verdict.domain,
                    "suppressed by triage: no incident"
                );
                continue;
            }
            let tenants = matcher.tenants_for(&verdict);
            if tenants.is_empty() {
                tracing::debug!(brand = %verdict.brand, domain = %verdict.domain,
                    "every tenant listing the brand allowlists the name: no incident");
            }
            for tenant in tenants {
                let id = self
                    .ids
                    .generate_from_datetime(now)
                    .unwrap_or_else(|overflow| overflow.commit_overflow_increment());
                let incident = Incident::new(verdict.clone(), event, id, now).for_tenant(tenant);
                self.record(incident, now, &mut fresh)?;
            }
        }
        Ok(fresh)
    }

    /// Record one incident and say so: a new one or an update is kept in
    /// `fresh` and published.
    fn record(
        &mut self,
        mut incident: Incident,
        now: SystemTime,
        fresh: &mut Vec<Incident>,
    ) -> Result<(), RecordError> {
        let sinks = self.routes.of(&incident.tenant);
        match self.recorder.record(&incident, sinks, self.dedup, now)? {
            Recorded::New => {
                self.metrics.add(&self.metrics.incidents_new, 1);
                tracing::info!(
                    incident = %incident.id, tenant = %incident.tenant, brand = %incident.brand,
                    domain = %incident.domain, kind = incident.detail.kind.as_str(),
                    score = incident.score, "new incident"
                );
                self.publish(&incident);
                fresh.push(incident);
            }
            Recorded::Update { of, sightings } => {
                // what the store keeps: the feed and the bus must not take
                // the update for a new incident of its own
                incident.update_of = Some(of);
                incident.sightings = sightings;
                self.metrics.add(&self.metrics.incidents_updates, 1);
                tracing::info!(
                    incident = %incident.id, update_of = %of, sightings, domain = %incident.domain,
                    "new certificate for a known lookalike: update queued"
                );
                self.publish(&incident);
                fresh.push(incident);
            }
            Recorded::Repeated { id, sightings } => {
                self.metrics.add(&self.metrics.incidents_repeated, 1);
                tracing::debug!(incident = %id, sightings, domain = %incident.domain, "repeat sighting");
            }
        }
        Ok(())
    }
}

/// The store failing to record: the pipeline holds the certificate it has
/// and retries with backoff, so no position moves past it and nothing after
/// it is taken; `/readyz` says not ready meanwhile, and the error is logged
/// once a minute, not per certificate.
struct StoreTrouble {
    since: Option<Instant>,
    logged: Option<Instant>,
    backoff: Duration,
}

const TROUBLE_LOG_EVERY: Duration = Duration::from_secs(60);
const TROUBLE_BACKOFF_MAX: Duration = Duration::from_secs(30);

impl StoreTrouble {
    fn new() -> StoreTrouble {
        StoreTrouble {
            since: None,
            logged: None,
            backoff: Duration::from_millis(50),
        }
    }

    /// A failed write: how long to wait before trying again.
    fn failed(&mut self, metrics: &Metrics, what: &str, error: &RecordError) -> Duration {
        metrics.add(&metrics.store_errors, 1);
        let now = Instant::now();
        if self.since.is_none() {
            self.since = Some(now);
            metrics.set_store_unavailable(true);
        }
        if self
            .logged
            .is_none_or(|t| now.duration_since(t) >= TROUBLE_LOG_EVERY)
        {
            self.logged = Some(now);
            tracing::error!(
                %error, what,
                failing_for = ?self.since.map(|t| now.duration_since(t)),
                "the store cannot record: intake is held until it can (retrying)"
            );
        }
        let wait = self.backoff;
        self.backoff = (self.backoff * 2).min(TROUBLE_BACKOFF_MAX);
        wait
    }

    fn recovered(&mut self, metrics: &Metrics) {
        if let Some(since) = self.since.take() {
            metrics.set_store_unavailable(false);
            tracing::warn!(after = ?since.elapsed(), "the store records again; intake resumes");
        }
        self.logged = None;
        self.backoff = Duration::from_millis(50);
    }
}

/// The pipeline task: waits for the first good list, then processes events
/// until the source closes or shutdown.
pub(crate) async fn run(
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
    let mut trouble = StoreTrouble::new();
    loop {
        let item = tokio::select! {
            _ = shutdown.cancelled() => return,
            e = rx.recv() => match e {
                Some(e) => e,
                None => return,
            },
        };
        let mut stage = Stage {
            pipeline: &mut pipeline,
            snapshots: &snapshots,
            wake: &wake,
            events_out: &events_out,
            trouble: &mut trouble,
            shutdown: &shutdown,
        };
        let recorded = match item {
            SourceItem::Event(event) => stage.record(Cert::Event(&event)).await.is_some(),
            SourceItem::Acked { event, recorded } => {
                match stage.record(Cert::Event(&event)).await {
                    Some(fresh) => {
                        let _ = recorded.send(fresh);
                        true
                    }
                    None => false,
                }
            }
            SourceItem::Frame(frame) => stage.record(Cert::Frame(&frame)).await.is_some(),
            SourceItem::Batch {
                events,
                log,
                next_index,
                tree_size,
            } => {
                let mut all = true;
                for event in &events {
                    if stage.record(Cert::Event(event)).await.is_none() {
                        all = false;
                        break;
                    }
                }
                // every event above is recorded: the position may move
                all && stage.commit_position(&log, next_index, tree_size).await
            }
        };
        if !recorded {
            return; // shut down while the store was failing: nothing moved
        }
    }
}

/// One item's way through the pipeline, retried while the store fails.
struct Stage<'a> {
    pipeline: &'a mut Pipeline,
    snapshots: &'a watch::Receiver<Option<Arc<Matcher>>>,
    wake: &'a [Arc<Notify>],
    events_out: &'a Option<broadcast::Sender<Arc<CertEvent>>>,
    trouble: &'a mut StoreTrouble,
    shutdown: &'a CancellationToken,
}

impl Stage<'_> {
    /// Match and record `cert`, as many times as it takes; the incidents it
    /// made, or `None` when shut down before the store could record it.
    async fn record(&mut self, cert: Cert<'_>) -> Option<Vec<Incident>> {
        loop {
            match handle(
                self.pipeline,
                self.snapshots,
                self.wake,
                self.events_out,
                cert,
            ) {
                Ok(fresh) => {
                    self.trouble.recovered(&self.pipeline.metrics);
                    return Some(fresh);
                }
                Err(e) => {
                    let wait = self.trouble.failed(&self.pipeline.metrics, "incident", &e);
                    tokio::select! {
                        _ = self.shutdown.cancelled() => return None,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }

    async fn commit_position(&mut self, log: &str, next_index: u64, tree_size: u64) -> bool {
        loop {
            match self.pipeline.recorder.commit_position(
                log,
                next_index,
                tree_size,
                SystemTime::now(),
            ) {
                Ok(()) => {
                    self.trouble.recovered(&self.pipeline.metrics);
                    return true;
                }
                Err(e) => {
                    let wait = self
                        .trouble
                        .failed(&self.pipeline.metrics, "CT log position", &e);
                    tokio::select! {
                        _ = self.shutdown.cancelled() => return false,
                        _ = tokio::time::sleep(wait) => {}
                    }
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
) -> Result<Vec<Incident>, RecordError> {
    let Some(matcher) = snapshots.borrow().clone() else {
        return Ok(Vec::new());
    };
    let span = tracing::debug_span!("match", source = cert.source(), names = cert.names().len());
    let enter = span.enter();
    // SQLite is touched only when a name matched: a short, local write.
    let fresh = pipeline.process(&matcher, cert, SystemTime::now())?;
    if !fresh.is_empty() {
        for w in wake {
            w.notify_one();
        }
    }
    drop(enter);
    if let Some(out) = events_out
        && out.receiver_count() > 0
    {
        let _ = out.send(Arc::new(cert.event_or_names(true).into_owned()));
    }
    Ok(fresh)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::MatcherConfig;
    use crate::model::{Certificate, IncidentId};
    use crate::watchlist::Watchlist;
    use std::sync::Mutex;

    /// Keeps the first incident of a dedup key and answers later ones as
    /// updates of it, as the store does with `send_updates` on.
    #[derive(Default)]
    struct Updates(Mutex<std::collections::HashMap<String, (IncidentId, u64)>>);

    impl Recorder for Updates {
        fn record(
            &self,
            incident: &Incident,
            _: &[String],
            _: DedupPolicy,
            _: SystemTime,
        ) -> Result<Recorded, RecordError> {
            let mut kept = self.0.lock().map_err(|e| RecordError(e.to_string()))?;
            let key = incident.dedup_key.as_str().to_owned();
            match kept.get_mut(&key) {
                Some((of, sightings)) => {
                    *sightings += 1;
                    Ok(Recorded::Update {
                        of: *of,
                        sightings: *sightings,
                    })
                }
                None => {
                    kept.insert(key, (incident.id, 1));
                    Ok(Recorded::New)
                }
            }
        }

        fn commit_position(
            &self,
            _: &str,
            _: u64,
            _: u64,
            _: SystemTime,
        ) -> Result<(), RecordError> {
            Ok(())
        }
    }

    /// A second certificate for a known lookalike is returned and fed as
    /// what the store keeps: an update of the first incident, not a new
    /// incident of its own (which the bus would publish as one).
    #[test]
    fn an_update_is_returned_and_fed_as_an_update() {
        let list = Watchlist::parse(r#"{"paypal.com": ["paypa1"]}"#, 1 << 20).unwrap();
        let matcher = Matcher::compile(&list, &MatcherConfig::default());
        let (feed, mut fed) = broadcast::channel(8);
        let mut pipeline = Pipeline::new(
            Arc::new(Updates::default()),
            SinkRoutes::default(),
            DedupPolicy {
                window: Duration::from_secs(3600),
                send_updates: true,
            },
            Duration::from_secs(60),
            Arc::new(Metrics::default()),
            Arc::new(Suppressions::default()),
        )
        .with_feed(feed);
        let event = |name: &str, sha256: &str| CertEvent {
            certificate: Certificate {
                all_domains: vec![name.into()],
                sha256: sha256.into(),
                ..Default::default()
            },
            ..Default::default()
        };
        let now = SystemTime::now();
        let first = event("paypa1.com", "first");
        let first = pipeline
            .process(&matcher, Cert::Event(&first), now)
            .unwrap();
        let second = event("www.paypa1.com", "second");
        let second = pipeline
            .process(&matcher, Cert::Event(&second), now)
            .unwrap();
        assert_eq!((first.len(), second.len()), (1, 1));
        assert_eq!(first[0].update_of, None);
        assert_eq!(second[0].update_of, Some(first[0].id));
        assert_eq!(second[0].sightings, 2);
        assert_eq!(fed.try_recv().unwrap().update_of, None);
        let update = fed.try_recv().unwrap();
        assert_eq!((update.update_of, update.sightings), (Some(first[0].id), 2));
    }
}
