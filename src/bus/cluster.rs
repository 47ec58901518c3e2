//! The cluster as `/v1/status` shows it (`bus` key): every process on the
//! bus with its roles, each stream with its consumers' lag, and who holds
//! each CT log and where its position is.
//!
//! A process says it is there by writing its roles to the KV bucket
//! `cluster_instances` every [`BEAT`]; the bucket's max age drops a process
//! that stopped writing after [`GONE`].

use super::{BusSettings, Role};
use async_nats::jetstream;
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

const INSTANCES: &str = "cluster_instances";
/// How often a process writes that it is there.
const BEAT: Duration = Duration::from_secs(5);
/// How long after its last write a process is gone.
const GONE: Duration = Duration::from_secs(20);
/// The most the status waits for the broker.
const ASK_FOR: Duration = Duration::from_secs(3);

/// This process on the bus.
pub(crate) struct Cluster {
    settings: BusSettings,
    id: String,
    started_at: u64,
    js: Mutex<Option<jetstream::Context>>,
}

impl super::ClusterStatus for Cluster {
    fn status(&self) -> futures_util::future::BoxFuture<'_, Value> {
        Box::pin(Cluster::status(self))
    }

    fn announce(
        self: std::sync::Arc<Self>,
        shutdown: CancellationToken,
    ) -> futures_util::future::BoxFuture<'static, ()> {
        Box::pin(Cluster::announce(self, shutdown))
    }
}

impl Cluster {
    pub(crate) fn new(settings: BusSettings, started_at: u64) -> Cluster {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default();
        Cluster {
            id: format!("{host}-{}-{:08x}", std::process::id(), fastrand::u32(..))
                .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_"),
            settings,
            started_at,
            js: Mutex::new(None),
        }
    }

    async fn context(&self) -> Result<jetstream::Context, String> {
        let mut held = self.js.lock().await;
        if let Some(js) = &*held {
            return Ok(js.clone());
        }
        let js = super::client::jetstream(&self.settings)
            .await
            .map_err(|e| e.to_string())?;
        *held = Some(js.clone());
        Ok(js)
    }

    /// Write this process's roles every [`BEAT`] until shutdown.
    pub(crate) async fn announce(self: std::sync::Arc<Self>, shutdown: CancellationToken) {
        let roles: Vec<&str> = self.settings.roles.iter().map(|r| r.as_str()).collect();
        let value = json!({
            "roles": roles,
            // the brand shard its matcher matches (`bus.shards` > 1)
            "shard": self.settings.brand_shard().map(|(i, n)| format!("{i}/{n}")),
            "started_at": self.started_at,
            "version": env!("CARGO_PKG_VERSION"),
        })
        .to_string();
        loop {
            let written = async {
                let js = self.context().await?;
                let bucket = super::kv::open(&js, INSTANCES, GONE).await?;
                bucket
                    .put(&self.id, Bytes::from(value.clone()))
                    .await
                    .map_err(|e| e.to_string())
            }
            .await;
            if let Err(e) = written {
                tracing::debug!(error = %e, "cluster presence not written");
                // a new connection next time
                *self.js.lock().await = None;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(BEAT) => {}
            }
        }
    }

    /// What the broker says of the cluster; `{"error": ...}` when it does
    /// not answer in [`ASK_FOR`].
    pub(crate) async fn status(&self) -> Value {
        match tokio::time::timeout(ASK_FOR, self.ask()).await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                *self.js.lock().await = None;
                json!({"url": self.settings.url, "this": self.id, "error": e})
            }
            Err(_) => {
                json!({"url": self.settings.url, "this": self.id, "error": "the broker did not answer in time"})
            }
        }
    }

    async fn ask(&self) -> Result<Value, String> {
        let js = self.context().await?;
        let s = &self.settings;
        let mut streams = Vec::new();
        for name in [&s.stream, &s.incidents_stream, &s.failed_stream] {
            streams.push(stream_status(&js, name).await);
        }
        let instances = values(&js, INSTANCES).await;
        let mut by_role = serde_json::Map::new();
        for role in [
            Role::CtReader,
            Role::Matcher,
            Role::Delivery,
            Role::Enricher,
            Role::Api,
        ] {
            let ids: Vec<&String> = instances
                .iter()
                .filter(|(_, v)| {
                    v["roles"]
                        .as_array()
                        .is_some_and(|r| r.iter().any(|x| x.as_str() == Some(role.as_str())))
                })
                .map(|(k, _)| k)
                .collect();
            by_role.insert(role.as_str().to_owned(), json!(ids));
        }
        let leases = values(&js, super::kv::LEASES).await;
        let positions = values(&js, super::kv::POSITIONS).await;
        let ct_logs: Vec<Value> = positions
            .iter()
            .filter_map(|(k, v)| {
                let key = k.strip_prefix("pos.")?;
                let holder = leases
                    .iter()
                    .find(|(l, _)| l == key)
                    .map(|(_, h)| h.clone());
                Some(json!({
                    "log": key,
                    "next_index": v["next_index"],
                    "tree_size": v["tree_size"],
                    "updated_ms": v["updated_ms"],
                    "lease_holder": holder,
                }))
            })
            .collect();
        Ok(json!({
            "url": s.url,
            "this": self.id,
            "instances": instances.iter().map(|(k, v)| json!({"id": k, "roles": v["roles"], "started_at": v["started_at"], "version": v["version"]})).collect::<Vec<_>>(),
            "roles": by_role,
            "streams": streams,
            "ct_logs": ct_logs,
        }))
    }
}

/// A stream's size and each consumer's lag.
async fn stream_status(js: &jetstream::Context, name: &str) -> Value {
    let Ok(stream) = js.get_stream(name).await else {
        return json!({"name": name, "exists": false});
    };
    let state = &stream.cached_info().state;
    let mut consumers = Vec::new();
    let mut list = stream.consumers();
    while let Some(Ok(c)) = list.next().await {
        consumers.push(json!({
            "name": c.name,
            "num_pending": c.num_pending,
            "num_ack_pending": c.num_ack_pending,
            "num_redelivered": c.num_redelivered,
            "num_waiting": c.num_waiting,
        }));
    }
    json!({
        "name": name,
        "exists": true,
        "messages": state.messages,
        "bytes": state.bytes,
        "consumers": consumers,
    })
}

/// Every key of `bucket` with its value read as JSON (a plain string
/// where it is not JSON); empty when the bucket does not exist.
async fn values(js: &jetstream::Context, bucket: &str) -> Vec<(String, Value)> {
    let Ok(store) = js.get_key_value(bucket).await else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let Ok(mut keys) = store.keys().await else {
        return out;
    };
    let mut names = Vec::new();
    while let Some(Ok(k)) = keys.next().await {
        names.push(k);
    }
    for k in names {
        if let Ok(Some(v)) = store.get(&k).await {
            let value = serde_json::from_slice(&v)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&v).into_owned()));
            out.push((k, value));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}
