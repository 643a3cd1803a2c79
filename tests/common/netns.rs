//! Helpers for tests that build hosts out of network namespaces (ha_e2e):
//! skipping when not root or FRR is missing, running commands, entering a
//! namespace on a thread, stopping daemons by their pid files. Included with
//! `#[path = "common/netns.rs"] mod netns;` so the tests that use
//! `common/mod.rs` are not affected.

#![allow(dead_code)]

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const ZEBRA: &str = "/usr/lib/frr/zebra";
pub const BGPD: &str = "/usr/lib/frr/bgpd";

pub fn ok(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Why a namespace test with FRR cannot run here, if it cannot.
pub fn skip_reason() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root (network namespaces need root; CI runs as root)".into());
    }
    if !ok("ip", &["netns", "list"]) {
        return Some("`ip netns` is unavailable (install iproute2)".into());
    }
    if !Path::new(ZEBRA).exists() || !Path::new(BGPD).exists() {
        return Some(format!("{BGPD} is missing (apt-get install frr)"));
    }
    if !ok("id", &["-u", "frr"]) {
        return Some("no user frr (apt-get install frr)".into());
    }
    if !Path::new("/usr/bin/vtysh").exists() {
        return Some("vtysh is missing (apt-get install frr)".into());
    }
    if !ok("nft", &["--version"]) {
        return Some("nft is missing (install nftables)".into());
    }
    if !ok("start-stop-daemon", &["--version"]) {
        return Some("start-stop-daemon is missing (dpkg)".into());
    }
    None
}

pub fn sh(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{program} {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

#[track_caller]
pub fn must(program: &str, args: &[&str]) -> String {
    sh(program, args).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `f` on a thread that has entered network namespace `ns`.
pub fn spawn_in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        // SAFETY: setns on this thread only, with a namespace file descriptor we own.
        let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
}

/// A veth pair: `a` in namespace `ns_a` with `addr_a` (a CIDR), `b` in
/// `ns_b` with `addr_b`, both up.
pub fn veth(ns_a: &str, a: &str, addr_a: &str, ns_b: &str, b: &str, addr_b: &str) {
    must(
        "ip",
        &[
            "-n", ns_a, "link", "add", "name", a, "type", "veth", "peer", "name", b, "netns", ns_b,
        ],
    );
    for (ns, ifname, addr) in [(ns_a, a, addr_a), (ns_b, b, addr_b)] {
        must("ip", &["-n", ns, "addr", "add", addr, "dev", ifname]);
        must("ip", &["-n", ns, "link", "set", "dev", ifname, "up"]);
    }
}

/// A veth pair per `[[link]]` of `site` in place of its tunnel, each end in
/// the namespace `ns_of(host)` gives, named as the FreeBSD if_ipsec end, with
/// the link's inner /32 and the peer's inner address as its point-to-point
/// peer (the kernel here has no in-kernel ESP).
pub fn veth_links(site: &vpndns::deploy::model::Site, ns_of: impl Fn(&str) -> String) {
    for link in &site.links {
        let ends: Vec<_> = link
            .hosts
            .iter()
            .map(|hn| {
                let h = site.host(hn).expect("host");
                let e = site
                    .link_ends(h)
                    .into_iter()
                    .find(|e| std::ptr::eq(e.link, link))
                    .expect("link end");
                (
                    ns_of(hn),
                    e.ifname.clone(),
                    e.local_inner(),
                    e.remote_inner(),
                )
            })
            .collect();
        let (a, b) = (&ends[0], &ends[1]);
        must(
            "ip",
            &[
                "-n", &a.0, "link", "add", &a.1, "type", "veth", "peer", "name", &b.1, "netns",
                &b.0,
            ],
        );
        for (ns, ifname, local, remote) in [a, b] {
            let l = format!("{local}/32");
            let r = remote.to_string();
            must(
                "ip",
                &["-n", ns, "addr", "add", &l, "peer", &r, "dev", ifname],
            );
            must("ip", &["-n", ns, "link", "set", ifname, "up"]);
        }
    }
}

/// Waits until every host's bfdd (its vty sockets in the ipsec jail's FRR
/// directory) reports each of its link peers up (`show bfd peers json`);
/// returns the time it took, or panics naming the sessions still down.
pub fn wait_bfd_up(site: &vpndns::deploy::model::Site, bound: Duration) -> Duration {
    let t = Instant::now();
    loop {
        let mut down = Vec::new();
        for h in &site.hosts {
            let ipsec = h.ipsec_jail().expect("ipsec");
            let vty = h
                .jail_path(&ipsec.name)
                .join(vpndns::deploy::render::linux::FRR_RUN_DIR);
            let vty = vty.display().to_string();
            let json = sh(
                "vtysh",
                &["--vty_socket", &vty, "-c", "show bfd peers json"],
            )
            .unwrap_or_default();
            let peers: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap_or_default();
            for e in site.link_ends(h) {
                let peer = e.remote_inner().to_string();
                let up = peers.iter().any(|p| {
                    p["peer"].as_str() == Some(peer.as_str()) && p["status"].as_str() == Some("up")
                });
                if !up {
                    down.push(format!("{}->{peer}", h.name));
                }
            }
        }
        if down.is_empty() {
            return t.elapsed();
        }
        assert!(
            t.elapsed() < bound,
            "BFD sessions not up after {bound:?}: {}",
            down.join(" ")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// SIGTERM to the process of each pid file, all at once; waits (bounded)
/// for them to exit, then SIGKILL to what is left.
pub fn stop_pidfiles(pidfiles: &[PathBuf]) {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let pids: Vec<Pid> = pidfiles
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|s| s.trim().parse::<i32>().ok())
        .filter(|p| *p > 1)
        .map(Pid::from_raw)
        .collect();
    for pid in &pids {
        let _ = kill(*pid, Signal::SIGTERM);
    }
    // A zombie not yet reaped by init counts as gone.
    let running = |pid: &Pid| proc_state(pid.as_raw()).is_some_and(|st| st != "Z");
    let t = Instant::now();
    while pids.iter().any(running) && t.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(20));
    }
    for pid in pids.iter().filter(|p| running(p)) {
        let _ = kill(*pid, Signal::SIGKILL);
    }
}

/// Every `*.pid` file under `dir` (the daemons vpnjail started for a site
/// whose jails live there): for a last [`stop_pidfiles`] after `destroy`.
pub fn pidfiles_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(pidfiles_under(&p));
        } else if p.extension().is_some_and(|x| x == "pid") {
            out.push(p);
        }
    }
    out
}

/// The state letter of `/proc/PID/stat` (after the command, which is in
/// parentheses); `None` when there is no such process.
fn proc_state(pid: i32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().next().map(str::to_string)
}

/// Whether the process of a pid file runs (a zombie counts as gone).
pub fn alive(pidfile: &Path) -> bool {
    std::fs::read_to_string(pidfile)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .and_then(proc_state)
        .is_some_and(|st| st != "Z")
}

/// Whether the process of `pidfile` died and awaits reaping (a container's
/// init may take its time).
pub fn zombie(pidfile: &Path) -> bool {
    std::fs::read_to_string(pidfile)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .and_then(proc_state)
        .is_some_and(|st| st == "Z")
}
