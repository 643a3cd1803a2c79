//! Helpers shared by the vpnjail integration tests: the example site, shellcheck,
//! and golden-file comparison.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use vpndns::deploy::model::Site;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn example_path() -> PathBuf {
    root().join("examples/site.toml")
}

pub fn example() -> Site {
    vpndns::deploy::check::load(&example_path())
        .unwrap_or_else(|e| panic!("examples/site.toml must pass check:\n{e}"))
}

/// Runs `shellcheck -s sh` on a script; panics with its findings. A missing
/// shellcheck is a failure, never a silent pass (.ci/run installs it).
pub fn shellcheck(what: &str, script: &str, extra: &[&str]) {
    let mut child = Command::new("shellcheck")
        .args(["-s", "sh"])
        .args(extra)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("shellcheck is required for this test (apt-get install shellcheck): {e}")
        });
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write to shellcheck");
    let out = child.wait_with_output().expect("shellcheck runs");
    assert!(
        out.status.success(),
        "shellcheck -s sh rejects {what}:\n{}\n--- script ---\n{script}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Compares `actual` with the golden file `tests/golden/<rel>`; with
/// UPDATE_GOLDEN=1 rewrites it instead (then review the diff line by line).
/// The checkout's own path (in a plan, the absolute site file of
/// `vpnjail monitor`) is written as `<repo>`, so a clone elsewhere compares
/// equal.
pub fn golden(rel: &Path, actual: &str) {
    let path = root().join("tests/golden").join(rel);
    let actual = actual.replace(&root().display().to_string(), "<repo>");
    let actual = actual.as_str();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, actual).expect("write golden");
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "missing golden file {} ({e}); run with UPDATE_GOLDEN=1 and review it",
            path.display()
        )
    });
    if want != actual {
        panic!(
            "{} differs from the rendered file; if the change is intended, run with UPDATE_GOLDEN=1 and review the diff\n--- rendered ---\n{actual}",
            path.display()
        );
    }
}

/// A copy of the example site in a temp dir, with `edit` applied to its text.
pub fn edited_site(edit: impl FnOnce(String) -> String) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(example_path()).expect("example");
    std::fs::create_dir_all(dir.path().join("secrets")).expect("mkdir");
    std::fs::copy(
        root().join("examples/secrets/alpha-beta.psk"),
        dir.path().join("secrets/alpha-beta.psk"),
    )
    .expect("copy psk");
    let p = dir.path().join("site.toml");
    std::fs::write(&p, edit(text)).expect("write site");
    (dir, p)
}

pub fn write(dir: &Path, rel: &str, text: &str) {
    std::fs::write(dir.join(rel), text).expect("write");
}

/// The plan targets the tests build, by name.
pub mod target {
    use vpndns::deploy::apply::Target;
    use vpndns::deploy::model::Site;

    /// `vpnjail create JAIL` (on the host the site gives it).
    pub fn create(jail: impl Into<String>) -> Target {
        Target::Create {
            jail: jail.into(),
            host: None,
        }
    }

    /// `vpnjail destroy JAIL`.
    pub fn destroy(jail: impl Into<String>) -> Target {
        Target::Destroy {
            jail: jail.into(),
            host: None,
        }
    }

    /// `vpnjail pf --load` on `host`.
    pub fn pf_load(host: impl Into<String>) -> Target {
        Target::PfLoad { host: host.into() }
    }

    /// `vpnjail ipsec --load` on `host`.
    pub fn ipsec_load(host: impl Into<String>) -> Target {
        Target::IpsecLoad { host: host.into() }
    }

    /// Create and destroy of every jail, and pf and ipsec loads of every
    /// host, of `site`.
    pub fn every_jail_and_host(site: &Site) -> Vec<Target> {
        let mut targets = Vec::new();
        for h in &site.hosts {
            for j in &h.jails {
                targets.push(create(j.name.clone()));
                targets.push(destroy(j.name.clone()));
            }
            targets.push(pf_load(h.name.clone()));
            targets.push(ipsec_load(h.name.clone()));
        }
        targets
    }
}
