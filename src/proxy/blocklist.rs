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
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use super::domainset::DomainSetBuilder;

/// What one line of a list contributes.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// Nothing: blank or comment.
    Nothing,
    /// Domains to block (a hosts line may name several).
    Block(Domains<'a>),
    /// A domain to allow (adblock exception `@@||d^`).
    Allow(&'a str),
    /// A line that is not understood or not supported, with why.
    Skip(&'static str),
}

/// The domains a [`Line::Block`] blocks, iterated without allocating: one
/// domain, or the names of a hosts line less its `localhost`-style names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domains<'a> {
    /// The one domain, or the names after a hosts line's address.
    text: &'a str,
    hosts: bool,
}

impl<'a> Iterator for Domains<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if !self.hosts {
            let one = self.text;
            self.text = "";
            return (!one.is_empty()).then_some(one);
        }
        loop {
            let rest = self.text.trim_start();
            if rest.is_empty() {
                self.text = rest;
                return None;
            }
            let end = find_whitespace(rest).unwrap_or(rest.len());
            let (token, tail) = rest.split_at(end);
            self.text = tail;
            if !is_hosts_self(token) {
                return Some(token);
            }
        }
    }
}

/// `s.find(char::is_whitespace)`, a byte at a time while the text is ASCII.
fn find_whitespace(s: &str) -> Option<usize> {
    for (i, &b) in s.as_bytes().iter().enumerate() {
        if !b.is_ascii() {
            // All before `i` is ASCII, so `i` starts a character.
            return s[i..].find(char::is_whitespace).map(|j| i + j);
        }
        // char::is_whitespace's ASCII members (u8::is_ascii_whitespace lacks \x0b).
        if matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') {
            return Some(i);
        }
    }
    None
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

fn is_hosts_self(token: &str) -> bool {
    HOSTS_SELF.iter().any(|s| s.eq_ignore_ascii_case(token))
}

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
            Some(d) if is_domain(d) => one(d),
            _ => Line::Skip("adblock rule other than ||domain^"),
        };
    }
    let line = match line.find('#') {
        Some(i) => line[..i].trim(),
        None => line,
    };
    let (first, rest) = match find_whitespace(line) {
        Some(i) => (&line[..i], line[i..].trim_start()),
        None => (line, ""),
    };
    if first.is_empty() {
        return Line::Nothing;
    }
    if is_ip(first) {
        if rest.is_empty() {
            return Line::Skip("an address without names");
        }
        let names = Domains {
            text: rest,
            hosts: true,
        };
        let mut any = false;
        for name in names.clone() {
            if !is_domain(name) {
                return Line::Skip("hosts line with a name that is not a domain");
            }
            any = true;
        }
        return if any {
            Line::Block(names)
        } else {
            Line::Nothing
        };
    }
    if !rest.is_empty() {
        return Line::Skip("several words, and the first is not an address");
    }
    let domain = first.strip_prefix("*.").unwrap_or(first);
    if is_domain(domain) {
        one(domain)
    } else {
        Line::Skip("not a domain name")
    }
}

fn one(domain: &str) -> Line<'_> {
    Line::Block(Domains {
        text: domain,
        hosts: false,
    })
}

/// Whether `s` is an IP address. Only text of the characters an address can
/// have is parsed: an IPv6 address has a ':', an IPv4 one only digits and
/// dots; most lines start with a name and skip the parse.
fn is_ip(s: &str) -> bool {
    let maybe = s.contains(':') || s.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    maybe && s.parse::<IpAddr>().is_ok()
}

/// Byte classes for [`is_domain`]: 0 not allowed in a host name, 1 a letter,
/// `-` or `_`, 2 a digit, 3 the dot.
const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = if c.is_ascii_digit() {
            2
        } else if c.is_ascii_alphabetic() || c == b'-' || c == b'_' {
            1
        } else if c == b'.' {
            3
        } else {
            0
        };
        b += 1;
    }
    t
};

/// A host name as lists write them: letters, digits, `-` and `_`, dot-separated
/// labels of 1 to 63 bytes, not an IP address. One pass over the bytes.
fn is_domain(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    if s.is_empty() || s.len() > 253 {
        return false;
    }
    let (mut label, mut numeric) = (0usize, true);
    for &b in s.as_bytes() {
        match CLASS[b as usize] {
            0 => return false,
            3 => {
                if label == 0 {
                    return false;
                }
                label = 0;
            }
            class => {
                numeric &= class == 2;
                label += 1;
                if label > 63 {
                    return false;
                }
            }
        }
    }
    // Of these characters only digits and dots can make an (IPv4) address.
    label > 0 && !(numeric && s.parse::<Ipv4Addr>().is_ok())
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
            Line::Allow(d) => match allow.insert_text(d, source) {
                Ok(()) => stats.allowed += 1,
                Err(_) => skip("name too long"),
            },
            Line::Block(names) => {
                for d in names {
                    match block.insert_text(d, source) {
                        Ok(()) => stats.blocked += 1,
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
    use crate::proxy::name::Name;

    /// The domains a line blocks, or `None` when it blocks nothing.
    fn blocks(line: &str) -> Option<Vec<&str>> {
        match parse_line(line) {
            Line::Block(d) => Some(d.collect()),
            _ => None,
        }
    }

    #[test]
    fn each_format() {
        assert_eq!(blocks("ads.example.com\n"), Some(vec!["ads.example.com"]));
        assert_eq!(
            blocks("  Ads.Example.com # note"),
            Some(vec!["Ads.Example.com"])
        );
        assert_eq!(blocks("0.0.0.0 a.com b.com"), Some(vec!["a.com", "b.com"]));
        assert_eq!(parse_line("127.0.0.1 localhost"), Line::Nothing);
        assert_eq!(parse_line("::1 ip6-localhost ip6-loopback"), Line::Nothing);
        assert_eq!(blocks(":: x.org"), Some(vec!["x.org"]));
        assert_eq!(blocks("||ads.example.com^"), Some(vec!["ads.example.com"]));
        assert_eq!(
            parse_line("@@||good.example.com^"),
            Line::Allow("good.example.com")
        );
        assert_eq!(blocks("*.easy.example"), Some(vec!["easy.example"]));
        assert_eq!(
            blocks("||0.0.0.0.beeglivesex.com^"),
            Some(vec!["0.0.0.0.beeglivesex.com"])
        );
    }

    /// The parser before it was made allocation-free, kept to check that the
    /// fast one classifies every line the same way.
    fn reference(line: &str) -> (Option<Vec<&str>>, Option<&str>, bool) {
        fn is_domain_ref(s: &str) -> bool {
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
        const NOTHING: (Option<Vec<&str>>, Option<&str>, bool) = (None, None, false);
        const SKIP: (Option<Vec<&str>>, Option<&str>, bool) = (None, None, true);
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', '!', '[']) {
            return NOTHING;
        }
        if let Some(rule) = line.strip_prefix("@@||") {
            return match rule.strip_suffix('^') {
                Some(d) if is_domain_ref(d) => (None, Some(d), false),
                _ => SKIP,
            };
        }
        if let Some(rule) = line.strip_prefix("||") {
            return match rule.strip_suffix('^') {
                Some(d) if is_domain_ref(d) => (Some(vec![d]), None, false),
                _ => SKIP,
            };
        }
        let line = line.split('#').next().unwrap_or("").trim();
        let mut tokens = line.split_whitespace();
        let Some(first) = tokens.next() else {
            return NOTHING;
        };
        if first.parse::<IpAddr>().is_ok() {
            let mut tokens = tokens.peekable();
            if tokens.peek().is_none() {
                return SKIP;
            }
            let names: Vec<&str> = tokens.filter(|t| !is_hosts_self(t)).collect();
            if names.iter().any(|t| !is_domain_ref(t)) {
                return SKIP;
            }
            return if names.is_empty() {
                NOTHING
            } else {
                (Some(names), None, false)
            };
        }
        if tokens.next().is_some() {
            return SKIP;
        }
        let domain = first.strip_prefix("*.").unwrap_or(first);
        if is_domain_ref(domain) {
            (Some(vec![domain]), None, false)
        } else {
            SKIP
        }
    }

    #[test]
    fn same_as_the_reference_parser() {
        let long_label = format!("{}.com", "a".repeat(64));
        let long_name = format!("{}com", "abcdefghi.".repeat(26));
        let mut lines = vec![
            "",
            " ",
            "#",
            "a # b",
            "a#b",
            "1.2.3.4",
            "1.2.3",
            "123",
            "1.2.3.4.5",
            "0.0.0.0",
            "0.0.0.0 0.0.0.0",
            "127.0.0.1 localhost LOCALHOST a.b",
            "0.0.0.0\ta.b\tc.d",
            "0.0.0.0\x0ba.b",
            "0.0.0.0\u{2003}a.b é.c",
            "é 1.2.3.4",
            "0.0.0.0 a.b\u{a0}c.d",
            "a.b\u{a0}",
            "::1 x.y",
            "fe80::1%eth0 x.y",
            "1.2.3.4 1.2.3.5",
            "1.2.3.4 a..b",
            "a..b",
            ".a",
            "a.",
            "a..",
            "*.a.b",
            "*.",
            "*.1.2.3.4",
            "||a.b^",
            "||a.b^$third-party",
            "||^",
            "@@||a.b^",
            "@@||1.2.3.4^",
            "||1.2.3.4^",
            "a_b-c.d",
            "a.b:80",
            "ünïcode.de",
            "0.0.0.0 a.b # c.d",
            "0.0.0.0 # a.b",
            "x y",
            "[Adblock]",
            "!x",
            "a.b.",
            &long_label,
            &long_name,
        ];
        let real =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/blocklists");
        let mut text = String::new();
        for entry in std::fs::read_dir(&real).into_iter().flatten().flatten() {
            text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
        lines.extend(text.lines());
        for line in lines {
            let got = match parse_line(line) {
                Line::Nothing => (None, None, false),
                Line::Block(d) => (Some(d.collect()), None, false),
                Line::Allow(d) => (None, Some(d), false),
                Line::Skip(_) => (None, None, true),
            };
            assert_eq!(got, reference(line), "{line:?}");
        }
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
