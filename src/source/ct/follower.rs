//! One task per CT log: read entries in order from the stored position,
//! hand them to the pipeline as batches that move the position once the
//! pipeline has recorded everything in them. A restart resumes there; an
//! outage of the log is waited out with backoff; no index is skipped.
//!
//! Each tree head must carry the log's signature before anything below its
//! size is read, and the entries read must make its signed root
//! ([`super::verify`]). Requests go through [`super::client`], reads
//! through the log's API ([`super::rfc6962`] or [`super::static_ct`]).
//!
//! A log that leaves the selection (its shard's interval has closed, or it
//! left the list) is retired by [`super::LogSet`]: its follower reads up to
//! a tree size fetched after the retirement, so everything the log held by
//! then is read, and stops. A log that cannot be reached while retiring is
//! retried like any other, until it answers or the service stops.

use super::client::{FetchError, LogClient, fetch_err};
use super::event::{IssuerCache, LogMeta, Read};
use super::loglist::LogInfo;
use super::merkle::Frontier;
use super::sth::TreeHead;
use super::verify::{FRONTIER_RETRY, RootCheck, Verifier};
use super::{Checkpoints, CtSettings, CtStart, rfc6962, static_ct};
use crate::metrics::Metrics;
use crate::model::{CertEvent, unix_now};
use crate::source::SourceItem;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// The log's read API, with what it keeps between reads.
enum ReadApi {
    Rfc6962,
    Tiles(static_ct::Issuers),
}

pub(super) struct Follower {
    log: LogInfo,
    client: LogClient,
    api: ReadApi,
    verifier: Verifier,
    settings: CtSettings,
    checkpoints: Arc<dyn Checkpoints>,
    tx: mpsc::Sender<SourceItem>,
    metrics: Arc<Metrics>,
    /// Issuer certificates parsed once per log.
    parsed: IssuerCache,
    /// Failed requests in a row: the backoff's exponent.
    failures: u32,
}

impl Follower {
    pub(super) fn new(
        log: LogInfo,
        http: reqwest::Client,
        settings: CtSettings,
        checkpoints: Arc<dyn Checkpoints>,
        tx: mpsc::Sender<SourceItem>,
        metrics: Arc<Metrics>,
    ) -> Follower {
        let client = LogClient::new(
            &log.url,
            http,
            settings.request_interval,
            settings.request_timeout,
        );
        let api = if log.tiled {
            ReadApi::Tiles(static_ct::Issuers::default())
        } else {
            ReadApi::Rfc6962
        };
        Follower {
            verifier: Verifier::new(&log),
            log,
            client,
            api,
            settings,
            checkpoints,
            tx,
            metrics,
            parsed: IssuerCache::default(),
            failures: 0,
        }
    }

    fn meta(&self) -> LogMeta {
        LogMeta {
            name: self.log.description.clone(),
            url: self.log.url.clone(),
            tiled: self.log.tiled,
        }
    }

    /// The log's current tree head, signed by its key.
    async fn tree_head(&mut self) -> Result<TreeHead, FetchError> {
        let key = self.verifier.key();
        let (what, head) = match &self.api {
            ReadApi::Rfc6962 => ("get-sth", rfc6962::tree_head(&mut self.client, key).await?),
            ReadApi::Tiles(_) => (
                "checkpoint",
                static_ct::tree_head(&mut self.client, key).await?,
            ),
        };
        head.map_err(|e| {
            // not believed: nothing is read on its word
            self.metrics.add(&self.metrics.ct_tree_heads_refused, 1);
            fetch_err(format!("{what}: {e}"))
        })
    }

    /// Read entries from `next` (below `size`) and hand them over; returns
    /// the index after the last entry handed over, or `None` when the
    /// pipeline has gone.
    async fn batch(&mut self, next: u64, size: u64) -> Result<Option<u64>, FetchError> {
        let meta = self.meta();
        let seen = unix_now() as f64;
        let want_leaves = self.verifier.wants_leaves();
        let read: Read = match &mut self.api {
            ReadApi::Rfc6962 => {
                let batch = (next, size, self.settings.batch_size);
                rfc6962::read(
                    &mut self.client,
                    &meta,
                    &mut self.parsed,
                    batch,
                    want_leaves,
                    seen,
                )
                .await?
            }
            ReadApi::Tiles(issuers) => {
                static_ct::read(
                    &mut self.client,
                    issuers,
                    &meta,
                    &mut self.parsed,
                    (next, size),
                    want_leaves,
                    seen,
                )
                .await?
            }
        };
        let events = self.count(read.entries);
        let batch = SourceItem::Batch {
            events,
            log: self.log.url.clone(),
            next_index: read.next,
            tree_size: size,
        };
        if self.tx.send(batch).await.is_err() {
            return Ok(None);
        }
        if !self.verifier.add_leaves(read.leaves) {
            tracing::warn!(log = %self.log.description, "an entry's leaf_input is not base64: the entries read cannot be checked against the next root");
        }
        Ok(Some(read.next))
    }

    /// The parsed events; a malformed entry cannot be read again any
    /// better, so it is counted and skipped.
    fn count(
        &self,
        entries: Vec<(u64, Result<CertEvent, super::leaf::LeafError>)>,
    ) -> Vec<CertEvent> {
        let mut out = Vec::with_capacity(entries.len());
        for (index, ev) in entries {
            match ev {
                Ok(ev) => {
                    self.metrics.add(&self.metrics.ct_entries, 1);
                    out.push(ev);
                }
                Err(e) => {
                    self.metrics.add(&self.metrics.ct_bad_entries, 1);
                    tracing::warn!(log = %self.log.description, index, error = %e, "unparsable CT entry skipped");
                }
            }
        }
        out
    }

    /// The frontier of the tree's first `at` entries, in a tree of `size`
    /// (≥ `at`) the log signed.
    async fn load_frontier(&mut self, at: u64, size: u64) -> Result<Frontier, FetchError> {
        if at == 0 {
            return Ok(Frontier::default());
        }
        match self.api {
            ReadApi::Rfc6962 => rfc6962::frontier(&mut self.client, at, size).await,
            ReadApi::Tiles(_) => static_ct::frontier(&mut self.client, at, size).await,
        }
    }

    /// Caught up with `head`: the entries read must make its signed root.
    /// A root that matched is stored, for the history check after a restart.
    async fn check_root(&mut self, head: &TreeHead) {
        match self.verifier.check_root(head) {
            RootCheck::Unchecked => {}
            RootCheck::Mismatch => {
                self.metrics.add(&self.metrics.ct_tree_mismatches, 1);
                tracing::error!(log = %self.log.description, size = head.tree_size,
                    "the entries read do not make the log's signed root: they differ from what it committed to");
            }
            RootCheck::Matched { store } => {
                self.metrics.add(&self.metrics.ct_tree_checks, 1);
                tracing::debug!(log = %self.log.description, size = head.tree_size, "entries read match the signed root");
                if let Some((size, root)) = store
                    && let Err(e) = self.checkpoints.set_root(&self.log.url, size, root).await
                {
                    tracing::warn!(log = %self.log.description, error = %e, "could not store the checked root");
                }
            }
        }
    }

    /// At start: the root stored before (size s, root r) must still be the
    /// root of the log's first s entries; a log that rewrote or forked its
    /// history since is raised like any mismatch. The tree at `pos` was
    /// just taken from the log.
    async fn check_history(&mut self, (old_size, old_root): (u64, [u8; 32]), pos: u64, size: u64) {
        if old_size == 0 || old_size > size {
            return;
        }
        let then = if old_size == pos {
            self.verifier.root()
        } else {
            match self.load_frontier(old_size, size).await {
                Ok(f) => Some(f.root()),
                Err(e) => {
                    self.metrics.add(&self.metrics.ct_request_errors, 1);
                    tracing::warn!(log = %self.log.description, reason = %e.reason,
                        "cannot take the log's tree at the size checked before the restart: not compared");
                    None
                }
            }
        };
        match then {
            Some(root) if root == old_root => self.metrics.add(&self.metrics.ct_tree_checks, 1),
            Some(_) => {
                self.metrics.add(&self.metrics.ct_tree_mismatches, 1);
                tracing::error!(log = %self.log.description, size = old_size,
                    "the log's tree no longer has the root read before the restart: it rewrote or forked its history");
            }
            None => {}
        }
    }

    async fn wait(&self, d: Duration, shutdown: &CancellationToken) -> bool {
        tokio::select! {
            _ = shutdown.cancelled() => false,
            _ = tokio::time::sleep(d) => true,
        }
    }

    async fn back_off(&mut self, e: FetchError, shutdown: &CancellationToken) -> bool {
        self.metrics.add(&self.metrics.ct_request_errors, 1);
        let delay = e.after.unwrap_or_else(|| {
            crate::retry::backoff(
                self.failures,
                self.settings.backoff_initial,
                self.settings.backoff_max,
            )
        });
        self.failures = self.failures.saturating_add(1);
        tracing::warn!(log = %self.log.description, reason = %e.reason, retry_in = ?delay, "CT log request failed");
        self.wait(delay.min(self.settings.backoff_max), shutdown)
            .await
    }

    /// Follow the log until cancelled, the pipeline goes away, or `retire`
    /// turns true and the log has been read up to a tree size fetched after
    /// that. `retire` may turn false again (the log is selected again).
    pub(super) async fn run(self, shutdown: CancellationToken, retire: watch::Receiver<bool>) {
        use tracing::Instrument;
        let span =
            tracing::info_span!("ct_log", log = %self.log.description, tiled = self.log.tiled);
        self.follow(shutdown, retire).instrument(span).await
    }

    async fn follow(mut self, shutdown: CancellationToken, mut retire: watch::Receiver<bool>) {
        let mut next = match self.checkpoints.position(&self.log.url).await {
            Ok(p) => p.map(|(n, _)| n),
            Err(e) => {
                tracing::warn!(log = %self.log.description, error = %e, "cannot read the stored position: starting as a new log");
                None
            }
        };
        if self.verifier.key().is_some() {
            let root = self.checkpoints.root(&self.log.url).await.ok().flatten();
            self.verifier.set_stored_root(root);
        }
        tracing::info!(log = %self.log.description, position = ?next, "following CT log");
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            // seen before the tree size is fetched: reading up to that size
            // reads everything the log held when it was retired
            let retiring = *retire.borrow_and_update();
            let head = match self.tree_head().await {
                Ok(h) => h,
                Err(e) => {
                    if !self.back_off(e, &shutdown).await {
                        return;
                    }
                    continue;
                }
            };
            self.failures = 0;
            let size = head.tree_size;
            let mut pos = match next {
                Some(n) => n,
                None => {
                    let start = match self.settings.start {
                        CtStart::End => size,
                        CtStart::Beginning => 0,
                    };
                    let first = SourceItem::Batch {
                        events: Vec::new(),
                        log: self.log.url.clone(),
                        next_index: start,
                        tree_size: size,
                    };
                    if self.tx.send(first).await.is_err() {
                        return;
                    }
                    start
                }
            };
            next = Some(pos);
            if self.verifier.needs_frontier(pos, size) {
                match self.load_frontier(pos, size).await {
                    Ok(f) => {
                        if let Some(stored) = self.verifier.frontier_taken(f) {
                            self.check_history(stored, pos, size).await;
                        }
                    }
                    Err(e) => {
                        self.metrics.add(&self.metrics.ct_request_errors, 1);
                        tracing::warn!(log = %self.log.description, reason = %e.reason, retry_in = ?FRONTIER_RETRY,
                            "cannot take the log's tree where reading starts: entries are read unchecked until then");
                        self.verifier.frontier_failed();
                    }
                }
            }
            while pos < size {
                if shutdown.is_cancelled() {
                    return;
                }
                match self.batch(pos, size).await {
                    Ok(Some(n)) => {
                        self.failures = 0;
                        pos = n;
                        next = Some(n);
                    }
                    Ok(None) => return,
                    Err(e) => {
                        if !self.back_off(e, &shutdown).await {
                            return;
                        }
                    }
                }
            }
            self.check_root(&head).await;
            if retiring {
                tracing::info!(log = %self.log.description, position = pos,
                    "CT log left the selection: read up to its tree size, no longer followed");
                return;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.settings.poll_interval) => {}
                // retired (or selected again) meanwhile: look at once; a
                // closed channel (the log set has gone) ends with shutdown
                changed = retire.changed() => if changed.is_err() { return },
            }
        }
    }
}
