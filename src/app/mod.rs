//! Wiring: builds every stage from a validated [`Config`] and runs them
//! until stopped. This is the one place that knows every stage.
//!
//! `Application::build` binds the API listener (port 0 works) and opens the
//! store, so start-up errors surface before anything runs;
//! `run_until_stopped(shutdown)` runs the list reloader, the source, the
//! pipeline, one delivery worker per sink and the API, and stops them all when
//! `shutdown` resolves. The binary passes Ctrl-C, tests their own future.

mod settings;

pub use settings::{Config, Settings};

use crate::api::{self, AppState};
use crate::config::ConfigError;
use crate::metrics::Metrics;
use crate::model::unix_now;
use crate::pipeline::{self, DedupPolicy, Pipeline};
use crate::relay::StreamServer;
use crate::sink::{DeliveryWorker, Sink, SinkContext};
use crate::snapshot::SnapshotHandle;
use crate::source::{self, SourceContext};
use crate::store::{Store, StoreError};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
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

/// The service's one shared HTTP client (list loaders, XSOAR, sinks without
/// TLS settings of their own).
pub fn http_client(settings: &Settings) -> Result<reqwest::Client, StartError> {
    crate::http::builder(crate::http::USER_AGENT, settings.delivery.request_timeout)
        .build()
        .map_err(|e| StartError::Client(e.to_string()))
}

pub struct Application {
    listener: TcpListener,
    port: u16,
    settings: Settings,
    state: AppState,
    sinks: Vec<Arc<Sink>>,
    stream: Option<StreamServer>,
    token: CancellationToken,
}

impl Application {
    pub async fn build(config: Config) -> Result<Application, StartError> {
        let addr = config.settings.api.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind {
                addr: addr.to_string(),
                source,
            })?;
        Application::build_with_listener(config, listener)
    }

    /// Like [`Application::build`] with an already bound listener.
    pub fn build_with_listener(
        config: Config,
        listener: TcpListener,
    ) -> Result<Application, StartError> {
        let Config {
            settings,
            matcher,
            sinks,
        } = config;
        let port = listener
            .local_addr()
            .map_err(|source| StartError::Bind {
                addr: settings.api.listen.to_string(),
                source,
            })?
            .port();
        let client = http_client(&settings)?;
        let store = Store::open(&settings.store.path)?;
        let snapshots = SnapshotHandle::new(&settings.watchlist, &matcher, client.clone());
        let ctx = SinkContext {
            client: client.clone(),
            delivery: settings.delivery.clone(),
        };
        let sinks: Vec<Arc<Sink>> = sinks
            .iter()
            .map(|s| Sink::build(s, &ctx).map(Arc::new))
            .collect::<Result<_, _>>()?;
        let state = AppState {
            store,
            snapshots,
            metrics: Arc::new(Metrics::default()),
            source: source::initial_state(&settings.source),
            sinks: sinks.iter().map(|s| s.name.clone()).collect(),
            token: settings.api.token.clone(),
            started_at: unix_now(),
            xsoar: settings.watchlist.xsoar.clone(),
            client,
            wakes: sinks.iter().map(|_| Arc::new(Notify::new())).collect(),
        };
        let token = CancellationToken::new();
        let stream = if settings.certstream_server.enabled {
            let addr = settings.certstream_server.listen;
            Some(
                StreamServer::bind(
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
                .snapshots
                .clone()
                .run(settings.watchlist.reload_interval, token.clone()),
        );

        let (tx, rx) = mpsc::channel(settings.source.channel_capacity);
        tasks.spawn(source::run(
            SourceContext {
                settings: settings.source.clone(),
                ct: settings.ct.clone(),
                client: state.client.clone(),
                checkpoints: Arc::new(state.store.clone()),
                tx,
                metrics: state.metrics.clone(),
                state: state.source.clone(),
            },
            token.clone(),
        ));

        let wakes = state.wakes.clone();
        let pipeline = Pipeline::new(
            Arc::new(state.store.clone()),
            state.sinks.clone(),
            DedupPolicy::from_settings(&settings.incidents),
            settings.source.cert_dedup_window,
            state.metrics.clone(),
        );
        tasks.spawn(pipeline::run(
            pipeline,
            rx,
            state.snapshots.subscribe(),
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
