//! The profiles a road warrior imports (`vpnjail client NAME --format ...`,
//! docs/clients.md): a swanctl directory for a Linux or FreeBSD client, the
//! strongSwan Android app's `.sswan` JSON, and an Apple `.mobileconfig`; the
//! last two carry a PKCS#12 bundle made by `openssl pkcs12` (3DES/SHA1, the
//! form phones import) through the executor. May touch: the client's files in
//! `pki/` (read only), a private temporary directory, and the output path.

use super::command::{Action, Cmd, Guard, Plan, Step};
use super::exec::{self, System};
use super::model::{Client, Host, Site};
use super::pki::{self, Paths};
use super::render::{self, roadwarrior as rw};
use base64::Engine;
use std::path::{Path, PathBuf};

/// What `--format` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Swanctl,
    Sswan,
    Mobileconfig,
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("no [[client]] named {0:?} in the site")]
    UnknownClient(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Bad(String),
    #[error(transparent)]
    Render(#[from] render::RenderError),
    #[error("openssl pkcs12: {0}")]
    Exec(#[from] exec::ExecError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ProfileError + '_ {
    move |source| ProfileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The client, its host, and its PEM files.
struct Material<'a> {
    site: &'a Site,
    client: &'a Client,
    host: &'a Host,
    paths: Paths,
    ca: String,
    cert: String,
    key: String,
}

impl<'a> Material<'a> {
    fn load(site: &'a Site, name: &str) -> Result<Material<'a>, ProfileError> {
        let client = site
            .clients
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| ProfileError::UnknownClient(name.into()))?;
        let host = site
            .host(&client.host)
            .ok_or_else(|| ProfileError::Bad(format!("no host {:?}", client.host)))?;
        let paths = Paths::beside(&site.file);
        let read = |p: PathBuf| std::fs::read_to_string(&p).map_err(io(&p));
        Ok(Material {
            ca: read(paths.ca_cert())?,
            cert: read(paths.client_cert(name))?,
            key: read(paths.client_key(name))?,
            site,
            client,
            host,
            paths,
        })
    }

    fn identity(&self) -> String {
        self.client.identity(&self.site.name)
    }

    /// What the client sends into its tunnel: everything with an exit, else the WAN.
    fn remote_ts(&self) -> Vec<String> {
        match self.client.exit {
            Some(_) => vec!["0.0.0.0/0".into()],
            None => rw::wan(self.site).iter().map(|n| n.to_string()).collect(),
        }
    }
}

/// `--format swanctl`: (path relative to the output directory, mode, content).
pub fn swanctl_files(site: &Site, name: &str) -> Result<Vec<(String, u32, String)>, ProfileError> {
    let m = Material::load(site, name)?;
    let mut ctx = tera::Context::new();
    ctx.insert("site", &site.name);
    ctx.insert("name", name);
    ctx.insert("host", &m.host.name);
    ctx.insert("identity", &m.identity());
    ctx.insert("remote_addr", &m.host.public_address.to_string());
    ctx.insert("remote_ts", &m.remote_ts().join(", "));
    ctx.insert("ike", rw::IKE_PROPOSALS);
    ctx.insert("esp", rw::ESP_PROPOSALS);
    let conf = render::render("client-swanctl.conf", &ctx)?;
    Ok(vec![
        ("swanctl.conf".into(), 0o644, conf),
        (format!("x509/{name}.crt"), 0o644, m.cert.clone()),
        ("x509ca/ca.crt".into(), 0o644, m.ca.clone()),
        (format!("private/{name}.key"), 0o600, m.key.clone()),
    ])
}

/// A private scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch, ProfileError> {
        use std::os::unix::fs::DirBuilderExt;
        let d = std::env::temp_dir().join(format!(
            "vpnjail-p12-{}-{}",
            std::process::id(),
            pki_random_hex(4)?
        ));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&d)
            .map_err(io(&d))?;
        Ok(Scratch(d))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn random_bytes(n: usize) -> Result<Vec<u8>, ProfileError> {
    let mut b = vec![0u8; n];
    let p = Path::new("/dev/urandom");
    std::fs::File::open(p)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .map_err(io(p))?;
    Ok(b)
}

fn pki_random_hex(n: usize) -> Result<String, ProfileError> {
    Ok(random_bytes(n)?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// A password for the PKCS#12 bundle: 20 letters and digits (about 119 bits).
pub fn generate_password() -> Result<String, ProfileError> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut out = String::new();
    while out.len() < 20 {
        for b in random_bytes(32)? {
            // Rejection sampling: no bias towards the first letters.
            let limit = 256 - 256 % ALPHABET.len();
            if usize::from(b) < limit && out.len() < 20 {
                out.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
            }
        }
    }
    Ok(out)
}

/// The `openssl pkcs12 -export` step: 3DES for key and certificates, a SHA1
/// MAC (what iOS and Android import); the password is read from a file, never
/// from the command line.
pub fn pkcs12_plan(paths: &Paths, name: &str, password_file: &Path, out: &Path) -> Plan {
    let p = |x: &Path| x.display().to_string();
    let cmd = Cmd::new(
        "openssl",
        vec![
            "pkcs12".into(),
            "-export".into(),
            "-in".into(),
            p(&paths.client_cert(name)),
            "-inkey".into(),
            p(&paths.client_key(name)),
            "-certfile".into(),
            p(&paths.ca_cert()),
            "-name".into(),
            name.into(),
            "-keypbe".into(),
            "PBE-SHA1-3DES".into(),
            "-certpbe".into(),
            "PBE-SHA1-3DES".into(),
            "-macalg".into(),
            "sha1".into(),
            "-passout".into(),
            format!("file:{}", p(password_file)),
            "-out".into(),
            p(out),
        ],
    );
    Plan {
        title: format!("PKCS#12 bundle of client {name}"),
        steps: vec![Step {
            what: format!("openssl pkcs12 -export (3DES, SHA1 MAC) for {name}"),
            guard: Guard::Always,
            action: Action::Run(cmd),
            undo: vec![],
        }],
    }
}

/// The client's PKCS#12 bundle, encrypted with `password`.
pub fn pkcs12(
    site: &Site,
    name: &str,
    password: &str,
    sys: &mut dyn System,
) -> Result<Vec<u8>, ProfileError> {
    let m = Material::load(site, name)?;
    let scratch = Scratch::new()?;
    let pw = scratch.0.join("password");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&pw)
            .map_err(io(&pw))?;
        writeln!(f, "{password}").map_err(io(&pw))?;
    }
    let out = scratch.0.join(format!("{name}.p12"));
    exec::execute(&pkcs12_plan(&m.paths, name, &pw, &out), sys)?;
    std::fs::read(&out).map_err(io(&out))
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn uuid() -> Result<String, ProfileError> {
    let mut b = random_bytes(16)?;
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// `--format sswan`: the strongSwan Android app's profile (type `ikev2-cert`).
pub fn sswan(site: &Site, name: &str, p12: &[u8]) -> Result<String, ProfileError> {
    let m = Material::load(site, name)?;
    let ca = pki::pem_der(&m.ca, "CERTIFICATE").ok_or_else(|| {
        ProfileError::Bad(format!(
            "{}: not a PEM certificate",
            m.paths.ca_cert().display()
        ))
    })?;
    let mut v = serde_json::json!({
        "uuid": uuid()?,
        "name": format!("{} ({name})", site.name),
        "type": "ikev2-cert",
        "remote": {
            "addr": m.host.public_address.to_string(),
            "id": m.host.name,
            "cert": b64(&ca),
        },
        "local": {
            "id": m.identity(),
            "p12": b64(p12),
        },
        "ike-proposal": "aes256gcm16-prfsha256-ecp256",
        "esp-proposal": "aes256gcm16",
    });
    if m.client.exit.is_none() {
        v["split-tunneling"] = serde_json::json!({
            "subnets": m.remote_ts().join(" "),
            "block-ipv6": true,
        });
    } else {
        v["split-tunneling"] = serde_json::json!({ "block-ipv6": true });
    }
    serde_json::to_string_pretty(&v).map_err(|e| ProfileError::Bad(e.to_string()))
}

/// `--format mobileconfig`: an Apple configuration profile with the CA, the
/// PKCS#12 bundle (its password is asked at installation) and an IKEv2 VPN
/// payload that authenticates with it (ECDSA P-256).
pub fn mobileconfig(site: &Site, name: &str, p12: &[u8]) -> Result<String, ProfileError> {
    let m = Material::load(site, name)?;
    let ca = pki::pem_der(&m.ca, "CERTIFICATE").ok_or_else(|| {
        ProfileError::Bad(format!(
            "{}: not a PEM certificate",
            m.paths.ca_cert().display()
        ))
    })?;
    let id = format!("vpnjail.{}.{name}", site.name);
    let (u_top, u_ca, u_p12, u_vpn) = (uuid()?, uuid()?, uuid()?, uuid()?);
    let sa = "<dict>\n\t\t\t\t\t<key>EncryptionAlgorithm</key>\n\t\t\t\t\t<string>AES-256-GCM</string>\n\t\t\t\t\t<key>IntegrityAlgorithm</key>\n\t\t\t\t\t<string>SHA2-256</string>\n\t\t\t\t\t<key>DiffieHellmanGroup</key>\n\t\t\t\t\t<integer>19</integer>\n\t\t\t\t</dict>";
    Ok(format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>PayloadContent</key>
	<array>
		<dict>
			<key>PayloadType</key>
			<string>com.apple.security.root</string>
			<key>PayloadIdentifier</key>
			<string>{id}.ca</string>
			<key>PayloadUUID</key>
			<string>{u_ca}</string>
			<key>PayloadVersion</key>
			<integer>1</integer>
			<key>PayloadDisplayName</key>
			<string>vpnjail CA {site}</string>
			<key>PayloadContent</key>
			<data>{ca}</data>
		</dict>
		<dict>
			<key>PayloadType</key>
			<string>com.apple.security.pkcs12</string>
			<key>PayloadIdentifier</key>
			<string>{id}.p12</string>
			<key>PayloadUUID</key>
			<string>{u_p12}</string>
			<key>PayloadVersion</key>
			<integer>1</integer>
			<key>PayloadDisplayName</key>
			<string>{identity}</string>
			<key>PayloadContent</key>
			<data>{p12}</data>
		</dict>
		<dict>
			<key>PayloadType</key>
			<string>com.apple.vpn.managed</string>
			<key>PayloadIdentifier</key>
			<string>{id}.vpn</string>
			<key>PayloadUUID</key>
			<string>{u_vpn}</string>
			<key>PayloadVersion</key>
			<integer>1</integer>
			<key>PayloadDisplayName</key>
			<string>VPN {site}</string>
			<key>UserDefinedName</key>
			<string>{site} ({name})</string>
			<key>VPNType</key>
			<string>IKEv2</string>
			<key>IKEv2</key>
			<dict>
				<key>RemoteAddress</key>
				<string>{addr}</string>
				<key>RemoteIdentifier</key>
				<string>{host}</string>
				<key>LocalIdentifier</key>
				<string>{identity}</string>
				<key>AuthenticationMethod</key>
				<string>Certificate</string>
				<key>CertificateType</key>
				<string>ECDSA256</string>
				<key>PayloadCertificateUUID</key>
				<string>{u_p12}</string>
				<key>ServerCertificateIssuerCommonName</key>
				<string>vpnjail CA {site}</string>
				<key>ExtendedAuthEnabled</key>
				<integer>0</integer>
				<key>DeadPeerDetectionRate</key>
				<string>Medium</string>
				<key>IKESecurityAssociationParameters</key>
				{sa}
				<key>ChildSecurityAssociationParameters</key>
				{sa}
			</dict>
		</dict>
	</array>
	<key>PayloadDisplayName</key>
	<string>vpnjail {site}: {name}</string>
	<key>PayloadIdentifier</key>
	<string>{id}</string>
	<key>PayloadType</key>
	<string>Configuration</string>
	<key>PayloadUUID</key>
	<string>{u_top}</string>
	<key>PayloadVersion</key>
	<integer>1</integer>
</dict>
</plist>
"#,
        site = site.name,
        identity = m.identity(),
        ca = b64(&ca),
        p12 = b64(p12),
        addr = m.host.public_address,
        host = m.host.name,
    ))
}

/// Writes `content` owner-only (it holds a key or a bundle), refusing to
/// replace an existing file.
pub fn write_new(path: &Path, content: &[u8], mode: u32) -> Result<(), ProfileError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(d) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(d).map_err(io(d))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io(path))?;
    f.write_all(content).map_err(io(path))
}

/// `vpnjail client NAME --format F --out PATH`: writes the profile and
/// returns the generated password when one was made (printed once by the caller).
pub fn export(
    site: &Site,
    name: &str,
    format: Format,
    out: &Path,
    password: Option<String>,
    sys: &mut dyn System,
) -> Result<Option<String>, ProfileError> {
    if format == Format::Swanctl {
        for (rel, mode, content) in swanctl_files(site, name)? {
            write_new(&out.join(rel), content.as_bytes(), mode)?;
        }
        return Ok(None);
    }
    let (pw, generated) = match password {
        Some(p) => (p, false),
        None => (generate_password()?, true),
    };
    if out.exists() {
        return Err(ProfileError::Bad(format!(
            "{} exists; not overwritten",
            out.display()
        )));
    }
    let p12 = pkcs12(site, name, &pw, sys)?;
    let text = match format {
        Format::Sswan => sswan(site, name, &p12)?,
        _ => mobileconfig(site, name, &p12)?,
    };
    write_new(out, text.as_bytes(), 0o600)?;
    Ok(generated.then_some(pw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_uuids_have_their_shape() {
        let p = generate_password().unwrap();
        assert_eq!(p.len(), 20);
        assert!(p.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(p, generate_password().unwrap());
        let u = uuid().unwrap();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }
}
