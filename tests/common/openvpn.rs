//! A stand-in OpenVPN provider for namespace tests: a throwaway PKI made
//! with openssl, the client file a provider hands out, and its server
//! started in a namespace with a pid file. Included with
//! `#[path = "common/openvpn.rs"] mod openvpn;` (it uses `common/netns.rs`
//! as `netns`).

#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// Whether this machine has what the stand-in needs.
pub fn available() -> bool {
    super::netns::ok("openvpn", &["--version"]) && super::netns::ok("openssl", &["version"])
}

/// Runs openssl with `args` in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and two certificates signed by it (P-256), `name.crt`/`name.key`
/// in `dir`: `server` (serverAuth) and `client` (clientAuth). keyUsage is
/// set: `remote-cert-tls server` requires it (platform.md).
pub fn pki(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut a = vec!["req", "-x509"];
    a.extend(ec);
    a.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=stand-in CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &a);
    for (name, eku) in [("server", "serverAuth"), ("client", "clientAuth")] {
        std::fs::write(
            dir.join(format!("{name}.ext")),
            format!("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyAgreement\nextendedKeyUsage={eku}\n"),
        )
        .expect("ext");
        let (key, csr, crt, ext) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
            format!("{name}.ext"),
        );
        let mut r = vec!["req"];
        r.extend(ec);
        let subj = format!("/CN={name}");
        r.extend(["-keyout", &key, "-out", &csr, "-subj", &subj]);
        openssl(dir, &r);
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &crt,
                "-days",
                "2",
                "-extfile",
                &ext,
            ],
        );
    }
}

/// The provider's client file, as a provider hands it out: inline keys,
/// `dev tun`, and its endpoint (the PKI of [`pki`] in `dir`).
pub fn client_ovpn(dir: &Path, remote: &str) -> String {
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).expect("pki file");
    format!(
        "# stand-in provider's client file\nclient\ndev tun\nproto udp\nremote {remote} 1194\nnobind\nremote-cert-tls server\nverb 3\n<ca>\n{}</ca>\n<cert>\n{}</cert>\n<key>\n{}</key>\n",
        read("ca.crt"),
        read("client.crt"),
        read("client.key")
    )
}

/// Starts the provider's OpenVPN server in namespace `ns` on `local`:1194
/// (the PKI of [`pki`] in `dir`), pushing `redirect-gateway def1` and
/// `dns` as `dhcp-option DNS`. Returns its pid file (the caller stops it).
pub fn start_server(ns: &str, dir: &Path, local: &str, dns: Ipv4Addr) -> PathBuf {
    let conf = dir.join("server.conf");
    std::fs::write(
        &conf,
        format!(
            "dev tun\nproto udp\nlocal {local}\nport 1194\nserver 10.8.0.0 255.255.255.0\ntopology subnet\nca {d}/ca.crt\ncert {d}/server.crt\nkey {d}/server.key\ndh none\npush \"redirect-gateway def1\"\npush \"dhcp-option DNS {dns}\"\nkeepalive 2 10\nverb 3\n",
            d = dir.display()
        ),
    )
    .expect("server.conf");
    let pid = dir.join("provider-openvpn.pid");
    start_server_conf(ns, &conf, &pid, &dir.join("provider-openvpn.log"));
    pid
}

/// Starts an OpenVPN server in namespace `ns` from `conf`, daemonized, with
/// its pid file and log (for a test that writes its own server file).
pub fn start_server_conf(ns: &str, conf: &Path, pid: &Path, log: &Path) {
    super::netns::must(
        "ip",
        &[
            "netns",
            "exec",
            ns,
            "openvpn",
            "--daemon",
            "stand-in-provider",
            "--writepid",
            &pid.display().to_string(),
            "--log",
            &log.display().to_string(),
            "--config",
            &conf.display().to_string(),
        ],
    );
}
