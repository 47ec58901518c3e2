//! One log's HTTP side: one request at a time, an optional gap between
//! requests (`ct.request_interval`), the per-request timeout, and what a
//! failed request means for the retry (`Retry-After`).

use crate::http::without_url;
use std::time::{Duration, Instant};

/// A request that did not give usable data; always retried later.
#[derive(Debug)]
pub(super) struct FetchError {
    /// The log's `Retry-After`, when it sent one.
    pub(super) after: Option<Duration>,
    pub(super) reason: String,
}

pub(super) fn fetch_err(reason: impl Into<String>) -> FetchError {
    FetchError {
        after: None,
        reason: reason.into(),
    }
}

pub(super) struct LogClient {
    /// The log URL (RFC 6962) or monitoring prefix (static-ct-api), ending in `/`.
    url: String,
    http: reqwest::Client,
    request_interval: Duration,
    request_timeout: Duration,
    last_request: Option<Instant>,
}

impl LogClient {
    pub(super) fn new(
        url: &str,
        http: reqwest::Client,
        request_interval: Duration,
        request_timeout: Duration,
    ) -> LogClient {
        LogClient {
            url: url.to_owned(),
            http,
            request_interval,
            request_timeout,
            last_request: None,
        }
    }

    /// GET `path` under the log URL, politely.
    pub(super) async fn get(&mut self, path: &str) -> Result<bytes::Bytes, FetchError> {
        if let Some(last) = self.last_request {
            let since = last.elapsed();
            if since < self.request_interval {
                tokio::time::sleep(self.request_interval - since).await;
            }
        }
        self.last_request = Some(Instant::now());
        let url = format!("{}{path}", self.url);
        let resp = self
            .http
            .get(&url)
            .timeout(self.request_timeout)
            .send()
            .await
            .map_err(|e| fetch_err(format!("GET {path}: {}", without_url(&e))))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(FetchError {
                after: crate::retry::retry_after(resp.headers()),
                reason: format!("GET {path}: HTTP {status}"),
            });
        }
        resp.bytes()
            .await
            .map_err(|e| fetch_err(format!("GET {path}: {}", without_url(&e))))
    }
}
