//! The `certsentry` binary: argument parsing, tracing, and one call per command.

use anyhow::Context;
use certsentry::app::Application;
use certsentry::config::Settings;
use certsentry::matcher::Matcher;
use certsentry::watchlist::{ListLoader, Watchlist};
use clap::{Parser, Subcommand};
use std::io::{BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Watches Certificate Transparency for lookalike domains and raises SOAR incidents.
#[derive(Parser)]
#[command(name = "certsentry", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service: source → matcher → incidents → sinks, plus the HTTP API.
    Serve {
        /// TOML configuration file (then CERTSENTRY__SECTION__KEY env overrides).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Offline demo: a bundled CT replay through the full pipeline into a local webhook receiver.
    Demo {
        /// API address while the demo runs.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Messages per second replayed.
        #[arg(long, default_value_t = 40)]
        rate: u32,
        /// Keep the API running after the replay until Ctrl-C.
        #[arg(long)]
        keep_running: bool,
    },
    /// Print one JSON verdict per name: matched or not, brand, kind, score, explanation.
    Match {
        /// Homograph list file (default: the configured list).
        #[arg(long)]
        list: Option<PathBuf>,
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Back-test: certstream JSONL through normalise → match → incidents, written as JSONL.
    Replay {
        /// certstream JSONL, one message per line (`-` for stdin).
        file: PathBuf,
        #[arg(long)]
        list: Option<PathBuf>,
        #[arg(long)]
        config: Option<PathBuf>,
        /// Write incidents here instead of stdout.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Build a homograph list {domain: [variants]} in the XSOAR format.
    Generate {
        #[arg(required = true)]
        domains: Vec<String>,
        /// `domains` (full domains) or `labels` (label-only variants).
        #[arg(long, default_value = "domains")]
        format: certsentry::generate::Format,
        /// Comma-separated fuzzers (default: all; see `GET /v1/lists/generate/fuzzers`).
        #[arg(long, value_delimiter = ',')]
        fuzzers: Vec<String>,
        /// Most variants per domain, the most deceptive first.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        limit: Option<u64>,
        /// Each variant with its fuzzer and punycode form.
        #[arg(long)]
        explain: bool,
        /// Leave out Unicode forms (punycode only).
        #[arg(long)]
        no_unicode: bool,
        /// Leave out punycode forms (Unicode only).
        #[arg(long)]
        no_punycode: bool,
        /// Write the list here instead of stdout.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Incidents in the store.
    Incidents {
        #[command(subcommand)]
        action: IncidentsCommand,
    },
    /// Validate the configuration and print it with secrets redacted.
    CheckConfig {
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum IncidentsCommand {
    /// Write incidents as JSON Lines or CSV (all of them, or those passing the filters).
    Export {
        #[arg(long)]
        config: Option<PathBuf>,
        /// SQLite database (default: `store.path` of the configuration).
        #[arg(long)]
        db: Option<PathBuf>,
        /// `jsonl` or `csv`.
        #[arg(long, default_value = "jsonl")]
        format: String,
        /// Only this protected domain.
        #[arg(long)]
        brand: Option<String>,
        /// low, medium, high or critical.
        #[arg(long)]
        severity: Option<String>,
        /// exact_variant, homograph, subdomain, typo, combosquat or rule.
        #[arg(long)]
        kind: Option<String>,
        /// First seen at or after this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Write here instead of stdout.
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

/// Exit status for an invalid configuration (EX_USAGE).
const EXIT_CONFIG: u8 = 64;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // the demo prints incidents on stdout; keep its stderr to warnings
    let default_filter = match cli.command {
        Command::Demo { .. } => "warn",
        _ => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    let config_path = match &cli.command {
        Command::Serve { config }
        | Command::Match { config, .. }
        | Command::Replay { config, .. }
        | Command::CheckConfig { config }
        | Command::Incidents {
            action: IncidentsCommand::Export { config, .. },
        } => config.clone(),
        Command::Demo { .. } | Command::Generate { .. } => None,
    };
    let settings = match Settings::load(config_path.as_deref(), std::env::vars()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, settings)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<ExitCode> {
    match command {
        Command::CheckConfig { .. } => {
            print!("{}", settings.to_redacted_toml());
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { .. } => {
            let app = Application::build(settings).await?;
            tracing::info!(port = app.port(), "certsentry serving");
            app.run_until_stopped(async {
                let _ = tokio::signal::ctrl_c().await;
                tracing::info!("shutting down");
            })
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo {
            listen,
            rate,
            keep_running,
        } => {
            let summary = certsentry::demo::run(certsentry::demo::DemoOptions {
                listen,
                rate,
                keep_running,
            })
            .await?;
            println!("\nsummary: {}", serde_json::to_string_pretty(&summary)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Generate {
            domains,
            format,
            fuzzers,
            limit,
            explain,
            no_unicode,
            no_punycode,
            output,
        } => {
            let opts = certsentry::generate::GenerateOptions {
                fuzzers: certsentry::generate::parse_fuzzers(&fuzzers)?,
                format,
                limit: limit.map(|l| l as usize),
                include_unicode: !no_unicode,
                include_punycode: !no_punycode,
            };
            let bar = if std::io::stderr().is_terminal() && domains.len() > 1 {
                indicatif::ProgressBar::new(domains.len() as u64)
            } else {
                indicatif::ProgressBar::hidden()
            };
            let list = tokio::task::spawn_blocking(move || {
                certsentry::generate::build_list(&domains, &opts, explain, |n| {
                    bar.set_position(n as u64)
                })
            })
            .await??;
            let text = serde_json::to_string_pretty(&list)?;
            match output {
                Some(path) => std::fs::write(&path, text + "\n")
                    .with_context(|| format!("cannot write {}", path.display()))?,
                None => println!("{text}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Incidents {
            action:
                IncidentsCommand::Export {
                    db,
                    format,
                    brand,
                    severity,
                    kind,
                    since,
                    output,
                    ..
                },
        } => {
            let format: certsentry::export::ExportFormat =
                format.parse().map_err(|e: String| anyhow::anyhow!(e))?;
            let filter = certsentry::export::parse_filter(brand, severity, kind, since.as_deref())
                .map_err(|e| anyhow::anyhow!(e))?;
            let path = db.unwrap_or_else(|| settings.store.path.clone());
            if !path.exists() {
                anyhow::bail!("no database at {}", path.display());
            }
            let store = certsentry::store::Store::open(&path)?;
            let mut out: Box<dyn Write> = match &output {
                Some(p) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(p)
                        .with_context(|| format!("cannot write {}", p.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let mut write_error = None;
            let count = certsentry::export::export(&store, &filter, format, |chunk| {
                match out.write_all(chunk.as_bytes()) {
                    Ok(()) => true,
                    Err(e) => {
                        write_error = Some(e);
                        false
                    }
                }
            })?;
            if let Some(e) = write_error {
                return Err(e).context("cannot write the export");
            }
            out.flush()?;
            eprintln!("exported {count} incidents");
            Ok(ExitCode::SUCCESS)
        }
        Command::Match { list, names, .. } => {
            let matcher = load_matcher(&settings, list.as_deref()).await?;
            let mut out = std::io::stdout().lock();
            for name in names {
                let verdict = certsentry::api::match_one(&matcher, &name);
                writeln!(out, "{verdict}")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Replay {
            file, list, output, ..
        } => {
            let matcher = load_matcher(&settings, list.as_deref()).await?;
            tokio::task::spawn_blocking(move || {
                replay(&file, output.as_deref(), &matcher, &settings)
            })
            .await??;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The list from `--list`, else the configured loader, compiled.
async fn load_matcher(settings: &Settings, list: Option<&Path>) -> anyhow::Result<Matcher> {
    let text = match list {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        None => {
            let client = certsentry::app::http_client(settings)?;
            ListLoader::from_settings(&settings.watchlist, client)
                .fetch(settings.watchlist.max_bytes)
                .await?
        }
    };
    let list = Watchlist::parse(&text, settings.watchlist.max_bytes)?;
    drop(text);
    Ok(Matcher::compile(&list, &settings.matcher))
}

fn replay(
    file: &Path,
    output: Option<&Path>,
    matcher: &Matcher,
    settings: &Settings,
) -> anyhow::Result<()> {
    let (input, size): (Box<dyn std::io::BufRead>, u64) = if file.as_os_str() == "-" {
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
    let summary =
        certsentry::backtest::run(input, &mut out, matcher, settings, |n| bar.set_position(n))?;
    bar.finish_and_clear();
    eprintln!("replay summary: {}", serde_json::to_string(&summary)?);
    Ok(())
}
