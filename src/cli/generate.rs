//! `certsentry generate DOMAIN...`: a homograph list in the XSOAR format.

use anyhow::Context;
use certsentry::generator::{Format, GenerateOptions, build_list, parse_fuzzers};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct Args {
    #[arg(required = true)]
    pub(crate) domains: Vec<String>,
    /// `domains` (full domains) or `labels` (label-only variants).
    #[arg(long, default_value = "domains")]
    pub(crate) format: Format,
    /// Comma-separated fuzzers (default: all; see `GET /v1/lists/generate/fuzzers`).
    #[arg(long, value_delimiter = ',')]
    pub(crate) fuzzers: Vec<String>,
    /// Most variants per domain, the most deceptive first.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub(crate) limit: Option<u64>,
    /// Each variant with its fuzzer and punycode form.
    #[arg(long)]
    pub(crate) explain: bool,
    /// Leave out Unicode forms (punycode only).
    #[arg(long)]
    pub(crate) no_unicode: bool,
    /// Leave out punycode forms (Unicode only).
    #[arg(long)]
    pub(crate) no_punycode: bool,
    /// Write the list here instead of stdout.
    #[arg(long)]
    pub(crate) output: Option<PathBuf>,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let opts = GenerateOptions {
        fuzzers: parse_fuzzers(&args.fuzzers)?,
        format: args.format,
        limit: args.limit.map(|l| l as usize),
        include_unicode: !args.no_unicode,
        include_punycode: !args.no_punycode,
    };
    let bar = if std::io::stderr().is_terminal() && args.domains.len() > 1 {
        indicatif::ProgressBar::new(args.domains.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let (domains, explain) = (args.domains, args.explain);
    let list = tokio::task::spawn_blocking(move || {
        build_list(&domains, &opts, explain, |n| bar.set_position(n as u64))
    })
    .await??;
    let text = serde_json::to_string_pretty(&list)?;
    match args.output {
        Some(path) => std::fs::write(&path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => println!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
