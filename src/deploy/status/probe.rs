//! The one door `vpnjail status` looks through: read-only commands and HTTP
//! GETs, behind a small trait so tests replay recorded output.
//! May touch: nothing but what it is asked to read (commands that only
//! report, and the vpndns control API).

use crate::deploy::command::Cmd;
use crate::deploy::exec;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

/// Everything status reads from the live system goes through here.
pub trait Probe {
    /// Runs a command that only reads: whether it exited 0, and its standard
    /// output. `Err` means it could not be run at all (not installed).
    fn query(&mut self, cmd: &Cmd) -> std::io::Result<(bool, String)>;
    /// `GET path` from `addr`, inside network namespace `ns` (Linux; `None`
    /// is the namespace vpnjail runs in): the body of a 200 answer.
    fn http_get(
        &mut self,
        ns: Option<&str>,
        addr: SocketAddr,
        path: &str,
    ) -> Result<String, String>;
    /// A file's text (vpndns's config, for its `[control]`); `None` if unreadable.
    fn read(&mut self, path: &Path) -> Option<String>;
    /// Whether it may look inside namespaces and jails (root): without,
    /// every answer from inside them would read as "down".
    fn privileged(&self) -> bool {
        true
    }
}

/// The live system.
#[derive(Debug, Default)]
pub struct Live;

const HTTP_TIMEOUT: Duration = Duration::from_secs(2);

fn get(addr: SocketAddr, path: &str) -> Result<String, String> {
    let mut s =
        TcpStream::connect_timeout(&addr, HTTP_TIMEOUT).map_err(|e| format!("{addr}: {e}"))?;
    let _ = s.set_read_timeout(Some(HTTP_TIMEOUT));
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("{addr}: {e}"))?;
    let mut buf = Vec::new();
    s.take(1 << 20)
        .read_to_end(&mut buf)
        .map_err(|e| format!("{addr}: {e}"))?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{addr}: not an HTTP answer"))?;
    if head.split_whitespace().nth(1) != Some("200") {
        return Err(format!(
            "{addr}{path}: {}",
            head.lines().next().unwrap_or("")
        ));
    }
    Ok(body.to_string())
}

impl Probe for Live {
    fn query(&mut self, cmd: &Cmd) -> std::io::Result<(bool, String)> {
        exec::query(cmd)
    }

    fn http_get(
        &mut self,
        ns: Option<&str>,
        addr: SocketAddr,
        path: &str,
    ) -> Result<String, String> {
        let Some(ns) = ns else {
            return get(addr, path);
        };
        let netns = format!("/run/netns/{ns}");
        let path = path.to_string();
        // A thread of our own enters the namespace; the rest of the process stays.
        std::thread::spawn(move || {
            use std::os::fd::AsRawFd;
            let f = std::fs::File::open(&netns).map_err(|e| format!("{netns}: {e}"))?;
            // SAFETY: setns on this thread only, with a descriptor we hold open.
            if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(format!(
                    "setns {netns}: {}",
                    std::io::Error::last_os_error()
                ));
            }
            get(addr, &path)
        })
        .join()
        .unwrap_or_else(|_| Err("the HTTP thread panicked".into()))
    }

    fn read(&mut self, path: &Path) -> Option<String> {
        std::fs::read_to_string(path).ok()
    }

    fn privileged(&self) -> bool {
        nix::unistd::geteuid().is_root()
    }
}

/// Recorded answers, keyed by the command as a shell line (`Cmd`'s
/// Display) and by `ns addr path` for HTTP; what is not recorded fails like a
/// missing interface (exit 1, no output). Every question asked is kept.
#[derive(Debug, Default)]
pub struct Recorded {
    pub commands: HashMap<String, (bool, String)>,
    pub http: HashMap<String, String>,
    pub files: HashMap<std::path::PathBuf, String>,
    /// Commands not installed on the "machine": `query` gives `Err`.
    pub missing: Vec<&'static str>,
    /// Not root on the "machine".
    pub unprivileged: bool,
    pub asked: Vec<String>,
}

impl Recorded {
    pub fn answer(&mut self, cmd: &Cmd, ok: bool, out: &str) {
        self.commands.insert(cmd.to_string(), (ok, out.to_string()));
    }
    pub fn http_key(ns: Option<&str>, addr: SocketAddr, path: &str) -> String {
        format!("{} {addr} {path}", ns.unwrap_or("-"))
    }
}

impl Probe for Recorded {
    fn query(&mut self, cmd: &Cmd) -> std::io::Result<(bool, String)> {
        let key = cmd.to_string();
        self.asked.push(key.clone());
        if self.missing.contains(&cmd.program) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                cmd.program,
            ));
        }
        Ok(self
            .commands
            .get(&key)
            .cloned()
            .unwrap_or((false, String::new())))
    }

    fn http_get(
        &mut self,
        ns: Option<&str>,
        addr: SocketAddr,
        path: &str,
    ) -> Result<String, String> {
        let key = Self::http_key(ns, addr, path);
        self.asked.push(key.clone());
        self.http
            .get(&key)
            .cloned()
            .ok_or_else(|| format!("{addr}: connection refused"))
    }

    fn read(&mut self, path: &Path) -> Option<String> {
        self.asked.push(format!("read {}", path.display()));
        self.files.get(path).cloned()
    }

    fn privileged(&self) -> bool {
        !self.unprivileged
    }
}
