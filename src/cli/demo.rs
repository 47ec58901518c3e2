//! `certsentry demo`: the offline embedded default. A bundled stream (40 real
//! CT entries plus lookalikes of the bundled example list's brands) replays
//! through the full service: normalise → match → SQLite outbox → webhook sink
//! → a built-in local receiver that prints each incident as it arrives. The
//! API is served meanwhile (127.0.0.1:8080 by default).

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use certsentry::{
    Application, HttpSettings, Settings, SinkFormat, SinkSettings, SourceKind, StartError,
    WebhookSettings,
};
use serde::Serialize;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The bundled stream (see `scripts/make_demo_stream.py`).
const DEMO_STREAM: &str = include_str!("../../demo/stream.jsonl");

#[derive(clap::Args)]
pub(crate) struct Args {
    /// API address while the demo runs.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub(crate) listen: SocketAddr,
    /// Messages per second replayed.
    #[arg(long, default_value_t = 40)]
    pub(crate) rate: u32,
    /// Keep the API running after the replay until Ctrl-C.
    #[arg(long)]
    pub(crate) keep_running: bool,
}

#[derive(Debug, Default, Serialize)]
struct DemoSummary {
    pub(crate) messages: u64,
    pub(crate) bad_messages: u64,
    pub(crate) heartbeats: u64,
    pub(crate) dns_entries: u64,
    pub(crate) duplicate_certs: u64,
    pub(crate) names_checked: u64,
    pub(crate) incidents: u64,
    pub(crate) repeat_sightings: u64,
    pub(crate) delivered: u64,
    pub(crate) received_by_webhook: u64,
}

async fn receive(
    State(count): State<Arc<AtomicU64>>,
    Json(incident): Json<serde_json::Value>,
) -> &'static str {
    let n = count.fetch_add(1, Ordering::SeqCst) + 1;
    let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_owned();
    let m = &incident["match"];
    let c = &incident["certificate"];
    let ct = &incident["ct"];
    let shown = if incident["domain"] != incident["domain_unicode"] {
        format!(
            "{} ({})",
            s(&incident["domain"]),
            s(&incident["domain_unicode"])
        )
    } else {
        s(&incident["domain"])
    };
    println!(
        "[webhook] incident #{n}: {} {} lookalike of {} -> {shown}\n          {}: {}\n          cert serial {} issuer {:?} sha256 {}.. log {} #{}",
        s(&incident["severity"]).to_uppercase(),
        incident["score"],
        s(&incident["brand"]),
        s(&m["kind"]),
        s(&m["explanation"]),
        s(&c["serial_number"]),
        c["issuer"]["aggregated"].as_str().unwrap_or(""),
        s(&c["sha256"]).chars().take(23).collect::<String>(),
        s(&ct["log_name"]),
        ct["cert_index"],
    );
    "ok"
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let dir = std::env::temp_dir().join(format!("certsentry-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let stream_path = dir.join("stream.jsonl");
    std::fs::write(&stream_path, DEMO_STREAM)?;
    let result = run_in(&dir, &stream_path, args).await;
    let _ = std::fs::remove_dir_all(&dir);
    let summary = result?;
    println!("\nsummary: {}", serde_json::to_string_pretty(&summary)?);
    Ok(ExitCode::SUCCESS)
}

async fn run_in(
    dir: &std::path::Path,
    stream_path: &std::path::Path,
    opts: Args,
) -> anyhow::Result<DemoSummary> {
    // the local webhook receiver
    let received = Arc::new(AtomicU64::new(0));
    let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let receiver_addr = receiver.local_addr()?;
    let app = axum::Router::new()
        .route("/incidents", post(receive))
        .with_state(received.clone());
    let receiver_task = tokio::spawn(async move { axum::serve(receiver, app).await });

    let mut settings = Settings::default();
    settings.source.kind = SourceKind::Replay;
    settings.source.path = stream_path.to_owned();
    settings.source.replay_rate = opts.rate;
    settings.store.path = dir.join("demo.db");
    settings.api.listen = opts.listen;
    settings.delivery.poll_interval = Duration::from_millis(200);
    settings.delivery.initial_backoff = Duration::from_millis(200);
    settings.sinks = vec![SinkSettings::new(
        "demo-receiver",
        SinkFormat::Webhook(WebhookSettings {
            http: HttpSettings {
                url: format!("http://{receiver_addr}/incidents"),
                ..HttpSettings::default()
            },
            ..WebhookSettings::default()
        }),
    )];
    let config = settings.validate().map_err(StartError::from)?;

    let app = match Application::build(config.clone()).await {
        Ok(app) => app,
        Err(StartError::Bind { addr, source }) => {
            eprintln!("note: cannot listen on {addr} ({source}); using a free port instead");
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            Application::build_with_listener(config, listener)?
        }
        Err(e) => return Err(e.into()),
    };
    let state = app.state();
    let lines = DEMO_STREAM.lines().count();
    println!(
        "certsentry demo: replaying {lines} bundled certstream messages (40 real CT entries + lookalikes) \
         against the bundled example list\n  webhook receiver: http://{receiver_addr}/incidents\n  console: http://127.0.0.1:{port}/\n  API: http://127.0.0.1:{port}/v1/status\n",
        port = app.port()
    );
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app.run_until_stopped(async move {
        let _ = stop_rx.await;
    }));

    let limit = Duration::from_secs(120);
    let started = tokio::time::Instant::now();
    let m = state.metrics.clone();
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let finished = state.source.get().state == "finished";
        let pending: u64 = state
            .store
            .outbox_counts()
            .await
            .map(|c| c.iter().map(|c| c.pending).sum())
            .unwrap_or(1);
        // every certificate the replay handed over has been through the
        // pipeline (which waits for the list): only then is "no more
        // incidents" true
        let handed_over = get(&m.frames)
            .saturating_sub(get(&m.heartbeats))
            .saturating_sub(get(&m.bad_frames));
        let processed = get(&m.certs_processed) >= handed_over;
        if finished && processed && pending == 0 && get(&m.deliveries_ok) >= get(&m.incidents_new) {
            break;
        }
        if started.elapsed() > limit {
            let _ = stop_tx.send(());
            anyhow::bail!("the demo did not finish within {limit:?}");
        }
    }
    let summary = DemoSummary {
        messages: get(&m.frames),
        bad_messages: get(&m.bad_frames),
        heartbeats: get(&m.heartbeats),
        dns_entries: get(&m.dns_entries),
        duplicate_certs: get(&m.duplicate_certs),
        names_checked: get(&m.names_checked),
        incidents: get(&m.incidents_new),
        repeat_sightings: get(&m.incidents_repeated),
        delivered: get(&m.deliveries_ok),
        received_by_webhook: received.load(Ordering::SeqCst),
    };
    if opts.keep_running {
        println!("\nreplay done; API still up. Ctrl-C to stop.");
        super::stop_signal().await;
    }
    let _ = stop_tx.send(());
    let _ = running.await;
    receiver_task.abort();
    Ok(summary)
}
