//! The analysts' suppressions across the cluster (`[bus]`): a suppression
//! made in any process's console or API (triage "false positive" or
//! "brand-owned", `POST /v1/suppressions`) holds in every matcher, and a
//! removal lifts it everywhere.
//!
//! - Each change is put into the KV bucket `suppressions`, one key per
//!   (registrable domain, brand) pair (`s.<sha256 of domain|brand>`), its
//!   value the suppression as the store keeps it (removed ones with
//!   `removed_at`). Keys are never deleted: the last word on a pair wins.
//! - Every matcher and api process watches the bucket from its start (the
//!   last value of each key first) and keeps the active ones beside its own
//!   store's in [`Suppressions`], which the pipeline consults per verdict.
//! - The process that made a change keeps it in its own store too, with
//!   who and why: `/v1/suppressions` there lists it.

use super::{BusSettings, SharedSuppressions};
use crate::model::{Suppression, Suppressions};
use async_nats::jetstream::kv;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

const BUCKET: &str = "suppressions";

/// The key of a suppression's (domain, brand) pair.
fn key(s: &Suppression) -> String {
    use sha2::Digest;
    let pair = format!("{}|{}", s.domain, s.brand.as_deref().unwrap_or("*"));
    format!("s.{}", hex::encode(sha2::Sha256::digest(pair.as_bytes())))
}

/// The bucket, opened on first use.
pub(crate) struct TriageBus {
    settings: BusSettings,
    bucket: OnceCell<kv::Store>,
}

impl TriageBus {
    pub(crate) fn new(settings: BusSettings) -> TriageBus {
        TriageBus {
            settings,
            bucket: OnceCell::new(),
        }
    }

    async fn bucket(&self) -> Result<&kv::Store, String> {
        self.bucket.get_or_try_init(|| open(&self.settings)).await
    }
}

async fn open(settings: &BusSettings) -> Result<kv::Store, String> {
    let js = super::client::jetstream(settings)
        .await
        .map_err(|e| e.to_string())?;
    super::kv::open(&js, BUCKET, Duration::ZERO).await
}

impl SharedSuppressions for TriageBus {
    fn share<'a>(&'a self, change: &'a Suppression) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let value = serde_json::to_vec(change).map_err(|e| e.to_string())?;
            self.bucket()
                .await?
                .put(key(change), Bytes::from(value))
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        })
    }
}

/// Keep the cluster's suppressions in `into` until shutdown, watching the
/// bucket again (from each key's last value) after a lost connection.
pub(crate) async fn follow(
    settings: BusSettings,
    into: Arc<Suppressions>,
    shutdown: CancellationToken,
) {
    use tracing::Instrument;
    let span = tracing::info_span!("bus_suppressions");
    async move {
        let mut delay = super::client::BACKOFF_FIRST;
        loop {
            let watched = async {
                let bucket = open(&settings).await?;
                let mut changes = bucket
                    .watch_with_history(">")
                    .await
                    .map_err(|e| e.to_string())?;
                tracing::info!("following the cluster's suppressions");
                delay = super::client::BACKOFF_FIRST;
                while let Some(entry) = changes.next().await {
                    let entry = entry.map_err(|e| e.to_string())?;
                    if entry.operation != kv::Operation::Put {
                        into.set_shared(&entry.key, None);
                        continue;
                    }
                    match serde_json::from_slice::<Suppression>(&entry.value) {
                        Ok(s) => {
                            tracing::debug!(domain = %s.domain, brand = ?s.brand, active = s.is_active(),
                                "suppression from the cluster");
                            into.set_shared(&entry.key, Some(&s));
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, key = %entry.key, "not a suppression; skipped")
                        }
                    }
                }
                Ok::<_, String>(())
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                r = watched => match r {
                    Ok(()) => tracing::warn!("the cluster's suppressions stopped; watching again"),
                    Err(e) => tracing::warn!(error = %e, "the cluster's suppressions not readable; trying again"),
                },
            }
            if !super::client::pause(&mut delay, &shutdown).await {
                return;
            }
        }
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Timestamp;

    #[test]
    fn a_pair_has_one_key_whoever_made_it() {
        let s = |id, brand: Option<&str>| Suppression {
            id,
            domain: "paypa1.com".into(),
            brand: brand.map(str::to_owned),
            reason: "r".into(),
            created_by: "ana".into(),
            created_at: Timestamp::from_unix_ms(0),
            incident_id: None,
            removed_at: None,
            removed_by: None,
        };
        assert_eq!(
            key(&s(1, Some("paypal.com"))),
            key(&s(9, Some("paypal.com")))
        );
        assert_ne!(key(&s(1, Some("paypal.com"))), key(&s(1, None)));
        assert!(key(&s(1, None)).starts_with("s."));
    }
}
