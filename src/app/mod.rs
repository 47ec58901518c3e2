//! Wiring: builds every stage from a validated [`Config`] and runs them
//! until stopped. This is the one place that knows every stage.
//!
//! `Application::build` binds the API listener (port 0 works) and opens the
//! store, so start-up errors surface before anything runs;
//! `run_until_stopped(shutdown)` runs the list reloader, the source, the
//! pipeline, one delivery worker per sink and the API until `shutdown`
//! resolves (the binary passes SIGTERM/Ctrl-C, tests their own future).
//! Then, within `service.shutdown_timeout`: the source stops, the pipeline
//! records what the source had handed over and moves the positions, the
//! delivery attempts in progress finish and are recorded, the API closes.

mod settings;

pub use settings::{Config, Settings};

use crate::api::{self, AppState};
use crate::bus::Role as BusRole;
use crate::config::ConfigError;
use crate::enrich::Enrichment;
use crate::metrics::Metrics;
use crate::model::{Suppressions, unix_now};
use crate::pipeline::{self, DedupPolicy, Pipeline};
use crate::relay::StreamServer;
use crate::sink::{DeliveryWorker, Sink, SinkContext};
use crate::snapshot::SnapshotHandle;
use crate::source::{self, SourceContext};
use crate::store::{Store, StoreError, StoreLock};
use std::future::{Future, IntoFuture};
use std::sync::Arc;
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
    #[error("{0}")]
    Enrichment(String),
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

/// The API server task's outcome.
fn served(r: Result<std::io::Result<()>, tokio::task::JoinError>) -> Result<(), StartError> {
    match r {
        Ok(r) => r.map_err(StartError::Serve),
        Err(e) => Err(StartError::Serve(std::io::Error::other(e.to_string()))),
    }
}

pub struct Application {
    listener: TcpListener,
    port: u16,
    settings: Settings,
    state: AppState,
    sinks: Vec<Arc<Sink>>,
    /// Sinks a delivery process feeds from the bus's incidents' stream.
    bus_sinks: Vec<Arc<Sink>>,
    stream: Option<StreamServer>,
    enrichment: Option<Enrichment>,
    token: CancellationToken,
    /// Held until the service has stopped.
    lock: Option<StoreLock>,
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
        // one service per store; a restore waits for it to stop
        let lock = if settings.store.path.as_os_str() == ":memory:" {
            None
        } else {
            Some(StoreLock::acquire(&settings.store.path)?)
        };
        let store = Store::open(&settings.store.path)?;
        let suppressions = Arc::new(Suppressions::default());
        suppressions.replace(&store.active_suppressions_now()?);
        let snapshots = SnapshotHandle::new(
            &settings.watchlist,
            &settings.tenants,
            &matcher,
            client.clone(),
        );
        let console_rules: Vec<_> = store.rules_now()?.into_iter().map(|r| r.rule).collect();
        match snapshots.with_rules(&console_rules) {
            Ok(config) => snapshots.use_config_now(config),
            // a configured rule took the name of one added in the console:
            // the service starts with the configured rules and says so
            Err(e) => tracing::error!(error = %e, "the console's rules are not used"),
        }
        let ctx = SinkContext {
            client: client.clone(),
            delivery: settings.delivery.clone(),
        };
        let sinks: Vec<Arc<Sink>> = sinks
            .iter()
            .map(|s| Sink::build(s, &ctx).map(Arc::new))
            .collect::<Result<_, _>>()?;
        let (sinks, bus_sinks) = route_sinks(&settings, sinks);
        let token = CancellationToken::new();
        let state = AppState {
            store,
            snapshots,
            metrics: Arc::new(Metrics::default()),
            source: source::initial_state(&settings.source),
            sinks: sinks.iter().map(|s| s.name.clone()).collect(),
            routes: Arc::new(outbox_routes(&settings, &sinks)),
            auth: Arc::new(api::Auth::new(&settings.api)),
            started_at: unix_now(),
            xsoar: settings.watchlist.xsoar.clone(),
            client,
            wakes: sinks.iter().map(|_| Arc::new(Notify::new())).collect(),
            suppressions,
            incident_feed: tokio::sync::broadcast::channel(1024).0,
            shutdown: token.clone(),
            cluster: cluster(&settings),
            shared_suppressions: shared_suppressions(&settings),
        };
        let mut enrichment_settings = settings.enrichment.clone();
        if enrichment_settings.screenshot.dir.as_os_str().is_empty() {
            // beside the store
            let folder = settings
                .store
                .path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map_or_else(
                    || std::path::PathBuf::from("."),
                    std::path::Path::to_path_buf,
                );
            enrichment_settings.screenshot.dir = folder.join("screenshots");
        }
        let enrichment = Enrichment::build(
            &enrichment_settings,
            crate::http::USER_AGENT,
            state.store.clone(),
            state.routes.clone(),
            state.metrics.clone(),
            state.wakes.clone(),
        )
        .map_err(|e| StartError::Enrichment(e.to_string()))?
        .and_then(|e| e.placed(&settings.bus));
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
            bus_sinks,
            stream,
            enrichment,
            token,
            lock,
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
            bus_sinks,
            stream,
            enrichment,
            token,
            lock,
            ..
        } = self;
        let mut tasks = tokio::task::JoinSet::new();

        tasks.spawn(keep_the_list(&settings, &state, token.clone()));

        // intake stops first on shutdown; the rest once what it handed
        // over is recorded
        let intake = token.child_token();
        let (tx, rx) = mpsc::channel(settings.source.channel_capacity);
        // With a bus the source's channel ends at the bus, and the
        // pipeline reads what the bus hands this process (issue #19).
        let bus = &settings.bus;
        let checkpoints = ct_checkpoints(bus, &state);
        let (rx, publish_task) = if bus.enabled() {
            let window = settings.incidents.dedup_window;
            bus_stages(bus, rx, &state, &checkpoints, window, &intake, &token)
        } else {
            (rx, None)
        };
        let source_task = bus.runs(BusRole::CtReader).then(|| {
            tokio::spawn(source::run(
                SourceContext {
                    settings: settings.source.clone(),
                    ct: settings.ct.clone(),
                    client: state.client.clone(),
                    checkpoints,
                    tx,
                    metrics: state.metrics.clone(),
                    state: state.source.clone(),
                },
                intake.clone(),
            ))
        });

        let metrics = state.metrics.clone();
        tasks.spawn(state.store.clone().run_retention(
            settings.store.retention.clone(),
            move |pass| match pass {
                Ok(p) => {
                    metrics.add(&metrics.incidents_pruned, p.incidents);
                    metrics.add(&metrics.deliveries_pruned, p.failed_deliveries);
                    if p.incidents + p.failed_deliveries > 0 {
                        tracing::info!(
                            incidents = p.incidents,
                            failed_deliveries = p.failed_deliveries,
                            "store retention pruned"
                        );
                    }
                }
                Err(e) => {
                    metrics.add(&metrics.store_errors, 1);
                    tracing::error!(error = %e, "store retention failed");
                }
            },
            token.clone(),
        ));

        tasks.spawn(sample_throughput(
            state.store.clone(),
            state.metrics.clone(),
            settings.store.history_sample,
            token.clone(),
        ));

        let wakes = state.wakes.clone();
        let pipeline = Pipeline::new(
            Arc::new(state.store.clone()),
            (*state.routes).clone(),
            DedupPolicy::from_settings(&settings.incidents),
            settings.source.cert_dedup_window,
            state.metrics.clone(),
            state.suppressions.clone(),
        )
        .with_feed(state.incident_feed.clone());
        let mut pipeline_task = tokio::spawn(pipeline::run(
            pipeline,
            rx,
            state.snapshots.subscribe(),
            wakes.clone(),
            stream.as_ref().map(|s| s.events()),
            token.clone(),
        ));

        // enrichment beside the pipeline: it reads what the store holds
        if let Some(enrichment) = enrichment {
            tasks.spawn(enrichment.run_on_own_threads(token.clone()));
        }

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

        spawn_bus_deliveries(&mut tasks, &settings, bus_sinks, &state, &token);
        if let Some(cluster) = state.cluster.clone() {
            tasks.spawn(cluster.announce(token.clone()));
        }
        #[cfg(feature = "nats")]
        if settings.bus.enabled()
            && (settings.bus.runs(BusRole::Matcher) || settings.bus.runs(BusRole::Api))
        {
            tasks.spawn(crate::bus::follow_suppressions(
                settings.bus.clone(),
                state.suppressions.clone(),
                token.clone(),
            ));
        }
        #[cfg(feature = "nats")]
        if settings.bus.reads_incidents() {
            tasks.spawn(crate::bus::follow_incidents(
                settings.bus.clone(),
                Arc::new(state.store.clone()),
                state.incident_feed.clone(),
                state.metrics.clone(),
                token.clone(),
            ));
        }

        if let Some(stream) = stream {
            tasks.spawn(async move {
                if let Err(e) = stream.run().await {
                    tracing::error!(error = %e, "certstream server failed");
                }
            });
        }

        let snapshots = state.snapshots.clone();
        let router = api::router(state, settings.api.max_body_bytes);
        let serve_token = token.clone();
        let mut server = tokio::spawn(
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .with_graceful_shutdown(async move { serve_token.cancelled().await })
            .into_future(),
        );

        let mut result = Ok(());
        tokio::select! {
            r = &mut server => {
                result = served(r);
                token.cancel();
            }
            _ = shutdown => {}
        }
        let timeout = settings.service.shutdown_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        tracing::info!(?timeout, "stopping intake");
        intake.cancel();
        if let Some(source_task) = source_task {
            let _ = tokio::time::timeout_at(deadline, source_task).await;
        }
        // what the source handed over reaches the bus first
        if let Some(publish_task) = publish_task {
            let _ = tokio::time::timeout_at(deadline, publish_task).await;
        }
        // the source has dropped its sender: the pipeline records what is
        // queued, moves the positions, and ends (without a list it has
        // nothing to record with, and no position moved)
        if snapshots.snapshot().is_none() {
            pipeline_task.abort();
        }
        if tokio::time::timeout_at(deadline, &mut pipeline_task)
            .await
            .is_err()
        {
            tracing::warn!("the pipeline did not finish within the shutdown timeout");
            pipeline_task.abort();
        }
        // delivery attempts in progress finish and are recorded
        token.cancel();
        let drain = async {
            while tasks.join_next().await.is_some() {}
            if !server.is_finished() {
                return Some(served(server.await));
            }
            None
        };
        match tokio::time::timeout_at(deadline, drain).await {
            Ok(Some(r)) if result.is_ok() => result = r,
            Ok(_) => {}
            Err(_) => tracing::warn!(
                ?timeout,
                "some tasks did not stop within the shutdown timeout; what they had is in the store"
            ),
        }
        tracing::info!("stopped");
        drop(lock);
        result
    }
}

/// Keep the list current: reload it every `watchlist.reload_interval`, or
/// on a bus where matchers or api processes run, take it from the cluster
/// (one of them polls the source).
fn keep_the_list(
    settings: &Settings,
    state: &AppState,
    token: CancellationToken,
) -> futures_util::future::BoxFuture<'static, ()> {
    let interval = settings.watchlist.reload_interval;
    let snapshots = state.snapshots.clone();
    #[cfg(feature = "nats")]
    {
        let bus = &settings.bus;
        if bus.enabled() && (bus.runs(BusRole::Matcher) || bus.runs(BusRole::Api)) {
            let leases = Arc::new(crate::bus::KvCheckpoints::new(
                bus.clone(),
                state.metrics.clone(),
            ));
            return Box::pin(crate::bus::lists::run(
                bus.clone(),
                snapshots,
                interval,
                leases,
                token,
            ));
        }
    }
    Box::pin(snapshots.run(interval, token))
}

/// This process on the bus, when there is one: it announces its roles and
/// answers `/v1/status`'s `bus`.
fn cluster(settings: &Settings) -> Option<Arc<dyn crate::bus::ClusterStatus>> {
    #[cfg(feature = "nats")]
    if settings.bus.enabled() {
        return Some(Arc::new(crate::bus::Cluster::new(
            settings.bus.clone(),
            unix_now(),
        )));
    }
    let _ = settings;
    None
}

/// Where suppression changes go on a bus (every matcher applies them).
fn shared_suppressions(settings: &Settings) -> Option<Arc<dyn crate::bus::SharedSuppressions>> {
    #[cfg(feature = "nats")]
    if settings.bus.enabled() {
        return Some(Arc::new(crate::bus::TriageBus::new(settings.bus.clone())));
    }
    let _ = settings;
    None
}

/// Which sinks this process delivers to from its outbox, and which from
/// the bus's incidents' stream. On a bus, a matcher's outbox has one sink,
/// the incidents' stream; a delivery process (a matcher too) feeds every
/// configured sink from that stream.
fn route_sinks(
    settings: &Settings,
    configured: Vec<Arc<Sink>>,
) -> (Vec<Arc<Sink>>, Vec<Arc<Sink>>) {
    #[cfg(feature = "nats")]
    {
        let bus = &settings.bus;
        let window = settings.incidents.dedup_window;
        let stream = || vec![Arc::new(Sink::bus(bus.clone(), window))];
        match (bus.publishes_incidents(), bus.delivers_from_bus()) {
            (true, true) => return (stream(), configured),
            (true, false) => return (stream(), Vec::new()),
            (false, true) => return (Vec::new(), configured),
            (false, false) => {}
        }
    }
    let _ = settings;
    (configured, Vec::new())
}

/// Which of this process's outbox sinks get which tenant's incidents: on a
/// bus, whose one outbox sink is the incidents' stream, every tenant's go
/// there (the delivery processes route them).
fn outbox_routes(settings: &Settings, outbox: &[Arc<Sink>]) -> crate::tenants::SinkRoutes {
    let names: Vec<String> = outbox.iter().map(|s| s.name.clone()).collect();
    #[cfg(feature = "nats")]
    if settings.bus.publishes_incidents() {
        return crate::tenants::SinkRoutes::everything(names);
    }
    crate::tenants::SinkRoutes::new(&names, &settings.tenants)
}

/// One delivery task per sink fed from the incidents' stream.
fn spawn_bus_deliveries(
    tasks: &mut tokio::task::JoinSet<()>,
    settings: &Settings,
    bus_sinks: Vec<Arc<Sink>>,
    state: &AppState,
    token: &CancellationToken,
) {
    #[cfg(feature = "nats")]
    let routes = {
        let names: Vec<String> = bus_sinks.iter().map(|s| s.name.clone()).collect();
        Arc::new(crate::tenants::SinkRoutes::new(&names, &settings.tenants))
    };
    #[cfg(feature = "nats")]
    for sink in bus_sinks {
        tasks.spawn(crate::sink::deliver_from_bus(
            settings.bus.clone(),
            sink,
            routes.clone(),
            settings.delivery.clone(),
            settings.incidents.dedup_window,
            state.metrics.clone(),
            token.clone(),
        ));
    }
    #[cfg(not(feature = "nats"))]
    let _ = (tasks, settings, bus_sinks, state, token);
}

/// Where CT positions live: the store, or with a bus the broker's
/// key-value buckets, with one lease per log among the ct-readers.
fn ct_checkpoints(
    bus: &crate::bus::BusSettings,
    state: &AppState,
) -> Arc<dyn crate::source::ct::Checkpoints> {
    #[cfg(feature = "nats")]
    if bus.enabled() && bus.runs(BusRole::CtReader) {
        return Arc::new(Arc::new(crate::bus::KvCheckpoints::new(
            bus.clone(),
            state.metrics.clone(),
        )));
    }
    let _ = bus;
    Arc::new(state.store.clone())
}

/// The bus's stages for this process's roles: the source's channel into
/// the bus (ct-reader), and the bus into a new channel the pipeline reads
/// (matcher; without that role the channel is closed at once). The
/// consumer stops taking on `intake`, so the pipeline records what it was
/// handed and ends.
#[cfg(feature = "nats")]
fn bus_stages(
    bus: &crate::bus::BusSettings,
    source_rx: mpsc::Receiver<crate::source::SourceItem>,
    state: &AppState,
    checkpoints: &Arc<dyn crate::source::ct::Checkpoints>,
    dedup_window: std::time::Duration,
    intake: &CancellationToken,
    token: &CancellationToken,
) -> (
    mpsc::Receiver<crate::source::SourceItem>,
    Option<tokio::task::JoinHandle<()>>,
) {
    let publish = bus.runs(BusRole::CtReader).then(|| {
        tokio::spawn(crate::bus::publish(
            bus.clone(),
            source_rx,
            checkpoints.clone(),
            state.metrics.clone(),
            // it ends when the source does, once what it handed over is out
            token.clone(),
        ))
    });
    let (tx, rx) = mpsc::channel(1024);
    if bus.runs(BusRole::Matcher) {
        tokio::spawn(crate::bus::consume(
            bus.clone(),
            tx,
            bus.publishes_incidents().then_some(dedup_window),
            state.metrics.clone(),
            intake.clone(),
        ));
    }
    (rx, publish)
}

/// Validation refuses a `[bus]` in a build without the `nats` feature.
#[cfg(not(feature = "nats"))]
fn bus_stages(
    _bus: &crate::bus::BusSettings,
    source_rx: mpsc::Receiver<crate::source::SourceItem>,
    _state: &AppState,
    _checkpoints: &Arc<dyn crate::source::ct::Checkpoints>,
    _dedup_window: std::time::Duration,
    _intake: &CancellationToken,
    _token: &CancellationToken,
) -> (
    mpsc::Receiver<crate::source::SourceItem>,
    Option<tokio::task::JoinHandle<()>>,
) {
    (source_rx, None)
}

/// Every `every`, add the names matched since the last sample to the
/// store's per-minute history (and once more at shutdown).
async fn sample_throughput(
    store: Store,
    metrics: Arc<Metrics>,
    every: std::time::Duration,
    shutdown: CancellationToken,
) {
    let read = || {
        metrics
            .names_checked
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let mut last = read();
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        let stopping = tokio::select! {
            _ = shutdown.cancelled() => true,
            _ = ticker.tick() => false,
        };
        let now = read();
        let names = now.saturating_sub(last);
        if names > 0 {
            match store
                .record_throughput(crate::model::Timestamp::now(), names)
                .await
            {
                Ok(()) => last = now,
                Err(e) => {
                    metrics.add(&metrics.store_errors, 1);
                    tracing::warn!(error = %e, "could not keep the throughput history");
                }
            }
        }
        if stopping {
            return;
        }
    }
}
