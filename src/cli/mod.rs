//! The commands, one file each: `serve`, `demo`, `generate`, `match`,
//! `replay`, `incidents`, `backup`/`restore` and `check-config`.

mod backup;
mod check_config;
mod demo;
mod generate;
mod incidents;
mod matching;
mod replay;
mod serve;

use certsentry::Config;
use clap::{Parser, Subcommand};
use std::path::Path;
use std::process::ExitCode;

/// Watches Certificate Transparency for lookalike domains and raises SOAR incidents.
#[derive(Parser)]
#[command(name = "certsentry", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Run the service: source → matcher → incidents → sinks, plus the HTTP API.
    Serve(serve::Args),
    /// Offline demo: a bundled CT replay through the full pipeline into a local webhook receiver.
    Demo(demo::Args),
    /// Print one JSON verdict per name: matched or not, brand, kind, score, explanation.
    Match(matching::Args),
    /// Back-test: certstream JSONL through normalise → match → incidents, written as JSONL.
    Replay(replay::Args),
    /// Build a homograph list {domain: [variants]} in the XSOAR format.
    Generate(generate::Args),
    /// Incidents in the store.
    Incidents {
        #[command(subcommand)]
        action: incidents::Action,
    },
    /// Copy the store to a new file while the service runs (SQLite online backup).
    Backup(backup::BackupArgs),
    /// Replace the store with a backup; refused while a service runs on it.
    Restore(backup::RestoreArgs),
    /// Validate the configuration and print it with secrets redacted.
    CheckConfig(check_config::Args),
}

impl Command {
    /// The configuration file the command reads, if any.
    pub(crate) fn config_path(&self) -> Option<&Path> {
        let path = match self {
            Command::Serve(a) => &a.config,
            Command::Match(a) => &a.config,
            Command::Replay(a) => &a.config,
            Command::CheckConfig(a) => &a.config,
            Command::Backup(a) => &a.config,
            Command::Restore(a) => &a.config,
            Command::Incidents { action } => action.config(),
            Command::Demo(_) | Command::Generate(_) => return None,
        };
        path.as_deref()
    }

    /// The demo prints incidents on stdout; its stderr stays at warnings.
    pub(crate) fn log_level(&self) -> &'static str {
        match self {
            Command::Demo(_) => "warn",
            _ => "info",
        }
    }
}

pub(crate) async fn run(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(_) => serve::run(config).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Match(args) => matching::run(args, config).await,
        Command::Replay(args) => replay::run(args, config).await,
        Command::Generate(args) => generate::run(args).await,
        Command::Incidents { action } => incidents::run(action, config).await,
        Command::Backup(args) => backup::backup(args, config).await,
        Command::Restore(args) => backup::restore(args, config).await,
        Command::CheckConfig(_) => check_config::run(config),
    }
}

/// Resolves at the first SIGTERM or Ctrl-C (SIGINT), for a graceful stop;
/// a second one exits at once (status 130), which loses nothing either:
/// whatever was not recorded is read or delivered again on the next start.
pub(crate) async fn stop_signal() {
    let name = first_signal().await;
    tracing::info!(
        signal = name,
        "shutting down; a second signal exits at once"
    );
    tokio::spawn(async {
        let name = first_signal().await;
        tracing::warn!(signal = name, "second signal: exiting now");
        std::process::exit(130);
    });
}

async fn first_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

/// The list from `--list`, else the configured loader, compiled.
async fn load_matcher(config: &Config, list: Option<&Path>) -> anyhow::Result<certsentry::Matcher> {
    use anyhow::Context;
    let settings = &config.settings;
    let text = match list {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        None => {
            let client = certsentry::http_client(settings)?;
            certsentry::ListLoader::from_settings(&settings.watchlist, client)
                .fetch(settings.watchlist.max_bytes)
                .await?
        }
    };
    let list = certsentry::Watchlist::parse(&text, settings.watchlist.max_bytes)?;
    drop(text);
    Ok(certsentry::Matcher::compile_shared(
        std::sync::Arc::new(list),
        &config.matcher,
    ))
}
