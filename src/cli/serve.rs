//! `certsentry serve`: the service until SIGTERM or Ctrl-C.

use certsentry::{Application, Config};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// TOML configuration file (then CERTSENTRY__SECTION__KEY env overrides).
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
}

pub(crate) async fn run(config: Config) -> anyhow::Result<ExitCode> {
    let app = Application::build(config).await?;
    tracing::info!(port = app.port(), "certsentry serving");
    app.run_until_stopped(super::stop_signal()).await?;
    Ok(ExitCode::SUCCESS)
}
