//! A recording, simulated FreeBSD or Linux host for tests of plans and the
//! executor: it logs every command and file operation, models the state those
//! commands change (running jails, interfaces, files, datasets, pf anchors; on
//! Linux namespaces, links, nftables tables and daemons), and can be told to
//! fail the Nth changing operation. May touch: only its own memory.

use super::command::{Cmd, linux};
use super::exec::{Outcome, System};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The state a test compares before and after.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    pub running: BTreeSet<String>,
    pub interfaces: BTreeSet<String>,
    /// Bridge members: (bridge, interface).
    pub members: BTreeSet<(String, String)>,
    pub files: BTreeMap<PathBuf, (Vec<u8>, u32)>,
    pub dirs: BTreeSet<PathBuf>,
    pub datasets: BTreeSet<String>,
    /// Loaded anchors: (jail or "" for the host, anchor) -> file.
    pub anchors: BTreeMap<(String, String), PathBuf>,
    pub ipsec_loaded: BTreeSet<String>,
    /// Linux: network namespaces.
    pub netns: BTreeSet<String>,
    /// Linux: interfaces as (namespace or "" for the root one, name), with
    /// the other end of a veth pair.
    pub links: BTreeMap<(String, String), Option<(String, String)>>,
    /// Linux: nftables tables as (namespace or "", table).
    pub nft: BTreeSet<(String, String)>,
    /// Linux: running daemons, by pidfile.
    pub daemons: BTreeSet<PathBuf>,
    /// FRR `network` statements made through vtysh: (ipsec jail, or vty
    /// socket directory on Linux; prefix) -> route-map.
    pub bgp_networks: BTreeMap<(String, String), String>,
}

#[derive(Debug, Default)]
pub struct FakeHost {
    pub state: State,
    /// Every operation in order, as shell (`write PATH`, `remove PATH` for files).
    pub log: Vec<String>,
    /// Fail the changing operation with this 0-based index.
    pub fail_at: Option<usize>,
    changes: usize,
    /// Mountpoint of each cloned dataset.
    pub zfs_mounts: BTreeMap<String, PathBuf>,
}

impl FakeHost {
    /// A host whose bridges already exist (applied rc.conf fragment) and
    /// which has the vpndns binary installed.
    pub fn with_bridges(bridges: &[&str]) -> Self {
        let mut f = FakeHost::default();
        f.state.files.insert(
            PathBuf::from(super::names::VPNDNS_BIN),
            (b"vpndns binary".to_vec(), 0o555),
        );
        for b in bridges {
            f.state.interfaces.insert(b.to_string());
        }
        f
    }

    fn change(&mut self) -> bool {
        let n = self.changes;
        self.changes += 1;
        self.fail_at == Some(n)
    }

    /// How many changing operations have run (to choose `fail_at` values).
    pub fn changes(&self) -> usize {
        self.changes
    }

    fn ok(b: bool) -> Outcome {
        Outcome {
            success: b,
            said: if b {
                String::new()
            } else {
                "simulated failure".into()
            },
        }
    }

    fn jail_bridge(&self, conf: &str) -> Option<String> {
        let (text, _) = self.state.files.get(Path::new(conf))?;
        let text = String::from_utf8_lossy(text);
        let c = super::lint::jailconf::parse(&text).ok()?;
        let j = c.jails.first()?;
        j.params
            .iter()
            .find(|p| p.name == "$br")
            .and_then(|p| p.values.first().cloned())
    }
}

fn a(c: &Cmd) -> Vec<&str> {
    c.args.iter().map(String::as_str).collect()
}

/// Splits `ip [-n NS] ARGS` / `ip netns exec NS PROGRAM ARGS` into the
/// namespace ("" for the root one), the program and its arguments.
fn linux_parts(cmd: &Cmd) -> (String, &str, Vec<&str>) {
    let args = a(cmd);
    match (cmd.program, args.as_slice()) {
        ("ip", ["netns", "exec", ns, prog, rest @ ..]) => (ns.to_string(), prog, rest.to_vec()),
        ("ip", ["-n", ns, rest @ ..]) => (ns.to_string(), "ip", rest.to_vec()),
        (prog, rest) => (String::new(), prog, rest.to_vec()),
    }
}

impl FakeHost {
    /// `vtysh -c ... -c 'network P route-map M'` or `-c 'no network P'`, in a
    /// running ipsec jail (FreeBSD) or with a vty socket directory (Linux):
    /// FRR's answer, as seen in FRR 8.4 (`no network` of an absent prefix
    /// fails). `None` when the command is not one.
    fn vtysh_change(&mut self, cmd: &Cmd) -> Option<bool> {
        let args = a(cmd);
        let (place, lines, up) = match (cmd.program, args.as_slice()) {
            ("jexec", [jail, "vtysh", rest @ ..]) => (
                jail.to_string(),
                rest.to_vec(),
                self.state.running.contains(*jail),
            ),
            ("vtysh", ["--vty_socket", dir, rest @ ..]) => (dir.to_string(), rest.to_vec(), true),
            _ => return None,
        };
        if !up {
            return Some(false);
        }
        let last = lines.last()?.to_string();
        let nets = &mut self.state.bgp_networks;
        if let Some(rest) = last.strip_prefix("no network ") {
            return Some(nets.remove(&(place, rest.to_string())).is_some());
        }
        let rest = last.strip_prefix("network ")?;
        let (prefix, map) = rest.split_once(" route-map ")?;
        nets.insert((place, prefix.to_string()), map.to_string());
        Some(true)
    }

    /// A Linux host: the vpndns binary at `bin` and nothing else.
    pub fn linux(bin: &Path) -> Self {
        let mut f = FakeHost::default();
        f.state
            .files
            .insert(bin.to_path_buf(), (b"vpndns binary".to_vec(), 0o555));
        f
    }

    fn ns_ok(&self, ns: &str) -> bool {
        ns.is_empty() || self.state.netns.contains(ns)
    }

    /// Queries of the Linux model; `None` when the command is not one.
    fn linux_query(&self, cmd: &Cmd) -> Option<bool> {
        let (ns, prog, args) = linux_parts(cmd);
        let st = &self.state;
        match (prog, args.as_slice()) {
            ("test", ["-e", p]) if p.starts_with("/run/netns/") => {
                Some(st.netns.contains(p.trim_start_matches("/run/netns/")))
            }
            ("ip", ["link", "show", "dev", ifname]) => {
                Some(self.ns_ok(&ns) && st.links.contains_key(&(ns, ifname.to_string())))
            }
            ("nft", ["list", "table", "ip", t]) => {
                Some(self.ns_ok(&ns) && st.nft.contains(&(ns, t.to_string())))
            }
            ("sh", ["-c", _, "sh", p]) if *cmd == linux::daemon_running(Path::new(p)) => {
                Some(st.daemons.contains(Path::new(p)))
            }
            _ => None,
        }
    }

    /// Changes of the Linux model; `None` when the command is not one.
    fn linux_change(&mut self, cmd: &Cmd) -> Option<bool> {
        let (ns, prog, args) = linux_parts(cmd);
        let ns_ok = self.ns_ok(&ns);
        let st = &mut self.state;
        let key = |n: &str, i: &str| (n.to_string(), i.to_string());
        let r = match (prog, args.as_slice()) {
            ("ip", ["netns", "add", n]) => st.netns.insert(n.to_string()),
            ("ip", ["netns", "del", n]) => {
                let gone: Vec<_> = st.links.keys().filter(|(x, _)| x == n).cloned().collect();
                for k in gone {
                    if let Some(Some(peer)) = st.links.remove(&k) {
                        st.links.remove(&peer);
                    }
                }
                st.nft.retain(|(x, _)| x != n);
                st.netns.remove(*n)
            }
            ("ip", ["link", "set", "dev", "lo", "up"]) => ns_ok,
            ("ip", ["link", "add", "name", br, "address", _, "type", "bridge"]) => {
                ns_ok && st.links.insert(key(&ns, br), None).is_none()
            }
            (
                "ip",
                [
                    "link",
                    "add",
                    "name",
                    a,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    b,
                    "address",
                    _,
                    "netns",
                    pns,
                ],
            ) => {
                if !ns_ok || !st.netns.contains(*pns) || st.links.contains_key(&key(&ns, a)) {
                    false
                } else {
                    st.links.insert(key(&ns, a), Some(key(pns, b)));
                    st.links.insert(key(pns, b), Some(key(&ns, a)));
                    true
                }
            }
            ("ip", ["link", "del", "dev", i]) => match st.links.remove(&key(&ns, i)) {
                Some(peer) => {
                    if let Some(p) = peer {
                        st.links.remove(&p);
                    }
                    true
                }
                None => false,
            },
            ("ip", ["link", "set", "dev", i, "master", br, "up"]) => {
                st.links.contains_key(&key(&ns, i)) && st.links.contains_key(&key(&ns, br))
            }
            ("ip", ["link", "set", "dev", i, "up"])
            | ("ip", ["addr", "replace", _, "dev", i])
            | ("ip", ["addr", "replace", _, "peer", _, "dev", i]) => {
                st.links.contains_key(&key(&ns, i))
            }
            ("ip", ["route", "replace", ..]) | ("sysctl", ["-qw", _]) => ns_ok,
            ("nft", ["-f", file]) => {
                let table = st.files.get(Path::new(file)).and_then(|(c, _)| {
                    String::from_utf8_lossy(c).lines().find_map(|l| {
                        // `ip` tables by name, `inet` ones (the kill switch) as "inet NAME".
                        let ip = l.strip_prefix("table ip ").map(str::to_string);
                        let inet = l.strip_prefix("table inet ").map(|r| format!("inet {r}"));
                        ip.or(inet)
                            .and_then(|r| r.strip_suffix(" {").map(str::to_string))
                    })
                });
                match table {
                    Some(t) if ns_ok => {
                        // Loading replaces the table: fine whether it was there or not.
                        st.nft.insert((ns, t));
                        true
                    }
                    _ => false,
                }
            }
            ("nft", ["delete", "table", "ip", t]) => st.nft.remove(&(ns, t.to_string())),
            ("nft", ["delete", "table", "inet", t]) => st.nft.remove(&(ns, format!("inet {t}"))),
            ("env", [bin, "-c", conf, "check"]) => {
                st.files.contains_key(Path::new(bin)) && st.files.contains_key(Path::new(conf))
            }
            ("env", [_, "swanctl", ..]) => ns_ok,
            ("env", [_, "start-stop-daemon", "--start", rest @ ..])
            | ("start-stop-daemon", ["--start", rest @ ..]) => {
                let pid = rest
                    .iter()
                    .position(|w| *w == "--pidfile")
                    .and_then(|i| rest.get(i + 1));
                match pid {
                    Some(p) if ns_ok => {
                        // charon's kernel-libipsec creates its TUN device.
                        if rest.contains(&crate::deploy::names::CHARON) {
                            st.links
                                .insert(key(&ns, crate::deploy::names::LIBIPSEC_IF), None);
                        }
                        st.daemons.insert(PathBuf::from(p))
                    }
                    _ => false,
                }
            }
            ("start-stop-daemon", ["--stop", "--pidfile", p, ..]) => {
                if p.ends_with("/charon.pid") {
                    st.links
                        .remove(&key(&ns, crate::deploy::names::LIBIPSEC_IF));
                }
                st.daemons.remove(Path::new(p))
            }
            ("rmdir", ["--ignore-fail-on-non-empty", d]) => {
                let d = Path::new(d);
                let busy = st.files.keys().any(|f| f.starts_with(d))
                    || st.dirs.iter().any(|x| x != d && x.starts_with(d));
                if !busy {
                    st.dirs.remove(d);
                }
                true
            }
            _ => return None,
        };
        Some(r)
    }
}

/// Where the fake puts package `pkg` installed into `root` (`pkg -r`).
fn pkg_program(root: &str, pkg: &str) -> PathBuf {
    Path::new(root).join("usr/local/sbin").join(pkg)
}

impl System for FakeHost {
    fn run(&mut self, cmd: &Cmd) -> std::io::Result<Outcome> {
        self.log.push(cmd.to_shell());
        if let Some(q) = self.linux_query(cmd) {
            return Ok(Self::ok(q));
        }
        let args = a(cmd);
        let st = &mut self.state;
        // Queries first: they never fail on purpose and change nothing.
        let query = match (cmd.program, args.as_slice()) {
            ("jls", ["-j", name, "jid"]) => Some(st.running.contains(*name)),
            ("ifconfig", [ifname]) => Some(st.interfaces.contains(*ifname)),
            ("test", ["-d", p]) => Some(st.dirs.contains(Path::new(p))),
            ("test", ["-e", p]) => {
                Some(st.dirs.contains(Path::new(p)) || st.files.contains_key(Path::new(p)))
            }
            ("zfs", ["list", "-H", "-o", "name", ds]) => Some(st.datasets.contains(*ds)),
            // A package in a jail root is modelled as its program there.
            ("pkg", ["-r", root, "info", "-e", pkg]) => {
                Some(st.files.contains_key(&pkg_program(root, pkg)))
            }
            ("cmp", ["-s", x, y]) => Some(
                match (st.files.get(Path::new(x)), st.files.get(Path::new(y))) {
                    (Some((a, _)), Some((b, _))) => a == b,
                    _ => false,
                },
            ),
            _ => None,
        };
        if let Some(q) = query {
            return Ok(Self::ok(q));
        }
        if self.change() {
            return Ok(Self::ok(false));
        }
        if let Some(r) = self.linux_change(cmd) {
            return Ok(Self::ok(r));
        }
        if let Some(r) = self.vtysh_change(cmd) {
            return Ok(Self::ok(r));
        }
        let br = match (cmd.program, args.as_slice()) {
            ("jail", ["-f", conf, "-c", _]) => self.jail_bridge(conf),
            _ => None,
        };
        let st = &mut self.state;
        let ok = match (cmd.program, args.as_slice()) {
            ("jail", ["-f", conf, "-c", name]) => {
                if st.running.contains(*name) || !st.files.contains_key(Path::new(conf)) {
                    false
                } else {
                    st.running.insert(name.to_string());
                    st.interfaces.insert(format!("e0a_{name}"));
                    if let Some(b) = br {
                        st.members.insert((b, format!("e0a_{name}")));
                    }
                    true
                }
            }
            ("jail", ["-f", _conf, "-r", name]) => {
                let was = st.running.remove(*name);
                let ea = format!("e0a_{name}");
                st.interfaces.remove(&ea);
                st.members.retain(|(_, m)| *m != ea);
                st.anchors.retain(|(j, _), _| j != name);
                st.ipsec_loaded.remove(*name);
                was
            }
            ("ifconfig", [ifname, "destroy"]) => {
                st.members.retain(|(_, m)| m != ifname);
                st.interfaces.remove(*ifname)
            }
            ("mkdir", ["-p", p]) => {
                st.dirs.insert(PathBuf::from(p));
                true
            }
            ("chflags", ["-R", "noschg", _]) => true,
            ("chown", [_, p]) => st.dirs.contains(Path::new(p)),
            ("install", ["-m", mode, src, dst]) => {
                let m = u32::from_str_radix(mode, 8).unwrap_or(0);
                match st.files.get(Path::new(src)).cloned() {
                    Some((c, _))
                        if Path::new(dst).parent().is_some_and(|d| st.dirs.contains(d)) =>
                    {
                        st.files.insert(PathBuf::from(dst), (c, m));
                        true
                    }
                    _ => false,
                }
            }
            ("rm", ["-f", p]) => {
                st.files.remove(Path::new(p));
                true
            }
            ("rm", ["-rf", p]) => {
                let p = Path::new(p);
                st.dirs.retain(|d| !d.starts_with(p));
                st.files.retain(|f, _| !f.starts_with(p));
                true
            }
            ("pkg", ["-r", root, "install", "-y", pkg]) => {
                let ok = st.dirs.contains(Path::new(root));
                if ok {
                    st.files
                        .insert(pkg_program(root, pkg), (b"pkg".to_vec(), 0o555));
                }
                ok
            }
            ("pkg", ["-r", root, "delete", "-y", pkg]) => {
                st.files.remove(&pkg_program(root, pkg)).is_some()
            }
            ("tar", ["-xpf", _archive, "-C", dir]) => {
                let d = Path::new(dir);
                if st.dirs.contains(d) {
                    st.files.insert(d.join("bin/sh"), (b"base".to_vec(), 0o555));
                    true
                } else {
                    false
                }
            }
            ("zfs", ["clone", "-o", mp, _snap, ds]) => {
                let mp = mp.trim_start_matches("mountpoint=");
                st.datasets.insert(ds.to_string());
                self.zfs_mounts.insert(ds.to_string(), PathBuf::from(mp));
                st.dirs.insert(PathBuf::from(mp));
                st.files
                    .insert(Path::new(mp).join("bin/sh"), (b"base".to_vec(), 0o555));
                true
            }
            ("zfs", ["destroy", ds]) => {
                if let Some(mp) = self.zfs_mounts.remove(*ds) {
                    st.dirs.retain(|d| !d.starts_with(&mp));
                    st.files.retain(|f, _| !f.starts_with(&mp));
                }
                st.datasets.remove(*ds)
            }
            ("pfctl", ["-a", anchor, "-f", file]) => {
                st.anchors
                    .insert((String::new(), anchor.to_string()), PathBuf::from(file));
                st.files.contains_key(Path::new(file))
            }
            ("pfctl", ["-a", anchor, "-F", "all"]) => {
                st.anchors.remove(&(String::new(), anchor.to_string()));
                true
            }
            ("jexec", [jail, "pfctl", "-a", anchor, "-f", file]) => {
                st.anchors
                    .insert((jail.to_string(), anchor.to_string()), PathBuf::from(file));
                st.running.contains(*jail)
            }
            ("jexec", [jail, "swanctl", "--load-all"]) | ("jexec", [jail, "setkey", "-f", _]) => {
                st.ipsec_loaded.insert(jail.to_string());
                st.running.contains(*jail)
            }
            _ => false,
        };
        Ok(Self::ok(ok))
    }

    fn read_file(&mut self, path: &Path) -> std::io::Result<Option<Vec<u8>>> {
        Ok(self.state.files.get(path).map(|(c, _)| c.clone()))
    }

    fn write_file(&mut self, path: &Path, content: &[u8], mode: u32) -> std::io::Result<()> {
        self.log.push(format!("write {}", path.display()));
        if self.change() {
            return Err(std::io::Error::other("simulated failure"));
        }
        self.state
            .files
            .insert(path.to_path_buf(), (content.to_vec(), mode));
        Ok(())
    }

    fn remove_file(&mut self, path: &Path) -> std::io::Result<()> {
        self.log.push(format!("remove {}", path.display()));
        if self.change() {
            return Err(std::io::Error::other("simulated failure"));
        }
        self.state.files.remove(path);
        Ok(())
    }
}
