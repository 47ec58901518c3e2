//! The homograph list over the bus (`[bus]`): one process polls the
//! configured source (file, URL or XSOAR) and every process gets the list
//! from the broker, so the matchers match with the same list and the
//! source is asked once per interval, not once per process.
//!
//! - The process holding the key `list-loader` of the lease bucket
//!   (`ct_leases`, renewed like a CT log's lease) reloads the list every
//!   `watchlist.reload_interval` as one process does. A list that loads and
//!   compiles, and differs from the last one published, is put into the
//!   object store `lists` (object `current`), then its sha256 into the KV
//!   bucket `list_revision` (key `current`). A broken list is published
//!   nowhere: everyone keeps the last good one.
//! - Every process (the holder too) watches `list_revision`; a new hash
//!   makes it fetch the object, compile it off the hot path and swap it in,
//!   as a reload does. A process that starts takes the current list at once.
//!
//! The buckets' streams are made by hand, as for the KV buckets, so that
//! Debian's nats-server 2.9 takes them.

use super::BusSettings;
use crate::snapshot::SnapshotHandle;
use async_nats::jetstream::{self, kv, object_store, stream};
use bytes::Bytes;
use futures_util::StreamExt;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

const OBJECTS: &str = "lists";
const REVISION: &str = "list_revision";
const CURRENT: &str = "current";
const LOADER_KEY: &str = "list-loader";

async fn open(js: &jetstream::Context) -> Result<(object_store::ObjectStore, kv::Store), String> {
    js.get_or_create_stream(stream::Config {
        name: format!("OBJ_{OBJECTS}"),
        subjects: vec![format!("$O.{OBJECTS}.C.>"), format!("$O.{OBJECTS}.M.>")],
        storage: stream::StorageType::File,
        discard: stream::DiscardPolicy::New,
        allow_rollup: true,
        allow_direct: true,
        num_replicas: 1,
        ..Default::default()
    })
    .await
    .map_err(|e| format!("object store {OBJECTS}: {e}"))?;
    let objects = js
        .get_object_store(OBJECTS)
        .await
        .map_err(|e| format!("object store {OBJECTS}: {e}"))?;
    let revision = super::kv::open(js, REVISION, Duration::ZERO).await?;
    Ok((objects, revision))
}

/// The hash of the list in use in this process.
type Applied = std::sync::Arc<std::sync::Mutex<Option<String>>>;

fn set(applied: &Applied, hash: &str) {
    *applied.lock().unwrap_or_else(|p| p.into_inner()) = Some(hash.to_owned());
}

fn is(applied: &Applied, hash: &str) -> bool {
    applied.lock().unwrap_or_else(|p| p.into_inner()).as_deref() == Some(hash)
}

fn sha256(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// Keep `snapshots` on the cluster's list until shutdown: poll the source
/// while this process holds the loader's lease, apply every list published.
pub(crate) async fn run(
    settings: BusSettings,
    snapshots: SnapshotHandle,
    interval: Duration,
    leases: std::sync::Arc<super::KvCheckpoints>,
    shutdown: CancellationToken,
) {
    use tracing::Instrument;
    let span = tracing::info_span!("bus_lists");
    async move {
        let js = loop {
            match super::client::jetstream(&settings).await {
                Ok(js) => match open(&js).await {
                    Ok(_) => break js,
                    Err(e) => tracing::warn!(error = %e, "list buckets not ready; trying again"),
                },
                Err(e) => tracing::warn!(error = %e, "bus not ready for the list; trying again"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        };
        // the hash of the list in use here: the loader applies what it
        // publishes, so following it does not compile it twice
        let applied = Applied::default();
        let poll = tokio::spawn(poll_while_leader(
            js.clone(),
            snapshots.clone(),
            interval,
            leases,
            applied.clone(),
            shutdown.clone(),
        ));
        follow(&js, &snapshots, &applied, &shutdown).await;
        poll.abort();
    }
    .instrument(span)
    .await
}

/// The loader: while holding the lease, reload every `interval` and
/// publish each good list that changed.
async fn poll_while_leader(
    js: jetstream::Context,
    snapshots: SnapshotHandle,
    interval: Duration,
    leases: std::sync::Arc<super::KvCheckpoints>,
    applied: Applied,
    shutdown: CancellationToken,
) {
    use crate::source::ct::Checkpoints;
    let mut published: Option<String> = None;
    while let Some(lease) = leases.lease(LOADER_KEY, &shutdown).await {
        tracing::info!("this process loads the list for the cluster");
        loop {
            match snapshots.fetch_and_apply().await {
                Ok(text) => {
                    let hash = sha256(&text);
                    set(&applied, &hash);
                    if published.as_deref() != Some(hash.as_str()) {
                        match publish(&js, &text, &hash).await {
                            Ok(()) => {
                                tracing::info!(sha256 = %hash, bytes = text.len(), "list published to the cluster");
                                published = Some(hash);
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "list not published; trying again next time")
                            }
                        }
                    }
                }
                // the last good list stays, here and everywhere
                Err(e) => {
                    tracing::warn!(error = %e, "list not loaded; the cluster keeps the last good one")
                }
            }
            tokio::select! {
                _ = lease.term.cancelled() => break,
                _ = tokio::time::sleep(interval) => {}
            }
        }
        if shutdown.is_cancelled() {
            return;
        }
    }
}

async fn publish(js: &jetstream::Context, text: &str, hash: &str) -> Result<(), String> {
    let (objects, revision) = open(js).await?;
    objects
        .put(CURRENT, &mut text.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    revision
        .put(CURRENT, Bytes::from(hash.to_owned()))
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Every process: apply the current list, then each one published.
async fn follow(
    js: &jetstream::Context,
    snapshots: &SnapshotHandle,
    applied: &Applied,
    shutdown: &CancellationToken,
) {
    loop {
        let watched = async {
            let (objects, revision) = open(js).await?;
            let mut changes = revision
                .watch_with_history(CURRENT)
                .await
                .map_err(|e| e.to_string())?;
            while let Some(entry) = changes.next().await {
                let entry = entry.map_err(|e| e.to_string())?;
                if entry.operation != kv::Operation::Put {
                    continue;
                }
                let hash = String::from_utf8_lossy(&entry.value).into_owned();
                if is(applied, &hash) {
                    continue;
                }
                match fetch(&objects).await {
                    Ok(text) if sha256(&text) == hash => match snapshots.apply_text(text).await {
                        Ok(_) => {
                            tracing::info!(sha256 = %hash, "list from the cluster in use");
                            set(applied, &hash);
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "list from the cluster refused; keeping the last good one")
                        }
                    },
                    // the object moved on already: its own revision follows
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "list from the cluster not read"),
                }
            }
            Ok::<_, String>(())
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            r = watched => if let Err(e) = r {
                tracing::warn!(error = %e, "watching the cluster's list failed; resuming");
            },
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

async fn fetch(objects: &object_store::ObjectStore) -> Result<String, String> {
    let mut object = objects.get(CURRENT).await.map_err(|e| e.to_string())?;
    let mut text = String::new();
    object
        .read_to_string(&mut text)
        .await
        .map_err(|e| e.to_string())?;
    Ok(text)
}
