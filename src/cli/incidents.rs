//! `certsentry incidents export`: the stored incidents as JSON Lines or CSV.

use anyhow::Context;
use certsentry::{Config, ExportFormat, Store, export_chunks, parse_filter};
use futures_util::StreamExt;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub(crate) enum Action {
    /// Write incidents as JSON Lines or CSV (all of them, or those passing the filters).
    Export(ExportArgs),
}

impl Action {
    pub(crate) fn config(&self) -> &Option<PathBuf> {
        match self {
            Action::Export(a) => &a.config,
        }
    }
}

#[derive(clap::Args)]
pub(crate) struct ExportArgs {
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// SQLite database (default: `store.path` of the configuration).
    #[arg(long)]
    pub(crate) db: Option<PathBuf>,
    /// `jsonl` or `csv`.
    #[arg(long, default_value = "jsonl")]
    pub(crate) format: String,
    /// Only this protected domain.
    #[arg(long)]
    pub(crate) brand: Option<String>,
    /// low, medium, high or critical.
    #[arg(long)]
    pub(crate) severity: Option<String>,
    /// exact_variant, homograph, subdomain, typo, combosquat or rule.
    #[arg(long)]
    pub(crate) kind: Option<String>,
    /// First seen at or after this RFC 3339 time.
    #[arg(long)]
    pub(crate) since: Option<String>,
    /// Write here instead of stdout.
    #[arg(long)]
    pub(crate) output: Option<PathBuf>,
}

pub(crate) async fn run(action: Action, config: Config) -> anyhow::Result<ExitCode> {
    let Action::Export(a) = action;
    let format: ExportFormat = a.format.parse().map_err(|e: String| anyhow::anyhow!(e))?;
    let filter = parse_filter(a.brand, a.severity, a.kind, a.since.as_deref())
        .map_err(|e| anyhow::anyhow!(e))?;
    let path = a.db.unwrap_or_else(|| config.settings.store.path.clone());
    if !path.exists() {
        anyhow::bail!("no database at {}", path.display());
    }
    let store = Store::open(&path)?;
    let mut out: Box<dyn Write> = match &a.output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot write {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut count = 0;
    let mut chunks = std::pin::pin!(export_chunks(store, filter, format));
    while let Some(chunk) = chunks.next().await {
        let (text, n) = chunk?;
        out.write_all(text.as_bytes())
            .context("cannot write the export")?;
        count += n;
    }
    out.flush()?;
    eprintln!("exported {count} incidents");
    Ok(ExitCode::SUCCESS)
}
