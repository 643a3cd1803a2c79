//! `vpnjail`: flags, logging, and a call into `vpndns::deploy`.
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use vpndns::deploy::apply::Target;

/// Deploy the vpndns architecture (IPsec jail, VPN jails, vpndns jail, GRE
/// clients) onto FreeBSD hosts (VNET jails) or Linux hosts (network
/// namespaces) from one declarative site file.
///
/// The site file (documented in docs/site.md) names the hosts, their bridge
/// networks and jails, the IPsec links between hosts, GRE clients and extra
/// DNS policies. Every command reads it; nothing else is configuration.
#[derive(Parser)]
#[command(
    name = "vpnjail",
    version,
    about,
    long_about,
    after_help = "Typical use:\n  vpnjail check site.toml                          validate; problems as FILE:LINE: KEY: ...\n  vpnjail render site.toml --host alpha --out /tmp/alpha   review the files of one host\n  vpnjail plan create vpnus --site site.toml      the steps, their guards and undo\n  vpnjail create vpnus --site site.toml --dry-run  the same as a pasteable sh script\n  vpnjail create vpnus --site site.toml            do it (FreeBSD, as root)\n  vpnjail create --all --site linux-site.toml     a whole Linux site in namespaces (as root)\n  vpnjail pf --load --host alpha --site site.toml\n  vpnjail ipsec --load --host alpha --site site.toml"
)]
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
    /// Show the steps `create` or `destroy` would take for JAIL, each with its
    /// guard (when it is skipped) and its undo (run if a later step fails).
    Plan {
        #[arg(value_enum)]
        verb: Verb,
        /// A jail name from the site.
        jail: String,
        #[command(flatten)]
        site: SiteArg,
        /// The host whose copy of a replicated vpn jail to show.
        #[arg(long)]
        host: Option<String>,
    },
    /// Provision JAIL's root (base.txz or ZFS clone), install its files, start it.
    /// On a Linux host: its network namespace, veth pair, nftables table and
    /// process. Running it again changes nothing; a failing step undoes the
    /// earlier ones. With --all: every jail (of --host, or of every host), a
    /// Linux host's namespace, bridge and table first.
    Create {
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        jail: Option<String>,
        #[command(flatten)]
        site: SiteArg,
        /// Every jail of the site (or of --host), as one plan.
        #[arg(long)]
        all: bool,
        /// With --all: only this host. With JAIL: the host whose copy of a
        /// replicated vpn jail to act on (required for those).
        #[arg(long)]
        host: Option<String>,
        /// Print the plan as a shell script instead of running it.
        #[arg(long)]
        dry_run: bool,
    },
    /// Stop JAIL and remove its epair, host anchor and jail.conf (its root is kept).
    /// On a Linux host: its process, veth pair, namespace and files. With --all:
    /// every jail, then a Linux host's table, bridge and namespace.
    Destroy {
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        jail: Option<String>,
        #[command(flatten)]
        site: SiteArg,
        #[arg(long)]
        all: bool,
        /// With --all: only this host. With JAIL: the host whose copy of a
        /// replicated vpn jail to act on (required for those).
        #[arg(long)]
        host: Option<String>,
        #[arg(long)]
        dry_run: bool,
    },
    /// Install and load the host's pf anchors (vpnjail/nat, vpnjail/ipsec) and
    /// the vpnjail/dns anchor inside each running vpn jail.
    Pf {
        /// Load the anchors (the only action for now; required to act).
        #[arg(long, required = true)]
        load: bool,
        #[command(flatten)]
        site: SiteArg,
        /// Which [[host]] this machine is.
        #[arg(long)]
        host: String,
        #[arg(long)]
        dry_run: bool,
    },
    /// OpenVPN's route-up hook in a vpn namespace (Linux; vpnjail sets it in
    /// the client's config): the DNS the tunnel pushed (`foreign_option_N`)
    /// becomes the target of seed step 5 and the only resolver the kill switch
    /// lets through, unless the site names provider_dns. Prints which DNS the
    /// tunnel pushed (into the client's log).
    #[command(name = "tunnel-up")]
    TunnelUp {
        #[command(flatten)]
        site: SiteArg,
        /// The host holding the jail (needed for replicated vpn jails).
        #[arg(long)]
        host: Option<String>,
        /// The vpn jail whose tunnel came up.
        #[arg(long)]
        jail: String,
        #[arg(long)]
        dry_run: bool,
    },
    /// Print a new key file for a [[link]] with mode = "setkey" (testing only):
    /// two lines of random keys, hosts[0] -> hosts[1] then back.
    Keygen {
        #[arg(long, value_enum, default_value = "aes-gcm-16")]
        cipher: CipherArg,
    },
    /// Watch this host's replicas of replicated vpn jails and announce or
    /// withdraw their anycast addresses in BGP (docs/ha.md).
    ///
    /// Every `[site.monitor] interval` (default 200ms), for each vpn jail with
    /// `replicas = [...]` that includes --host, it checks that the jail runs,
    /// that its tun is up, and that a DNS query (A for `probe_name`) sent to the
    /// jail's own address is answered through its provider. A healthy replica is
    /// announced with `network <anycast>/32 route-map VJ-ANYCAST-P<k>` (k = the
    /// host's position in `replicas`) in the ipsec jail's FRR; every host gives
    /// it local preference 100 - k, so BGP elects the best healthy replica
    /// everywhere. After `fail_after` failed checks in a row (default 3) it is
    /// withdrawn (`no network ...`); it is announced again only after it has been
    /// healthy for `hold_down` (default 10s). With `failback = false` a replica
    /// that comes back while another one serves announces itself as standby
    /// (priority = number of replicas) and takes over only when no other replica
    /// serves. With `standby = "cold"` only the elected replica runs its OpenVPN
    /// client: the others wait announced below every serving replica, and the
    /// monitor starts their client when BGP makes them the best route and stops
    /// it when they lose that.
    ///
    /// FreeBSD: runs on the host (rc.d/vpnjail_monitor), uses jls, `jexec JAIL
    /// ifconfig TUN` and `jexec IPSEC vtysh`. Linux: runs in the host's or the
    /// ipsec namespace, uses `ip -n NS` and `vtysh --vty_socket <ipsec dir>/frr`.
    /// Changes go through the executor: --dry-run prints them instead.
    #[command(after_help = "Examples:
  vpnjail monitor --site /usr/local/etc/vpnjail/site.toml --host alpha
  vpnjail monitor --site site.toml --host alpha --once --dry-run   one round, print what it would change
  vpnjail -v monitor --site site.toml --host beta                  log every failed check")]
    Monitor {
        #[command(flatten)]
        site: SiteArg,
        /// Which [[host]] this machine is.
        #[arg(long)]
        host: String,
        /// Print the vtysh commands instead of running them.
        #[arg(long)]
        dry_run: bool,
        /// One round of checks, then exit (for testing the checks).
        #[arg(long)]
        once: bool,
    },
    /// Is everything up? Reads the live system (never changes it): per host
    /// and jail, running or not; vpn jails' tunnel, DNS and firewall
    /// counters; the ipsec jail's SAs and BGP sessions; which host serves
    /// each replicated jail; vpndns's forwarders (with [control]). Exit
    /// status 0 when all is up, 1 when something is down, 2 when it could not
    /// look. The JSON schema is in docs/status.md.
    #[command(after_help = "Examples:
  vpnjail status --site /usr/local/etc/vpnjail/site.toml
  vpnjail status --site site.toml --host alpha --json | jq '.hosts[].jails[] | select(.up == false)'")]
    Status {
        #[command(flatten)]
        site: SiteArg,
        /// Only this [[host]] (the one this machine is).
        #[arg(long)]
        host: Option<String>,
        /// The report as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Draw the site: hosts with their bridges and jails, IPsec links (and
    /// BGP), GRE tunnels and clients, which vpn jail each service jail leaves
    /// through, replicas. SVG (written by vpnjail itself) or Graphviz dot, on
    /// standard output.
    #[command(after_help = "Examples:
  vpnjail diagram --site site.toml > site.svg
  vpnjail diagram --site site.toml --format dot | dot -Tpng > site.png")]
    Diagram {
        #[command(flatten)]
        site: SiteArg,
        /// svg (default) or dot.
        #[arg(long, value_enum, default_value = "svg")]
        format: DiagramFormat,
    },
    /// Print a completion script for SHELL (bash, zsh or fish) on standard output.
    #[command(after_help = "Examples:
  vpnjail completions bash > /usr/local/share/bash-completion/completions/vpnjail
  vpnjail completions zsh > /usr/local/share/zsh/site-functions/_vpnjail
  vpnjail completions fish > ~/.config/fish/completions/vpnjail.fish")]
    Completions {
        #[arg(value_enum)]
        shell: vpndns::completions::Shell,
    },
    /// Create the site's certificate authority under pki/ beside the site
    /// file: an ECDSA P-256 CA, a certificate for every ipsec jail (identity:
    /// its host's name) and every [[client]] (identity: NAME@SITE), and an
    /// empty CRL. Running it again issues only what is missing; it never
    /// overwrites a key (docs/clients.md).
    Pki {
        #[command(flatten)]
        site: SiteArg,
    },
    /// Export a road warrior's profile, or revoke its certificate (docs/clients.md).
    #[command(
        args_conflicts_with_subcommands = true,
        after_help = "Examples:
  vpnjail client phone --site site.toml --format mobileconfig --out phone.mobileconfig
  vpnjail client phone --site site.toml --format sswan --out phone.sswan --password-file pw
  vpnjail client laptop --site site.toml --format swanctl --out /tmp/laptop-swanctl
  vpnjail client revoke phone --site site.toml"
    )]
    Client {
        #[command(subcommand)]
        action: Option<ClientAction>,
        /// The [[client]] to export.
        name: Option<String>,
        #[command(flatten)]
        site: SiteArg,
        /// swanctl: a swanctl directory (Linux, FreeBSD); sswan: the strongSwan
        /// Android app's profile; mobileconfig: an Apple configuration profile.
        #[arg(long, value_enum, default_value = "swanctl")]
        format: FormatArg,
        /// Where to write it (a directory for swanctl); never overwritten.
        #[arg(long)]
        out: Option<PathBuf>,
        /// The PKCS#12 password (first line of the file); without it one is
        /// generated and printed once.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Install the ipsec jail's swanctl.conf / ipsec.conf and load it
    /// (swanctl --load-all, setkey -f) inside the running ipsec jail.
    Ipsec {
        #[arg(long, required = true)]
        load: bool,
        #[command(flatten)]
        site: SiteArg,
        #[arg(long)]
        host: String,
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum ClientAction {
    /// Add the client's certificate to the site's CRL and load it into its
    /// host's ipsec jail (swanctl --load-all): its SAs are refused from then on.
    Revoke {
        name: String,
        #[command(flatten)]
        site: SiteArg,
        /// Only write the CRL; load it later with `vpnjail ipsec --load`.
        #[arg(long)]
        no_load: bool,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    Swanctl,
    Sswan,
    Mobileconfig,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum DiagramFormat {
    Svg,
    Dot,
}

/// The setkey ciphers, spelled as in the site file's `cipher` key.
#[derive(Clone, Copy, clap::ValueEnum)]
enum CipherArg {
    #[value(name = "aes-gcm-16")]
    AesGcm16,
    #[value(name = "aes-cbc")]
    AesCbc,
}

#[derive(clap::Args)]
struct SiteArg {
    /// The site file.
    #[arg(long = "site", default_value = "/usr/local/etc/vpnjail/site.toml")]
    path: PathBuf,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Verb {
    Create,
    Destroy,
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
                for w in vpndns::deploy::advice::warnings(&s) {
                    eprintln!("{}: warning: {w}", site.display());
                }
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
        Cmd::Plan {
            verb,
            jail,
            site,
            host,
        } => plan(&site.path, verb, jail, host),
        Cmd::Create {
            jail,
            site,
            host,
            dry_run,
            ..
        } => act(
            &site.path,
            match jail {
                None => Target::CreateAll { host },
                Some(jail) => Target::Create { jail, host },
            },
            dry_run,
        ),
        Cmd::Destroy {
            jail,
            site,
            host,
            dry_run,
            ..
        } => act(
            &site.path,
            match jail {
                None => Target::DestroyAll { host },
                Some(jail) => Target::Destroy { jail, host },
            },
            dry_run,
        ),
        Cmd::Pf {
            site,
            host,
            dry_run,
            ..
        } => act(&site.path, Target::PfLoad { host }, dry_run),
        Cmd::TunnelUp {
            site,
            host,
            jail,
            dry_run,
        } => tunnel_up(&site.path, host.as_deref(), &jail, dry_run),
        Cmd::Keygen { cipher } => {
            let c = match cipher {
                CipherArg::AesGcm16 => vpndns::deploy::model::Cipher::AesGcm16,
                CipherArg::AesCbc => vpndns::deploy::model::Cipher::AesCbc,
            };
            vpndns::deploy::keygen::key_file(c)
                .map(|k| print!("{k}"))
                .map_err(anyhow::Error::from)
        }
        Cmd::Status { site, host, json } => return status(&site.path, host.as_deref(), json),
        Cmd::Diagram { site, format } => vpndns::deploy::check::load(&site.path)
            .map_err(anyhow::Error::from)
            .map(|s| {
                let p = vpndns::deploy::diagram::picture(&s);
                print!(
                    "{}",
                    match format {
                        DiagramFormat::Svg => vpndns::deploy::diagram::svg::render(&p),
                        DiagramFormat::Dot => vpndns::deploy::diagram::dot::render(&p),
                    }
                );
            }),
        Cmd::Completions { shell } => {
            use clap::CommandFactory;
            vpndns::completions::print(shell, &mut Cli::command(), "vpnjail")
                .map_err(anyhow::Error::from)
        }
        Cmd::Ipsec {
            site,
            host,
            dry_run,
            ..
        } => act(&site.path, Target::IpsecLoad { host }, dry_run),
        Cmd::Pki { site } => pki(&site.path),
        Cmd::Client {
            action:
                Some(ClientAction::Revoke {
                    name,
                    site,
                    no_load,
                }),
            ..
        } => revoke(&site.path, &name, no_load),
        Cmd::Client {
            action: None,
            name,
            site,
            format,
            out,
            password_file,
        } => client(&site.path, name, format, out, password_file),
        Cmd::Monitor {
            site,
            host,
            dry_run,
            once,
        } => vpndns::deploy::check::load(&site.path)
            .map_err(anyhow::Error::from)
            .and_then(|s| {
                vpndns::deploy::monitor::run(
                    &s,
                    &host,
                    vpndns::deploy::monitor::Options { dry_run, once },
                    &mut vpndns::deploy::exec::RealSystem,
                    &mut std::io::stdout().lock(),
                )
            }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `vpnjail status`: its own exit statuses (0 up, 1 down, 2 could not look).
fn status(site: &std::path::Path, host: Option<&str>, json: bool) -> ExitCode {
    use std::io::IsTerminal;
    use vpndns::deploy::status;
    let report = vpndns::deploy::check::load(site)
        .map_err(anyhow::Error::from)
        .and_then(|s| Ok(status::gather(&s, host, &mut status::probe::Live)?));
    match report {
        Ok(r) => {
            if json {
                print!("{}", status::report::json(&r));
            } else {
                let colour = status::report::want_colour(
                    std::io::stdout().is_terminal(),
                    std::env::var_os("NO_COLOR").as_deref(),
                );
                print!("{}", status::report::table(&r, colour));
            }
            ExitCode::from(status::exit_code(&r))
        }
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn render(site: &std::path::Path, host: &str, out: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    let s = vpndns::deploy::check::load(site)?;
    let (files, bad) = vpndns::deploy::lint::host(&s, host)?;
    if !bad.is_empty() {
        anyhow::bail!("generated files fail their checks:\n{}", bad.join("\n"));
    }
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

fn plan(
    site: &std::path::Path,
    verb: Verb,
    jail: String,
    host: Option<String>,
) -> anyhow::Result<()> {
    let s = vpndns::deploy::check::load(site)?;
    let t = match verb {
        Verb::Create => Target::Create { jail, host },
        Verb::Destroy => Target::Destroy { jail, host },
    };
    let (s, pins) =
        vpndns::deploy::apply::pinned(&s, &t, &vpndns::deploy::provider::resolve::system)?;
    for p in pins {
        println!("{p} (would pin, jail {})", p.jail);
    }
    print!("{}", vpndns::deploy::apply::build(&s, &t)?.describe());
    Ok(())
}

fn act(site: &std::path::Path, t: Target, dry_run: bool) -> anyhow::Result<()> {
    let s = vpndns::deploy::check::load(site)?;
    vpndns::deploy::apply::apply(&s, &t, dry_run, &mut std::io::stdout().lock())?;
    Ok(())
}

fn pki(site: &std::path::Path) -> anyhow::Result<()> {
    let s = vpndns::deploy::check::load_without_pki(site)?;
    let created = vpndns::deploy::pki::ensure(&s)?;
    for p in &created {
        println!("created {}", p.display());
    }
    if created.is_empty() {
        println!(
            "{}: nothing to issue",
            vpndns::deploy::pki::Paths::beside(site).dir.display()
        );
    }
    Ok(())
}

fn client(
    site: &std::path::Path,
    name: Option<String>,
    format: FormatArg,
    out: Option<PathBuf>,
    password_file: Option<PathBuf>,
) -> anyhow::Result<()> {
    use anyhow::Context;
    use vpndns::deploy::profile::{self, Format};
    let (Some(name), Some(out)) = (name, out) else {
        anyhow::bail!("vpnjail client NAME --out PATH (or vpnjail client revoke NAME)");
    };
    let s = vpndns::deploy::check::load(site)?;
    let password = match password_file {
        None => None,
        Some(p) => {
            let t =
                std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
            let pw = t.lines().next().unwrap_or("").to_string();
            if pw.len() < 8 {
                anyhow::bail!(
                    "{}: the password must be at least 8 characters on its first line",
                    p.display()
                );
            }
            Some(pw)
        }
    };
    let f = match format {
        FormatArg::Swanctl => Format::Swanctl,
        FormatArg::Sswan => Format::Sswan,
        FormatArg::Mobileconfig => Format::Mobileconfig,
    };
    let generated = profile::export(
        &s,
        &name,
        f,
        &out,
        password,
        &mut vpndns::deploy::exec::RealSystem,
    )?;
    println!("wrote {}", out.display());
    if let Some(pw) = generated {
        println!("PKCS#12 password (shown once, not stored): {pw}");
    }
    Ok(())
}

fn revoke(site: &std::path::Path, name: &str, no_load: bool) -> anyhow::Result<()> {
    let s = vpndns::deploy::check::load(site)?;
    let crl = vpndns::deploy::pki::revoke(&s, name)?;
    println!("revoked {name}: {}", crl.display());
    if no_load {
        return Ok(());
    }
    let host = s
        .clients
        .iter()
        .find(|c| c.name == name)
        .map(|c| c.host.clone())
        .unwrap_or_default();
    // Read again: the site now carries the new CRL.
    act(site, Target::IpsecLoad { host }, false)
}

fn tunnel_up(
    site: &std::path::Path,
    host: Option<&str>,
    jail: &str,
    dry_run: bool,
) -> anyhow::Result<()> {
    let s = vpndns::deploy::check::load(site)?;
    let env: Vec<(String, String)> = std::env::vars().collect();
    let pushed = vpndns::deploy::provider::openvpn::pushed_dns(
        env.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    );
    let up = vpndns::deploy::tunnel::up(&s, host, jail, &pushed)?;
    println!("{}", up.message);
    if dry_run {
        print!("{}", up.plan.to_shell());
    } else {
        vpndns::deploy::exec::execute(&up.plan, &mut vpndns::deploy::exec::RealSystem)?;
    }
    Ok(())
}
