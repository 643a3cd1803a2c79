//! `vpnjail`: flags, logging, and a call into `vpndns::deploy`.
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Deploy the vpndns architecture (IPsec jail, VPN jails, vpndns jail, GRE
/// clients) onto FreeBSD hosts from one declarative site file.
///
/// Typical use:  vpnjail check site.toml
///               vpnjail render site.toml --host alpha --out /tmp/alpha
///               vpnjail create vpnus --dry-run
#[derive(Parser)]
#[command(name = "vpnjail", version, about, long_about)]
struct Cli {
    /// More logging (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Validate a site file; every problem is printed as FILE:LINE: KEY: what was expected.
    Check {
        /// The site file (see docs/site.md).
        site: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .with_writer(std::io::stderr)
        .init();
    let result: anyhow::Result<()> = match cli.cmd {
        Cmd::Check { site } => vpndns::deploy::check::load(&site)
            .map(|s| {
                println!(
                    "{}: site {:?} is valid: {} hosts, {} links",
                    site.display(),
                    s.name,
                    s.hosts.len(),
                    s.links.len()
                );
            })
            .map_err(anyhow::Error::from),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
