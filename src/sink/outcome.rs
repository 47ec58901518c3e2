//! What one delivery attempt came to, and the retry classifier for a
//! refusal: 408, 429 and 5xx are retried (after `Retry-After` when given);
//! other statuses are permanent.

use reqwest::StatusCode;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Delivered, and the platform named the record it made (an alert or
    /// container id), which the incident's updates are then applied to.
    Recorded(String),
    /// Try again later; `after` is the server's `Retry-After` when it sent one.
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    /// The sink refused the request for good (other 4xx).
    Failed(String),
}

/// Most bytes of a refusal's body read for classification and the error text.
pub(super) const MAX_ERROR_BODY: usize = 64 * 1024;

/// Read at most `max` bytes of a response body, lossily as text.
pub(super) async fn read_prefix(mut resp: reqwest::Response, max: usize) -> String {
    let mut buf = Vec::new();
    while buf.len() < max {
        match resp.chunk().await {
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
            _ => break,
        }
    }
    buf.truncate(max);
    String::from_utf8_lossy(&buf).into_owned()
}

/// The start of a response body for an error message, on one line.
pub(super) fn snippet(body: &str) -> String {
    let one_line: String = body
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    one_line.trim().to_owned()
}

pub(super) fn classify(
    status: StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &str,
) -> Outcome {
    if status.is_success() {
        return Outcome::Delivered;
    }
    let retryable = status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error();
    let detail = snippet(body);
    let reason = if detail.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {detail}")
    };
    if retryable {
        Outcome::Retry {
            after: crate::retry::retry_after(headers),
            reason,
        }
    } else {
        Outcome::Failed(reason)
    }
}
