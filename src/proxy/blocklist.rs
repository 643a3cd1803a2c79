//! Blocklist and allowlist files: the four common formats, mixed freely line
//! by line, read as a stream into [`DomainSet`]s.
//!
//! | format   | example                      | meaning                         |
//! |----------|------------------------------|---------------------------------|
//! | plain    | `ads.example.com`            | the domain and every name below |
//! | hosts    | `0.0.0.0 ads.example.com b`  | each name and below; `localhost` and friends ignored |
//! | adblock  | `\|\|ads.example.com^`       | the domain and below; `@@\|\|d^` allows `d`; other rules skipped |
//! | wildcard | `*.ads.example.com`          | the domain and below (see below) |
//!
//! `#` and `!` start comments. A wildcard entry also blocks the domain itself:
//! the converted lists this format comes from carry each domain once, as
//! `*.d`, meaning the same set of names as `d` in the other formats.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::net::IpAddr;
use std::path::Path;

use super::domainset::DomainSetBuilder;
use super::name::Name;

/// What one line of a list contributes.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// Nothing: blank or comment.
    Nothing,
    /// Domains to block (a hosts line may name several).
    Block(Vec<&'a str>),
    /// A domain to allow (adblock exception `@@||d^`).
    Allow(&'a str),
    /// A line that is not understood or not supported, with why.
    Skip(&'static str),
}

/// Host names that hosts files map to themselves; never blocks.
const HOSTS_SELF: &[&str] = &[
    "localhost",
    "localhost.localdomain",
    "local",
    "broadcasthost",
    "ip6-localhost",
    "ip6-loopback",
    "ip6-localnet",
    "ip6-mcastprefix",
    "ip6-allnodes",
    "ip6-allrouters",
    "ip6-allhosts",
    "0.0.0.0",
];

/// Classifies one line.
pub fn parse_line(line: &str) -> Line<'_> {
    let line = line.trim();
    if line.is_empty() || line.starts_with(['#', '!', '[']) {
        return Line::Nothing;
    }
    if let Some(rule) = line.strip_prefix("@@||") {
        return match rule.strip_suffix('^') {
            Some(d) if is_domain(d) => Line::Allow(d),
            _ => Line::Skip("adblock exception other than @@||domain^"),
        };
    }
    if let Some(rule) = line.strip_prefix("||") {
        return match rule.strip_suffix('^') {
            Some(d) if is_domain(d) => Line::Block(vec![d]),
            _ => Line::Skip("adblock rule other than ||domain^"),
        };
    }
    let line = line.split('#').next().unwrap_or("").trim();
    let mut tokens = line.split_whitespace();
    let Some(first) = tokens.next() else {
        return Line::Nothing;
    };
    if first.parse::<IpAddr>().is_ok() {
        let mut tokens = tokens.peekable();
        if tokens.peek().is_none() {
            return Line::Skip("an address without names");
        }
        let names: Vec<&str> = tokens
            .filter(|t| !HOSTS_SELF.iter().any(|s| s.eq_ignore_ascii_case(t)))
            .collect();
        if names.iter().any(|t| !is_domain(t)) {
            return Line::Skip("hosts line with a name that is not a domain");
        }
        return if names.is_empty() {
            Line::Nothing
        } else {
            Line::Block(names)
        };
    }
    if tokens.next().is_some() {
        return Line::Skip("several words, and the first is not an address");
    }
    let domain = first.strip_prefix("*.").unwrap_or(first);
    if is_domain(domain) {
        Line::Block(vec![domain])
    } else {
        Line::Skip("not a domain name")
    }
}

/// A host name as lists write them: letters, digits, `-` and `_`, dot-separated
/// labels of 1 to 63 bytes, not an IP address.
fn is_domain(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        && s.parse::<IpAddr>().is_err()
}

/// Largest list file loaded: the biggest public lists are a few tens of MiB;
/// anything near this is a mistake (a disk image, a log) and is refused by
/// its size before a byte of it is read.
pub const MAX_FILE_BYTES: u64 = 512 << 20;
/// Longest line read, counting its newline: a hosts line naming many hosts fits easily; a longer
/// "line" is binary data or a file without newlines, and is refused rather
/// than buffered whole.
pub const MAX_LINE_BYTES: usize = 64 << 10;

/// Counts from loading one file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FileStats {
    /// Domains added to the block set (before deduplication across files).
    pub blocked: usize,
    /// Domains added to the allow set.
    pub allowed: usize,
    /// Lines not understood or not supported.
    pub skipped: usize,
    /// The first skipped line (number, reason), to help fix the file.
    pub first_skip: Option<(usize, &'static str)>,
}

/// Why a list file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    #[error("line {0}: binary data (NUL byte); is this a blocklist?")]
    Binary(usize),
    #[error("{size} bytes is over the limit of {max} bytes for a list file; is this a blocklist?")]
    TooLarge { size: u64, max: u64 },
    #[error("line {0} is longer than {max} bytes; is this a blocklist?", max = MAX_LINE_BYTES)]
    LineTooLong(usize),
}

/// A text file read line by line within the caps: refused by its size
/// before reading if over [`MAX_FILE_BYTES`], never more than that read in
/// all (devices and pipes report no size), no line over [`MAX_LINE_BYTES`]
/// buffered, and a NUL byte refused as binary data. For list files and for
/// any other line-oriented file the proxy reads, such as hosts files.
pub struct BoundedLines {
    reader: BufReader<std::io::Take<File>>,
    buf: Vec<u8>,
    number: usize,
}

impl BoundedLines {
    /// Opens `path`, refusing it by its size.
    pub fn open(path: &Path) -> Result<BoundedLines, ListError> {
        let file = File::open(path)?;
        let size = file.metadata()?.len();
        if size > MAX_FILE_BYTES {
            return Err(ListError::TooLarge {
                size,
                max: MAX_FILE_BYTES,
            });
        }
        Ok(BoundedLines {
            reader: BufReader::with_capacity(1 << 16, file.take(MAX_FILE_BYTES + 1)),
            buf: Vec::with_capacity(256),
            number: 0,
        })
    }

    /// The next line's number (from 1) and bytes, without its line ending
    /// (`\n` or `\r\n`); `None` at the end of the file.
    pub fn next_line(&mut self) -> Result<Option<(usize, &[u8])>, ListError> {
        self.buf.clear();
        let limit = MAX_LINE_BYTES as u64 + 1;
        if self
            .reader
            .by_ref()
            .take(limit)
            .read_until(b'\n', &mut self.buf)?
            == 0
        {
            if self.reader.get_ref().limit() == 0 {
                return Err(ListError::TooLarge {
                    size: MAX_FILE_BYTES + 1,
                    max: MAX_FILE_BYTES,
                });
            }
            return Ok(None);
        }
        self.number += 1;
        if self.buf.contains(&0) {
            return Err(ListError::Binary(self.number));
        }
        if self.buf.len() > MAX_LINE_BYTES {
            return Err(ListError::LineTooLong(self.number));
        }
        let mut line = &self.buf[..];
        if let Some(l) = line.strip_suffix(b"\n") {
            line = l.strip_suffix(b"\r").unwrap_or(l);
        }
        Ok(Some((self.number, line)))
    }
}

/// Streams `path` into the builders: blocked names into `block` (tagged with
/// `source`), exceptions into `allow`.
pub fn load_file(
    path: &Path,
    source: u16,
    block: &mut DomainSetBuilder,
    allow: &mut DomainSetBuilder,
) -> Result<FileStats, ListError> {
    let mut lines = BoundedLines::open(path)?;
    let mut stats = FileStats::default();
    while let Some((number, bytes)) = lines.next_line()? {
        let mut skip = |why| {
            stats.skipped += 1;
            stats.first_skip.get_or_insert((number, why));
        };
        let Ok(text) = std::str::from_utf8(bytes) else {
            skip("not UTF-8");
            continue;
        };
        match parse_line(text) {
            Line::Nothing => {}
            Line::Skip(why) => skip(why),
            Line::Allow(d) => match Name::from_text(d) {
                Ok(name) => {
                    allow.insert(&name, source);
                    stats.allowed += 1;
                }
                Err(_) => skip("name too long"),
            },
            Line::Block(names) => {
                for d in names {
                    match Name::from_text(d) {
                        Ok(name) => {
                            block.insert(&name, source);
                            stats.blocked += 1;
                        }
                        Err(_) => skip("name too long"),
                    }
                }
            }
        }
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_format() {
        assert_eq!(
            parse_line("ads.example.com\n"),
            Line::Block(vec!["ads.example.com"])
        );
        assert_eq!(
            parse_line("  Ads.Example.com # note"),
            Line::Block(vec!["Ads.Example.com"])
        );
        assert_eq!(
            parse_line("0.0.0.0 a.com b.com"),
            Line::Block(vec!["a.com", "b.com"])
        );
        assert_eq!(parse_line("127.0.0.1 localhost"), Line::Nothing);
        assert_eq!(parse_line("::1 ip6-localhost ip6-loopback"), Line::Nothing);
        assert_eq!(parse_line(":: x.org"), Line::Block(vec!["x.org"]));
        assert_eq!(
            parse_line("||ads.example.com^"),
            Line::Block(vec!["ads.example.com"])
        );
        assert_eq!(
            parse_line("@@||good.example.com^"),
            Line::Allow("good.example.com")
        );
        assert_eq!(
            parse_line("*.easy.example"),
            Line::Block(vec!["easy.example"])
        );
        assert_eq!(
            parse_line("||0.0.0.0.beeglivesex.com^"),
            Line::Block(vec!["0.0.0.0.beeglivesex.com"])
        );
    }

    #[test]
    fn comments_and_unsupported() {
        assert_eq!(parse_line("# comment"), Line::Nothing);
        assert_eq!(parse_line("! adblock comment"), Line::Nothing);
        assert_eq!(parse_line("[Adblock Plus 2.0]"), Line::Nothing);
        assert_eq!(parse_line(""), Line::Nothing);
        assert!(matches!(
            parse_line("||ads.com^$third-party"),
            Line::Skip(_)
        ));
        assert!(matches!(parse_line("/banner/*/img^"), Line::Skip(_)));
        assert!(matches!(parse_line("two words"), Line::Skip(_)));
        assert!(matches!(parse_line("1.2.3.4"), Line::Skip(_)));
        assert!(matches!(parse_line("0.0.0.0 bad/name"), Line::Skip(_)));
    }

    #[test]
    fn loads_a_mixed_file_and_refuses_binary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mixed.txt");
        std::fs::write(
            &path,
            "# mixed\nplain.test\n0.0.0.0 hosts.test other.test\n||adblock.test^\n*.wild.test\n@@||ok.plain.test^\nbad line here\n",
        )
        .unwrap();
        let (mut b, mut a) = (DomainSetBuilder::default(), DomainSetBuilder::default());
        let stats = load_file(&path, 0, &mut b, &mut a).unwrap();
        assert_eq!((stats.blocked, stats.allowed, stats.skipped), (5, 1, 1));
        assert_eq!(stats.first_skip.map(|s| s.0), Some(7));
        let set = b.build();
        for name in [
            "plain.test",
            "x.hosts.test",
            "adblock.test",
            "wild.test",
            "a.wild.test",
        ] {
            assert!(
                set.lookup(&Name::from_text(name).unwrap()).is_some(),
                "{name}"
            );
        }
        std::fs::write(&path, b"ok.test\n\x00\x01\x02").unwrap();
        let err = load_file(
            &path,
            0,
            &mut DomainSetBuilder::default(),
            &mut DomainSetBuilder::default(),
        );
        assert!(matches!(err, Err(ListError::Binary(2))));
    }

    fn load(path: &Path) -> Result<FileStats, ListError> {
        load_file(
            path,
            0,
            &mut DomainSetBuilder::default(),
            &mut DomainSetBuilder::default(),
        )
    }

    #[test]
    fn refuses_a_huge_file_by_its_size_without_reading_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk.img");
        // 1 GiB, sparse: no blocks written, so this test is instant.
        let f = File::create(&path).unwrap();
        f.set_len(1 << 30).unwrap();
        drop(f);
        let err = load(&path).unwrap_err();
        assert!(
            matches!(err, ListError::TooLarge { size, max } if size == 1 << 30 && max == MAX_FILE_BYTES),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains("1073741824 bytes is over the limit"),
            "{text}"
        );
        // Just under the cap is read (and, being all NULs, refused as binary).
        let f = File::create(&path).unwrap();
        f.set_len(MAX_FILE_BYTES).unwrap();
        drop(f);
        assert!(matches!(load(&path), Err(ListError::Binary(1))));
    }

    #[test]
    fn refuses_endless_or_newline_free_input_after_one_line() {
        // A device reports size 0 and never ends: only one line's worth is read.
        let zero = Path::new("/dev/zero");
        if zero.exists() {
            assert!(matches!(load(zero), Err(ListError::Binary(1))));
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("one-line.txt");
        let mut text = b"ok.example\n".to_vec();
        text.extend(std::iter::repeat_n(b'a', MAX_LINE_BYTES + 10));
        std::fs::write(&path, &text).unwrap();
        let err = load(&path).unwrap_err();
        assert!(matches!(err, ListError::LineTooLong(2)), "{err:?}");
        assert!(
            err.to_string()
                .starts_with("line 2 is longer than 65536 bytes")
        );
        // A line of exactly the limit, newline included, is fine.
        let mut text = vec![b'a'; MAX_LINE_BYTES - 1];
        text.push(b'\n');
        std::fs::write(&path, &text).unwrap();
        assert_eq!(
            load(&path).unwrap().skipped,
            1,
            "too long for a name: skipped"
        );
    }

    #[test]
    fn bounded_lines_strip_line_endings_and_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts");
        std::fs::write(&path, b"a\r\n\nb\nlast").unwrap();
        let mut lines = BoundedLines::open(&path).unwrap();
        let mut got = Vec::new();
        while let Some((n, l)) = lines.next_line().unwrap() {
            got.push((n, l.to_vec()));
        }
        let want: Vec<(usize, Vec<u8>)> = vec![
            (1, b"a".to_vec()),
            (2, vec![]),
            (3, b"b".to_vec()),
            (4, b"last".to_vec()),
        ];
        assert_eq!(got, want);
    }
}
