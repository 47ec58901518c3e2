//! Enrichment over the bus: the enricher pool as processes of its own.
//!
//! A matcher on a bus without the `enricher` role keeps its checks'
//! schedule in its store, as one process does, and sends each check (the
//! lookalike: host, registrable domain, brand) as a request on
//! [`SUBJECT`]. Enricher processes (`roles = ["enricher"]`) answer it as
//! one queue group, [`GROUP`]: each check goes to one of them, which runs
//! every enricher it has and replies with the results and findings. The
//! matcher then saves them and sends what changed, as with local checks.
//!
//! Nothing is lost when an enricher process dies: the check is still
//! claimed in the matcher's store and its request times out; the check is
//! released and comes due again ([`RETRY`]). With no enricher process up,
//! the request fails at once (no responders) the same way. The store is
//! the durable queue; the bus only carries the work.

use super::{Checked, Enrichment, Findings, Target};
use crate::bus::BusSettings;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// Where checks are asked for.
pub(crate) const SUBJECT: &str = "certsentry.enrich.check";
/// The queue group every enricher process answers in.
pub(crate) const GROUP: &str = "enrichers";
/// When a check no enricher process took comes due again.
pub(crate) const RETRY: Duration = Duration::from_secs(5);

/// An enricher process's answer.
#[derive(Serialize, Deserialize)]
struct Answer {
    results: Vec<(String, Value)>,
    found: Findings,
}

/// The matcher's side: asks the enricher processes.
pub(crate) struct Remote {
    settings: BusSettings,
    /// The longest a check may take: every enricher's timeout, and a margin.
    wait: Duration,
    client: Mutex<Option<async_nats::Client>>,
}

impl Remote {
    pub(crate) fn new(settings: BusSettings, wait: Duration) -> Remote {
        Remote {
            settings,
            wait,
            client: Mutex::new(None),
        }
    }

    async fn client(&self) -> Result<async_nats::Client, String> {
        let mut held = self.client.lock().await;
        if let Some(c) = &*held {
            return Ok(c.clone());
        }
        let c = crate::bus::client(&self.settings, self.wait)
            .await
            .map_err(|e| format!("the bus is not reachable: {e}"))?;
        *held = Some(c.clone());
        Ok(c)
    }

    /// One check by whichever enricher process takes it.
    pub(crate) async fn check(&self, target: &Target) -> Result<Checked, String> {
        let client = self.client().await?;
        let body = serde_json::to_vec(target).map_err(|e| e.to_string())?;
        let reply = client
            .request(SUBJECT, body.into())
            .await
            .map_err(|e| format!("no answer from an enricher process: {e}"))?;
        let answer: Answer = serde_json::from_slice(&reply.payload)
            .map_err(|e| format!("an enricher process answered nonsense: {e}"))?;
        Ok((answer.results, answer.found))
    }
}

/// The enricher process's side: answer checks until shutdown, up to
/// `enrichment.concurrency` at once, reconnecting when the broker goes.
pub(crate) async fn serve(enrichment: Enrichment, bus: BusSettings, shutdown: CancellationToken) {
    use futures_util::StreamExt;
    let enrichment = Arc::new(enrichment);
    let slots = Arc::new(tokio::sync::Semaphore::new(
        enrichment.settings.concurrency.max(1),
    ));
    let mut delay = Duration::from_millis(200);
    loop {
        let subscribed = async {
            let client = crate::bus::client(&bus, Duration::from_secs(10)).await?;
            let sub = client.queue_subscribe(SUBJECT, GROUP.to_owned()).await?;
            Ok::<_, async_nats::Error>((client, sub))
        }
        .await;
        let (client, mut checks) = match subscribed {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "enricher: the bus is not reachable; trying again");
                if !crate::bus::pause(&mut delay, &shutdown).await {
                    return;
                }
                continue;
            }
        };
        delay = Duration::from_millis(200);
        tracing::info!(
            subject = SUBJECT,
            group = GROUP,
            "enricher: answering checks from the bus"
        );
        loop {
            let message = tokio::select! {
                _ = shutdown.cancelled() => return,
                m = checks.next() => m,
            };
            let Some(message) = message else {
                // the subscription ended (the connection is gone for good)
                break;
            };
            let Some(reply) = message.reply.clone() else {
                continue;
            };
            let target: Target = match serde_json::from_slice(&message.payload) {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(error = %e, "enricher: a check that is not one; ignored");
                    continue;
                }
            };
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            let (enrichment, client) = (enrichment.clone(), client.clone());
            tokio::spawn(async move {
                let span = tracing::info_span!("enrich_remote", domain = %target.host);
                let (results, found) =
                    tracing::Instrument::instrument(enrichment.run_enrichers(&target), span).await;
                match serde_json::to_vec(&Answer { results, found }) {
                    Ok(body) => {
                        if let Err(e) = client.publish(reply, body.into()).await {
                            tracing::warn!(error = %e, "enricher: the answer was not sent");
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "enricher: the answer did not serialise"),
                }
                drop(slot);
            });
        }
    }
}

impl Enrichment {
    /// Send checks to the enricher processes instead of running them here.
    pub(crate) fn remote(mut self, bus: BusSettings) -> Enrichment {
        let wait: Duration =
            self.enrichers.iter().map(|r| r.timeout).sum::<Duration>() + Duration::from_secs(5);
        self.remote = Some(Arc::new(Remote::new(bus, wait)));
        self
    }
}
