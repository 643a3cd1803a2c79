//! One download of one URL list: a conditional GET (ETag, Last-Modified),
//! bounded in size and time, streamed to a temporary file in the cache dir,
//! checked as a list, and renamed over the last good copy only if it passes.
//! Touches the network (the list's server) and the cache dir, nothing else.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::blocklist::{self, FileStats, ListError};
use super::domainset::DomainSetBuilder;
use super::listconfig::FetchConfig;

/// What is kept beside each cached copy (`NAME.meta`, JSON): the
/// validators for the next conditional download and the last outcomes.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub url: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// Unix seconds of the last download that left a good copy (or a 304).
    pub last_success: Option<u64>,
    /// Unix seconds and reason of the last failed refresh.
    pub last_failure: Option<(u64, String)>,
    /// Entries in the good copy.
    pub entries: Option<usize>,
}

impl Meta {
    /// The time of the last attempt, successful or not.
    pub fn last_attempt(&self) -> Option<u64> {
        self.last_success
            .max(self.last_failure.as_ref().map(|f| f.0))
    }

    /// Reads the meta of `url`'s copy in `dir`; a missing or unreadable one is empty.
    pub fn load(dir: &Path, url: &str) -> Meta {
        let path = meta_path(&cache_path(dir, url));
        let meta = fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Meta>(&b).ok())
            .filter(|m| m.url == url);
        meta.unwrap_or_else(|| Meta {
            url: url.to_string(),
            ..Meta::default()
        })
    }

    /// Writes it beside `url`'s copy in `dir`, atomically.
    pub fn store(&self, dir: &Path) -> io::Result<()> {
        let path = meta_path(&cache_path(dir, &self.url));
        let json = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        write_atomic(&path, |f| f.write_all(&json))
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The cached copy of `url` in `dir`: the host (for a person reading the
/// folder) and a stable hash of the whole URL (FNV-1a, the same on every run).
pub fn cache_path(dir: &Path, url: &str) -> PathBuf {
    let host = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split(['/', ':', '?', '#'])
        .next()
        .unwrap_or("");
    let host: String = host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
        .take(64)
        .collect();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in url.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    dir.join(format!("{host}-{h:016x}.list"))
}

fn meta_path(copy: &Path) -> PathBuf {
    copy.with_extension("meta")
}

/// What a refresh did.
#[derive(Debug, PartialEq, Eq)]
pub enum Fetched {
    /// 304 Not Modified: the copy is current.
    NotModified,
    /// A new copy is in place, with its counts.
    Updated(FileStats),
}

/// Why a refresh kept the last good copy.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0}")]
    Http(String),
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("larger than max_list_bytes ({0} bytes)")]
    TooLarge(u64),
    #[error("not a list: {0}")]
    NotAList(ListError),
    #[error("not a list: {skipped} of {lines} lines not understood (first at line {first}: {why})")]
    Unparsable {
        skipped: usize,
        lines: usize,
        first: usize,
        why: &'static str,
    },
    #[error("shrank from {old} to {new} entries (more than 90%); kept the last good copy")]
    Shrank { old: usize, new: usize },
    #[error("cache dir: {0}")]
    Io(#[from] io::Error),
}

/// The HTTP client for one round of refreshes: the configured time bound,
/// no proxy from the environment, and `tls_ca`'s roots instead of the web's
/// when set.
pub fn agent(config: &FetchConfig) -> Result<ureq::Agent, String> {
    use ureq::tls::{Certificate, RootCerts, TlsConfig};
    let mut tls = TlsConfig::builder();
    if let Some(ca) = &config.tls_ca {
        let pem = fs::read(ca).map_err(|e| format!("tls_ca {}: {e}", ca.display()))?;
        let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        if certs.is_empty() {
            return Err(format!("tls_ca {}: no PEM certificate in it", ca.display()));
        }
        tls = tls.root_certs(RootCerts::new_with_certs(&certs));
    }
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(config.timeout))
        .http_status_as_error(false)
        .proxy(None)
        .max_redirects(5)
        .user_agent(concat!("vpndns/", env!("CARGO_PKG_VERSION")))
        .tls_config(tls.build())
        .build()
        .new_agent();
    Ok(agent)
}

/// Refreshes `meta.url`'s copy in `config.cache_dir`: asks conditionally if
/// a copy exists, and replaces it only with a download that is within
/// `max_bytes`, is text, is mostly list lines, and does not shrink a copy of
/// `previous` entries by more than 90%. Updates `meta`'s validators on
/// success; the caller records the outcome.
pub fn refresh(
    agent: &ureq::Agent,
    config: &FetchConfig,
    meta: &mut Meta,
    previous: usize,
) -> Result<Fetched, FetchError> {
    let copy = cache_path(&config.cache_dir, &meta.url);
    let mut request = agent.get(&meta.url);
    if copy.exists() {
        if let Some(etag) = &meta.etag {
            request = request.header("If-None-Match", etag);
        }
        if let Some(lm) = &meta.last_modified {
            request = request.header("If-Modified-Since", lm);
        }
    }
    let mut response = request
        .call()
        .map_err(|e| FetchError::Http(e.to_string()))?;
    let status = response.status().as_u16();
    if status == 304 && copy.exists() {
        return Ok(Fetched::NotModified);
    }
    if status != 200 {
        return Err(FetchError::Status(status));
    }
    let header = |name: &str| {
        (response.headers().get(name))
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    let (etag, last_modified) = (header("etag"), header("last-modified"));
    let length = header("content-length").and_then(|l| l.parse::<u64>().ok());
    if length.is_some_and(|l| l > config.max_bytes) {
        return Err(FetchError::TooLarge(config.max_bytes));
    }
    fs::create_dir_all(&config.cache_dir)?;
    let tmp = copy.with_extension(format!("tmp{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let body = response.body_mut().with_config().reader();
    let written = write_new(&tmp, |f| io::copy(&mut body.take(config.max_bytes + 1), f));
    match written {
        Ok(n) if n <= config.max_bytes => {}
        other => {
            let _ = fs::remove_file(&tmp);
            return Err(match other {
                Ok(_) => FetchError::TooLarge(config.max_bytes),
                Err(e) => FetchError::Http(format!("reading the body: {e}")),
            });
        }
    }
    let checked = check(&tmp, previous);
    match checked {
        Ok(stats) => {
            fs::rename(&tmp, &copy)?;
            sync_dir(&config.cache_dir);
            meta.etag = etag;
            meta.last_modified = last_modified;
            Ok(Fetched::Updated(stats))
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Whether the file at `path` is a list good enough to replace one of
/// `previous` entries; its counts if so.
pub fn check(path: &Path, previous: usize) -> Result<FileStats, FetchError> {
    let (mut block, mut allow) = (DomainSetBuilder::default(), DomainSetBuilder::default());
    let stats =
        blocklist::load_file(path, 0, &mut block, &mut allow).map_err(FetchError::NotAList)?;
    let entries = stats.blocked + stats.allowed;
    // More lines not understood than understood: an HTML error page, a
    // login portal, a format we do not read.
    if let Some((first, why)) = stats.first_skip
        && stats.skipped > entries
    {
        return Err(FetchError::Unparsable {
            skipped: stats.skipped,
            lines: stats.skipped + entries,
            first,
            why,
        });
    }
    if previous > 0 && entries.saturating_mul(10) < previous {
        return Err(FetchError::Shrank {
            old: previous,
            new: entries,
        });
    }
    Ok(stats)
}

/// Creates `path` (mode 0644, failing if it exists), fills it, and syncs it.
fn write_new<T>(path: &Path, fill: impl FnOnce(&mut File) -> io::Result<T>) -> io::Result<T> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)?;
    let t = fill(&mut f)?;
    f.sync_all()?;
    Ok(t)
}

/// Writes `path` whole or not at all: a temporary file beside it, renamed over it.
fn write_atomic(path: &Path, fill: impl FnOnce(&mut File) -> io::Result<()>) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let result = write_new(&tmp, fill).and_then(|()| fs::rename(&tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Makes a rename durable; a failure here only weakens that, so it is ignored.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_paths_are_stable_distinct_and_readable() {
        let dir = Path::new("/var/db/vpndns/lists");
        let a = cache_path(dir, "https://lists.example.org:8443/ads.txt?x=1");
        assert_eq!(
            a,
            cache_path(dir, "https://lists.example.org:8443/ads.txt?x=1")
        );
        assert_ne!(
            a,
            cache_path(dir, "https://lists.example.org:8443/ads.txt?x=2")
        );
        let name = a.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with("lists.example.org-") && name.ends_with(".list"),
            "{name}"
        );
        let odd = cache_path(dir, "http://../../etc/passwd");
        assert_eq!(odd.parent(), Some(dir), "{odd:?}");
    }

    #[test]
    fn check_refuses_binary_unparsable_and_shrunk_copies() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        let write = |text: &[u8]| fs::write(&path, text).unwrap();
        write(b"a.example\nb.example\n# c\n");
        assert_eq!(check(&path, 0).unwrap().blocked, 2);
        assert_eq!(check(&path, 20).unwrap().blocked, 2, "10% is kept");
        assert!(matches!(
            check(&path, 21),
            Err(FetchError::Shrank { old: 21, new: 2 })
        ));
        write(b"a.example\n\x00\x01\x02");
        assert!(matches!(
            check(&path, 0),
            Err(FetchError::NotAList(ListError::Binary(2)))
        ));
        write(b"<html>\n<body>Sign in</body>\n</html>\nok.example\n");
        let e = check(&path, 0).unwrap_err();
        assert!(e.to_string().starts_with("not a list: 3 of 4 lines"), "{e}");
        write(b"");
        assert_eq!(
            check(&path, 0).unwrap().blocked,
            0,
            "empty and new: accepted"
        );
    }

    #[test]
    fn meta_round_trips_and_ignores_another_urls() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Meta::load(dir.path(), "http://a.test/l");
        assert_eq!(m.last_attempt(), None);
        m.etag = Some("\"v1\"".into());
        m.last_success = Some(10);
        m.last_failure = Some((20, "HTTP status 500".into()));
        m.store(dir.path()).unwrap();
        assert_eq!(Meta::load(dir.path(), "http://a.test/l"), m);
        assert_eq!(m.last_attempt(), Some(20));
        assert_eq!(Meta::load(dir.path(), "http://b.test/l").etag, None);
    }
}
