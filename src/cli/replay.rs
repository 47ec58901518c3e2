//! `certsentry replay FILE`: a back-test. certstream JSONL through the same
//! normalise → match → incident path as the service (in-memory store, no
//! delivery); new incidents are written as JSONL, a summary to stderr.

use super::load_matcher;
use anyhow::Context;
use certsentry::{
    Cert, Config, DedupPolicy, Frame, Matcher, Metrics, Pipeline, Settings, Store, scan_frame,
};
use serde::Serialize;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(clap::Args)]
pub(crate) struct Args {
    /// certstream JSONL, one message per line (`-` for stdin).
    pub(crate) file: PathBuf,
    #[arg(long)]
    pub(crate) list: Option<PathBuf>,
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// Write incidents here instead of stdout.
    #[arg(long)]
    pub(crate) output: Option<PathBuf>,
}

pub(crate) async fn run(args: Args, config: Config) -> anyhow::Result<ExitCode> {
    let matcher = load_matcher(&config, args.list.as_deref()).await?;
    tokio::task::spawn_blocking(move || {
        replay(
            &args.file,
            args.output.as_deref(),
            &matcher,
            &config.settings,
        )
    })
    .await??;
    Ok(ExitCode::SUCCESS)
}

fn replay(
    file: &Path,
    output: Option<&Path>,
    matcher: &Matcher,
    settings: &Settings,
) -> anyhow::Result<()> {
    let (input, size): (Box<dyn BufRead>, u64) = if file.as_os_str() == "-" {
        (Box::new(std::io::stdin().lock()), 0)
    } else {
        let f =
            std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
        let size = f.metadata().map(|m| m.len()).unwrap_or(0);
        (Box::new(BufReader::with_capacity(1 << 20, f)), size)
    };
    let bar = if std::io::stderr().is_terminal() && size > 0 {
        let bar = indicatif::ProgressBar::new(size);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style);
        }
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut out: Box<dyn Write> = match output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let summary = backtest(input, &mut out, matcher, settings, |n| bar.set_position(n))?;
    bar.finish_and_clear();
    eprintln!("replay summary: {}", serde_json::to_string(&summary)?);
    Ok(())
}

/// What a replay saw, printed at the end.
#[derive(Debug, Default, Clone, Serialize)]
struct BacktestSummary {
    lines: u64,
    certificates: u64,
    dns_entries: u64,
    heartbeats: u64,
    other_messages: u64,
    bad_lines: u64,
    duplicate_certs: u64,
    names_checked: u64,
    names_invalid: u64,
    incidents: u64,
    repeat_sightings: u64,
    seconds: f64,
    messages_per_second: f64,
}

/// Replay `input` (one certstream message per line) and write new incidents to `out`.
/// `progress` is called with the bytes read so far.
fn backtest(
    input: impl BufRead,
    out: &mut impl Write,
    matcher: &Matcher,
    settings: &Settings,
    mut progress: impl FnMut(u64),
) -> anyhow::Result<BacktestSummary> {
    let metrics = Arc::new(Metrics::default());
    let store = Store::open(Path::new(":memory:"))?;
    let mut pipeline = Pipeline::new(
        Arc::new(store),
        certsentry::SinkRoutes::default(),
        DedupPolicy::from_settings(&settings.incidents),
        settings.source.cert_dedup_window,
        metrics.clone(),
        // a back-test has no analysts' suppressions: it shows every verdict
        Arc::new(certsentry::Suppressions::default()),
    );
    let mut s = BacktestSummary::default();
    let started = Instant::now();
    let mut bytes_read = 0u64;
    let source: Arc<str> = Arc::from("replay");
    for line in input.split(b'\n') {
        let line = line.context("cannot read the replay input")?;
        bytes_read += line.len() as u64 + 1;
        if line.trim_ascii().is_empty() {
            continue;
        }
        s.lines += 1;
        if s.lines % 1024 == 0 {
            progress(bytes_read);
        }
        let frame = match scan_frame(line.into(), &source) {
            Ok(frame) => frame,
            Err(e) => {
                s.bad_lines += 1;
                tracing::debug!(line = s.lines, error = %e, "bad replay line");
                continue;
            }
        };
        let cert = match &frame {
            Frame::Certificate(f) => {
                s.certificates += 1;
                Cert::Frame(f)
            }
            Frame::Domains(e) => {
                s.dns_entries += 1;
                Cert::Event(e)
            }
            Frame::Heartbeat => {
                s.heartbeats += 1;
                continue;
            }
            Frame::Other(_) => {
                s.other_messages += 1;
                continue;
            }
        };
        // the dedup window runs on the certificate's own time when it has one
        let seen = cert.seen();
        let now = if seen > 0.0 {
            UNIX_EPOCH + Duration::from_secs_f64(seen)
        } else {
            SystemTime::now()
        };
        for incident in pipeline.process(matcher, cert, now)? {
            serde_json::to_writer(&mut *out, &incident).context("cannot write incidents")?;
            out.write_all(b"\n").context("cannot write incidents")?;
        }
    }
    out.flush().context("cannot write incidents")?;
    progress(bytes_read);
    let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    s.duplicate_certs = get(&metrics.duplicate_certs);
    s.names_checked = get(&metrics.names_checked);
    s.names_invalid = get(&metrics.names_invalid);
    s.incidents = get(&metrics.incidents_new);
    s.repeat_sightings = get(&metrics.incidents_repeated);
    s.seconds = started.elapsed().as_secs_f64();
    s.messages_per_second = if s.seconds > 0.0 {
        s.lines as f64 / s.seconds
    } else {
        0.0
    };
    Ok(s)
}
