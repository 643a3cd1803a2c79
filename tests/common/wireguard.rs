//! A stand-in WireGuard provider for namespace tests: key pairs from `wg`,
//! and the provider's peer, wireguard-go in its namespace under
//! start-stop-daemon with a pid file. Included with
//! `#[path = "common/wireguard.rs"] mod wireguard;` (it uses
//! `common/netns.rs` as `netns`).

#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// Debian's wireguard-go (this kernel has no WireGuard).
pub const WIREGUARD_GO: &str = "/usr/bin/wireguard-go";

/// Whether this machine has what the stand-in needs.
pub fn available() -> bool {
    super::netns::ok("wg", &["--version"]) && Path::new(WIREGUARD_GO).exists()
}

/// A WireGuard key pair made by `wg genkey` / `wg pubkey`: (private, public).
pub fn keys() -> (String, String) {
    let private = super::netns::must("wg", &["genkey"]).trim().to_string();
    let mut child = std::process::Command::new("wg")
        .arg("pubkey")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("wg pubkey");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{private}\n").as_bytes())
        .expect("write key");
    let out = child.wait_with_output().expect("wg pubkey");
    (
        private,
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    )
}

/// wireguard-go's control socket for `ifname` (shared by every namespace).
pub fn socket(ifname: &str) -> String {
    format!("/var/run/wireguard/{ifname}.sock")
}

/// A provider's WireGuard peer: wireguard-go as `ifname` in `ns` (the name
/// must be unique on the machine: its socket is in /var/run/wireguard),
/// with pid file `pid` and output `log`, configured with `wg setconf` from
/// `conf`, `addr` (CIDR) on the interface, and up.
pub fn start_peer(ns: &str, ifname: &str, conf: &Path, addr: &str, pid: &Path, log: &Path) {
    let (pid_s, log_s) = (pid.display().to_string(), log.display().to_string());
    super::netns::must(
        "ip",
        &[
            "netns",
            "exec",
            ns,
            "start-stop-daemon",
            "--start",
            "--background",
            "--make-pidfile",
            "--pidfile",
            &pid_s,
            "--output",
            &log_s,
            "--exec",
            WIREGUARD_GO,
            "--",
            "-f",
            ifname,
        ],
    );
    let sock = socket(ifname);
    let t = Instant::now();
    while !Path::new(&sock).exists() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the provider's wireguard-go ({ifname}) does not listen on {sock}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let conf = conf.display().to_string();
    super::netns::must("ip", &["netns", "exec", ns, "wg", "setconf", ifname, &conf]);
    super::netns::must("ip", &["-n", ns, "addr", "add", addr, "dev", ifname]);
    super::netns::must("ip", &["-n", ns, "link", "set", "dev", ifname, "up"]);
}
