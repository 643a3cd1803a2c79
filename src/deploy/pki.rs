//! The site's certificate authority (`vpnjail pki`, `vpnjail client revoke`):
//! an ECDSA P-256 CA, a certificate for every ipsec jail (identity: its host's
//! name) and every `[[client]]` (identity: `NAME@SITE`), and the CRL of revoked
//! clients. May touch: the `pki/` directory beside the site file, where it
//! creates files owner-only from the first byte and never overwrites a key.
//!
//! Layout of `pki/`: `ca.key` `ca.crt` `crl.pem` `revoked.txt`,
//! `hosts/HOST.key` `hosts/HOST.crt`, `clients/NAME.key` `clients/NAME.crt`.

use super::model::Site;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, RevokedCertParams, SanType,
    SerialNumber,
};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The directory beside the site file.
pub const DIR: &str = "pki";
/// How long certificates are valid.
const CERT_LIFETIME: Duration = Duration::from_secs(10 * 365 * 86_400);
/// How long a CRL is valid: strongSwan treats an expired one as stale.
const CRL_LIFETIME: Duration = Duration::from_secs(365 * 86_400);
/// IKE intermediate (RFC 4945): some IKEv2 clients (macOS) want it on a gateway.
const IKE_INTERMEDIATE: &[u64] = &[1, 3, 6, 1, 5, 5, 8, 2, 2];

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Bad { path: PathBuf, message: String },
    #[error("certificate generation: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("no [[client]] named {0:?} in the site")]
    UnknownClient(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where each file of a site's PKI lives.
#[derive(Debug, Clone)]
pub struct Paths {
    pub dir: PathBuf,
}

impl Paths {
    /// `pki/` beside the site file.
    pub fn beside(site_file: &Path) -> Paths {
        Paths {
            dir: site_file.parent().unwrap_or(Path::new(".")).join(DIR),
        }
    }
    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }
    pub fn crl(&self) -> PathBuf {
        self.dir.join("crl.pem")
    }
    /// One line per revoked certificate: `SERIAL-HEX NAME UNIX-TIME`.
    pub fn revoked(&self) -> PathBuf {
        self.dir.join("revoked.txt")
    }
    pub fn host_key(&self, host: &str) -> PathBuf {
        self.dir.join("hosts").join(format!("{host}.key"))
    }
    pub fn host_cert(&self, host: &str) -> PathBuf {
        self.dir.join("hosts").join(format!("{host}.crt"))
    }
    pub fn client_key(&self, client: &str) -> PathBuf {
        self.dir.join("clients").join(format!("{client}.key"))
    }
    pub fn client_cert(&self, client: &str) -> PathBuf {
        self.dir.join("clients").join(format!("{client}.crt"))
    }
}

/// The CA's subject: fixed by the site's name, so the issuer of a later
/// certificate matches the CA certificate made on the first run.
fn ca_params(site: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name
        .push(DnType::OrganizationName, "vpnjail");
    p.distinguished_name
        .push(DnType::CommonName, format!("vpnjail CA {site}"));
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p
}

fn random_serial() -> Result<SerialNumber, PkiError> {
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .map_err(io(Path::new("/dev/urandom")))?;
    b[0] &= 0x7f; // a positive INTEGER
    b[0] |= 0x01; // of a fixed length
    Ok(SerialNumber::from_slice(&b))
}

fn leaf_params(
    cn: &str,
    sans: Vec<SanType>,
    eku: Vec<ExtendedKeyUsagePurpose>,
) -> Result<CertificateParams, PkiError> {
    let mut p = CertificateParams::default();
    let now = SystemTime::now();
    p.not_before = (now - Duration::from_secs(3600)).into();
    p.not_after = (now + CERT_LIFETIME).into();
    p.serial_number = Some(random_serial()?);
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name
        .push(DnType::OrganizationName, "vpnjail");
    p.distinguished_name.push(DnType::CommonName, cn);
    p.subject_alt_names = sans;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = eku;
    p.use_authority_key_identifier_extension = true;
    Ok(p)
}

/// Creates `path` with mode 0600 from the first byte; refuses to replace a
/// file that exists (a key is never overwritten).
fn create_private(path: &Path, content: &[u8]) -> Result<(), PkiError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path))?;
    f.write_all(content)
        .and_then(|()| f.sync_all())
        .map_err(io(path))
}

/// Certificates and CRLs are public: written whole (atomically), mode 0644.
fn write_public(path: &Path, content: &[u8]) -> Result<(), PkiError> {
    super::exec::write_atomic(path, content, 0o644).map_err(io(path))
}

fn mkdir_private(dir: &Path) -> Result<(), PkiError> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(dir))
}

fn read(path: &Path) -> Result<String, PkiError> {
    std::fs::read_to_string(path).map_err(io(path))
}

/// The CA's key and issuer, read from `pki/`.
fn issuer(paths: &Paths, site: &str) -> Result<Issuer<'static, KeyPair>, PkiError> {
    let path = paths.ca_key();
    let key = KeyPair::from_pem(&read(&path)?).map_err(|e| PkiError::Bad {
        path: path.clone(),
        message: format!("not a private key: {e}"),
    })?;
    Ok(Issuer::new(ca_params(site), key))
}

/// Issues a key and certificate when the certificate is missing. A key
/// without its certificate is an error: it is never replaced.
fn leaf(
    issuer: &Issuer<'_, KeyPair>,
    key_path: &Path,
    cert_path: &Path,
    params: impl FnOnce() -> Result<CertificateParams, PkiError>,
    created: &mut Vec<PathBuf>,
) -> Result<(), PkiError> {
    if cert_path.exists() {
        return Ok(());
    }
    if key_path.exists() {
        return Err(PkiError::Bad {
            path: key_path.to_path_buf(),
            message: format!(
                "a key without its certificate {}; it is never overwritten: move it away to issue a new one",
                cert_path.display()
            ),
        });
    }
    if let Some(d) = key_path.parent() {
        mkdir_private(d)?;
    }
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let cert = params()?.signed_by(&key, issuer)?;
    create_private(key_path, key.serialize_pem().as_bytes())?;
    write_public(cert_path, cert.pem().as_bytes())?;
    created.extend([key_path.to_path_buf(), cert_path.to_path_buf()]);
    Ok(())
}

/// `vpnjail pki`: issues whatever is missing (CA, gateway and client
/// certificates, an empty CRL) and returns the files it created. Running it
/// again creates nothing.
pub fn ensure(site: &Site) -> Result<Vec<PathBuf>, PkiError> {
    let paths = Paths::beside(&site.file);
    mkdir_private(&paths.dir)?;
    let mut created = Vec::new();
    let (ca_key, ca_cert) = (paths.ca_key(), paths.ca_cert());
    if !ca_key.exists() {
        if ca_cert.exists() {
            return Err(PkiError::Bad {
                path: ca_cert,
                message: "a CA certificate without its key".into(),
            });
        }
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut p = ca_params(&site.name);
        let now = SystemTime::now();
        p.not_before = (now - Duration::from_secs(3600)).into();
        p.not_after = (now + CERT_LIFETIME).into();
        p.serial_number = Some(random_serial()?);
        let cert = p.self_signed(&key)?;
        create_private(&ca_key, key.serialize_pem().as_bytes())?;
        write_public(&ca_cert, cert.pem().as_bytes())?;
        created.extend([ca_key, ca_cert]);
    } else if !ca_cert.exists() {
        return Err(PkiError::Bad {
            path: ca_cert,
            message: "missing: the CA key exists without its certificate".into(),
        });
    }
    let issuer = issuer(&paths, &site.name)?;
    for h in site.hosts.iter().filter(|h| h.ipsec_jail().is_some()) {
        leaf(
            &issuer,
            &paths.host_key(&h.name),
            &paths.host_cert(&h.name),
            || {
                leaf_params(
                    &h.name,
                    vec![
                        SanType::DnsName(h.name.as_str().try_into()?),
                        SanType::IpAddress(h.public_address.into()),
                    ],
                    vec![
                        ExtendedKeyUsagePurpose::ServerAuth,
                        ExtendedKeyUsagePurpose::ClientAuth,
                        ExtendedKeyUsagePurpose::Other(IKE_INTERMEDIATE.to_vec()),
                    ],
                )
            },
            &mut created,
        )?;
    }
    for c in &site.clients {
        let id = c.identity(&site.name);
        leaf(
            &issuer,
            &paths.client_key(&c.name),
            &paths.client_cert(&c.name),
            || {
                leaf_params(
                    &id,
                    vec![SanType::Rfc822Name(id.as_str().try_into()?)],
                    vec![ExtendedKeyUsagePurpose::ClientAuth],
                )
            },
            &mut created,
        )?;
    }
    if !paths.crl().exists() {
        write_crl(&paths, &issuer)?;
        created.push(paths.crl());
    }
    Ok(created)
}

/// `vpnjail client revoke NAME`: records the client's certificate as revoked
/// and signs a new CRL. Its key and certificate stay (moved aside by the
/// operator to issue a new one). Revoking twice changes nothing.
pub fn revoke(site: &Site, client: &str) -> Result<PathBuf, PkiError> {
    if !site.clients.iter().any(|c| c.name == client) {
        return Err(PkiError::UnknownClient(client.to_string()));
    }
    let paths = Paths::beside(&site.file);
    let cert_path = paths.client_cert(client);
    let der = pem_der(&read(&cert_path)?, "CERTIFICATE").ok_or_else(|| PkiError::Bad {
        path: cert_path.clone(),
        message: "not a PEM certificate".into(),
    })?;
    let serial = serial_of(&der).ok_or_else(|| PkiError::Bad {
        path: cert_path.clone(),
        message: "cannot read the certificate's serial number".into(),
    })?;
    let serial = hex(serial);
    let list = paths.revoked();
    let old = match std::fs::read_to_string(&list) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(io(&list)(e)),
    };
    if !old
        .lines()
        .any(|l| l.split_whitespace().next() == Some(&serial))
    {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        write_public(&list, format!("{old}{serial} {client} {now}\n").as_bytes())?;
    }
    write_crl(&paths, &issuer(&paths, &site.name)?)?;
    Ok(paths.crl())
}

/// Signs `crl.pem` from `revoked.txt`; the CRL number is the time, so it grows.
fn write_crl(paths: &Paths, issuer: &Issuer<'_, KeyPair>) -> Result<(), PkiError> {
    let list = paths.revoked();
    let text = match std::fs::read_to_string(&list) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(io(&list)(e)),
    };
    let mut revoked = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let mut w = l.split_whitespace();
        let (Some(s), Some(_), Some(t)) = (w.next(), w.next(), w.next()) else {
            continue;
        };
        let (Some(serial), Ok(t)) = (unhex(s), t.parse::<u64>()) else {
            return Err(PkiError::Bad {
                path: list.clone(),
                message: format!("line {}: expected SERIAL-HEX NAME UNIX-TIME", i + 1),
            });
        };
        revoked.push(RevokedCertParams {
            serial_number: SerialNumber::from_slice(&serial),
            revocation_time: (SystemTime::UNIX_EPOCH + Duration::from_secs(t)).into(),
            reason_code: None,
            invalidity_date: None,
        });
    }
    let now = SystemTime::now();
    let number = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let crl = CertificateRevocationListParams {
        this_update: (now - Duration::from_secs(60)).into(),
        next_update: (now + CRL_LIFETIME).into(),
        crl_number: SerialNumber::from_slice(&number.to_be_bytes()),
        issuing_distribution_point: None,
        revoked_certs: revoked,
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    }
    .signed_by(issuer)?;
    write_public(&paths.crl(), crl.pem()?.as_bytes())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The DER inside the first PEM block labelled `label`.
pub fn pem_der(text: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let body = text.split(&begin).nth(1)?.split(&end).next()?;
    let b64: String = body.split_whitespace().collect();
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

/// One DER element at the start of `b`: (tag, content, rest).
fn der_element(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, b) = b.split_first()?;
    let (&l, mut b) = b.split_first()?;
    let len = if l < 0x80 {
        usize::from(l)
    } else {
        let n = usize::from(l & 0x7f);
        if n == 0 || n > 4 || b.len() < n {
            return None;
        }
        let v = b[..n]
            .iter()
            .fold(0usize, |a, &x| (a << 8) | usize::from(x));
        b = &b[n..];
        v
    };
    (b.len() >= len).then(|| (tag, &b[..len], &b[len..]))
}

/// A certificate's serial number: Certificate → tbsCertificate → (the
/// optional `[0]` version) → serialNumber INTEGER, without a leading zero.
pub fn serial_of(der: &[u8]) -> Option<&[u8]> {
    let (0x30, cert, _) = der_element(der)? else {
        return None;
    };
    let (0x30, tbs, _) = der_element(cert)? else {
        return None;
    };
    let (mut tag, mut v, rest) = der_element(tbs)?;
    if tag == 0xa0 {
        (tag, v, _) = der_element(rest)?;
    }
    if tag != 0x02 {
        return None;
    }
    Some(match v {
        [0, rest @ ..] if !rest.is_empty() => rest,
        _ => v,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_numbers_come_back_from_the_der() {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut p = ca_params("t");
        p.serial_number = Some(SerialNumber::from_slice(&[0x01, 0x23, 0x45]));
        let cert = p.self_signed(&key).unwrap();
        assert_eq!(serial_of(cert.der()), Some(&[0x01, 0x23, 0x45][..]));
        let der = pem_der(&cert.pem(), "CERTIFICATE").unwrap();
        assert_eq!(der, cert.der().to_vec());
        assert_eq!(serial_of(&der[..10]), None);
        assert_eq!(unhex(&hex(&[0, 0xab, 0xff])), Some(vec![0, 0xab, 0xff]));
        assert_eq!(unhex("abc"), None);
    }

    #[test]
    fn private_files_are_never_replaced() {
        let d = tempfile::tempdir().unwrap();
        let k = d.path().join("x.key");
        create_private(&k, b"one").unwrap();
        assert!(create_private(&k, b"two").is_err());
        assert_eq!(std::fs::read(&k).unwrap(), b"one");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&k).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
