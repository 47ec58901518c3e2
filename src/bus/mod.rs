//! The stages over NATS JetStream (`[bus]`, the `nats` feature; issue #19).
//!
//! Without a `[bus]` URL nothing here runs: `serve` is one process, its
//! source feeding the pipeline through a channel. With one, the channel is
//! cut at the stream `CERTS` (subjects `certs.<source>`):
//!
//! - a `ct-reader` process runs the sources and [`publish`]es what they
//!   read. A certificate goes out with a `Nats-Msg-Id` (`<log>:<index>` for
//!   CT entries, else the certificate's sha256), so the stream drops a copy
//!   inside its duplicate window, and a CT log's stored position moves only
//!   past entries the stream acknowledged;
//! - a `matcher` process [`consume`]s the stream through one durable pull
//!   consumer that every matcher process shares, hands each certificate to
//!   the pipeline as today, and acknowledges the message only once the
//!   pipeline has recorded it (incident and outbox rows in its store). A
//!   process killed before that leaves the message to be delivered again,
//!   to it or to another matcher, after `ack_wait`.
//!
//! Several ct-readers share the CT logs by lease, one reader per log,
//! with positions in the broker's key-value buckets (`kv`).
//!
//! The stream keeps a message until the consumer has acknowledged it
//! (interest retention), and refuses new ones when `max_bytes` is reached
//! (`discard new`): the reader then waits and tries again, so a full
//! stream is back-pressure, not loss.

mod settings;

pub use settings::{BusSettings, Role};

#[cfg(feature = "nats")]
mod client;
#[cfg(feature = "nats")]
mod cluster;
#[cfg(feature = "nats")]
mod incidents;
#[cfg(feature = "nats")]
mod kv;
#[cfg(feature = "nats")]
pub(crate) mod lists;
#[cfg(feature = "nats")]
mod triage;

#[cfg(feature = "nats")]
pub(crate) use client::{PULL_EXPIRES, PULL_HEARTBEAT, client, consume, pause, publish};
#[cfg(feature = "nats")]
pub(crate) use cluster::Cluster;
#[cfg(feature = "nats")]
pub(crate) use incidents::{IncidentBus, Published, follow_incidents};
#[cfg(feature = "nats")]
pub(crate) use triage::{TriageBus, follow as follow_suppressions};

/// Where an api process keeps the incidents the bus carries (its store).
#[cfg_attr(not(feature = "nats"), allow(dead_code))]
pub(crate) trait ReadModel: Send + Sync {
    /// The stream sequence to read from next (1 at first).
    fn next_sequence<'a>(
        &'a self,
        stream: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Result<u64, String>>;

    /// Keep `incident`, the stream's message `seq`, and move past it.
    fn keep<'a>(
        &'a self,
        stream: &'a str,
        seq: u64,
        incident: crate::model::Incident,
    ) -> futures_util::future::BoxFuture<'a, Result<(), String>>;
}

/// Where a process shares its suppression changes with the cluster.
#[cfg_attr(not(feature = "nats"), allow(dead_code))]
pub(crate) trait SharedSuppressions: Send + Sync {
    fn share<'a>(
        &'a self,
        change: &'a crate::model::Suppression,
    ) -> futures_util::future::BoxFuture<'a, Result<(), String>>;
}

/// What `/v1/status` shows of the cluster (`bus`), asked of the broker.
pub(crate) trait ClusterStatus: Send + Sync {
    fn status(&self) -> futures_util::future::BoxFuture<'_, serde_json::Value>;

    /// Say this process is there, with its roles, until shutdown.
    fn announce(
        self: std::sync::Arc<Self>,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> futures_util::future::BoxFuture<'static, ()>;
}
#[cfg(feature = "nats")]
pub(crate) use kv::KvCheckpoints;
