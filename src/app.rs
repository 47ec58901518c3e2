//! Wiring: builds every stage from `Settings` and runs them until stopped.
//!
//! `Application::build` binds the API listener (port 0 works) and opens the
//! store, so start-up errors surface before anything runs;
//! `run_until_stopped(shutdown)` runs the list reloader, the source, the
//! pipeline, one delivery worker per sink and the API, and stops them all when
//! `shutdown` resolves. The binary passes Ctrl-C, tests their own future.

use crate::api::{self, AppState};
use crate::config::{Settings, SourceKind};
use crate::metrics::Metrics;
use crate::pipeline::{self, Pipeline};
use crate::sink::{DeliveryWorker, Sink};
use crate::source::SourceState;
use crate::source::certstream::CertstreamSource;
use crate::source::replay::ReplaySource;
use crate::store::{Store, StoreError};
use crate::watchlist::WatchlistHandle;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot open the store: {0}")]
    Store(#[from] StoreError),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error(transparent)]
    Sink(#[from] crate::sink::SinkError),
    #[error("API server failed: {0}")]
    Serve(std::io::Error),
}

pub struct Application {
    listener: TcpListener,
    port: u16,
    settings: Settings,
    state: AppState,
    sinks: Vec<Arc<Sink>>,
    stream: Option<crate::server::StreamServer>,
    token: CancellationToken,
}

/// The shared HTTP client for sinks and list loaders.
pub fn http_client(settings: &Settings) -> Result<reqwest::Client, StartError> {
    reqwest::Client::builder()
        .timeout(settings.delivery.request_timeout)
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("certsentry/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| StartError::Client(e.to_string()))
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Application, StartError> {
        let listener = TcpListener::bind(settings.api.listen)
            .await
            .map_err(|source| StartError::Bind {
                addr: settings.api.listen.to_string(),
                source,
            })?;
        Application::build_with_listener(settings, listener)
    }

    /// Like [`Application::build`] with an already bound listener.
    pub fn build_with_listener(
        settings: Settings,
        listener: TcpListener,
    ) -> Result<Application, StartError> {
        let port = listener
            .local_addr()
            .map_err(|source| StartError::Bind {
                addr: settings.api.listen.to_string(),
                source,
            })?
            .port();
        let client = http_client(&settings)?;
        let store = Store::open(&settings.store.path)?;
        let watchlist =
            WatchlistHandle::new(&settings.watchlist, &settings.matcher, client.clone());
        let sinks: Vec<Arc<Sink>> = settings
            .sinks
            .iter()
            .map(|s| Sink::from_config(s, client.clone(), &settings.delivery).map(Arc::new))
            .collect::<Result<_, _>>()?;
        let (kind, target) = match settings.source.kind {
            SourceKind::Certstream => (
                "certstream",
                crate::watchlist::strip_userinfo(&settings.source.url),
            ),
            SourceKind::Replay => ("replay", settings.source.path.display().to_string()),
            SourceKind::Ct => ("ct", "CT logs".to_owned()),
            SourceKind::None => ("none", String::new()),
        };
        let state = AppState {
            store,
            watchlist,
            metrics: Arc::new(Metrics::default()),
            source: SourceState::new(kind, &target),
            sinks: sinks.iter().map(|s| s.name.clone()).collect(),
            token: settings.api.token.clone(),
            started_at: crate::watchlist::unix_now(),
            xsoar: settings.watchlist.xsoar.clone(),
            client: client.clone(),
            wakes: sinks.iter().map(|_| Arc::new(Notify::new())).collect(),
        };
        let token = CancellationToken::new();
        let stream = if settings.certstream_server.enabled {
            let addr = settings.certstream_server.listen;
            Some(
                crate::server::StreamServer::bind(
                    &settings.certstream_server,
                    state.metrics.clone(),
                    token.clone(),
                )
                .map_err(|source| StartError::Bind {
                    addr: addr.to_string(),
                    source,
                })?,
            )
        } else {
            None
        };
        Ok(Application {
            listener,
            port,
            settings,
            state,
            sinks,
            stream,
            token,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The certstream-compatible server's port, when enabled.
    pub fn stream_port(&self) -> Option<u16> {
        self.stream
            .as_ref()
            .and_then(|s| s.local_addr().ok())
            .map(|a| a.port())
    }

    /// Shared state, for embedding (the demo watches it).
    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let Application {
            listener,
            settings,
            state,
            sinks,
            stream,
            token,
            ..
        } = self;
        let mut tasks = tokio::task::JoinSet::new();

        tasks.spawn(
            state
                .watchlist
                .clone()
                .run(settings.watchlist.reload_interval, token.clone()),
        );

        let (tx, rx) = mpsc::channel(settings.source.channel_capacity);
        match settings.source.kind {
            SourceKind::Certstream => {
                let source = CertstreamSource {
                    settings: settings.source.clone(),
                    metrics: state.metrics.clone(),
                    tx,
                    state: state.source.clone(),
                };
                tasks.spawn(source.run(token.clone()));
            }
            SourceKind::Replay => {
                let source = ReplaySource {
                    path: settings.source.path.clone(),
                    rate: settings.source.replay_rate,
                    metrics: state.metrics.clone(),
                    tx,
                    state: state.source.clone(),
                };
                tasks.spawn(source.run(token.clone()));
            }
            SourceKind::Ct => {
                let logs = crate::ct::LogSet {
                    settings: settings.ct.clone(),
                    list_client: state.client.clone(),
                    ct_client: crate::ct::http_client(&settings.ct)?,
                    store: state.store.clone(),
                    tx,
                    metrics: state.metrics.clone(),
                    state: state.source.clone(),
                };
                tasks.spawn(logs.run(token.clone()));
            }
            SourceKind::None => drop(tx),
        }

        let wakes = state.wakes.clone();
        let pipeline = Pipeline::new(
            state.store.clone(),
            state.sinks.clone(),
            crate::store::DedupPolicy::from_settings(&settings.incidents),
            settings.source.cert_dedup_window,
            state.metrics.clone(),
        );
        tasks.spawn(pipeline::run(
            pipeline,
            rx,
            state.watchlist.subscribe(),
            wakes.clone(),
            stream.as_ref().map(|s| s.events()),
            token.clone(),
        ));

        for (sink, wake) in sinks.into_iter().zip(wakes) {
            let worker = DeliveryWorker {
                sink,
                store: state.store.clone(),
                metrics: state.metrics.clone(),
                settings: settings.delivery.clone(),
                wake,
            };
            tasks.spawn(worker.run(token.clone()));
        }

        if let Some(stream) = stream {
            tasks.spawn(async move {
                if let Err(e) = stream.run().await {
                    tracing::error!(error = %e, "certstream server failed");
                }
            });
        }

        let router = api::router(state, settings.api.max_body_bytes);
        let serve_token = token.clone();
        let server = axum::serve(listener, router)
            .with_graceful_shutdown(async move { serve_token.cancelled().await });

        let result = tokio::select! {
            r = server => r.map_err(StartError::Serve),
            _ = shutdown => Ok(()),
        };
        token.cancel();
        // give in-flight work a moment to finish, then drop the rest
        let drain = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(10), drain)
            .await
            .is_err()
        {
            tracing::warn!("some tasks did not stop within 10s");
        }
        result
    }
}
