//! DNS over TCP framing (RFC 1035 4.2.2, RFC 7766 8): each message is
//! preceded by its length as two bytes, big-endian. A pure decoder that
//! splits a byte stream, fed in pieces of any size, into messages, so the
//! listener's read loop holds no parsing of its own and can be fuzzed.
//!
//! Limits: a frame shorter than a DNS header ([`MIN_MESSAGE`], 12 bytes) or
//! longer than the decoder's maximum (at most [`MAX_MESSAGE`], 65535, the
//! most two bytes can say) is an error, and the error is final: after a bad
//! length the stream is out of step and the connection should be closed.
//! The decoder never buffers more than one maximal frame plus what the
//! caller feeds it at once; [`Decoder::wanted`] says how much to read next
//! so a caller that follows it stays within `2 + max` bytes.

use std::fmt;

use super::wire::HEADER_LEN;

/// Shortest message accepted: a bare DNS header.
pub const MIN_MESSAGE: usize = HEADER_LEN;
/// Longest message two length bytes can describe.
pub const MAX_MESSAGE: usize = u16::MAX as usize;

/// A length prefix the decoder refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Shorter than a DNS header.
    TooShort(usize),
    /// Longer than the decoder's maximum.
    TooLong { len: usize, max: usize },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooShort(n) => {
                write!(f, "frame of {n} bytes is shorter than a DNS header")
            }
            FrameError::TooLong { len, max } => {
                write!(f, "frame of {len} bytes is over the limit of {max}")
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// Splits a byte stream into length-prefixed messages.
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Bytes of `buf` already handed out.
    start: usize,
    max: usize,
    failed: Option<FrameError>,
}

impl Decoder {
    /// A decoder for messages of at most `max` bytes (clamped to
    /// `MIN_MESSAGE..=MAX_MESSAGE`).
    pub fn new(max: usize) -> Decoder {
        Decoder {
            buf: Vec::new(),
            start: 0,
            max: max.clamp(MIN_MESSAGE, MAX_MESSAGE),
            failed: None,
        }
    }

    /// The largest message this decoder accepts.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Appends bytes read from the stream.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held that have not been returned as messages.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// How many more bytes complete the frame being read (the length prefix,
    /// then the message); 0 when a whole message is buffered or after an error.
    pub fn wanted(&self) -> usize {
        if self.failed.is_some() {
            return 0;
        }
        let have = self.buffered();
        let rest = &self.buf[self.start..];
        match rest {
            [hi, lo, ..] => {
                let len = usize::from(u16::from_be_bytes([*hi, *lo]));
                if !(MIN_MESSAGE..=self.max).contains(&len) {
                    return 0;
                }
                (2 + len).saturating_sub(have)
            }
            _ => 2 - have,
        }
    }

    /// The next whole message, `Ok(None)` if more bytes are needed, or the
    /// error that ended the stream (again on every later call).
    pub fn next_message(&mut self) -> Result<Option<&[u8]>, FrameError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let rest = &self.buf[self.start..];
        let [hi, lo, ..] = *rest else {
            return Ok(None);
        };
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        let error = if len < MIN_MESSAGE {
            Some(FrameError::TooShort(len))
        } else if len > self.max {
            Some(FrameError::TooLong { len, max: self.max })
        } else {
            None
        };
        if let Some(e) = error {
            self.failed = Some(e);
            return Err(e);
        }
        if rest.len() < 2 + len {
            return Ok(None);
        }
        let from = self.start + 2;
        self.start = from + len;
        Ok(Some(&self.buf[from..from + len]))
    }
}

/// Writes `msg` with its length prefix into `out` (cleared first).
pub fn encode(msg: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
    let len = u16::try_from(msg.len()).map_err(|_| FrameError::TooLong {
        len: msg.len(),
        max: MAX_MESSAGE,
    })?;
    out.clear();
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(msg);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(msgs: &[&[u8]]) -> Vec<u8> {
        let mut stream = Vec::new();
        let mut one = Vec::new();
        for m in msgs {
            encode(m, &mut one).unwrap();
            stream.extend_from_slice(&one);
        }
        stream
    }

    fn drain(d: &mut Decoder) -> Result<Vec<Vec<u8>>, FrameError> {
        let mut out = Vec::new();
        while let Some(m) = d.next_message()? {
            out.push(m.to_vec());
        }
        Ok(out)
    }

    #[test]
    fn splits_messages_fed_in_any_pieces() {
        let a = [1u8; 12];
        let b: Vec<u8> = (0..300).map(|i| i as u8).collect();
        let stream = framed(&[&a, &b, &a]);
        for piece in [1, 2, 3, 13, 14, 100, stream.len()] {
            let mut d = Decoder::new(MAX_MESSAGE);
            let mut got = Vec::new();
            for chunk in stream.chunks(piece) {
                d.feed(chunk);
                got.extend(drain(&mut d).unwrap());
            }
            assert_eq!(
                got,
                vec![a.to_vec(), b.clone(), a.to_vec()],
                "pieces of {piece}"
            );
            assert_eq!(d.buffered(), 0);
            assert_eq!(d.wanted(), 2);
        }
    }

    #[test]
    fn wanted_counts_the_missing_bytes() {
        let mut d = Decoder::new(512);
        assert_eq!(d.wanted(), 2);
        d.feed(&[0]);
        assert_eq!(d.wanted(), 1);
        d.feed(&[20]);
        assert_eq!(d.wanted(), 20);
        d.feed(&[0; 15]);
        assert_eq!(d.wanted(), 5);
        assert_eq!(d.next_message(), Ok(None));
        d.feed(&[0; 5]);
        assert_eq!(d.wanted(), 0);
        assert_eq!(d.next_message().unwrap().map(<[u8]>::len), Some(20));
        assert_eq!(d.wanted(), 2);
    }

    #[test]
    fn refuses_short_and_long_frames_for_good() {
        let mut d = Decoder::new(MAX_MESSAGE);
        d.feed(&[0, 11]);
        assert_eq!(d.next_message(), Err(FrameError::TooShort(11)));
        d.feed(&framed(&[&[0; 12]]));
        assert_eq!(d.next_message(), Err(FrameError::TooShort(11)), "sticky");
        assert_eq!(d.wanted(), 0);

        let mut d = Decoder::new(0);
        d.feed(&[0, 0]);
        assert_eq!(d.next_message(), Err(FrameError::TooShort(0)));

        let mut d = Decoder::new(4096);
        assert_eq!(d.max(), 4096);
        d.feed(&[0x10, 0x01]);
        assert_eq!(
            d.next_message(),
            Err(FrameError::TooLong {
                len: 4097,
                max: 4096
            }),
            "refused from the prefix alone, before the body arrives"
        );
    }

    #[test]
    fn accepts_the_largest_frame() {
        let big = vec![7u8; MAX_MESSAGE];
        let mut d = Decoder::new(usize::MAX);
        assert_eq!(d.max(), MAX_MESSAGE);
        d.feed(&framed(&[&big]));
        assert_eq!(d.next_message().unwrap(), Some(&big[..]));
        let mut out = Vec::new();
        assert_eq!(
            encode(&vec![0; MAX_MESSAGE + 1], &mut out),
            Err(FrameError::TooLong {
                len: MAX_MESSAGE + 1,
                max: MAX_MESSAGE
            })
        );
    }
}
