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
    /// Write every file of one host (its own and its jails') into OUT, as a tree
    /// mirroring the host's filesystem: OUT/etc/jail.conf.d/*.conf,
    /// OUT/<jail_root>/<jail>/etc/rc.conf, pf anchors, IPsec, vpndns.toml, ...
    Render {
        /// The site file.
        site: PathBuf,
        /// Which [[host]] to render.
        #[arg(long)]
        host: String,
        /// Output directory (created if missing).
        #[arg(long)]
        out: PathBuf,
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
        Cmd::Render { site, host, out } => render(&site, &host, &out),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn render(site: &std::path::Path, host: &str, out: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    let s = vpndns::deploy::check::load(site)?;
    let files = vpndns::deploy::render::host(&s, host)?;
    vpndns::deploy::render::write_tree(&files, out)
        .with_context(|| format!("rendering host {host:?} into {}", out.display()))?;
    for f in &files {
        println!(
            "{}",
            out.join(f.path.strip_prefix("/").unwrap_or(&f.path))
                .display()
        );
    }
    Ok(())
}
