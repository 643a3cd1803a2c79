//! A recording, simulated FreeBSD host for tests of plans and the executor: it
//! logs every command and file operation, models the state those commands
//! change (running jails, interfaces, files, datasets, pf anchors), and can be
//! told to fail the Nth changing operation. May touch: only its own memory.

use super::command::Cmd;
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
            PathBuf::from(super::plan::VPNDNS_BIN),
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
            stderr: if b {
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

impl System for FakeHost {
    fn run(&mut self, cmd: &Cmd) -> std::io::Result<Outcome> {
        self.log.push(cmd.to_shell());
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
