//! One task per CT log: read entries in order from the stored position,
//! hand them to the pipeline, then a checkpoint that moves the position once
//! the pipeline has recorded everything before it. A restart resumes there;
//! an outage of the log is waited out with backoff; no index is skipped.
//!
//! Each tree head (`get-sth`, `checkpoint`) must carry the log's signature
//! ([`super::sth`]) before anything below its size is read, and the entries
//! read must make its signed root ([`super::merkle`]).
//!
//! RFC 6962: `get-sth`, then `get-entries` in batches, continuing where a
//! short answer stopped. static-ct-api: `checkpoint`, then data tiles (full
//! tiles; the partial `.p/W` tile only at the right edge), issuers fetched
//! once by fingerprint and cached. One request at a time per log, an
//! optional gap between requests, backoff on 429/5xx/timeouts honouring
//! `Retry-After`, and a User-Agent naming certsentry and the operator's contact.
//!
//! A log that leaves the selection (its shard's interval has closed, or it
//! left the list) is retired by [`super::LogSet`]: its follower reads up to
//! a tree size fetched after the retirement, so everything the log held by
//! then is read, and stops. A log that cannot be reached while retiring is
//! retried like any other, until it answers or the service stops.

use super::leaf::{self, Chain};
use super::loglist::LogInfo;
use super::merkle;
use super::sth::{self, LogKey};
use super::{LogMeta, event};
use crate::config::{CtSettings, CtStart};
use crate::metrics::Metrics;
use crate::source::SourceItem;
use crate::store::Store;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Entries in a data tile.
pub const TILE_WIDTH: u64 = 256;

/// `tile/data/<N>` path segment: groups of three digits, all but the last
/// prefixed with `x` (1234067 → `x001/x234/067`).
pub fn tile_index_path(mut n: u64) -> String {
    let mut groups = vec![format!("{:03}", n % 1000)];
    n /= 1000;
    while n > 0 {
        groups.push(format!("x{:03}", n % 1000));
        n /= 1000;
    }
    groups.reverse();
    groups.join("/")
}

/// The data tile holding `index` in a tree of `size`, and its width.
pub fn data_tile_for(index: u64, size: u64) -> (String, u64, u64) {
    let n = index / TILE_WIDTH;
    let start = n * TILE_WIDTH;
    let width = (size - start).min(TILE_WIDTH);
    let path = if width == TILE_WIDTH {
        format!("tile/data/{}", tile_index_path(n))
    } else {
        format!("tile/data/{}.p/{width}", tile_index_path(n))
    };
    (path, start, width)
}

/// A request that did not give usable data; always retried later.
#[derive(Debug)]
struct FetchError {
    after: Option<Duration>,
    reason: String,
}

fn fetch_err(reason: impl Into<String>) -> FetchError {
    FetchError {
        after: None,
        reason: reason.into(),
    }
}

#[derive(serde::Deserialize)]
struct GetEntries {
    entries: Vec<RawEntry>,
}

#[derive(serde::Deserialize)]
struct RawEntry {
    leaf_input: String,
    extra_data: String,
}

pub struct Follower {
    pub log: LogInfo,
    pub client: reqwest::Client,
    pub settings: CtSettings,
    pub store: Store,
    pub tx: mpsc::Sender<SourceItem>,
    pub metrics: Arc<Metrics>,
    issuers: HashMap<[u8; 32], Arc<Vec<u8>>>,
    parsed: super::IssuerCache,
    last_request: Option<Instant>,
    failures: u32,
    /// Checks the log's tree heads; `None` when the list gives no key.
    key: Option<LogKey>,
    /// Logs with a key: the tree of the entries read so far, checked
    /// against each signed root the follower catches up with.
    frontier: Option<merkle::Frontier>,
    /// After a failed [`Follower::load_frontier`], when to try again.
    frontier_retry: Option<Instant>,
    /// The last checked root stored for this log (size, root): from the
    /// store at start, to check the log's history still holds it.
    stored_root: Option<(u64, merkle::Hash)>,
}

/// How long reading goes on unchecked after the log could not give its
/// tree at the reading position.
const FRONTIER_RETRY: Duration = Duration::from_secs(300);

impl Follower {
    pub fn new(
        log: LogInfo,
        client: reqwest::Client,
        settings: CtSettings,
        store: Store,
        tx: mpsc::Sender<SourceItem>,
        metrics: Arc<Metrics>,
    ) -> Follower {
        let key = if log.key.is_empty() {
            tracing::warn!(log = %log.description, "the log list gives no key for this log: its tree heads are not verified");
            None
        } else {
            match LogKey::from_list(&log.key, &log.log_id) {
                Ok(k) => Some(k),
                Err(e) => {
                    tracing::error!(log = %log.description, error = %e, "unusable log key: its tree heads are not verified");
                    None
                }
            }
        };
        Follower {
            log,
            client,
            settings,
            store,
            tx,
            metrics,
            issuers: HashMap::new(),
            parsed: super::IssuerCache::default(),
            last_request: None,
            failures: 0,
            key,
            frontier: None,
            frontier_retry: None,
            stored_root: None,
        }
    }

    fn meta(&self) -> LogMeta {
        LogMeta {
            name: self.log.description.clone(),
            url: self.log.url.clone(),
            tiled: self.log.tiled,
        }
    }

    /// GET `path` under the log URL, politely.
    async fn get(&mut self, path: &str) -> Result<bytes::Bytes, FetchError> {
        if let Some(last) = self.last_request {
            let gap = self.settings.request_interval;
            let since = last.elapsed();
            if since < gap {
                tokio::time::sleep(gap - since).await;
            }
        }
        self.last_request = Some(Instant::now());
        let url = format!("{}{path}", self.log.url);
        let resp = self
            .client
            .get(&url)
            .timeout(self.settings.request_timeout)
            .send()
            .await
            .map_err(|e| fetch_err(format!("GET {path}: {}", crate::watchlist::without_url(&e))))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(FetchError {
                after: crate::retry::retry_after(resp.headers()),
                reason: format!("GET {path}: HTTP {status}"),
            });
        }
        resp.bytes()
            .await
            .map_err(|e| fetch_err(format!("GET {path}: {}", crate::watchlist::without_url(&e))))
    }

    /// The log's current tree head, signed by its key.
    async fn tree_head(&mut self) -> Result<sth::TreeHead, FetchError> {
        let (path, head) = if self.log.tiled {
            let body = self.get("checkpoint").await?;
            (
                "checkpoint",
                sth::parse_checkpoint(&body, self.key.as_ref()),
            )
        } else {
            let body = self.get("ct/v1/get-sth").await?;
            ("get-sth", sth::parse_get_sth(&body, self.key.as_ref()))
        };
        match head {
            Ok(head) => Ok(head),
            Err(e) => {
                // not believed: nothing is read on its word
                self.metrics.add(&self.metrics.ct_tree_heads_refused, 1);
                Err(fetch_err(format!("{path}: {e}")))
            }
        }
    }

    /// Read entries from `next` (below `size`); returns the index after the
    /// last entry handed over, or `None` when the pipeline has gone.
    async fn batch(&mut self, next: u64, size: u64) -> Result<Option<u64>, FetchError> {
        let meta = self.meta();
        let seen = crate::watchlist::unix_now() as f64;
        let mut events = Vec::new();
        let mut leaves = Vec::new();
        let mut unhashable = false;
        let new_next = if self.log.tiled {
            let (path, start, width) = data_tile_for(next, size);
            let tile = self.get(&path).await?;
            let entries =
                leaf::parse_data_tile(&tile).map_err(|e| fetch_err(format!("{path}: {e}")))?;
            if (entries.len() as u64) < width {
                return Err(fetch_err(format!(
                    "{path}: {} entries, expected {width}",
                    entries.len()
                )));
            }
            let from = (next - start) as usize;
            for (i, entry) in entries.iter().enumerate().take(width as usize).skip(from) {
                let index = start + i as u64;
                if self.frontier.is_some() {
                    leaves.push(merkle::leaf_hash(entry.timestamped_entry));
                }
                let mut issuers = Vec::new();
                if let Chain::Fingerprints(fps) = &entry.chain {
                    for fp in fps {
                        issuers.push(self.issuer(fp).await?);
                    }
                }
                let ders: Vec<&[u8]> = issuers.iter().map(|d| d.as_slice()).collect();
                let ev = event(entry, &ders, &meta, index, seen, &mut self.parsed);
                self.push(ev, index, &mut events);
            }
            start + width
        } else {
            let end = (next + self.settings.batch_size - 1).min(size - 1);
            let body = self
                .get(&format!("ct/v1/get-entries?start={next}&end={end}"))
                .await?;
            let answer: GetEntries = serde_json::from_slice(&body)
                .map_err(|e| fetch_err(format!("get-entries: {e}")))?;
            if answer.entries.is_empty() {
                return Err(fetch_err(format!("get-entries {next}-{end}: no entries")));
            }
            let count = (answer.entries.len() as u64).min(end - next + 1);
            for (i, raw) in answer.entries.iter().take(count as usize).enumerate() {
                let index = next + i as u64;
                if self.frontier.is_some() {
                    match STANDARD.decode(&raw.leaf_input) {
                        Ok(li) => leaves.push(merkle::hash_leaf_input(&li)),
                        // counted as a bad entry below; the tree is lost
                        Err(_) => unhashable = true,
                    }
                }
                let ev = super::event_from_get_entries(
                    &raw.leaf_input,
                    &raw.extra_data,
                    &meta,
                    index,
                    seen,
                    &mut self.parsed,
                );
                self.push(ev, index, &mut events);
            }
            next + count
        };
        let batch = SourceItem::Batch {
            events,
            log: self.log.url.clone(),
            next_index: new_next,
            tree_size: size,
        };
        if self.tx.send(batch).await.is_err() {
            return Ok(None);
        }
        if unhashable {
            tracing::warn!(log = %self.log.description, "an entry's leaf_input is not base64: the entries read cannot be checked against the next root");
            self.frontier = None;
        } else if let Some(f) = &mut self.frontier {
            for leaf in leaves {
                f.push(leaf);
            }
        }
        Ok(Some(new_next))
    }

    fn push(
        &self,
        ev: Result<crate::cert::CertEvent, leaf::LeafError>,
        index: u64,
        out: &mut Vec<crate::cert::CertEvent>,
    ) {
        match ev {
            Ok(ev) => {
                self.metrics.add(&self.metrics.ct_entries, 1);
                out.push(ev);
            }
            Err(e) => {
                // a malformed entry cannot be read again any better: count it
                self.metrics.add(&self.metrics.ct_bad_entries, 1);
                tracing::warn!(log = %self.log.description, index, error = %e, "unparsable CT entry skipped");
            }
        }
    }

    /// An issuer certificate by SHA-256, fetched once.
    async fn issuer(&mut self, fp: &[u8; 32]) -> Result<Arc<Vec<u8>>, FetchError> {
        if let Some(der) = self.issuers.get(fp) {
            return Ok(der.clone());
        }
        let der = Arc::new(
            self.get(&format!("issuer/{}", hex::encode(fp)))
                .await?
                .to_vec(),
        );
        self.issuers.insert(*fp, der.clone());
        Ok(der)
    }

    /// The frontier of the tree's first `at` entries, in a tree of `size`
    /// (≥ `at`) the log signed.
    async fn load_frontier(&mut self, at: u64, size: u64) -> Result<merkle::Frontier, FetchError> {
        if at == 0 {
            Ok(merkle::Frontier::default())
        } else if self.log.tiled {
            self.frontier_from_tiles(at, size).await
        } else {
            self.frontier_from_proof(at, size).await
        }
    }

    /// RFC 6962: the entry before `at`, and its audit path in the tree of
    /// `size` (`get-proof-by-hash`), whose left siblings are the frontier.
    async fn frontier_from_proof(
        &mut self,
        at: u64,
        size: u64,
    ) -> Result<merkle::Frontier, FetchError> {
        #[derive(serde::Deserialize)]
        struct Proof {
            leaf_index: u64,
            audit_path: Vec<String>,
        }
        let last = at - 1;
        let body = self
            .get(&format!("ct/v1/get-entries?start={last}&end={last}"))
            .await?;
        let answer: GetEntries =
            serde_json::from_slice(&body).map_err(|e| fetch_err(format!("get-entries: {e}")))?;
        let leaf = answer
            .entries
            .first()
            .and_then(|e| STANDARD.decode(&e.leaf_input).ok())
            .map(|li| merkle::hash_leaf_input(&li))
            .ok_or_else(|| fetch_err(format!("get-entries {last}: no readable entry")))?;
        let hash: String = STANDARD
            .encode(leaf)
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D");
        let body = self
            .get(&format!(
                "ct/v1/get-proof-by-hash?hash={hash}&tree_size={size}"
            ))
            .await?;
        let proof: Proof = serde_json::from_slice(&body)
            .map_err(|e| fetch_err(format!("get-proof-by-hash: {e}")))?;
        if proof.leaf_index != last {
            return Err(fetch_err(format!(
                "get-proof-by-hash: leaf {} for entry {last}",
                proof.leaf_index
            )));
        }
        let path: Option<Vec<merkle::Hash>> = proof
            .audit_path
            .iter()
            .map(|h| STANDARD.decode(h).ok().and_then(|h| h.try_into().ok()))
            .collect();
        let mut frontier = path
            .and_then(|p| merkle::left_of_audit_path(last, size, &p))
            .and_then(|roots| merkle::Frontier::from_roots(last, roots))
            .ok_or_else(|| fetch_err("get-proof-by-hash: not an audit path of that entry"))?;
        frontier.push(leaf);
        Ok(frontier)
    }

    /// static-ct-api: from the hash tiles of the tree of `size` (a size
    /// the log signed, so its partial tiles are served).
    async fn frontier_from_tiles(
        &mut self,
        at: u64,
        size: u64,
    ) -> Result<merkle::Frontier, FetchError> {
        let mut tiles: HashMap<(u32, u64), bytes::Bytes> = HashMap::new();
        let mut roots = Vec::new();
        for (offset, height) in merkle::subtrees(at) {
            let span = merkle::tile_span(offset, height);
            let width = merkle::tile_width(span.level, span.tile, size);
            let mut path = format!("tile/{}/{}", span.level, tile_index_path(span.tile));
            if width < TILE_WIDTH {
                path.push_str(&format!(".p/{width}"));
            }
            let tile = match tiles.get(&(span.level, span.tile)) {
                Some(t) => t.clone(),
                None => {
                    let t = self.get(&path).await?;
                    tiles.insert((span.level, span.tile), t.clone());
                    t
                }
            };
            let (from, to) = (span.start * 32, (span.start + span.count) * 32);
            let Some(hashes) = tile.get(from..to) else {
                return Err(fetch_err(format!(
                    "{path}: {} bytes, hashes up to byte {to} needed",
                    tile.len()
                )));
            };
            let hashes: Vec<merkle::Hash> = hashes
                .chunks_exact(32)
                .map(|h| {
                    let mut out = [0u8; 32];
                    out.copy_from_slice(h);
                    out
                })
                .collect();
            roots.push(merkle::perfect_root(&hashes));
        }
        merkle::Frontier::from_roots(at, roots)
            .ok_or_else(|| fetch_err("hash tiles do not make a frontier"))
    }

    /// Caught up with `head`: the entries read (and the hashes the frontier
    /// started from) must make its signed root. A mismatch means the log,
    /// or whatever serves its entries, showed entries the log did not
    /// commit to: it is raised, and the frontier taken again from the log
    /// for the next check.
    /// A root that matched is stored, so that after a restart the log's
    /// history can be checked to still hold it ([`Follower::check_history`]).
    async fn check_root(&mut self, head: &sth::TreeHead) {
        let Some(f) = &self.frontier else {
            return;
        };
        if f.size() != head.tree_size {
            return;
        }
        if f.root() != head.root_hash {
            self.metrics.add(&self.metrics.ct_tree_mismatches, 1);
            tracing::error!(log = %self.log.description, size = head.tree_size,
                "the entries read do not make the log's signed root: they differ from what it committed to");
            self.frontier = None;
            return;
        }
        self.metrics.add(&self.metrics.ct_tree_checks, 1);
        tracing::debug!(log = %self.log.description, size = head.tree_size, "entries read match the signed root");
        if self
            .stored_root
            .is_some_and(|(size, _)| size == head.tree_size)
        {
            return;
        }
        self.stored_root = Some((head.tree_size, head.root_hash));
        let (store, key, size, root) = (
            self.store.clone(),
            self.log.url.clone(),
            head.tree_size,
            head.root_hash,
        );
        let saved = tokio::task::spawn_blocking(move || {
            store.set_ct_root(&key, size, &root, std::time::SystemTime::now())
        })
        .await;
        if !matches!(saved, Ok(Ok(()))) {
            tracing::warn!(log = %self.log.description, "could not store the checked root");
        }
    }

    /// At start: the root stored before (size s, root r) must still be the
    /// root of the log's first s entries; a log that rewrote or forked its
    /// history since is raised like any mismatch. `frontier` is the tree
    /// at `pos`, just taken from the log.
    async fn check_history(&mut self, pos: u64, size: u64) {
        let Some((old_size, old_root)) = self.stored_root else {
            return;
        };
        if old_size == 0 || old_size > size {
            return;
        }
        let then = if old_size == pos {
            self.frontier.as_ref().map(|f| f.root())
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
    pub async fn run(self, shutdown: CancellationToken, retire: watch::Receiver<bool>) {
        use tracing::Instrument;
        let span =
            tracing::info_span!("ct_log", log = %self.log.description, tiled = self.log.tiled);
        self.follow(shutdown, retire).instrument(span).await
    }

    async fn follow(mut self, shutdown: CancellationToken, mut retire: watch::Receiver<bool>) {
        let stored = {
            let store = self.store.clone();
            let key = self.log.url.clone();
            tokio::task::spawn_blocking(move || store.ct_position(&key))
                .await
                .ok()
                .and_then(|r| r.ok())
                .flatten()
        };
        let mut next = stored.map(|(n, _)| n);
        if self.key.is_some() {
            let (store, key) = (self.store.clone(), self.log.url.clone());
            self.stored_root = tokio::task::spawn_blocking(move || store.ct_root(&key))
                .await
                .ok()
                .and_then(|r| r.ok())
                .flatten();
        }
        // the stored root is compared once, when the tree is first taken
        let mut history_checked = false;
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
            // a log with a key: the tree up to `pos`, to check what is read;
            // when the log cannot give it, reading goes on unchecked (a
            // certificate seen late is worse than one seen unchecked)
            if self.key.is_some()
                && self.frontier.is_none()
                && pos <= size
                && self.frontier_retry.is_none_or(|at| Instant::now() >= at)
            {
                match self.load_frontier(pos, size).await {
                    Ok(f) => {
                        self.frontier = Some(f);
                        self.frontier_retry = None;
                        if !history_checked {
                            history_checked = true;
                            self.check_history(pos, size).await;
                        }
                    }
                    Err(e) => {
                        self.metrics.add(&self.metrics.ct_request_errors, 1);
                        tracing::warn!(log = %self.log.description, reason = %e.reason, retry_in = ?FRONTIER_RETRY,
                            "cannot take the log's tree where reading starts: entries are read unchecked until then");
                        self.frontier_retry = Some(Instant::now() + FRONTIER_RETRY);
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

/// The User-Agent CT requests carry.
pub fn user_agent(contact: &str) -> String {
    let base = concat!("certsentry/", env!("CARGO_PKG_VERSION"));
    if contact.is_empty() {
        format!("{base} (+https://github.com/certsentry)")
    } else {
        format!("{base} (+{contact})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_paths() {
        assert_eq!(tile_index_path(0), "000");
        assert_eq!(tile_index_path(67), "067");
        assert_eq!(tile_index_path(1234067), "x001/x234/067");
        assert_eq!(tile_index_path(1000), "x001/000");
        assert_eq!(
            data_tile_for(0, 100),
            ("tile/data/000.p/100".into(), 0, 100)
        );
        assert_eq!(data_tile_for(100, 300), ("tile/data/000".into(), 0, 256));
        assert_eq!(
            data_tile_for(256, 300),
            ("tile/data/001.p/44".into(), 256, 44)
        );
        assert_eq!(data_tile_for(512, 768), ("tile/data/002".into(), 512, 256));
    }
}
