//! TCP framing: `framing::Decoder` on an arbitrary byte stream, fed in
//! pieces of sizes taken from the input. Invariants: no panic; the same
//! messages (and the same final error) whatever the pieces; every message is
//! 12..=max bytes; a caller that reads only `wanted()` bytes at a time never
//! has more than one frame (2 + max bytes) buffered; what comes out
//! re-encodes to a prefix of the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vpndns::proxy::framing::{self, Decoder, FrameError, MAX_MESSAGE, MIN_MESSAGE};

type Outcome = (Vec<Vec<u8>>, Option<FrameError>);

fn drain(d: &mut Decoder, got: &mut Vec<Vec<u8>>) -> Option<FrameError> {
    let max = d.max();
    loop {
        match d.next_message() {
            Ok(Some(m)) => {
                assert!((MIN_MESSAGE..=max).contains(&m.len()));
                got.push(m.to_vec());
            }
            Ok(None) => return None,
            Err(e) => return Some(e),
        }
    }
}

/// Feeds `stream` in pieces cycling through `sizes`.
fn by_pieces(max: usize, stream: &[u8], sizes: &[u8]) -> Outcome {
    let mut d = Decoder::new(max);
    let mut got = Vec::new();
    let (mut at, mut k) = (0, 0);
    while at < stream.len() {
        let n = usize::from(sizes.get(k % sizes.len().max(1)).copied().unwrap_or(1)).max(1);
        k += 1;
        let end = (at + n * 37).min(stream.len());
        d.feed(&stream[at..end]);
        at = end;
        if let Some(e) = drain(&mut d, &mut got) {
            return (got, Some(e));
        }
    }
    (got, None)
}

/// Feeds `stream` as a careful reader would: never more than `wanted()`.
fn as_wanted(max: usize, stream: &[u8]) -> Outcome {
    let mut d = Decoder::new(max);
    let mut got = Vec::new();
    let mut at = 0;
    while at < stream.len() {
        let want = d.wanted();
        assert!(
            want > 0,
            "wanted() is 0 only with a message or an error pending"
        );
        let end = (at + want).min(stream.len());
        d.feed(&stream[at..end]);
        at = end;
        assert!(d.buffered() <= 2 + d.max());
        if let Some(e) = drain(&mut d, &mut got) {
            assert_eq!(d.wanted(), 0);
            return (got, Some(e));
        }
    }
    (got, None)
}

fuzz_target!(|data: &[u8]| {
    let [m0, m1, nsizes, rest @ ..] = data else {
        return;
    };
    let max = usize::from(u16::from_be_bytes([*m0, *m1])).max(MIN_MESSAGE);
    let (sizes, stream) = rest.split_at(usize::from(*nsizes % 8).min(rest.len()));
    let whole = by_pieces(max, stream, &[255]);
    assert_eq!(by_pieces(max, stream, sizes), whole);
    assert_eq!(as_wanted(max, stream), whole);
    let mut again = Vec::new();
    let mut one = Vec::new();
    for m in &whole.0 {
        framing::encode(m, &mut one).expect("a decoded message re-encodes");
        again.extend_from_slice(&one);
    }
    assert!(stream.starts_with(&again));
    assert!(max <= MAX_MESSAGE);
});
