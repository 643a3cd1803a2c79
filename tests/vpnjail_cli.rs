//! vpnjail's and vpndns's command lines as a new user meets them: keygen with
//! no flags, shell completions, and the man pages kept in step with `--help`.

use std::process::Command;

fn run(bin: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(bin)
        .args(args)
        .output()
        .expect("run the binary");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const VPNJAIL: &str = env!("CARGO_BIN_EXE_vpnjail");
const VPNDNS: &str = env!("CARGO_BIN_EXE_vpndns");

/// Regression: `vpnjail keygen` failed with "invalid value 'aes-gcm-16' for
/// '--cipher'" because the default was not one of its own possible values.
#[test]
fn keygen_works_without_flags_and_the_key_file_is_accepted() {
    for args in [
        &["keygen"][..],
        &["keygen", "--cipher", "aes-gcm-16"],
        &["keygen", "--cipher", "aes-cbc"],
    ] {
        let (ok, out, err) = run(VPNJAIL, args);
        assert!(ok, "{args:?}: {err}");
        let keys: Vec<&str> = out.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(keys.len(), 2, "{out}");
        for k in keys {
            for part in k.split(' ') {
                let hex = part.strip_prefix("0x").expect("0x prefix");
                let bits = hex.len() * 4;
                assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()), "{k}");
                assert!(bits == 288 || bits == 256, "{args:?}: {bits} bits");
            }
        }
        // The printed file is what a setkey link's key_file takes.
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("k.keys"), &out).expect("write");
        let cipher = args.get(2).copied().unwrap_or("aes-gcm-16");
        let site = format!(
            "[site]\nname = \"k\"\n{}\n[[link]]\nhosts = [\"a\", \"b\"]\nmode = \"setkey\"\nreqid = 7\ncipher = \"{cipher}\"\nspi = [4097, 4098]\nkey_file = \"k.keys\"\n",
            ["a", "b"]
                .iter()
                .enumerate()
                .map(|(i, h)| format!(
                    "[[host]]\nname = \"{h}\"\nexternal_if = \"eth0\"\npublic_address = \"192.0.2.{}\"\nbridge = {{ name = \"br0\", network = \"10.1.{i}.0/24\", address = \"10.1.{i}.1\" }}\njail_root = \"/j\"\nplatform = \"linux\"\n[[host.jail]]\nname = \"ipsec{i}\"\nkind = \"ipsec\"\naddress = \"10.1.{i}.4\"\n",
                    i + 1
                ))
                .collect::<String>()
        );
        std::fs::write(dir.path().join("s.toml"), site).expect("write");
        let (ok, out, err) = run(
            VPNJAIL,
            &["check", &dir.path().join("s.toml").display().to_string()],
        );
        assert!(ok, "{args:?}: {out}{err}");
    }
}

/// Each shell's script names every subcommand, and the shell itself parses it.
#[test]
fn completions_for_bash_zsh_and_fish() {
    let subcommands: &[(&str, &[&str])] = &[
        (
            VPNJAIL,
            &[
                "check", "render", "plan", "create", "destroy", "pf", "keygen", "monitor", "ipsec",
            ],
        ),
        (VPNDNS, &["run", "check", "explain"]),
    ];
    for (bin, subs) in subcommands {
        for shell in ["bash", "zsh", "fish"] {
            let (ok, out, err) = run(bin, &["completions", shell]);
            assert!(ok, "{bin} {shell}: {err}");
            for s in *subs {
                assert!(out.contains(s), "{bin} {shell}: no {s}");
            }
            // Syntax-check with the shell when it is installed.
            let check: &[&str] = match shell {
                "bash" => &["bash", "-n"],
                "zsh" => &["zsh", "-n"],
                _ => &["fish", "--no-execute"],
            };
            let file =
                std::env::temp_dir().join(format!("vpnjail-compl-{}-{shell}", std::process::id()));
            std::fs::write(&file, &out).expect("write");
            if let Ok(o) = Command::new(check[0]).args(&check[1..]).arg(&file).output() {
                assert!(
                    o.status.success(),
                    "{bin} {shell}: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
            }
            let _ = std::fs::remove_file(&file);
        }
        let (ok, _, err) = run(bin, &["completions", "sh"]);
        assert!(
            !ok && err.contains("possible values: bash, zsh, fish"),
            "{err}"
        );
    }
}

fn man(page: &str) -> String {
    std::fs::read_to_string(format!("{}/man/{page}", env!("CARGO_MANIFEST_DIR"))).expect("man page")
}

/// The subcommands listed under "Commands:" in `--help`, without `help`.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

/// Every `-x` and `--long` flag in the Options section of `--help`.
fn flags(help: &str) -> Vec<String> {
    let mut out = Vec::new();
    for l in help
        .lines()
        .skip_while(|l| !l.starts_with("Options:"))
        .skip(1)
    {
        let l = l.trim_start();
        if !l.starts_with('-') {
            continue;
        }
        for word in l
            .split([' ', ','])
            .take_while(|w| w.starts_with('-') || w.starts_with('<') || w.is_empty())
        {
            let word = word.trim_end_matches("...");
            if let Some(long) = word.strip_prefix("--") {
                out.push(format!("Fl -{long}"));
            } else if let Some(short) = word.strip_prefix('-') {
                out.push(format!("Fl {short}"));
            }
        }
    }
    out
}

/// The man pages cannot drift from the programs: every subcommand and every
/// flag `--help` shows is in the page.
#[test]
fn man_pages_name_every_subcommand_and_flag() {
    for (bin, page) in [(VPNJAIL, "vpnjail.8"), (VPNDNS, "vpndns.8")] {
        let text = man(page);
        let (ok, top, _) = run(bin, &["--help"]);
        assert!(ok);
        let subs = subcommands(&top);
        assert!(subs.len() >= 3, "{bin}: {subs:?}");
        let mut missing = Vec::new();
        for f in flags(&top) {
            if !text.contains(&f) {
                missing.push(format!("{f} (global)"));
            }
        }
        for sub in &subs {
            if !text.contains(&format!(".It Cm {sub}")) {
                missing.push(format!(".It Cm {sub}"));
            }
            let (ok, help, err) = run(bin, &[sub, "--help"]);
            assert!(ok, "{sub}: {err}");
            for f in flags(&help) {
                if !text.contains(&f) {
                    missing.push(format!("{f} (of {sub})"));
                }
            }
        }
        assert!(missing.is_empty(), "man/{page} lacks: {missing:?}");
    }
}

/// Every key documented in docs/site.md is in vpnjail.toml(5).
#[test]
fn site_man_page_names_every_key_of_docs_site_md() {
    let doc = std::fs::read_to_string(format!("{}/docs/site.md", env!("CARGO_MANIFEST_DIR")))
        .expect("site.md");
    let text = man("vpnjail.toml.5");
    let keys: Vec<&str> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|k| !k.contains(['/', '.', ' ']))
        .collect();
    assert!(keys.len() > 30, "{keys:?}");
    let missing: Vec<&&str> = keys
        .iter()
        .filter(|k| !text.contains(&format!("Ic {k}")))
        .collect();
    assert!(missing.is_empty(), "man/vpnjail.toml.5 lacks {missing:?}");
}

/// mandoc -Tlint -W warning is clean (CI also runs it; skipped without mandoc).
#[test]
fn man_pages_pass_mandoc_lint() {
    let dir = format!("{}/man", env!("CARGO_MANIFEST_DIR"));
    for page in ["vpndns.8", "vpndns.toml.5", "vpnjail.8", "vpnjail.toml.5"] {
        let Ok(o) = Command::new("mandoc")
            .args(["-Tlint", "-W", "warning"])
            .arg(format!("{dir}/{page}"))
            .output()
        else {
            eprintln!("mandoc is not installed: skipped");
            return;
        };
        let said =
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        assert!(
            o.status.success() && said.trim().is_empty(),
            "{page}: {said}"
        );
    }
}
