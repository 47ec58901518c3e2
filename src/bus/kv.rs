//! CT positions and leases in JetStream key-value buckets, so that several
//! ct-reader processes can run and exactly one reads each log:
//!
//! - `ct_leases`: one key per log, its value the holder's id. Taken with a
//!   create (only if absent), renewed by compare-and-swap on the holder's
//!   revision every third of `bus.lease_ttl`; the bucket's max age is the
//!   TTL, so the lease of a reader that died is gone after it.
//! - `ct_positions`: per log the next index, tree size and holder
//!   (`pos.<log>`), and the last checked root (`root.<log>`). A position is
//!   written only by compare-and-swap on the revision the holder read when
//!   its lease began, so a reader that lost its lease without noticing (a
//!   pause, a partition) cannot move it: its write fails, and its follower
//!   stops.
//!
//! The buckets' streams are made here rather than by `create_key_value`,
//! which Debian's nats-server 2.9 refuses (its account info lacks fields
//! the client reads).

use super::BusSettings;
use crate::metrics::Metrics;
use crate::source::ct::{CheckedRoot, CheckpointError, Checkpoints, Lease, Position};
use async_nats::jetstream::{self, kv, stream};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

pub(crate) const LEASES: &str = "ct_leases";
pub(crate) const POSITIONS: &str = "ct_positions";

/// A log's value in `ct_positions`.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    next_index: u64,
    tree_size: u64,
    holder: String,
    updated_ms: i64,
}

/// A checked root in `ct_positions`.
#[derive(Debug, Serialize, Deserialize)]
struct StoredRoot {
    tree_size: u64,
    root: String,
}

/// What this reader knows of a log it holds.
#[derive(Debug, Default)]
struct Held {
    /// The revision of `pos.<log>` this reader last read or wrote (0: none yet).
    revision: u64,
    next_index: u64,
    /// The current lease term; cancelled when the log is taken over.
    term: Option<CancellationToken>,
}

struct Buckets {
    leases: kv::Store,
    positions: kv::Store,
}

/// [`Checkpoints`] over the bus's key-value buckets (a ct-reader with `[bus]`).
pub(crate) struct KvCheckpoints {
    settings: BusSettings,
    /// This process: host, pid and a random part (a restarted process is
    /// another holder).
    holder: String,
    buckets: OnceCell<Buckets>,
    held: Mutex<HashMap<String, Held>>,
    metrics: Arc<Metrics>,
}

/// The key of `log` (a URL) in the buckets: its readable part, then a hash
/// that keeps two URLs that read the same apart.
pub(crate) fn log_key(log: &str) -> String {
    use sha2::Digest;
    let readable: String = log
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(80)
        .collect();
    let hash = sha2::Sha256::digest(log.as_bytes());
    format!("{}_{}", readable.trim_matches('_'), hex::encode(&hash[..6]))
}

fn error(what: &str, e: impl std::fmt::Display) -> CheckpointError {
    CheckpointError(format!("bus {what}: {e}"))
}

/// The stream behind a key-value bucket, as the client would make it.
fn bucket_config(bucket: &str, max_age: Duration) -> stream::Config {
    stream::Config {
        name: format!("KV_{bucket}"),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        max_age,
        storage: stream::StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: stream::DiscardPolicy::New,
        num_replicas: 1,
        ..Default::default()
    }
}

pub(super) async fn open(
    js: &jetstream::Context,
    bucket: &str,
    max_age: Duration,
) -> Result<kv::Store, String> {
    js.get_or_create_stream(bucket_config(bucket, max_age))
        .await
        .map_err(|e| format!("bucket {bucket}: {e}"))?;
    js.get_key_value(bucket)
        .await
        .map_err(|e| format!("bucket {bucket}: {e}"))
}

impl KvCheckpoints {
    pub(crate) fn new(settings: BusSettings, metrics: Arc<Metrics>) -> KvCheckpoints {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default();
        KvCheckpoints {
            holder: format!("{host}-{}-{:08x}", std::process::id(), fastrand::u32(..)),
            settings,
            buckets: OnceCell::new(),
            held: Mutex::new(HashMap::new()),
            metrics,
        }
    }

    /// The buckets, connecting (and trying again) until the broker answers;
    /// `None` at shutdown.
    async fn buckets(&self, shutdown: &CancellationToken) -> Option<&Buckets> {
        let mut delay = super::client::BACKOFF_FIRST;
        loop {
            if let Some(b) = self.buckets.get() {
                return Some(b);
            }
            let (js, _) = super::client::connect(&self.settings, shutdown).await?;
            let opened = async {
                Ok::<_, String>(Buckets {
                    leases: open(&js, LEASES, self.settings.lease_ttl).await?,
                    positions: open(&js, POSITIONS, Duration::ZERO).await?,
                })
            }
            .await;
            match opened {
                Ok(b) => {
                    let _ = self.buckets.set(b);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "CT lease buckets not ready; trying again");
                    if !super::client::pause(&mut delay, shutdown).await {
                        return None;
                    }
                }
            }
        }
    }

    fn opened(&self) -> Result<&Buckets, CheckpointError> {
        self.buckets
            .get()
            .ok_or_else(|| error("buckets", "not connected yet"))
    }

    fn held<T>(&self, log: &str, f: impl FnOnce(&mut Held) -> T) -> T {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        f(held.entry(log.to_owned()).or_default())
    }

    /// The log was taken over (or its lease could not be renewed): end
    /// the term, so its follower stops.
    fn lost(&self, log: &str, why: &str) {
        if let Some(term) = self.held(log, |h| h.term.take()) {
            self.metrics.add(&self.metrics.bus_leases_lost, 1);
            tracing::warn!(log, why, "CT log lease lost");
            term.cancel();
        }
    }

    /// Keep the lease on `key` (revision `revision`) until it is released
    /// (the follower ended) or lost.
    async fn renew(
        self: Arc<Self>,
        log: String,
        key: String,
        mut revision: u64,
        term: CancellationToken,
        release: CancellationToken,
    ) {
        let Ok(b) = self.opened() else { return };
        let ttl = self.settings.lease_ttl;
        let mut renewed = Instant::now();
        loop {
            tokio::select! {
                _ = release.cancelled() => {
                    // given up: let the next reader have it at once
                    if !term.is_cancelled() {
                        let _ = b.leases.delete_expect_revision(&key, Some(revision)).await;
                    }
                    return;
                }
                _ = term.cancelled() => return,
                _ = tokio::time::sleep(ttl / 3) => {}
            }
            match b
                .leases
                .update(&key, Bytes::from(self.holder.clone()), revision)
                .await
            {
                Ok(r) => {
                    revision = r;
                    renewed = Instant::now();
                }
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                    self.lost(&log, "another reader holds it");
                    return;
                }
                Err(e) if renewed.elapsed() + ttl / 3 >= ttl => {
                    // it may have expired on the broker by now
                    self.lost(&log, &format!("not renewed in time: {e}"));
                    return;
                }
                Err(e) => tracing::warn!(log, error = %e, "CT log lease not renewed; trying again"),
            }
        }
    }
}

/// The lease-taking side needs the shared handle (its renewals outlive the
/// call), so [`Checkpoints`] is implemented on `Arc<KvCheckpoints>`.
impl Checkpoints for Arc<KvCheckpoints> {
    fn position<'a>(
        &'a self,
        log: &'a str,
    ) -> BoxFuture<'a, Result<Option<Position>, CheckpointError>> {
        Box::pin(async move {
            let b = self.opened()?;
            let key = format!("pos.{}", log_key(log));
            let entry = b
                .positions
                .entry(key)
                .await
                .map_err(|e| error("position", e))?;
            let Some(entry) = entry.filter(|e| e.operation == kv::Operation::Put) else {
                self.held(log, |h| (h.revision, h.next_index) = (0, 0));
                return Ok(None);
            };
            let stored: Stored =
                serde_json::from_slice(&entry.value).map_err(|e| error("position", e))?;
            self.held(log, |h| {
                (h.revision, h.next_index) = (entry.revision, stored.next_index)
            });
            Ok(Some((stored.next_index, stored.tree_size)))
        })
    }

    fn root<'a>(
        &'a self,
        log: &'a str,
    ) -> BoxFuture<'a, Result<Option<CheckedRoot>, CheckpointError>> {
        Box::pin(async move {
            let b = self.opened()?;
            let key = format!("root.{}", log_key(log));
            let Some(value) = b.positions.get(key).await.map_err(|e| error("root", e))? else {
                return Ok(None);
            };
            // a value of another shape is ignored (the next check replaces it)
            let stored: Option<StoredRoot> = serde_json::from_slice(&value).ok();
            Ok(stored.and_then(|s| {
                let root: [u8; 32] = hex::decode(s.root).ok()?.try_into().ok()?;
                Some((s.tree_size, root))
            }))
        })
    }

    fn set_root<'a>(
        &'a self,
        log: &'a str,
        tree_size: u64,
        root: [u8; 32],
    ) -> BoxFuture<'a, Result<(), CheckpointError>> {
        Box::pin(async move {
            let b = self.opened()?;
            let value = serde_json::to_vec(&StoredRoot {
                tree_size,
                root: hex::encode(root),
            })
            .map_err(|e| error("root", e))?;
            // a checked root is a fact about the log, whoever checked it
            b.positions
                .put(format!("root.{}", log_key(log)), value.into())
                .await
                .map(drop)
                .map_err(|e| error("root", e))
        })
    }

    fn commit<'a>(
        &'a self,
        log: &'a str,
        next_index: u64,
        tree_size: u64,
    ) -> BoxFuture<'a, Result<(), CheckpointError>> {
        Box::pin(async move {
            let b = self.opened()?;
            let (revision, known) = self.held(log, |h| (h.revision, h.next_index));
            if next_index <= known {
                return Ok(()); // a batch of an earlier term, already past
            }
            let value = serde_json::to_vec(&Stored {
                next_index,
                tree_size,
                holder: self.holder.clone(),
                updated_ms: crate::model::unix_ms(std::time::SystemTime::now()),
            })
            .map_err(|e| error("position", e))?;
            let key = format!("pos.{}", log_key(log));
            let written = if revision == 0 {
                b.positions.create(&key, value.into()).await.map_err(|e| {
                    (
                        e.kind() == kv::CreateErrorKind::AlreadyExists,
                        e.to_string(),
                    )
                })
            } else {
                b.positions
                    .update(&key, value.into(), revision)
                    .await
                    .map_err(|e| {
                        (
                            e.kind() == kv::UpdateErrorKind::WrongLastRevision,
                            e.to_string(),
                        )
                    })
            };
            match written {
                Ok(r) => {
                    self.held(log, |h| (h.revision, h.next_index) = (r, next_index));
                    Ok(())
                }
                Err((true, _)) => {
                    // fenced: another reader moved it since this one read it
                    self.lost(log, "its position was moved by another reader");
                    Ok(())
                }
                Err((false, e)) => Err(error("position", e)),
            }
        })
    }

    fn lease<'a>(
        &'a self,
        log: &'a str,
        shutdown: &'a CancellationToken,
    ) -> BoxFuture<'a, Option<Lease>> {
        Box::pin(async move {
            let b = self.buckets(shutdown).await?;
            let key = log_key(log);
            let mut delay = super::client::BACKOFF_FIRST;
            let mut waiting_since: Option<Instant> = None;
            loop {
                match b
                    .leases
                    .create(&key, Bytes::from(self.holder.clone()))
                    .await
                {
                    Ok(revision) => {
                        let term = shutdown.child_token();
                        let release = CancellationToken::new();
                        self.held(log, |h| h.term = Some(term.clone()));
                        self.metrics.add(&self.metrics.bus_leases_taken, 1);
                        tracing::info!(log, holder = %self.holder, "CT log lease taken");
                        tokio::spawn(Arc::clone(self).renew(
                            log.to_owned(),
                            key,
                            revision,
                            term.clone(),
                            release.clone(),
                        ));
                        return Some(Lease::new(term, Some(release)));
                    }
                    Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                        if waiting_since.is_none() {
                            tracing::info!(log, "CT log read by another reader; standing by");
                            waiting_since = Some(Instant::now());
                        }
                        delay = super::client::BACKOFF_FIRST;
                        let wait = (self.settings.lease_ttl / 4).max(Duration::from_millis(100));
                        tokio::select! {
                            _ = shutdown.cancelled() => return None,
                            _ = tokio::time::sleep(wait) => {}
                        }
                    }
                    Err(e) => {
                        tracing::warn!(log, error = %e, "CT log lease not taken; trying again");
                        if !super::client::pause(&mut delay, shutdown).await {
                            return None;
                        }
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A nats-server with JetStream on a random port of 127.0.0.1, killed
    /// on drop; `None` where it is not installed (`.ci/run` installs it).
    struct Broker(std::process::Child, String, tempfile::TempDir);

    impl Drop for Broker {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn broker() -> Option<Broker> {
        let dir = tempfile::tempdir().ok()?;
        let child = std::process::Command::new("nats-server")
            .args(["-js", "-a", "127.0.0.1", "-p", "-1", "--ports_file_dir"])
            .arg(dir.path())
            .arg("-sd")
            .arg(dir.path().join("store"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        let Ok(child) = child else {
            assert!(
                std::env::var_os("CI").is_none(),
                "nats-server is not installed"
            );
            eprintln!("skipped: nats-server is not installed");
            return None;
        };
        let mut broker = Broker(child, String::new(), dir);
        for _ in 0..500 {
            let url = std::fs::read_dir(broker.2.path())
                .ok()?
                .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                .find_map(|t| {
                    let v: serde_json::Value = serde_json::from_str(&t).ok()?;
                    v["nats"][0].as_str().map(str::to_owned)
                });
            if let Some(url) = url {
                broker.1 = url;
                return Some(broker);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("nats-server wrote no ports file");
    }

    fn reader(url: &str) -> Arc<KvCheckpoints> {
        let settings = BusSettings {
            url: url.to_owned(),
            lease_ttl: Duration::from_secs(3),
            ..BusSettings::default()
        };
        Arc::new(KvCheckpoints::new(settings, Arc::new(Metrics::default())))
    }

    #[tokio::test]
    async fn a_reader_whose_lease_was_taken_over_cannot_move_the_position() {
        let Some(broker) = broker() else { return };
        let shutdown = CancellationToken::new();
        let log = "https://ct.example/log/";
        let (a, b) = (reader(&broker.1), reader(&broker.1));
        let lease_a = a.lease(log, &shutdown).await.unwrap();
        assert_eq!(a.position(log).await.unwrap(), None);
        a.commit(log, 10, 100).await.unwrap();

        // b stands by while a holds the log
        let waiting = tokio::time::timeout(Duration::from_millis(1500), b.lease(log, &shutdown));
        assert!(waiting.await.is_err(), "b took a held lease");

        // a stalls unseen: its lease vanishes (as if it expired) and b takes
        // the log, resumes at a's position and moves it
        let buckets = b.buckets(&shutdown).await.unwrap();
        buckets.leases.purge(log_key(log)).await.unwrap();
        let lease_b = b.lease(log, &shutdown).await.unwrap();
        assert_eq!(b.position(log).await.unwrap(), Some((10, 100)));
        b.commit(log, 20, 100).await.unwrap();

        // a wakes and writes: refused, and its term ends
        assert!(!lease_a.term.is_cancelled());
        a.commit(log, 30, 100).await.unwrap();
        assert!(lease_a.term.is_cancelled(), "a was not fenced out");
        assert!(!lease_b.term.is_cancelled());
        let stored: Stored = serde_json::from_slice(
            &buckets
                .positions
                .get(format!("pos.{}", log_key(log)))
                .await
                .unwrap()
                .unwrap(),
        )
        .unwrap();
        assert_eq!((stored.next_index, &stored.holder), (20, &b.holder));

        // b gives the log up: the lease is released at once, not after its TTL
        drop(lease_b);
        let next = tokio::time::timeout(Duration::from_secs(2), a.lease(log, &shutdown));
        let lease_a = next.await.expect("released lease taken at once").unwrap();
        assert_eq!(a.position(log).await.unwrap(), Some((20, 100)));
        a.commit(log, 25, 100).await.unwrap();
        assert!(!lease_a.term.is_cancelled());
        shutdown.cancel();
    }

    #[test]
    fn log_keys_are_valid_and_tell_urls_apart() {
        let a = log_key("https://ct.example.com/logs/argon2026h1/");
        let b = log_key("https://ct.example.com/logs_argon2026h1/");
        assert!(a.starts_with("ct_example_com_logs_argon2026h1_"), "{a}");
        assert_ne!(a, b);
        for k in [&a, &b] {
            assert!(
                k.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_'),
                "{k}"
            );
        }
    }
}
