//! `GET /v1/events`: new incidents (and updates) as server-sent events, as
//! they are recorded: `event: incident`, `id: <incident id>`, `data: <the
//! incident JSON>`. A client too slow to keep up gets `event: lagged` with
//! the number missed, and reads them from `GET /v1/incidents`. The stream
//! ends at shutdown.

use super::AppState;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use std::convert::Infallible;
use tokio::sync::broadcast::error::RecvError;

pub(super) async fn events(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = state.incident_feed.subscribe();
    let shutdown = state.shutdown.clone();
    let stream = futures_util::stream::unfold((rx, shutdown), |(mut rx, shutdown)| async move {
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => return None,
                n = rx.recv() => n,
            };
            let event = match next {
                Ok(incident) => match serde_json::to_string(&incident) {
                    Ok(data) => Event::default()
                        .event("incident")
                        .id(incident.id.to_string())
                        .data(data),
                    Err(e) => {
                        tracing::error!(error = %e, "incident not serialisable for the event stream");
                        continue;
                    }
                },
                Err(RecvError::Lagged(missed)) => {
                    Event::default().event("lagged").data(missed.to_string())
                }
                Err(RecvError::Closed) => return None,
            };
            return Some((Ok(event), (rx, shutdown)));
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
