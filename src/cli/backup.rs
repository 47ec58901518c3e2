//! `certsentry backup` and `certsentry restore`: an online copy of the
//! store while the service runs, and its return into a stopped one.

use certsentry::{Config, StoreSummary};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct BackupArgs {
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// SQLite store (default: `store.path` of the configuration).
    #[arg(long)]
    pub(crate) db: Option<PathBuf>,
    /// The backup file to create (never overwritten).
    #[arg(long)]
    pub(crate) output: PathBuf,
}

#[derive(clap::Args)]
pub(crate) struct RestoreArgs {
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// SQLite store to replace (default: `store.path` of the configuration).
    #[arg(long)]
    pub(crate) db: Option<PathBuf>,
    /// A file `certsentry backup` made.
    #[arg(long)]
    pub(crate) input: PathBuf,
}

fn print(what: &str, s: &StoreSummary) {
    eprintln!(
        "{what}: schema version {}, {} incidents, outbox {} pending / {} failed, {} CT log positions, {} bytes",
        s.schema_version,
        s.incidents,
        s.outbox_pending,
        s.outbox_failed,
        s.ct_positions.len(),
        s.bytes
    );
    println!("{}", serde_json::to_string(s).unwrap_or_default());
}

pub(crate) async fn backup(a: BackupArgs, config: Config) -> anyhow::Result<ExitCode> {
    let store = a.db.unwrap_or_else(|| config.settings.store.path.clone());
    let output = a.output;
    let shown = output.display().to_string();
    let s =
        tokio::task::spawn_blocking(move || certsentry::backup::backup(&store, &output)).await??;
    print(&format!("backed up to {shown}"), &s);
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn restore(a: RestoreArgs, config: Config) -> anyhow::Result<ExitCode> {
    let store = a.db.unwrap_or_else(|| config.settings.store.path.clone());
    let shown = store.display().to_string();
    let input = a.input;
    let s =
        tokio::task::spawn_blocking(move || certsentry::backup::restore(&input, &store)).await??;
    print(&format!("restored into {shown}"), &s);
    eprintln!(
        "CT logs resume from the backup's positions: entries after them are read again, \
         and incidents delivered since the backup are sent again with the same idempotency keys"
    );
    Ok(ExitCode::SUCCESS)
}
