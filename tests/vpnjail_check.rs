//! `vpnjail check`: the example passes, and each invalid site the issue lists is
//! rejected with a message naming the file, the line and the key.

mod vpnjail_support;

use std::path::Path;
use vpnjail_support::*;

/// Checks a mutated example and returns the report, asserting it names the file.
fn rejected(edit: impl FnOnce(String) -> String, extra: impl FnOnce(&Path)) -> String {
    let (dir, p) = edited_site(edit);
    extra(dir.path());
    let e = vpndns::deploy::check::load(&p).expect_err("the site must be rejected");
    let s = e.to_string();
    assert!(
        s.contains(&p.display().to_string()),
        "message must name the file: {s}"
    );
    s
}

fn assert_has(report: &str, key: &str, msg: &str) {
    assert!(
        report
            .lines()
            .any(|l| l.contains(&format!(": {key}: ")) && l.contains(msg)),
        "expected a line with key {key} and {msg:?}, got:\n{report}"
    );
}

const SETKEY: &str = "mode = \"setkey\"\ncipher = \"aes-gcm-16\"\nspi = [4097, 4098]\nkey_file = \"secrets/alpha-beta.keys\"";

fn setkey(t: String) -> String {
    t.replace("mode = \"swanctl\"", SETKEY)
        .replace("psk_file = \"secrets/alpha-beta.psk\"\n", "")
}

fn keys(dir: &Path, a: &str, b: &str) {
    write(dir, "secrets/alpha-beta.keys", &format!("{a}\n{b}\n"));
}

#[test]
fn example_site_passes() {
    let site = example();
    assert_eq!(site.hosts.len(), 2);
    assert_eq!(site.links.len(), 1);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vpnjail"))
        .arg("check")
        .arg(example_path())
        .output()
        .expect("run vpnjail");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn duplicate_jail_name() {
    let r = rejected(|t| t.replace("name = \"dns_b\"", "name = \"dns\""), |_| ());
    assert_has(&r, "host[beta].jail[dns].name", "defined twice");
}

#[test]
fn duplicate_address() {
    let r = rejected(
        |t| t.replace("address = \"10.10.2.77\"", "address = \"10.10.2.4\""),
        |_| (),
    );
    assert_has(
        &r,
        "host[beta].jail[laptop].address",
        "already used by host[beta].jail[ipsec_b].address",
    );
}

#[test]
fn address_outside_bridge_network_with_its_line() {
    let r = rejected(
        |t| t.replace("address = \"10.10.1.30\"", "address = \"10.10.9.30\""),
        |_| (),
    );
    assert_has(
        &r,
        "host[alpha].jail[desk].address",
        "outside the bridge network 10.10.1.0/24",
    );
    let text = std::fs::read_to_string(example_path()).expect("example");
    let line = text
        .lines()
        .position(|l| l.contains("10.10.1.30"))
        .expect("line")
        + 1;
    assert!(
        r.contains(&format!("site.toml:{line}: host[alpha].jail[desk].address")),
        "{r}"
    );
}

#[test]
fn jail_name_with_invalid_characters() {
    let r = rejected(
        |t| t.replace("name = \"desk\"", "name = \"desk-1\""),
        |_| (),
    );
    assert_has(&r, "host[alpha].jail.name", "letters, digits and '_'");
}

#[test]
fn jail_name_whose_epair_name_exceeds_15_characters() {
    let r = rejected(
        |t| t.replace("name = \"desk\"", "name = \"desktop_long\""),
        |_| (),
    );
    assert_has(&r, "host[alpha].jail.name", "at most 11 fit");
}

#[test]
fn link_naming_unknown_host() {
    let r = rejected(
        |t| {
            t.replace(
                "hosts = [\"alpha\", \"beta\"]",
                "hosts = [\"alpha\", \"gamma\"]",
            )
        },
        |_| (),
    );
    assert_has(&r, "link[0].hosts", "\"gamma\" is not a [[host]]");
}

#[test]
fn reqid_outside_range() {
    let r = rejected(|t| t.replace("reqid = 100", "reqid = 16384"), |_| ());
    assert_has(&r, "link[0].reqid", "outside 1..16383");
    let r = rejected(|t| t.replace("reqid = 100", "reqid = 0"), |_| ());
    assert_has(&r, "link[0].reqid", "outside 1..16383");
}

#[test]
fn reqid_reused() {
    let second = "\n[[link]]\nhosts = [\"beta\", \"alpha\"]\nmode = \"swanctl\"\nreqid = 100\ninner = [\"172.16.1.1\", \"172.16.1.2\"]\npsk_file = \"secrets/alpha-beta.psk\"\n";
    let r = rejected(|t| format!("{t}{second}"), |_| ());
    assert_has(&r, "link[1].reqid", "reqid 100 is already used by link[0]");
}

#[test]
fn spi_not_above_255() {
    let r = rejected(
        |t| setkey(t).replace("spi = [4097, 4098]", "spi = [255, 4098]"),
        |d| keys(d, &"a".repeat(72), &"b".repeat(72)),
    );
    assert_has(&r, "link[0].spi", "SPI 255 must be greater than 255");
}

#[test]
fn key_length_wrong_for_cipher() {
    // 256 bits is an aes-cbc length, not an aes-gcm-16 one (key + 32-bit salt).
    let r = rejected(setkey, |d| keys(d, &"a".repeat(64), &"b".repeat(72)));
    assert_has(&r, "link[0].key_file", "aes-gcm-16 key is 256 bits");
    assert!(
        r.contains("alpha-beta.keys:1:"),
        "names the key file and line: {r}"
    );
    // aes-cbc needs its hmac-sha2-256 key of 256 bits too.
    let r = rejected(
        |t| setkey(t).replace("aes-gcm-16", "aes-cbc"),
        |d| {
            keys(
                d,
                &format!("{} {}", "a".repeat(64), "c".repeat(40)),
                &format!("{} {}", "b".repeat(64), "d".repeat(64)),
            )
        },
    );
    assert_has(&r, "link[0].key_file", "hmac-sha2-256 key is 160 bits");
}

#[test]
fn valid_setkey_keys_pass() {
    let (dir, p) = edited_site(|t| setkey(t).replace("aes-gcm-16", "aes-cbc"));
    keys(
        dir.path(),
        &format!("{} {}", "a".repeat(64), "c".repeat(64)),
        &format!("0x{} 0x{}", "b".repeat(32), "d".repeat(64)),
    );
    vpndns::deploy::check::load(&p).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn clients_overlapping_local_bridge() {
    let r = rejected(
        |t| {
            t.replace(
                "clients = [\"10.10.2.0/24\"",
                "clients = [\"10.10.1.128/25\"",
            )
        },
        |_| (),
    );
    assert_has(
        &r,
        "host[alpha].jail[vpnus].clients",
        "overlaps the local bridge network",
    );
}

#[test]
fn vpn_jail_without_provider_dns() {
    let r = rejected(|t| t.replace("provider_dns = \"10.8.0.1\"\n", ""), |_| ());
    assert_has(
        &r,
        "host[alpha].jail[vpnus].provider_dns",
        "needs provider_dns",
    );
}

#[test]
fn missing_secret_file() {
    let r = rejected(
        |t| t.replace("secrets/alpha-beta.psk", "secrets/nope.psk"),
        |_| (),
    );
    assert_has(&r, "link[0].psk_file", "cannot read the secret file");
    let r = rejected(setkey, |_| ());
    assert_has(&r, "link[0].key_file", "cannot read the secret file");
}

#[test]
fn unknown_key_is_rejected_with_its_line() {
    let r = rejected(
        |t| t.replace("tun = \"tun0\"", "tun = \"tun0\"\ncolour = \"red\""),
        |_| (),
    );
    assert!(r.contains("jail[vpnus].colour: unknown key colour"), "{r}");
    let text = std::fs::read_to_string(example_path()).expect("example");
    let line = text
        .lines()
        .position(|l| l.contains("tun = \"tun0\""))
        .expect("line")
        + 2;
    assert!(r.contains(&format!("site.toml:{line}:")), "{r}");
}

#[test]
fn via_must_name_a_local_vpn_jail_and_policies_must_not_clash() {
    let r = rejected(
        |t| t.replace("via = \"vpnus\"\n\n[[host]]", "via = \"dns\"\n\n[[host]]"),
        |_| (),
    );
    assert_has(&r, "host[alpha].jail[desk].via", "not a vpn jail");
    let r = rejected(
        |t| {
            t.replace(
                "source = [\"10.10.2.0/24\"]",
                "source = [\"10.10.1.30/32\"]",
            )
        },
        |_| (),
    );
    assert_has(
        &r,
        "dns.policy[0].source",
        "already the source of service jail \"desk\"",
    );
}

#[test]
fn check_cli_exits_non_zero_and_prints_the_problem() {
    let (_d, p) = edited_site(|t| t.replace("reqid = 100", "reqid = 20000"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vpnjail"))
        .arg("check")
        .arg(&p)
        .output()
        .expect("run vpnjail");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("link[0].reqid") && err.contains("site.toml:"),
        "{err}"
    );
}

#[test]
fn keygen_output_passes_check_for_both_ciphers() {
    use vpndns::deploy::model::Cipher;
    for (cipher, name) in [
        (Cipher::AesGcm16, "aes-gcm-16"),
        (Cipher::AesCbc, "aes-cbc"),
    ] {
        let (dir, p) = edited_site(|t| setkey(t).replace("aes-gcm-16", name));
        let k = vpndns::deploy::keygen::key_file(cipher).expect("keygen");
        write(dir.path(), "secrets/alpha-beta.keys", &k);
        vpndns::deploy::check::load(&p).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn dns_blocklists_and_policy_choices() {
    let site = example();
    assert_eq!(site.dns_blocklists[0].name, "ads");
    assert_eq!(
        site.dns_policies[0].block.as_deref(),
        Some(&["ads".to_string()][..])
    );
    let r = rejected(
        |t| {
            t.replace("block = [\"ads\"]", "block = [\"ads\", \"adult\"]")
                .replace(
                    "refresh = \"24h\"",
                    "refresh = \"10s\"\nallow = [\"allow.txt\"]",
                )
                + "\n[[dns.blocklist]]\nname = \"ads\"\nlists = [\"ftp://x.example/l\"]\n"
        },
        |_| {},
    );
    assert_has(
        &r,
        "dns.policy[0].block",
        "no [[dns.blocklist]] named \"adult\"",
    );
    assert_has(&r, "dns.blocklist[0].refresh", "at least 1m");
    assert_has(
        &r,
        "dns.blocklist[0].allow",
        "\"allow.txt\": expected an http:// or https:// URL, or an absolute path",
    );
    assert_has(&r, "dns.blocklist[1].name", "\"ads\" is defined twice");
    assert_has(&r, "dns.blocklist[1].lists", "\"ftp://x.example/l\"");
}
