//! The `vpndns` binary: flags, logging, signals; the proxy is in `vpndns::proxy`.

use std::io::IsTerminal;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info};
use tracing_subscriber::EnvFilter;
use vpndns::proxy::check;
use vpndns::proxy::config::{Config, DEFAULT_PATH};
use vpndns::proxy::engine::Engine;
use vpndns::proxy::server::{self, Server};

/// A DNS proxy that answers static names, applies blocklists, and forwards
/// every other query to a forwarder chosen by the client's source address.
///
/// A client covered by an identity policy (`forward = "source"`) has its
/// query sent back to its own address, port 53: a VPN jail whose firewall
/// redirects that port to its VPN provider's resolver. Clients no policy
/// covers are REFUSED.
///
/// Signals: SIGHUP reloads the config and lists (a bad config is logged and
/// the old one keeps serving); SIGTERM and SIGINT stop after the queries in
/// flight are answered.
#[derive(Parser)]
#[command(
    version,
    after_help = "Examples:\n  vpndns -c examples/vpndns.toml\n  vpndns check -c /usr/local/etc/vpndns/vpndns.toml\n  vpndns explain -c examples/vpndns.toml 127.0.0.1 ads.example.com A"
)]
struct Cli {
    /// The config file (TOML).
    #[arg(short, long, global = true, value_name = "FILE", default_value = DEFAULT_PATH)]
    config: PathBuf,

    /// More logging: -v debug, -vv trace. RUST_LOG, when set, overrides it.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy in the foreground (the default).
    Run,
    /// Check the config and the files it names, print the resolved policy
    /// table, and exit non-zero on any error.
    Check,
    /// Print what vpndns would do with one query, and which rule decides it.
    Explain {
        /// The client's address.
        client: IpAddr,
        /// The name asked.
        name: String,
        /// The record type.
        #[arg(default_value = "A")]
        qtype: String,
    },
    /// Print a completion script for SHELL (bash, zsh or fish) on standard output.
    Completions {
        #[arg(value_enum)]
        shell: vpndns::completions::Shell,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = ["info", "debug", "trace"][usize::from(cli.verbose.min(2))];
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let result = match cli.command.unwrap_or(Command::Run) {
        Command::Run => run(cli.config),
        Command::Check => load(&cli.config).map(|e| {
            print!(
                "{}\nconfig {} is OK\n",
                check::describe(&e),
                cli.config.display()
            )
        }),
        Command::Explain {
            client,
            name,
            qtype,
        } => load(&cli.config)
            .and_then(|e| check::explain(&e, client, &name, &qtype).map_err(anyhow::Error::msg))
            .map(|line| println!("{line}")),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            vpndns::completions::print(shell, &mut Cli::command(), "vpndns")
                .map_err(anyhow::Error::from)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vpndns: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load(path: &std::path::Path) -> anyhow::Result<Engine> {
    let config = Config::load(path)?;
    Ok(Engine::build(config)?)
}

fn run(path: PathBuf) -> anyhow::Result<()> {
    let engine = load(&path)?;
    engine.log_summary();
    let (user, group) = (
        engine.config.server.user.clone(),
        engine.config.server.group.clone(),
    );
    let server = Server::bind(engine)?;
    server::drop_privileges(user.as_deref(), group.as_deref())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async {
        let handle = server.handle();
        let mut hup = signal(SignalKind::hangup())?;
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                let handle = handle.clone();
                match tokio::task::spawn_blocking(move || handle.reload()).await {
                    Ok(Ok(())) => info!("reloaded {}", path.display()),
                    Ok(Err(e)) => error!("reload failed, still serving the previous config:\n{e}"),
                    Err(e) => error!("reload: {e}"),
                }
            }
        });
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let shutdown = async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        };
        server.run(shutdown).await
    })
}
