//! `certsentry serve`: the service until Ctrl-C.

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
    app.run_until_stopped(async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}
