//! `certsentry match NAME...`: one JSON verdict per name on stdout.

use super::load_matcher;
use certsentry::{Config, verdict_json};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Homograph list file (default: the configured list).
    #[arg(long)]
    pub(crate) list: Option<PathBuf>,
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    #[arg(required = true)]
    pub(crate) names: Vec<String>,
}

pub(crate) async fn run(args: Args, config: Config) -> anyhow::Result<ExitCode> {
    let matcher = load_matcher(&config, args.list.as_deref()).await?;
    let mut out = std::io::stdout().lock();
    for name in args.names {
        writeln!(out, "{}", verdict_json(&matcher, &name))?;
    }
    Ok(ExitCode::SUCCESS)
}
