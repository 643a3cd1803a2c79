//! Static checkers for generated files, used by the tests and by `vpnjail
//! render` before it writes:
//!
//! - [`jailconf`]: a parser of the jail.conf(5) grammar;
//! - [`pf`]: a pf anchor checker (macros, tables, statement order);
//! - here: the WireGuard files' own check (owner-only, parse without hooks).
pub mod jailconf;
pub mod pf;

use super::render::File;

/// Runs the checkers that apply to each rendered file; returns one message per
/// file that fails (`vpnjail render` refuses to write such a tree).
pub fn rendered(files: &[File]) -> Vec<String> {
    let mut bad = Vec::new();
    for f in files {
        let p = f.path.to_string_lossy();
        let r = if p.starts_with("/etc/jail.conf.d/") {
            jailconf::parse(&f.content)
                .map(|_| ())
                .map_err(|e| e.to_string())
        } else if p.contains("/pf.vpnjail/")
            || p.ends_with("/pf.conf")
            || p.ends_with("pf.conf.vpnjail")
        {
            let r = pf::check(&f.content).map(|_| ());
            // A jail's own pf.conf: a vpn jail's must fail closed; an ipsec
            // jail's (road warriors' route-to, named so in its header) routes.
            let vpn_jail = p.ends_with("/etc/pf.conf")
                && p != "/etc/pf.conf"
                && !f.content.contains("of ipsec jail");
            r.and_then(|_| {
                if vpn_jail {
                    pf::fails_closed(&f.content)
                } else {
                    Ok(())
                }
            })
            .map_err(|e| e.to_string())
        } else if p.contains("/usr/local/etc/wireguard/") {
            wireguard(f)
        } else {
            Ok(())
        };
        if let Err(e) = r {
            bad.push(format!("{p}: {e}"));
        }
    }
    bad
}

/// A jail's wg-quick file: owner-only (it holds the private key), and one
/// that `provider::wireguard` accepts (no PreUp/PostUp hooks, an Endpoint).
fn wireguard(f: &File) -> Result<(), String> {
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
