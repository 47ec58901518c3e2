//! `certsentry check-config`: validate, then print the effective
//! configuration with secrets redacted.

use certsentry::Config;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct Args {
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
}

pub(crate) fn run(config: Config) -> anyhow::Result<ExitCode> {
    print!("{}", config.settings.to_redacted_toml());
    Ok(ExitCode::SUCCESS)
}
