//! The FreeBSD port skeleton (freebsd/port/dns/vpndns) against the tree:
//! CARGO_CRATES is Cargo.lock's registry crates, pkg-plist is exactly what
//! the Makefile stages (plus what USE_RC_SUBR adds), and every file staged
//! exists in the tree or is built by cargo.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn port() -> PathBuf {
    root().join("freebsd/port/dns/vpndns")
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `NAME=\tvalue` of a Makefile (one line, no continuation).
fn var(makefile: &str, name: &str) -> Vec<String> {
    makefile
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name}= in the Makefile"))
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[test]
fn generated_files_are_current() {
    let out = Command::new("sh")
        .arg(root().join("freebsd/port/update.sh"))
        .arg("--check")
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "run sh freebsd/port/update.sh:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Read independently of the script: every registry package of Cargo.lock,
/// and nothing else, is in CARGO_CRATES.
#[test]
fn cargo_crates_are_the_registry_crates_of_cargo_lock() {
    let lock: toml::Table = toml::from_str(&read(&root().join("Cargo.lock"))).expect("Cargo.lock");
    let want: BTreeSet<String> = lock["package"]
        .as_array()
        .expect("packages")
        .iter()
        .filter(|p| {
            p.get("source")
                .and_then(|s| s.as_str())
                .is_some_and(|s| s.starts_with("registry+"))
        })
        .map(|p| {
            format!(
                "{}-{}",
                p["name"].as_str().expect("name"),
                p["version"].as_str().expect("version")
            )
        })
        .collect();
    let text = read(&port().join("Makefile.crates"));
    let body = text.split_once("CARGO_CRATES=").expect("CARGO_CRATES=").1;
    let got: BTreeSet<String> = body
        .split_whitespace()
        .filter(|w| *w != "\\")
        .map(str::to_string)
        .collect();
    assert!(want.len() > 100, "{}", want.len());
    assert_eq!(got, want);
    assert!(
        !got.iter().any(|c| c.starts_with("vpndns-")),
        "our own package is not fetched"
    );
}

#[test]
fn pkg_plist_is_what_the_makefile_stages_and_every_source_exists() {
    let mk = read(&port().join("Makefile"));
    assert_eq!(var(&mk, "USES"), ["cargo"]);
    assert_eq!(var(&mk, "USERS"), ["vpndns"]);
    assert_eq!(var(&mk, "GROUPS"), ["vpndns"]);
    assert_eq!(
        var(&mk, "CARGO_INSTALL"),
        ["no"],
        "sbin, not cargo install's bin"
    );
    let built_dir = var(&mk, "_BUILT").join(" ");
    assert_eq!(
        built_dir,
        "${CARGO_TARGET_DIR}/${CARGO_BUILD_TARGET}/release"
    );

    // What do-install stages, relative to ${PREFIX}.
    let mut staged = BTreeSet::new();
    let mut recipe = mk
        .lines()
        .skip_while(|l| !l.starts_with("do-install:"))
        .skip(1);
    let mut n = 0;
    for l in recipe.by_ref().take_while(|l| l.starts_with('\t')) {
        let words: Vec<&str> = l.split_whitespace().collect();
        let Some(tool) = words.first() else { continue };
        if *tool == "@${MKDIR}" {
            continue;
        }
        assert!(
            ["${INSTALL_PROGRAM}", "${INSTALL_MAN}", "${INSTALL_DATA}"].contains(tool),
            "unexpected do-install step: {l}"
        );
        assert_eq!(words.len(), 3, "one source, one destination: {l}");
        let (src, dst) = (words[1], words[2]);
        let dst = dst
            .strip_prefix("${STAGEDIR}${PREFIX}/")
            .unwrap_or_else(|| panic!("stage under ${{STAGEDIR}}${{PREFIX}}: {l}"));
        let name = Path::new(src)
            .file_name()
            .expect("file")
            .to_string_lossy()
            .into_owned();
        // A destination is a directory unless it names the file.
        let mut target = if dst.ends_with(&name) || dst.ends_with(".sample") {
            dst.to_string()
        } else {
            format!("{dst}/{name}")
        };
        // Ports compress man pages when staging.
        if *tool == "${INSTALL_MAN}" {
            target.push_str(".gz");
        }
        staged.insert(target);
        // Where the source comes from.
        if let Some(rel) = src.strip_prefix("${WRKSRC}/") {
            assert!(root().join(rel).is_file(), "{rel} is not in the tree");
        } else if let Some(rel) = src.strip_prefix("${FILESDIR}/") {
            assert!(
                port().join("files").join(rel).is_file(),
                "files/{rel} is missing"
            );
        } else if let Some(bin) = src.strip_prefix("${_BUILT}/") {
            assert!(
                root().join(format!("src/bin/{bin}.rs")).is_file(),
                "{bin} is not a binary of the package"
            );
            let exe = match bin {
                "vpndns" => env!("CARGO_BIN_EXE_vpndns"),
                "vpnjail" => env!("CARGO_BIN_EXE_vpnjail"),
                other => panic!("unknown binary {other}"),
            };
            assert!(Path::new(exe).is_file(), "cargo builds {exe}");
        } else {
            panic!("source of unknown origin: {l}");
        }
        n += 1;
    }
    assert!(n >= 8, "{n} install steps");

    // pkg-plist: one line per staged file (@sample FILE stages FILE).
    let plist: BTreeSet<String> = read(&port().join("pkg-plist"))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.strip_prefix("@sample ").unwrap_or(l).to_string())
        .collect();
    assert_eq!(plist, staged, "pkg-plist and do-install disagree");
    for sample in plist.iter().filter(|p| p.ends_with(".sample")) {
        assert!(
            read(&port().join("pkg-plist")).contains(&format!("@sample {sample}")),
            "{sample} needs @sample"
        );
    }
    for want in [
        "sbin/vpndns",
        "sbin/vpnjail",
        "share/man/man8/vpndns.8.gz",
        "share/man/man8/vpnjail.8.gz",
        "share/man/man5/vpndns.toml.5.gz",
        "share/man/man5/vpnjail.toml.5.gz",
    ] {
        assert!(plist.contains(want), "{want}");
    }
    // Every man page of man/ is installed.
    for e in std::fs::read_dir(root().join("man"))
        .expect("man/")
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        let section = name.rsplit('.').next().expect("section");
        assert!(
            plist.contains(&format!("share/man/man{section}/{name}.gz")),
            "man/{name} is not installed"
        );
    }

    // USE_RC_SUBR stages etc/rc.d/NAME from files/NAME.in and adds it to the
    // plist itself: the scripts are not in pkg-plist but must exist.
    let rc = var(&mk, "USE_RC_SUBR");
    assert_eq!(rc, ["vpndns", "vpnjail_monitor"]);
    for name in &rc {
        assert!(port().join(format!("files/{name}.in")).is_file());
        assert!(root().join(format!("rc.d/{name}")).is_file());
        assert!(
            !plist.contains(&format!("etc/rc.d/{name}")),
            "USE_RC_SUBR adds etc/rc.d/{name} itself"
        );
        let script = read(&port().join(format!("files/{name}.in")));
        assert!(
            script.contains("%%PREFIX%%/sbin/") && !script.contains("/usr/local"),
            "{name}.in uses %%PREFIX%%"
        );
    }
}

/// The sample config passes `vpndns check` and drops privileges to the
/// port's user.
#[test]
fn the_sample_config_is_valid_and_runs_as_the_port_user() {
    let sample = port().join("files/vpndns.toml.sample");
    let out = Command::new(env!("CARGO_BIN_EXE_vpndns"))
        .arg("-c")
        .arg(&sample)
        .arg("check")
        .output()
        .expect("vpndns");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(read(&sample).contains("user = \"vpndns\""));
}
