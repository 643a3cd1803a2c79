//! Domain names as the proxy compares them: lowercase wire-format labels in a
//! fixed buffer, so parsing a query's name never allocates.

use std::fmt;

/// Longest name in wire format, counting the root's zero byte (RFC 1035 3.1).
pub const MAX_WIRE_LEN: usize = 255;

/// Why bytes or text are not a usable domain name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    /// The message ends inside the name.
    Short,
    /// A compression pointer, or a reserved label type, where none may be.
    Pointer,
    /// A label of more than 63 bytes.
    LabelTooLong,
    /// An empty label in text (`a..b`).
    EmptyLabel,
    /// More than 255 bytes in wire format.
    TooLong,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameError::Short => "name runs past the end of the message",
            NameError::Pointer => "compression pointer where a plain name is required",
            NameError::LabelTooLong => "label longer than 63 bytes",
            NameError::EmptyLabel => "empty label",
            NameError::TooLong => "name longer than 255 bytes",
        })
    }
}

impl std::error::Error for NameError {}

/// A lowercase domain name: its labels in wire format (length byte, then the
/// bytes), without the root's terminating zero. The root name is empty.
#[derive(Clone)]
pub struct Name {
    len: u8,
    buf: [u8; MAX_WIRE_LEN - 1],
}

impl Name {
    /// The root name `.`.
    pub const fn root() -> Name {
        Name {
            len: 0,
            buf: [0; MAX_WIRE_LEN - 1],
        }
    }

    /// Reads an uncompressed name at `pos` of `msg`, lowercasing ASCII letters.
    /// Returns the name and the offset just past its terminating zero.
    pub fn from_wire(msg: &[u8], pos: usize) -> Result<(Name, usize), NameError> {
        let mut name = Name::root();
        let end = name.read_wire(msg, pos)?;
        Ok((name, end))
    }

    /// As [`from_wire`](Self::from_wire), into `self` (replacing what it
    /// held): the hot path parses into a name it already has instead of
    /// moving a 255-byte buffer around. On error `self` holds a prefix.
    pub fn read_wire(&mut self, msg: &[u8], mut pos: usize) -> Result<usize, NameError> {
        self.len = 0;
        loop {
            let len = *msg.get(pos).ok_or(NameError::Short)? as usize;
            if len == 0 {
                return Ok(pos + 1);
            }
            if len > 63 {
                return Err(NameError::Pointer);
            }
            let label = msg.get(pos + 1..pos + 1 + len).ok_or(NameError::Short)?;
            self.push_label(label)?;
            pos += 1 + len;
        }
    }

    /// Parses presentation text such as `Ads.Example.com.`; one trailing dot is
    /// allowed, `.` alone is the root. No escapes: configuration and list
    /// names are host names.
    pub fn from_text(text: &str) -> Result<Name, NameError> {
        let text = text.strip_suffix('.').unwrap_or(text);
        let mut name = Name::root();
        if text.is_empty() {
            return Ok(name);
        }
        for label in text.split('.') {
            if label.is_empty() {
                return Err(NameError::EmptyLabel);
            }
            name.push_label(label.as_bytes())?;
        }
        Ok(name)
    }

    fn push_label(&mut self, label: &[u8]) -> Result<(), NameError> {
        if label.len() > 63 {
            return Err(NameError::LabelTooLong);
        }
        let at = self.len as usize;
        // +1 for the length byte; the root's zero byte must still fit in 255.
        if at + 1 + label.len() > MAX_WIRE_LEN - 1 {
            return Err(NameError::TooLong);
        }
        self.buf[at] = label.len() as u8;
        let dst = &mut self.buf[at + 1..at + 1 + label.len()];
        dst.copy_from_slice(label);
        dst.make_ascii_lowercase();
        self.len = (at + 1 + label.len()) as u8;
        Ok(())
    }

    /// The labels in wire format, without the root's zero byte.
    pub fn wire(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }

    /// Whether this is the root name.
    pub fn is_root(&self) -> bool {
        self.len == 0
    }

    /// The labels, leftmost first.
    pub fn labels(&self) -> Labels<'_> {
        Labels { rest: self.wire() }
    }

    /// The name itself and each name it is below, longest first
    /// (`a.b.c`, `b.c`, `c`), as wire-format slices. The root is not included.
    pub fn suffixes(&self) -> Suffixes<'_> {
        Suffixes { rest: self.wire() }
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.wire() == other.wire()
    }
}

impl Eq for Name {}

impl std::hash::Hash for Name {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.wire().hash(state)
    }
}

/// Iterator over a name's labels; see [`Name::labels`].
pub struct Labels<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (&len, tail) = self.rest.split_first()?;
        let (label, rest) = tail.split_at(len as usize);
        self.rest = rest;
        Some(label)
    }
}

/// Iterator over a name's suffixes; see [`Name::suffixes`].
pub struct Suffixes<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Suffixes<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let current = self.rest;
        let &len = current.first()?;
        self.rest = &current[1 + len as usize..];
        Some(current)
    }
}

/// Presentation format: dotted, no trailing dot, `.` for the root; bytes that
/// would be ambiguous or unprintable are escaped as in RFC 1035 (`\.`, `\DDD`).
impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_root() {
            return f.write_str(".");
        }
        for (i, label) in self.labels().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            for &b in label {
                match b {
                    b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b'@' | b'$' => {
                        write!(f, "\\{}", b as char)?
                    }
                    0x21..=0x7e => write!(f, "{}", b as char)?,
                    _ => write!(f, "\\{b:03}")?,
                }
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip_lowercases_and_drops_trailing_dot() {
        let n = Name::from_text("Ads.Example.COM.").unwrap();
        assert_eq!(n.to_string(), "ads.example.com");
        assert_eq!(n.wire(), b"\x03ads\x07example\x03com");
        assert_eq!(n.labels().count(), 3);
        assert_eq!(Name::from_text(".").unwrap().to_string(), ".");
    }

    #[test]
    fn suffixes_go_from_longest_to_shortest() {
        let n = Name::from_text("a.b.c").unwrap();
        let s: Vec<&[u8]> = n.suffixes().collect();
        assert_eq!(s, vec![&b"\x01a\x01b\x01c"[..], b"\x01b\x01c", b"\x01c"]);
        assert_eq!(Name::root().suffixes().count(), 0);
    }

    #[test]
    fn rejects_bad_text() {
        assert_eq!(Name::from_text("a..b"), Err(NameError::EmptyLabel));
        let long = "x".repeat(64);
        assert_eq!(Name::from_text(&long), Err(NameError::LabelTooLong));
        let many = vec!["abcdefghi"; 26].join(".");
        assert_eq!(Name::from_text(&many), Err(NameError::TooLong));
        let ok = vec!["abcdefghi"; 25].join(".");
        assert!(Name::from_text(&ok).is_ok());
    }

    #[test]
    fn wire_parse_stops_at_pointers_and_bounds() {
        assert_eq!(
            Name::from_wire(b"\x03abc\xc0\x0c", 0).unwrap_err(),
            NameError::Pointer
        );
        assert_eq!(Name::from_wire(b"\x05ab", 0).unwrap_err(), NameError::Short);
        let (n, end) = Name::from_wire(b"\x03WwW\x00rest", 0).unwrap();
        assert_eq!(n.to_string(), "www");
        assert_eq!(end, 5);
    }

    #[test]
    fn display_escapes_dots_inside_labels() {
        let (n, _) = Name::from_wire(b"\x07nas.wan\x00", 0).unwrap();
        assert_eq!(n.to_string(), "nas\\.wan");
        assert_ne!(n, Name::from_text("nas.wan").unwrap());
        let (n, _) = Name::from_wire(b"\x02a\x01\x00", 0).unwrap();
        assert_eq!(n.to_string(), "a\\001");
    }

    #[test]
    fn longest_wire_name_fits() {
        // 127 one-byte labels = 254 bytes + root = 255.
        let mut msg = Vec::new();
        for _ in 0..127 {
            msg.extend_from_slice(b"\x01a");
        }
        msg.push(0);
        assert!(Name::from_wire(&msg, 0).is_ok());
        let mut longer = vec![2, b'a', b'a'];
        longer.extend_from_slice(&msg);
        assert_eq!(Name::from_wire(&longer, 0).unwrap_err(), NameError::TooLong);
    }
}
