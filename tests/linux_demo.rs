//! The README's Linux demo, run for real (as root; skips with a message
//! otherwise): `examples/linux-demo.sh up` with its own tag, so its
//! namespaces and state never meet another run's; its vpn namespace runs
//! OpenVPN against the stand-in provider, whose pushed resolver answers the
//! service's DNS through vpndns; the kill switch holds when the client dies;
//! `down` leaves no namespace, process or file behind. Also shellchecks the
//! script.

#[path = "common/netns.rs"]
mod netns;

use netns::{alive, ok, pidfiles_under, sh};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const VPNJAIL: &str = env!("CARGO_BIN_EXE_vpnjail");
const VPNDNS: &str = env!("CARGO_BIN_EXE_vpndns");

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/linux-demo.sh")
}

#[test]
fn the_demo_script_passes_shellcheck() {
    let out = Command::new("shellcheck")
        .arg(script())
        .output()
        .unwrap_or_else(|e| panic!("shellcheck is required (apt-get install shellcheck): {e}"));
    assert!(
        out.status.success(),
        "shellcheck examples/linux-demo.sh:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn skip_reason() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root (network namespaces need root; CI runs as root)".into());
    }
    for (tool, args) in [
        ("ip", &["netns", "list"][..]),
        ("nft", &["--version"]),
        ("openvpn", &["--version"]),
        ("openssl", &["version"]),
        ("dig", &["-v"]),
        ("start-stop-daemon", &["--version"]),
        ("shellcheck", &["--version"]),
    ] {
        if !ok(tool, args) {
            return Some(format!("{tool} is missing (.ci/run installs it)"));
        }
    }
    for f in ["/usr/sbin/charon-systemd", "/usr/sbin/swanctl"] {
        if !Path::new(f).exists() {
            return Some(format!("{f} is missing (.ci/run installs strongSwan)"));
        }
    }
    None
}

/// `linux-demo.sh ACTION` with this run's tag and the test's binaries
/// (so it builds nothing), bounded by `timeout`.
fn demo(tag: &str, action: &str) -> Result<String, String> {
    let out = Command::new("timeout")
        .args(["60", "bash"])
        .arg(script())
        .arg(action)
        .env("DEMO_TAG", tag)
        .env("VPNJAIL", VPNJAIL)
        .env("VPNDNS", VPNDNS)
        .output()
        .map_err(|e| format!("bash: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!(
            "linux-demo.sh {action}: {}\n{text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The namespaces carrying `tag`.
fn namespaces(tag: &str) -> Vec<String> {
    let mark = format!("-{tag}-");
    sh("ip", &["netns", "list"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.contains(&mark))
        .map(str::to_string)
        .collect()
}

/// Runs `down` when dropped (also when the test fails), then removes
/// whatever it left: the daemons by their pid files, the tagged namespaces.
struct Demo {
    tag: String,
    state: PathBuf,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let pids = pidfiles_under(&self.state);
        if let Err(e) = demo(&self.tag, "down") {
            eprintln!("cleanup: {e}");
        }
        netns::stop_pidfiles(&pids);
        for ns in namespaces(&self.tag) {
            let _ = sh("ip", &["netns", "del", &ns]);
        }
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

/// One A query from namespace `ns` to `server`: dig's short answer.
fn dig(ns: &str, server: &str, name: &str) -> String {
    let at = format!("@{server}");
    sh(
        "ip",
        &[
            "netns", "exec", ns, "dig", "+short", "+time=1", "+tries=1", &at, name,
        ],
    )
    .unwrap_or_default()
    .trim()
    .to_string()
}

/// `packets N` on the line of `out` that contains `needle`.
fn packets(out: &str, needle: &str) -> u64 {
    out.lines()
        .find(|l| l.contains(needle))
        .and_then(|l| l.split("packets ").nth(1))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no counter {needle:?} in:\n{out}"))
}

#[test]
fn the_linux_demo_runs_openvpn_with_the_pushed_dns_and_down_leaves_nothing() {
    if let Some(r) = skip_reason() {
        eprintln!("SKIP linux_demo: {r}");
        return;
    }
    let started = Instant::now();
    let tag = format!("d{:x}", std::process::id() & 0xfffff);
    let state = PathBuf::from(format!("/run/vpnjail/{tag}"));
    let guard = Demo {
        tag: tag.clone(),
        state: state.clone(),
    };
    let out = demo(&tag, "up").unwrap_or_else(|e| panic!("{e}"));
    let up = started.elapsed();

    // The site the demo ran: the example's vpn jails with the providers'
    // client files and no provider_dns.
    let site = std::fs::read_to_string(state.join("site.toml")).expect("the demo's site");
    assert!(
        site.contains("openvpn = \"providers/vpnus.ovpn\""),
        "{site}"
    );
    assert!(
        !site
            .lines()
            .any(|l| l.trim_start().starts_with("provider_dns")),
        "{site}"
    );
    let ovpn = state.join("providers/vpnus.ovpn");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&ovpn).expect("ovpn").permissions().mode();
    assert_eq!(
        mode & 0o077,
        0,
        "the client file (with its key) is root's alone"
    );

    // The tunnel is OpenVPN's: tun0 is a tun device, the pid file's process is openvpn.
    let ns = |j: &str| format!("vj-{tag}-{j}");
    let link = sh(
        "ip",
        &[
            "-d",
            "-n",
            &ns("alpha-vpnus"),
            "link",
            "show",
            "dev",
            "tun0",
        ],
    )
    .unwrap_or_else(|e| panic!("no tun0 in vpnus: {e}\n{out}"));
    assert!(link.contains("tun type tun"), "{link}");
    let client_pid = state.join("alpha/vpnus/openvpn.pid");
    let pid = std::fs::read_to_string(&client_pid).expect("openvpn.pid");
    let comm = std::fs::read_to_string(format!("/proc/{}/comm", pid.trim())).expect("comm");
    assert_eq!(comm.trim(), "openvpn");

    // The DNS pushed by the provider answers desk's query through vpndns:
    // the client's route-up hook recorded it, and the provider's resolver
    // (the only one that knows whoami.vpn) logged the query.
    assert!(
        out.contains("vpn jail vpnus: tunnel tun0 up; DNS pushed by the provider: 198.51.100.1"),
        "{out}"
    );
    assert!(
        out.contains(
            "alpha-desk             asks 10.10.1.53   for whoami.vpn         -> NOERROR 198.18.0.1"
        ),
        "{out}"
    );
    assert_eq!(
        dig(&ns("alpha-desk"), "10.10.1.53", "whoami.vpn"),
        "198.18.0.1"
    );
    let resolver_log =
        std::fs::read_to_string(state.join("providers/vpnus/resolver.log")).unwrap_or_default();
    assert!(
        resolver_log.contains("whoami.vpn"),
        "the pushed resolver saw the query:\n{resolver_log}"
    );
    // Across IPsec, beta's laptop is answered by vpneu's pushed resolver.
    assert!(
        out.contains(
            "beta-laptop            asks 10.10.1.53   for whoami.vpn         -> NOERROR 198.18.0.2"
        ),
        "{out}"
    );

    // The kill switch, as `up` says to try it: the client killed, desk's
    // DNS goes nowhere, is counted in vpnus, and nothing leaks to the Internet.
    let watch = || {
        sh(
            "ip",
            &[
                "netns",
                "exec",
                &format!("vji-{tag}-net"),
                "nft",
                "list",
                "table",
                "ip",
                "watch",
            ],
        )
        .expect("the internet namespace's counters")
    };
    let leak0 = packets(&watch(), "comment \"leak\"");
    assert!(packets(&watch(), "comment \"tunnel\"") > 0, "{}", watch());
    let n: i32 = pid.trim().parse().expect("pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(n),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill openvpn");
    let t = Instant::now();
    while alive(&client_pid) && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let counters = || {
        sh(
            "ip",
            &[
                "netns",
                "exec",
                &ns("alpha-vpnus"),
                "nft",
                "list",
                "counters",
                "table",
                "inet",
                "vpnjail_killswitch",
            ],
        )
        .expect("the kill switch's counters")
    };
    let dropped = || -> u64 {
        counters()
            .lines()
            .filter_map(|l| {
                l.trim()
                    .strip_prefix("packets ")?
                    .split_whitespace()
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum()
    };
    let dropped0 = dropped();
    for _ in 0..3 {
        assert_eq!(dig(&ns("alpha-desk"), "10.10.1.53", "whoami.vpn"), "");
    }
    assert!(
        dropped() > dropped0,
        "the kill switch counted:\n{}",
        counters()
    );
    assert_eq!(packets(&watch(), "comment \"leak\""), leak0, "{}", watch());

    // down: every process the demo and vpnjail started is gone, with the
    // namespaces and the state directory.
    let pidfiles = pidfiles_under(&state);
    assert!(pidfiles.len() >= 6, "{pidfiles:?}");
    let pids: Vec<String> = pidfiles
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .collect();
    let t = Instant::now();
    let down = demo(&tag, "down").unwrap_or_else(|e| panic!("{e}"));
    let down_took = t.elapsed();
    assert!(down.contains("== removed"), "{down}");
    assert_eq!(namespaces(&tag), Vec::<String>::new());
    assert!(!state.exists(), "{} is left", state.display());
    for pid in &pids {
        let st = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let running = st
            .rsplit_once(')')
            .is_some_and(|(_, r)| !r.trim_start().starts_with('Z'));
        assert!(!running, "pid {pid} still runs: {st}");
    }
    drop(guard);
    eprintln!(
        "linux demo: up {up:?}, down {down_took:?}, whole test {:?}",
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(120));
}
