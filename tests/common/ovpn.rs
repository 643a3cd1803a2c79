//! The stand-in OpenVPN providers of the namespace tests (egress_e2e,
//! ha_e2e): a throw-away PKI made with openssl in the test's directory, and
//! the server started in a namespace. May touch: files in that directory;
//! starts `openvpn` (the caller stops it by its pid file).

use std::path::Path;

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

/// Starts an OpenVPN server in namespace `ns` from `conf`, daemonized, with
/// its pid file and log.
pub fn start_server(ns: &str, conf: &Path, pid: &Path, log: &Path) {
    let out = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "openvpn",
            "--daemon",
            "stand-in-provider",
        ])
        .arg("--writepid")
        .arg(pid)
        .arg("--log")
        .arg(log)
        .arg("--config")
        .arg(conf)
        .output()
        .expect("openvpn runs");
    assert!(
        out.status.success(),
        "openvpn server in {ns}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
