//! Static checkers for generated files, used by the tests and by `vpnjail
//! render` before it writes:
//!
//! - [`jailconf`]: a parser of the jail.conf(5) grammar;
//! - [`pf`]: a pf anchor checker (macros, tables, statement order);
//! - here: which checker each file of a FreeBSD host is held to (from the
//!   typed render, [`freebsd`]), and the WireGuard files' own check
//!   (owner-only, parse without hooks).
pub mod jailconf;
pub mod pf;

use super::model::{Platform, Site};
use super::render::freebsd::{ClientFiles, HostFiles, KindFiles};
use super::render::{self, File, RenderError};

/// Which checker a rendered file is held to.
#[derive(Clone, Copy)]
enum Check {
    JailConf,
    Pf,
    /// A vpn jail's own pf.conf: it must also fail closed.
    PfFailsClosed,
    WireGuard,
}

/// Renders host `name` and runs the checkers on its files: every file, and
/// one message per file that fails (`vpnjail render` refuses to write such
/// a tree). A Linux host's files have no checker here.
pub fn host(site: &Site, name: &str) -> Result<(Vec<File>, Vec<String>), RenderError> {
    let h = site
        .host(name)
        .ok_or_else(|| RenderError::UnknownHost(name.to_string()))?;
    Ok(match h.platform {
        Platform::FreeBsd => {
            let files = render::freebsd::host_files(site, h)?;
            let bad = freebsd(&files);
            (files.into_files(), bad)
        }
        Platform::Linux => (render::host(site, name)?, Vec::new()),
    })
}

/// Runs the checkers that apply to each file of a FreeBSD host; returns one
/// message per file that fails, in the order of the files.
pub fn freebsd(files: &HostFiles) -> Vec<String> {
    let mut todo: Vec<(&File, Check)> = files
        .pf
        .files()
        .into_iter()
        .map(|f| (f, Check::Pf))
        .collect();
    for (_, j) in &files.jails {
        todo.push((&j.jail_conf, Check::JailConf));
        match &j.kind {
            KindFiles::Vpn(v) => {
                todo.push((&v.pf_conf, Check::PfFailsClosed));
                todo.push((&v.dns_anchor, Check::Pf));
                todo.push((&v.killswitch, Check::Pf));
                if let ClientFiles::WireGuard { conf } = &v.client {
                    todo.push((conf, Check::WireGuard));
                }
            }
            // The road warriors' ruleset routes (route-to): it need not fail closed.
            KindFiles::Ipsec(i) => {
                if let Some(rw) = &i.roadwarrior {
                    todo.push((&rw.pf_conf, Check::Pf));
                    todo.push((&rw.anchor, Check::Pf));
                }
            }
            KindFiles::Vpndns(_) | KindFiles::Service => {}
        }
    }
    let mut bad = Vec::new();
    for (f, check) in todo {
        let r = match check {
            Check::JailConf => jailconf::parse(&f.content)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Check::Pf => pf::check(&f.content).map(|_| ()).map_err(|e| e.to_string()),
            Check::PfFailsClosed => pf::check(&f.content)
                .and_then(|_| pf::fails_closed(&f.content))
                .map_err(|e| e.to_string()),
            Check::WireGuard => wireguard(f),
        };
        if let Err(e) = r {
            bad.push(format!("{}: {e}", f.path.display()));
        }
    }
    bad
}

/// A jail's wg-quick file: owner-only (it holds the private key), and one
/// that `provider::wireguard` accepts (no PreUp/PostUp hooks, an Endpoint).
pub fn wireguard(f: &File) -> Result<(), String> {
    if f.mode & 0o077 != 0 {
        return Err(format!(
            "mode {:04o}: a WireGuard file holds a private key (0600)",
            f.mode
        ));
    }
    super::provider::wireguard::parse(&f.content)
        .map(|_| ())
        .map_err(|e| {
            e.iter()
                .map(|x| format!("line {}: {}", x.line, x.message))
                .collect::<Vec<_>>()
                .join("; ")
        })
}
