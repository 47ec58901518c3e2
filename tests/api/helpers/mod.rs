//! Test harness: the real service on port 0 with its own SQLite file and
//! list (`app`), a real certstream websocket server (`certstream`), a real
//! HTTP receiver standing in for a SOAR (`receiver`), real CT logs
//! (`ct_log`), a client of certsentry's certstream server
//! (`stream_client`), real messages (`messages`), the binary (`cli`) and a
//! real headless Chromium (`browser`), a real DNS server (`dns`) and the
//! web pages lookalikes serve (`web`), all on 127.0.0.1, and a small
//! MaxMind DB ASN file (`mmdb`), and a real nats-server (`nats`).

mod app;
mod browser;
mod certstream;
mod cli;
mod ct_log;
mod dns;
mod messages;
mod mmdb;
#[cfg(feature = "nats")]
mod nats;
mod receiver;
mod stream_client;
mod web;

pub use app::*;
pub use browser::*;
pub use certstream::*;
pub use cli::*;
pub use ct_log::*;
pub use dns::*;
pub use messages::*;
pub use mmdb::*;
#[cfg(feature = "nats")]
pub use nats::*;
pub use receiver::*;
pub use stream_client::*;
pub use web::*;

use std::future::Future;
use std::time::Duration;

/// Wait until `check` is true, or panic after `limit` with `what`. A check
/// that does not answer counts as false once `limit` has passed.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    if !wait_for(limit, check).await {
        panic!("timed out after {limit:?} waiting for: {what}");
    }
}

/// Wait until `check` is true, up to `limit`; false if it never was. For a
/// caller that explains a timeout better than `eventually` can.
pub async fn wait_for<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = tokio::time::Instant::now();
    loop {
        let left = limit.saturating_sub(start.elapsed()) + Duration::from_millis(100);
        if tokio::time::timeout(left, check()).await == Ok(true) {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
