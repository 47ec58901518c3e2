//! The stage between sources and the store: drop certificates already
//! seen (sha256), match the rest against the current list snapshot, turn
//! verdicts into incidents, and hand them to the [`Recorder`] (with their
//! outbox rows) before waking the delivery workers.
//!
//! [`Pipeline::process`] is synchronous and shared by the service's task
//! ([`run`]) and `certsentry replay`, so a back-test decides exactly what the
//! service would.

mod cert;
mod recent;
mod record;

pub use cert::{Cert, match_cert};
pub(crate) use record::RecordError;
pub use record::{DedupPolicy, IncidentSettings, Recorded, Recorder};

use crate::matcher::Matcher;
use crate::metrics::Metrics;
use crate::model::{CertEvent, Incident};
use crate::source::SourceItem;
use recent::RecentCerts;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{Notify, broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;

pub struct Pipeline {
    recorder: Arc<dyn Recorder>,
    /// Names of the configured sinks: every new incident gets one outbox row each.
    sinks: Vec<String>,
    dedup: DedupPolicy,
    metrics: Arc<Metrics>,
    ids: ulid::Generator,
    recent: RecentCerts,
}

impl Pipeline {
    pub fn new(
        recorder: Arc<dyn Recorder>,
        sinks: Vec<String>,
        dedup: DedupPolicy,
        cert_dedup_window: Duration,
        metrics: Arc<Metrics>,
    ) -> Pipeline {
        Pipeline {
            recorder,
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
    ) -> Result<Vec<Incident>, RecordError> {
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
            match self
                .recorder
                .record(&incident, &self.sinks, self.dedup, now)?
            {
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
                if let Err(e) = pipeline.recorder.commit_position(
                    &log,
                    next_index,
                    tree_size,
                    SystemTime::now(),
                ) {
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
