//! `vpnjail status`'s exit statuses from the command line, without root or
//! a live site: 2 when it cannot look (a bad site file, an unknown host, a
//! FreeBSD site looked at where there is no `jls`), and a table without
//! colour when standard output is not a terminal. The live site is
//! tests/status_e2e.rs.

use std::process::{Command, Output};

const VPNJAIL: &str = env!("CARGO_BIN_EXE_vpnjail");

fn status(args: &[&str]) -> Output {
    Command::new(VPNJAIL)
        .arg("status")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("vpnjail runs")
}

#[test]
fn a_site_it_cannot_read_or_a_host_it_does_not_have_is_exit_2() {
    let o = status(&["--site", "examples/no-such-site.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no-such-site.toml"));
    let o = status(&["--site", "examples/site.toml", "--host", "zeta"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("\"zeta\""));
}

#[test]
fn a_freebsd_site_without_jls_could_not_be_looked_at() {
    if Command::new("jls").output().is_ok() {
        eprintln!("SKIP: jls is installed (a FreeBSD machine)");
        return;
    }
    let o = status(&["--site", "examples/site.toml", "--json"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!((&doc["schema"], &doc["up"]), (&1.into(), &false.into()));
    let missed = doc["could_not_look"].as_array().expect("a list");
    assert!(
        missed
            .iter()
            .any(|m| m.as_str().is_some_and(|m| m.starts_with("jls "))),
        "{missed:?}"
    );
    // The same as a table: no colour into a pipe, what it missed at the end.
    let o = status(&["--site", "examples/site.toml", "--host", "alpha"]);
    assert_eq!(o.status.code(), Some(2));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.starts_with("site vpncore: 0 of "), "{table}");
    assert!(table.contains("could not look: jls "), "{table}");
    assert!(!table.contains('\x1b'), "{table}");
}
