//! Typed commands: a fixed program and an argv vector, never a shell string
//! built from input. The FreeBSD constructors live in [`freebsd`]; a Linux
//! backend adds its own module of constructors over the same [`Cmd`] type.
//! May touch: nothing (values only; `exec.rs` runs them).

use std::fmt;
use std::path::{Path, PathBuf};

/// One program invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    /// The program, always a constant chosen by this crate.
    pub program: &'static str,
    pub args: Vec<String>,
}

impl Cmd {
    pub fn new<I, S>(program: &'static str, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Cmd {
            program,
            args: args.into_iter().map(Into::into).collect(),
        }
    }

    /// The command as one line of POSIX shell, each word quoted when needed.
    pub fn to_shell(&self) -> String {
        std::iter::once(self.program)
            .chain(self.args.iter().map(String::as_str))
            .map(quote)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_shell())
    }
}

/// Quotes a word for POSIX sh: bare when it only holds safe characters,
/// otherwise in single quotes (a `'` becomes `'\''`).
pub fn quote(w: &str) -> String {
    let safe = !w.is_empty()
        && w.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./=:@%+,".contains(&b));
    if safe {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', r"'\''"))
    }
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// FreeBSD commands used by the plans (jail(8), jls(8), ifconfig(8), pfctl(8),
/// setkey(8), swanctl(8), zfs(8), tar(1)).
pub mod freebsd {
    use super::*;

    /// `jls -j NAME jid`: exits 0 when the jail is running.
    pub fn jail_running(name: &str) -> Cmd {
        Cmd::new("jls", ["-j", name, "jid"])
    }
    /// `jail -f CONF -c NAME`: create (start) the jail from its own jail.conf.
    pub fn jail_create(conf: &Path, name: &str) -> Cmd {
        Cmd::new("jail", vec!["-f".into(), p(conf), "-c".into(), name.into()])
    }
    /// `jail -f CONF -r NAME`: remove (stop) the jail, running its prestop/poststop.
    pub fn jail_remove(conf: &Path, name: &str) -> Cmd {
        Cmd::new("jail", vec!["-f".into(), p(conf), "-r".into(), name.into()])
    }
    /// `ifconfig IF`: exits 0 when the interface exists.
    pub fn if_exists(ifname: &str) -> Cmd {
        Cmd::new("ifconfig", [ifname])
    }
    pub fn if_destroy(ifname: &str) -> Cmd {
        Cmd::new("ifconfig", [ifname, "destroy"])
    }
    pub fn test_dir(path: &Path) -> Cmd {
        Cmd::new("test", vec!["-d".into(), p(path)])
    }
    pub fn test_exists(path: &Path) -> Cmd {
        Cmd::new("test", vec!["-e".into(), p(path)])
    }
    pub fn mkdir_p(path: &Path) -> Cmd {
        Cmd::new("mkdir", vec!["-p".into(), p(path)])
    }
    /// Removes a jail root made by this run: clear schg flags first (base has them).
    pub fn remove_tree(path: &Path) -> Vec<Cmd> {
        vec![
            Cmd::new("chflags", vec!["-R".into(), "noschg".into(), p(path)]),
            Cmd::new("rm", vec!["-rf".into(), p(path)]),
        ]
    }
    /// `cmp -s A B`: exits 0 when both files exist and are identical.
    pub fn same_file(a: &Path, b: &Path) -> Cmd {
        Cmd::new("cmp", vec!["-s".into(), p(a), p(b)])
    }
    /// `pkg -r ROOT info -e PKG`: exits 0 when PKG is installed in the root.
    pub fn pkg_installed(root: &Path, pkg: &str) -> Cmd {
        Cmd::new(
            "pkg",
            vec!["-r".into(), p(root), "info".into(), "-e".into(), pkg.into()],
        )
    }
    /// `pkg -r ROOT install -y PKG`: from the host, with the host's network
    /// and repositories (platform.md: before the jail's kill switch exists).
    pub fn pkg_install(root: &Path, pkg: &str) -> Cmd {
        Cmd::new(
            "pkg",
            vec![
                "-r".into(),
                p(root),
                "install".into(),
                "-y".into(),
                pkg.into(),
            ],
        )
    }
    /// `pkg -r ROOT delete -y PKG`.
    pub fn pkg_delete(root: &Path, pkg: &str) -> Cmd {
        Cmd::new(
            "pkg",
            vec![
                "-r".into(),
                p(root),
                "delete".into(),
                "-y".into(),
                pkg.into(),
            ],
        )
    }
    /// `install -m MODE SRC DST` (parents must exist).
    pub fn install(mode: u32, src: &Path, dst: &Path) -> Cmd {
        Cmd::new(
            "install",
            vec!["-m".into(), format!("{mode:04o}"), p(src), p(dst)],
        )
    }
    pub fn rm_f(path: &Path) -> Cmd {
        Cmd::new("rm", vec!["-f".into(), p(path)])
    }
    pub fn tar_extract(archive: &Path, dir: &Path) -> Cmd {
        Cmd::new("tar", vec!["-xpf".into(), p(archive), "-C".into(), p(dir)])
    }
    pub fn zfs_exists(dataset: &str) -> Cmd {
        Cmd::new("zfs", ["list", "-H", "-o", "name", dataset])
    }
    pub fn zfs_clone(snapshot: &str, dataset: &str, mountpoint: &Path) -> Cmd {
        Cmd::new(
            "zfs",
            vec![
                "clone".into(),
                "-o".into(),
                format!("mountpoint={}", p(mountpoint)),
                snapshot.into(),
                dataset.into(),
            ],
        )
    }
    pub fn zfs_destroy(dataset: &str) -> Cmd {
        Cmd::new("zfs", ["destroy", dataset])
    }

    fn in_jail(jail: Option<&str>, program: &'static str, args: Vec<String>) -> Cmd {
        match jail {
            None => Cmd { program, args },
            Some(j) => {
                let mut a = vec![j.to_string(), program.to_string()];
                a.extend(args);
                Cmd::new("jexec", a)
            }
        }
    }
    /// `[jexec JAIL] pfctl -a ANCHOR -f FILE`.
    pub fn pf_load(jail: Option<&str>, anchor: &str, file: &Path) -> Cmd {
        in_jail(
            jail,
            "pfctl",
            vec!["-a".into(), anchor.into(), "-f".into(), p(file)],
        )
    }
    /// `[jexec JAIL] pfctl -a ANCHOR -F all`.
    pub fn pf_flush(jail: Option<&str>, anchor: &str) -> Cmd {
        in_jail(
            jail,
            "pfctl",
            vec!["-a".into(), anchor.into(), "-F".into(), "all".into()],
        )
    }
    /// `jexec JAIL setkey -f FILE`.
    pub fn setkey_load(jail: &str, file: &Path) -> Cmd {
        in_jail(Some(jail), "setkey", vec!["-f".into(), p(file)])
    }
    /// `jexec JAIL swanctl --load-all`.
    /// `jexec JAIL swanctl --load-all --clear`: credentials cleared first, so
    /// a new CRL replaces the old one (charon keeps using a CRL loaded earlier
    /// otherwise: seen on the Linux twin).
    pub fn swanctl_reload_all(jail: &str) -> Cmd {
        in_jail(
            Some(jail),
            "swanctl",
            vec!["--load-all".into(), "--clear".into()],
        )
    }
    pub fn swanctl_load_all(jail: &str) -> Cmd {
        in_jail(Some(jail), "swanctl", vec!["--load-all".into()])
    }
    /// `jexec JAIL vtysh -c LINE -c LINE ...`: FRR's shell in the ipsec jail.
    pub fn vtysh(jail: &str, lines: &[String]) -> Cmd {
        in_jail(
            Some(jail),
            "vtysh",
            lines
                .iter()
                .flat_map(|l| ["-c".to_string(), l.clone()])
                .collect(),
        )
    }
    /// `jexec JAIL service NAME onestart`: runs the rc.d script even when
    /// its `NAME_enable` is NO (rc(8)'s `one` prefix).
    pub fn service_onestart(jail: &str, name: &str) -> Cmd {
        in_jail(Some(jail), "service", vec![name.into(), "onestart".into()])
    }
    /// `jexec JAIL service NAME onestop`: rc.subr waits for the process to exit.
    pub fn service_onestop(jail: &str, name: &str) -> Cmd {
        in_jail(Some(jail), "service", vec![name.into(), "onestop".into()])
    }
    /// `jexec JAIL service NAME onestatus`: exits 0 while the process runs.
    pub fn service_onestatus(jail: &str, name: &str) -> Cmd {
        in_jail(Some(jail), "service", vec![name.into(), "onestatus".into()])
    }
    /// `jexec JAIL ifconfig IF`: the interface's flags (read-only).
    pub fn jail_ifconfig(jail: &str, ifname: &str) -> Cmd {
        in_jail(Some(jail), "ifconfig", vec![ifname.into()])
    }
}

/// Linux commands used by the plans (ip(8), nft(8), sysctl(8),
/// start-stop-daemon(8), swanctl(8)). `ns` is the network namespace a command
/// acts in; `None` is the namespace vpnjail runs in.
pub mod linux {
    use super::*;

    /// `ip [-n NS] ARGS...`
    pub fn ip<I: IntoIterator<Item = S>, S: Into<String>>(ns: Option<&str>, args: I) -> Cmd {
        let mut a: Vec<String> = match ns {
            Some(n) => vec!["-n".into(), n.into()],
            None => vec![],
        };
        a.extend(args.into_iter().map(Into::into));
        Cmd::new("ip", a)
    }

    /// `ip netns exec NS PROGRAM ARGS...`, or the program itself when `ns` is `None`.
    pub fn in_ns(ns: Option<&str>, program: &'static str, args: Vec<String>) -> Cmd {
        match ns {
            None => Cmd { program, args },
            Some(n) => {
                let mut a = vec!["netns".into(), "exec".into(), n.into(), program.into()];
                a.extend(args);
                Cmd::new("ip", a)
            }
        }
    }

    /// `test -e /run/netns/NS`: exits 0 when the namespace exists.
    pub fn netns_exists(ns: &str) -> Cmd {
        Cmd::new("test", vec!["-e".into(), format!("/run/netns/{ns}")])
    }
    pub fn netns_add(ns: &str) -> Cmd {
        ip(None, ["netns", "add", ns])
    }
    pub fn netns_del(ns: &str) -> Cmd {
        ip(None, ["netns", "del", ns])
    }
    /// `ip [-n NS] link show dev IF`: exits 0 when the interface exists.
    pub fn link_exists(ns: Option<&str>, ifname: &str) -> Cmd {
        ip(ns, ["link", "show", "dev", ifname])
    }
    pub fn link_del(ns: Option<&str>, ifname: &str) -> Cmd {
        ip(ns, ["link", "del", "dev", ifname])
    }
    pub fn link_up(ns: Option<&str>, ifname: &str) -> Cmd {
        ip(ns, ["link", "set", "dev", ifname, "up"])
    }
    /// A bridge with a fixed MAC address: left to itself, a Linux bridge
    /// takes the lowest MAC of its ports and changes it when a port with a
    /// lower one joins, and a namespace that cached the old one (its default
    /// gateway's) sends into the void until its ARP entry expires.
    pub fn bridge_add(ns: Option<&str>, name: &str, mac: &str) -> Cmd {
        ip(
            ns,
            [
                "link", "add", "name", name, "address", mac, "type", "bridge",
            ],
        )
    }
    /// A veth pair: `host_if` stays in `ns`, `peer` (with MAC address
    /// `peer_mac`) moves into `peer_ns`.
    pub fn veth_add(
        ns: Option<&str>,
        host_if: &str,
        peer: &str,
        peer_mac: &str,
        peer_ns: &str,
    ) -> Cmd {
        ip(
            ns,
            [
                "link", "add", "name", host_if, "type", "veth", "peer", "name", peer, "address",
                peer_mac, "netns", peer_ns,
            ],
        )
    }
    /// Puts an interface on a bridge and brings it up.
    pub fn link_master_up(ns: Option<&str>, ifname: &str, bridge: &str) -> Cmd {
        ip(ns, ["link", "set", "dev", ifname, "master", bridge, "up"])
    }
    /// `ip addr replace ADDR/PREFIX dev IF` (idempotent).
    pub fn addr_replace(ns: Option<&str>, cidr: &str, ifname: &str) -> Cmd {
        ip(ns, ["addr", "replace", cidr, "dev", ifname])
    }
    /// `ip addr replace LOCAL/32 peer REMOTE dev IF` (idempotent): a
    /// point-to-point address, so REMOTE is a connected neighbour.
    pub fn addr_replace_peer(ns: Option<&str>, local: &str, remote: &str, ifname: &str) -> Cmd {
        ip(
            ns,
            [
                "addr",
                "replace",
                &format!("{local}/32"),
                "peer",
                remote,
                "dev",
                ifname,
            ],
        )
    }
    /// `ip route replace DEST via GW` (idempotent).
    pub fn route_replace(ns: Option<&str>, dest: &str, via: &str) -> Cmd {
        ip(ns, ["route", "replace", dest, "via", via])
    }
    /// `sysctl -qw net.ipv4.ip_forward=1` in the namespace (each has its own).
    pub fn forwarding_on(ns: Option<&str>) -> Cmd {
        in_ns(
            ns,
            "sysctl",
            vec!["-qw".into(), "net.ipv4.ip_forward=1".into()],
        )
    }
    /// `nft -f FILE`: the file replaces its table atomically.
    pub fn nft_load(ns: Option<&str>, file: &Path) -> Cmd {
        in_ns(ns, "nft", vec!["-f".into(), p(file)])
    }
    /// `nft list table ip TABLE`: exits 0 when the table exists.
    pub fn nft_table_exists(ns: Option<&str>, table: &str) -> Cmd {
        in_ns(
            ns,
            "nft",
            vec!["list".into(), "table".into(), "ip".into(), table.into()],
        )
    }
    /// `nft delete table FAMILY TABLE` (`inet` for the kill switch).
    pub fn nft_delete_table_family(ns: Option<&str>, family: &str, table: &str) -> Cmd {
        in_ns(
            ns,
            "nft",
            vec!["delete".into(), "table".into(), family.into(), table.into()],
        )
    }
    pub fn nft_delete_table(ns: Option<&str>, table: &str) -> Cmd {
        in_ns(
            ns,
            "nft",
            vec!["delete".into(), "table".into(), "ip".into(), table.into()],
        )
    }
    /// Exits 0 while the process of `pidfile` runs: it exists and is not a
    /// zombie (`start-stop-daemon --status` counts one that died and awaits
    /// reaping, which a container's init may take a second to do, or never).
    /// Plans, the monitor and status all ask this one question. A fixed
    /// script: the path is its argument, never part of the script.
    pub fn daemon_running(pidfile: &Path) -> Cmd {
        Cmd::new(
            "sh",
            vec![
                "-c".into(),
                "read -r pid 2>/dev/null < \"$1\" && [ -n \"${pid##*[!0-9]*}\" ] && \
                 read -r st 2>/dev/null < \"/proc/$pid/stat\" && st=${st##*) } && \
                 case ${st%% *} in Z|X) exit 1;; esac"
                    .into(),
                "sh".into(),
                p(pidfile),
            ],
        )
    }
    /// Starts `program args` in the background inside `ns`, with a pidfile and
    /// its output in `log`. `env` entries are `NAME=value` set for it; with
    /// `notify` start-stop-daemon waits for its sd_notify readiness (20 s).
    pub fn daemon_start(
        ns: &str,
        env: &[String],
        pidfile: &Path,
        log: &Path,
        program: &Path,
        args: &[String],
        notify: bool,
    ) -> Cmd {
        let mut a: Vec<String> = vec!["netns".into(), "exec".into(), ns.into()];
        if !env.is_empty() {
            a.push("env".into());
            a.extend(env.iter().cloned());
        }
        a.extend([
            "start-stop-daemon".into(),
            "--start".into(),
            "--background".into(),
            "--make-pidfile".into(),
            "--pidfile".into(),
            p(pidfile),
            "--output".into(),
            p(log),
        ]);
        if notify {
            a.extend([
                "--notify-await".into(),
                "--notify-timeout".into(),
                "20".into(),
            ]);
        }
        a.extend(["--exec".into(), p(program), "--".into()]);
        a.extend(args.iter().cloned());
        Cmd::new("ip", a)
    }
    /// `ip netns exec NS openvpn --daemon NAME --writepid PID --log-append
    /// LOG --config CONF`: OpenVPN forks into the background itself.
    pub fn openvpn_start(ns: &str, name: &str, pidfile: &Path, log: &Path, conf: &Path) -> Cmd {
        in_ns(
            Some(ns),
            "openvpn",
            vec![
                "--daemon".into(),
                name.into(),
                "--writepid".into(),
                p(pidfile),
                "--log-append".into(),
                p(log),
                "--config".into(),
                p(conf),
            ],
        )
    }
    /// `ip route replace DEST dev IF` (idempotent): into a tunnel that has
    /// no gateway address (WireGuard).
    pub fn route_replace_dev(ns: Option<&str>, dest: &str, ifname: &str) -> Cmd {
        ip(ns, ["route", "replace", dest, "dev", ifname])
    }
    /// `ip link set dev IF mtu N`.
    pub fn link_mtu(ns: Option<&str>, ifname: &str, mtu: u16) -> Cmd {
        ip(ns, ["link", "set", "dev", ifname, "mtu", &mtu.to_string()])
    }
    /// `wg setconf IF FILE` in `ns` (wg reaches wireguard-go through its
    /// control socket; the interface is the namespace's).
    pub fn wg_setconf(ns: &str, ifname: &str, file: &Path) -> Cmd {
        in_ns(
            Some(ns),
            "wg",
            vec!["setconf".into(), ifname.into(), p(file)],
        )
    }
    /// Waits up to `secs` seconds for the Unix socket `path` to appear (a
    /// daemon started in the background is ready when it listens). A fixed
    /// script: the path is its argument, never part of the script.
    pub fn wait_for_socket(path: &Path, secs: u32) -> Cmd {
        Cmd::new(
            "timeout",
            vec![
                secs.to_string(),
                "sh".into(),
                "-c".into(),
                "until [ -S \"$1\" ]; do sleep 0.02; done".into(),
                "sh".into(),
                p(path),
            ],
        )
    }
    /// Stops the process of a pidfile: SIGTERM, then SIGKILL after 5 s.
    pub fn daemon_stop(pidfile: &Path) -> Cmd {
        Cmd::new(
            "start-stop-daemon",
            vec![
                "--stop".into(),
                "--pidfile".into(),
                p(pidfile),
                "--remove-pidfile".into(),
                "--retry".into(),
                "TERM/5/KILL/2".into(),
            ],
        )
    }
    /// `vtysh --vty_socket DIR -c LINE ...`: FRR's shell, talking to the
    /// daemons whose vty sockets are in DIR (the ipsec namespace's FRR).
    pub fn vtysh(vty_dir: &Path, lines: &[String]) -> Cmd {
        let mut a = vec!["--vty_socket".to_string(), p(vty_dir)];
        a.extend(lines.iter().flat_map(|l| ["-c".to_string(), l.clone()]));
        Cmd::new("vtysh", a)
    }
    /// `ip -o -n NS link show dev IF`: one line with the interface's flags.
    pub fn link_show(ns: &str, ifname: &str) -> Cmd {
        ip(Some(ns), ["-o", "link", "show", "dev", ifname])
    }
    /// `[ip netns exec NS] env STRONGSWAN_CONF=CONF SWANCTL_DIR=DIR swanctl
    /// ARGS...`: swanctl.conf and the credential directories (x509/, ...) in DIR.
    pub fn swanctl_dir(
        ns: Option<&str>,
        strongswan_conf: &Path,
        dir: &Path,
        args: Vec<String>,
    ) -> Cmd {
        let mut a = vec![
            format!("STRONGSWAN_CONF={}", p(strongswan_conf)),
            format!("SWANCTL_DIR={}", p(dir)),
            "swanctl".into(),
        ];
        a.extend(args);
        in_ns(ns, "env", a)
    }
    /// `[ip netns exec NS] env STRONGSWAN_CONF=CONF swanctl ARGS...`
    pub fn swanctl(ns: Option<&str>, strongswan_conf: &Path, args: Vec<String>) -> Cmd {
        let mut a = vec![
            format!("STRONGSWAN_CONF={}", p(strongswan_conf)),
            "swanctl".into(),
        ];
        a.extend(args);
        in_ns(ns, "env", a)
    }
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Run a command that changes the system.
    Run(Cmd),
    /// Run a command that only checks a precondition; its failure stops the plan.
    Check(Cmd),
    /// Install a file (parents created), replacing what is there.
    Write {
        path: PathBuf,
        mode: u32,
        content: String,
    },
    /// Remove a file if it exists.
    Remove { path: PathBuf },
}

/// When a step runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guard {
    Always,
    /// Skip the step when this command succeeds (the work is already done).
    UnlessOk(Cmd),
    /// Run the step only when this command succeeds (there is something to undo).
    IfOk(Cmd),
}

/// One step of a plan, with what undoes it if a later step fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub what: String,
    pub guard: Guard,
    pub action: Action,
    /// Commands that undo this step, run in order. For `Write` and `Remove`
    /// the executor restores the previous content itself.
    pub undo: Vec<Cmd>,
}

/// An ordered list of steps: the one thing the executor runs, prints or records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub title: String,
    pub steps: Vec<Step>,
}

/// Heredoc delimiter for files in printed plans.
pub const HEREDOC: &str = "VPNJAIL_EOF";

impl Plan {
    /// The plan as a shell script a person can read and paste (`--dry-run`).
    /// Guards become `if` tests, so running it twice changes nothing the second time.
    pub fn to_shell(&self) -> String {
        let mut s = format!(
            "#!/bin/sh\n# {}\n# Generated by vpnjail --dry-run; run as root. Files are written private\n# (umask 077), then given their final mode.\nset -eu\numask 077\n",
            self.title
        );
        for (i, st) in self.steps.iter().enumerate() {
            s.push_str(&format!("\n# {}. {}\n", i + 1, st.what));
            let body = match &st.action {
                Action::Run(c) => format!("{c}\n"),
                Action::Check(c) => format!("{c} >/dev/null\n"),
                Action::Write {
                    path,
                    mode,
                    content,
                } => {
                    let q = quote(&path.display().to_string());
                    let parent = path
                        .parent()
                        .map(|d| quote(&d.display().to_string()))
                        .unwrap_or_else(|| "/".into());
                    format!(
                        "mkdir -p {parent}\ncat > {q} <<'{HEREDOC}'\n{content}{HEREDOC}\nchmod {mode:04o} {q}\n"
                    )
                }
                Action::Remove { path } => {
                    format!("rm -f {}\n", quote(&path.display().to_string()))
                }
            };
            // test(1) prints nothing; anything else is silenced.
            let quiet = |c: &Cmd| {
                if c.program == "test" {
                    c.to_shell()
                } else {
                    format!("{c} >/dev/null 2>&1")
                }
            };
            match &st.guard {
                Guard::Always => s.push_str(&body),
                Guard::UnlessOk(c) => {
                    s.push_str(&format!("if ! {}; then\n{}fi\n", quiet(c), indent(&body)))
                }
                Guard::IfOk(c) => {
                    s.push_str(&format!("if {}; then\n{}fi\n", quiet(c), indent(&body)))
                }
            }
        }
        s
    }

    /// The plan as a numbered list with guards and undo commands (`vpnjail plan`).
    pub fn describe(&self) -> String {
        let mut s = format!("{}\n", self.title);
        for (i, st) in self.steps.iter().enumerate() {
            s.push_str(&format!("{:>3}. {}\n", i + 1, st.what));
            match &st.guard {
                Guard::Always => {}
                Guard::UnlessOk(c) => s.push_str(&format!("       skip if: {c}\n")),
                Guard::IfOk(c) => s.push_str(&format!("       only if: {c}\n")),
            }
            match &st.action {
                Action::Run(c) => s.push_str(&format!("       run:     {c}\n")),
                Action::Check(c) => s.push_str(&format!("       check:   {c}\n")),
                Action::Write { path, mode, .. } => s.push_str(&format!(
                    "       write:   {} (mode {mode:04o})\n",
                    path.display()
                )),
                Action::Remove { path } => {
                    s.push_str(&format!("       remove:  {}\n", path.display()))
                }
            }
            for u in &st.undo {
                s.push_str(&format!("       undo:    {u}\n"));
            }
            if matches!(st.action, Action::Write { .. } | Action::Remove { .. }) {
                s.push_str("       undo:    restore the previous file\n");
            }
        }
        s
    }
}

fn indent(body: &str) -> String {
    // Heredoc bodies must stay unindented; only indent command lines.
    let mut out = String::new();
    let mut in_doc = false;
    for l in body.lines() {
        if in_doc {
            out.push_str(l);
            if l == HEREDOC {
                in_doc = false;
            }
        } else {
            out.push_str("  ");
            out.push_str(l);
            if l.ends_with(&format!("<<'{HEREDOC}'")) {
                in_doc = true;
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("e0a_vpnus"), "e0a_vpnus");
        assert_eq!(quote("/etc/jail.conf.d/x.conf"), "/etc/jail.conf.d/x.conf");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("$(x)"), "'$(x)'");
    }

    #[test]
    fn jexec_wraps_in_jail_commands() {
        let c = freebsd::pf_load(
            Some("vpnus"),
            "vpnjail/dns",
            Path::new("/etc/pf.vpnjail/dns.conf"),
        );
        assert_eq!(
            c.to_shell(),
            "jexec vpnus pfctl -a vpnjail/dns -f /etc/pf.vpnjail/dns.conf"
        );
    }

    /// `daemon_running`, run for real: a live process runs; one that exited
    /// and awaits reaping (a zombie) does not, nor a reaped one, nor a pid
    /// file that is missing or holds no number.
    #[test]
    fn a_zombie_does_not_run() {
        let d = tempfile::tempdir().expect("tempdir");
        let pid = d.path().join("x.pid");
        let alive = || {
            let c = linux::daemon_running(&pid);
            std::process::Command::new(c.program)
                .args(&c.args)
                .status()
                .expect("sh runs")
                .success()
        };
        let mut live = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        std::fs::write(&pid, format!("{}\n", live.id())).expect("pid");
        assert!(alive(), "a live process runs");
        let _ = live.kill();
        // Not waited for yet: a zombie until `wait` reaps it.
        let t = std::time::Instant::now();
        while std::fs::read_to_string(format!("/proc/{}/stat", live.id()))
            .is_ok_and(|s| !s.contains(") Z "))
            && t.elapsed() < std::time::Duration::from_secs(5)
        {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(!alive(), "a zombie does not run");
        let _ = live.wait();
        assert!(!alive(), "a reaped process does not run");
        for junk in ["self\n", "\n", "1x\n", "x1\n"] {
            std::fs::write(&pid, junk).expect("pid");
            assert!(!alive(), "a pid file without a number: {junk:?}");
        }
        std::fs::write(&pid, format!("{}\n", std::process::id())).expect("pid");
        assert!(alive(), "this test's own process runs");
        std::fs::remove_file(&pid).expect("rm");
        assert!(!alive(), "no pid file");
    }
}
