//! DNS wire format: the few parts of a message the proxy reads or rewrites.
//! Reads untrusted bytes with bounds checks and never allocates.
//!
//! ```text
//!                                 1  1  1  1  1  1
//!   0  1  2  3  4  5  6  7  8  9  0  1  2  3  4  5
//! +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//! |                      ID                       |
//! |QR|   Opcode  |AA|TC|RD|RA| Z|AD|CD|   RCODE   |
//! |                    QDCOUNT                    |
//! |                    ANCOUNT                    |
//! |                    NSCOUNT                    |
//! |                    ARCOUNT                    |
//! +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//! ```

use super::name::Name;

/// Length of the fixed header.
pub const HEADER_LEN: usize = 12;
/// Resource record type OPT (EDNS, RFC 6891).
pub const TYPE_OPT: u16 = 41;
/// Record types the proxy answers itself.
pub const TYPE_A: u16 = 1;
pub const TYPE_PTR: u16 = 12;
pub const TYPE_AAAA: u16 = 28;
pub const TYPE_ANY: u16 = 255;
/// Class IN.
pub const CLASS_IN: u16 = 1;

/// Response codes the proxy produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Rcode {
    NoError = 0,
    FormErr = 1,
    ServFail = 2,
    NxDomain = 3,
    NotImp = 4,
    Refused = 5,
}

impl Rcode {
    /// The rcode in the low four bits of header byte 3, by name.
    pub fn name_of(code: u8) -> &'static str {
        match code & 0x0f {
            0 => "NOERROR",
            1 => "FORMERR",
            2 => "SERVFAIL",
            3 => "NXDOMAIN",
            4 => "NOTIMP",
            5 => "REFUSED",
            _ => "RCODE?",
        }
    }
}

/// What to do with a datagram that is not a usable query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// Too short for a header, or a response: ignore it silently.
    Drop,
    /// A header we can answer, but the rest is malformed.
    FormErr,
    /// An opcode other than QUERY without exactly one question: nothing to
    /// route it by.
    NotImp,
}

/// EDNS option code of Client Subnet (RFC 7871).
pub const OPTION_ECS: u16 = 8;

/// EDNS information from a query's OPT record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Edns {
    /// The requester's UDP payload size.
    pub udp_size: u16,
    /// The DO bit.
    pub dnssec_ok: bool,
    /// The EDNS version (only 0 is defined; others get BADVERS upstream).
    pub version: u8,
    /// Flags other than DO (none are defined).
    pub other_flags: u16,
    /// Offset of the OPT record's RDLENGTH field in the message.
    pub rdlen_at: u16,
    /// The first Client Subnet option: its offset (at the option code) and
    /// whole length, header included.
    pub ecs: Option<(u16, u16)>,
    /// Whether an option other than Client Subnet is present.
    pub other_options: bool,
}

/// A parsed query: what the policy decision needs, plus offsets into the
/// original bytes so they can be relayed unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub id: u16,
    /// The opcode (0: QUERY). Others are forwarded as they came, uncached.
    pub opcode: u8,
    pub qtype: u16,
    pub qclass: u16,
    /// The question name, lowercased.
    pub name: Name,
    /// Offset just past the question section.
    pub question_end: usize,
    pub edns: Option<Edns>,
}

impl Default for Query {
    /// An empty query (root name, type and class 0), to parse into.
    fn default() -> Query {
        Query {
            id: 0,
            opcode: 0,
            qtype: 0,
            qclass: 0,
            name: Name::root(),
            question_end: 0,
            edns: None,
        }
    }
}

impl Query {
    /// The largest response this requester accepts over UDP.
    pub fn udp_limit(&self) -> usize {
        match self.edns {
            Some(e) => (e.udp_size as usize).clamp(512, 4096),
            None => 512,
        }
    }

    /// Whether an answer to this query may come from, or go into, the cache
    /// (with `ecs_stripped`: the forwarded copy carries no Client Subnet).
    /// Everything that changes an answer is either in the cache key (RD, CD,
    /// AD, DO, EDNS or not) or makes the query bypass the cache: an opcode
    /// other than QUERY, an EDNS version other than 0 (BADVERS upstream),
    /// undefined EDNS flags, and EDNS options (a cookie, NSID, a passed-on
    /// Client Subnet), whose answers are the requester's own.
    pub fn cacheable(&self, ecs_stripped: bool) -> bool {
        self.opcode == 0
            && self.edns.is_none_or(|e| {
                e.version == 0
                    && e.other_flags == 0
                    && !e.other_options
                    && (e.ecs.is_none() || ecs_stripped)
            })
    }
}

/// The message ID, if the message has a header.
pub fn id(msg: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*msg.first()?, *msg.get(1)?]))
}

/// Overwrites the message ID. The caller guarantees a header.
pub fn set_id(msg: &mut [u8], id: u16) {
    msg[..2].copy_from_slice(&id.to_be_bytes());
}

fn u16_at(msg: &[u8], pos: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*msg.get(pos)?, *msg.get(pos + 1)?]))
}

/// A query for `name`, `qtype`, `qclass` with `id` and RD set, no EDNS:
/// what the proxy sends when it asks on its own behalf (probes) or needs the
/// bytes of a typical client query (cache peeks).
pub fn encode_query(id: u16, name: &Name, qtype: u16, qclass: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(HEADER_LEN + name.wire().len() + 5);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    q.extend_from_slice(name.wire());
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&qclass.to_be_bytes());
    q
}

/// A query for `name` and `qtype` (a type name such as `AAAA`), as a client
/// would send it without EDNS.
pub fn query_for(name: &str, qtype: &str) -> Result<Query, String> {
    let name = Name::from_text(name).map_err(|e| format!("{name:?}: {e}"))?;
    let rtype: hickory_proto::rr::RecordType = qtype
        .to_ascii_uppercase()
        .parse()
        .map_err(|_| format!("{qtype:?} is not a record type (A, AAAA, PTR, MX, ...)"))?;
    let msg = encode_query(0, &name, u16::from(rtype), CLASS_IN);
    parse_query(&msg).map_err(|_| format!("{name}: cannot be asked"))
}

/// Whether the message has the QR (response) bit.
pub fn is_response(msg: &[u8]) -> bool {
    msg.get(2).is_some_and(|b| b & 0x80 != 0)
}

/// The opcode's bits in the third header byte.
const OPCODE_BITS: u8 = 0x78;

/// Whether the message has the TC (truncated) bit.
pub fn is_truncated(msg: &[u8]) -> bool {
    msg.get(2).is_some_and(|b| b & 0x02 != 0)
}

/// The response code in the header.
pub fn rcode(msg: &[u8]) -> u8 {
    msg.get(3).map_or(0, |b| b & 0x0f)
}

/// Parses a query: header, the one question and, if present, the OPT record.
pub fn parse_query(msg: &[u8]) -> Result<Query, Reject> {
    let mut q = Query::default();
    parse_query_into(msg, &mut q)?;
    Ok(q)
}

/// As [`parse_query`], into `q` (the hot path reuses one `Query`, so its
/// 255-byte name is written once and never moved). On error `q` holds
/// partial results and must not be used.
pub fn parse_query_into(msg: &[u8], q: &mut Query) -> Result<(), Reject> {
    if msg.len() < HEADER_LEN || is_response(msg) {
        return Err(Reject::Drop);
    }
    let opcode = (msg[2] >> 3) & 0x0f;
    let count = |at| u16_at(msg, at).unwrap_or(0);
    let (qd, an, ns, ar) = (count(4), count(6), count(8), count(10));
    if qd != 1 {
        return Err(if opcode == 0 {
            Reject::FormErr
        } else {
            Reject::NotImp
        });
    }
    let pos = q
        .name
        .read_wire(msg, HEADER_LEN)
        .map_err(|_| Reject::FormErr)?;
    let qtype = u16_at(msg, pos).ok_or(Reject::FormErr)?;
    let qclass = u16_at(msg, pos + 2).ok_or(Reject::FormErr)?;
    let question_end = pos + 4;

    let mut pos = question_end;
    for _ in 0..u32::from(an) + u32::from(ns) {
        pos = skip_record(msg, pos).ok_or(Reject::FormErr)?.0;
    }
    let mut edns = None;
    for _ in 0..ar {
        let (next, rtype) = skip_record(msg, pos).ok_or(Reject::FormErr)?;
        if rtype == TYPE_OPT {
            if edns.is_some() || msg.get(pos) != Some(&0) {
                return Err(Reject::FormErr); // two OPTs, or an OPT not owned by the root
            }
            edns = Some(parse_opt(msg, pos, next).ok_or(Reject::FormErr)?);
        }
        pos = next;
    }
    q.id = u16_at(msg, 0).unwrap_or(0);
    q.opcode = opcode;
    q.qtype = qtype;
    q.qclass = qclass;
    q.question_end = question_end;
    q.edns = edns;
    Ok(())
}

/// Reads the OPT record at `pos` (its root owner byte), which ends at `end`:
/// size, version, flags and which options its RDATA holds.
fn parse_opt(msg: &[u8], pos: usize, end: usize) -> Option<Edns> {
    let udp_size = u16_at(msg, pos + 3)?;
    let version = *msg.get(pos + 6)?;
    let flags = u16_at(msg, pos + 7)?;
    let rdlen_at = pos + 9;
    let mut e = Edns {
        udp_size,
        dnssec_ok: flags & 0x8000 != 0,
        version,
        other_flags: flags & 0x7fff,
        rdlen_at: u16::try_from(rdlen_at).ok()?,
        ecs: None,
        other_options: false,
    };
    let mut at = rdlen_at + 2;
    while at < end {
        let code = u16_at(msg, at)?;
        let len = 4 + usize::from(u16_at(msg, at + 2)?);
        if at + len > end {
            return None;
        }
        if code == OPTION_ECS && e.ecs.is_none() {
            e.ecs = Some((at as u16, len as u16));
        } else {
            e.other_options = true;
        }
        at += len;
    }
    Some(e)
}

/// Removes the Client Subnet option from `msg`, a copy of the query parsed
/// as `q` (its offsets still hold), so the forwarder never learns the
/// client's network. A message without one is left as it is.
pub fn strip_ecs(msg: &mut Vec<u8>, q: &Query) {
    let Some(e) = q.edns else { return };
    let Some((at, len)) = e.ecs else { return };
    let (at, len, rdlen_at) = (usize::from(at), usize::from(len), usize::from(e.rdlen_at));
    if at + len > msg.len() || rdlen_at + 2 > msg.len() {
        return;
    }
    let Some(rdlen) = u16_at(msg, rdlen_at).and_then(|n| n.checked_sub(len as u16)) else {
        return;
    };
    msg.drain(at..at + len);
    msg[rdlen_at..rdlen_at + 2].copy_from_slice(&rdlen.to_be_bytes());
}

/// Skips a possibly compressed name; returns the offset after it.
fn skip_name(msg: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let len = *msg.get(pos)?;
        match len {
            0 => return Some(pos + 1),
            1..=63 => pos += 1 + len as usize,
            0xc0..=0xff => {
                msg.get(pos + 1)?;
                return Some(pos + 2);
            }
            _ => return None,
        }
    }
}

/// Skips one resource record; returns the offset after it and its type.
fn skip_record(msg: &[u8], pos: usize) -> Option<(usize, u16)> {
    let pos = skip_name(msg, pos)?;
    let rtype = u16_at(msg, pos)?;
    let rdlen = u16_at(msg, pos + 8)? as usize;
    let end = pos + 10 + rdlen;
    (end <= msg.len()).then_some((end, rtype))
}

/// Record type SOA.
pub const TYPE_SOA: u16 = 6;

/// One resource record, as [`walk_records`] finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordInfo {
    /// 0 answer, 1 authority, 2 additional.
    pub section: u8,
    pub rtype: u16,
    /// Offset of the 32-bit TTL field.
    pub ttl_at: usize,
    pub ttl: u32,
    /// Offset and length of the RDATA.
    pub rdata_at: usize,
    pub rdata_len: usize,
}

/// Calls `f` for every record after the question (which ends at
/// `question_end`); `None` if the counts or lengths do not fit the message.
pub fn walk_records(msg: &[u8], question_end: usize, mut f: impl FnMut(RecordInfo)) -> Option<()> {
    let counts = [u16_at(msg, 6)?, u16_at(msg, 8)?, u16_at(msg, 10)?];
    let mut pos = question_end;
    for (section, &count) in counts.iter().enumerate() {
        for _ in 0..count {
            let at = skip_name(msg, pos)?;
            let rtype = u16_at(msg, at)?;
            let ttl = u32::from(u16_at(msg, at + 4)?) << 16 | u32::from(u16_at(msg, at + 6)?);
            let rdata_len = u16_at(msg, at + 8)? as usize;
            let rdata_at = at + 10;
            pos = rdata_at + rdata_len;
            if pos > msg.len() {
                return None;
            }
            f(RecordInfo {
                section: section as u8,
                rtype,
                ttl_at: at + 4,
                ttl,
                rdata_at,
                rdata_len,
            });
        }
    }
    Some(())
}

/// The MINIMUM field of an SOA record's RDATA at `rdata_at` (its last 32 bits).
pub fn soa_minimum(msg: &[u8], rdata_at: usize, rdata_len: usize) -> Option<u32> {
    let end = rdata_at.checked_add(rdata_len)?;
    let b = msg.get(end.checked_sub(4)?..end)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Offset just past the question of a message with one question at the
/// header, skipping a possibly compressed name.
pub fn question_end(msg: &[u8]) -> Option<usize> {
    let end = skip_name(msg, HEADER_LEN)? + 4;
    (end <= msg.len()).then_some(end)
}

/// Whether `resp` is a response that repeats the question of `query` (whose
/// question ends at `query_qend`): same name ignoring ASCII case, same type and
/// class. The IDs are the caller's business. For an opcode other than QUERY,
/// also a bare header with the same opcode and FORMERR, NOTIMP or REFUSED:
/// how BIND refuses an opcode it does not know (the `opcode` compliance test).
pub fn answers_question(resp: &[u8], query: &[u8], query_qend: usize) -> bool {
    if let ([_, _, q_op, ..], [_, _, r_op, _, 0, 0, ..]) = (query, resp)
        && q_op & OPCODE_BITS != 0
    {
        return is_response(resp)
            && resp.len() >= HEADER_LEN
            && r_op & OPCODE_BITS == q_op & OPCODE_BITS
            && matches!(rcode(resp), 1 | 4 | 5);
    }
    if resp.len() < HEADER_LEN || !is_response(resp) || u16_at(resp, 4) != Some(1) {
        return false;
    }
    let Some(asked) = query.get(HEADER_LEN..query_qend) else {
        return false;
    };
    let Some(echoed) = resp.get(HEADER_LEN..query_qend) else {
        return false;
    };
    // Upstreams nearly always echo the question byte for byte.
    if echoed == asked {
        return true;
    }
    // Otherwise walk the labels so the length bytes and the type and class
    // (which may hold values that look like letters) are compared exactly.
    let mut pos = 0;
    while pos < asked.len() {
        let len = asked[pos] as usize;
        if echoed[pos] != asked[pos] {
            return false;
        }
        if len == 0 {
            return echoed[pos + 1..] == asked[pos + 1..];
        }
        let (a, e) = (
            &asked[pos + 1..pos + 1 + len],
            &echoed[pos + 1..pos + 1 + len],
        );
        if !a.eq_ignore_ascii_case(e) {
            return false;
        }
        pos += 1 + len;
    }
    false
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A query for `name`/`qtype` with ID 0x1234 and RD, optionally with EDNS.
    pub(crate) fn query(name: &str, qtype: u16, edns: Option<(u16, bool)>) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        m[11] = edns.is_some() as u8;
        for label in name.split('.').filter(|l| !l.is_empty()) {
            m.push(label.len() as u8);
            m.extend_from_slice(label.as_bytes());
        }
        m.push(0);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&CLASS_IN.to_be_bytes());
        if let Some((size, d)) = edns {
            m.push(0);
            m.extend_from_slice(&TYPE_OPT.to_be_bytes());
            m.extend_from_slice(&size.to_be_bytes());
            m.extend_from_slice(&[0, 0, if d { 0x80 } else { 0 }, 0, 0, 0]);
        }
        m
    }

    #[test]
    fn parses_a_plain_query() {
        let q = parse_query(&query("WWW.Example.com", TYPE_AAAA, None)).unwrap();
        assert_eq!(q.id, 0x1234);
        assert_eq!(q.qtype, TYPE_AAAA);
        assert_eq!(q.qclass, CLASS_IN);
        assert_eq!(q.name.to_string(), "www.example.com");
        assert_eq!(q.question_end, 12 + 17 + 4);
        assert_eq!(q.edns, None);
        assert_eq!(q.udp_limit(), 512);
    }

    #[test]
    fn reads_edns_size_and_do_bit() {
        let q = parse_query(&query("a.b", TYPE_A, Some((1232, true)))).unwrap();
        let e = q.edns.unwrap();
        assert_eq!((e.udp_size, e.dnssec_ok, e.version), (1232, true, 0));
        assert_eq!((e.ecs, e.other_options), (None, false));
        assert_eq!(q.udp_limit(), 1232);
        assert!(q.cacheable(true));
    }

    #[test]
    fn agrees_with_hickory() {
        use hickory_proto::op::Message;
        let bytes = query("Mixed.Case.Example", 65, Some((4096, false)));
        let msg = Message::from_vec(&bytes).unwrap();
        let q = parse_query(&bytes).unwrap();
        let hq = &msg.queries[0];
        assert_eq!(u16::from(hq.query_type()), q.qtype);
        assert_eq!(
            hq.name().to_lowercase().to_string().trim_end_matches('.'),
            q.name.to_string()
        );
        assert_eq!(msg.edns.as_ref().map(|e| e.max_payload()), Some(4096));
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(parse_query(b"").unwrap_err(), Reject::Drop);
        assert_eq!(parse_query(&[0; 11]).unwrap_err(), Reject::Drop);
        let mut resp = query("a", TYPE_A, None);
        resp[2] |= 0x80;
        assert_eq!(parse_query(&resp).unwrap_err(), Reject::Drop);
        let mut notify = query("a", TYPE_A, None);
        notify[2] |= 4 << 3;
        notify[5] = 0;
        assert_eq!(parse_query(&notify).unwrap_err(), Reject::NotImp);
        let mut two = query("a", TYPE_A, None);
        two[5] = 2;
        assert_eq!(parse_query(&two).unwrap_err(), Reject::FormErr);
        let short = &query("abc", TYPE_A, None)[..18];
        assert_eq!(parse_query(short).unwrap_err(), Reject::FormErr);
        let mut lying = query("a", TYPE_A, None);
        lying[11] = 3; // three additional records that are not there
        assert_eq!(parse_query(&lying).unwrap_err(), Reject::FormErr);
        let mut ptr = query("a", TYPE_A, None);
        ptr[12] = 0xc0;
        ptr[13] = 12; // a pointer to itself
        assert_eq!(parse_query(&ptr).unwrap_err(), Reject::FormErr);
    }

    /// `query` with EDNS whose OPT carries `options` (code, data) and has
    /// `version` and the 16 flag bits `flags`.
    pub(crate) fn query_with_options(version: u8, flags: u16, options: &[(u16, &[u8])]) -> Vec<u8> {
        let mut m = query("a.example", TYPE_A, Some((1232, false)));
        let opt = m.len() - 11;
        m[opt + 6] = version;
        m[opt + 7..opt + 9].copy_from_slice(&flags.to_be_bytes());
        let mut rdata = Vec::new();
        for (code, data) in options {
            rdata.extend_from_slice(&code.to_be_bytes());
            rdata.extend_from_slice(&(data.len() as u16).to_be_bytes());
            rdata.extend_from_slice(data);
        }
        m[opt + 9..opt + 11].copy_from_slice(&(rdata.len() as u16).to_be_bytes());
        m.extend_from_slice(&rdata);
        m
    }

    #[test]
    fn other_opcodes_with_a_question_parse_and_bypass_the_cache() {
        let mut m = query("a.b", TYPE_A, None);
        m[2] |= 15 << 3;
        let q = parse_query(&m).unwrap();
        assert_eq!(q.opcode, 15);
        assert!(!q.cacheable(true));
    }

    #[test]
    fn edns_version_flags_and_options_decide_cacheability() {
        let plain = parse_query(&query_with_options(0, 0, &[])).unwrap();
        assert!(plain.cacheable(false));
        let v1 = parse_query(&query_with_options(1, 0, &[])).unwrap();
        assert_eq!(v1.edns.unwrap().version, 1);
        assert!(
            !v1.cacheable(true),
            "EDNS1 must reach the upstream (BADVERS)"
        );
        let flag = parse_query(&query_with_options(0, 0x0001, &[])).unwrap();
        assert!(!flag.cacheable(true));
        let cookie = parse_query(&query_with_options(0, 0, &[(10, &[1; 8])])).unwrap();
        assert!(!cookie.cacheable(true));
        let bad = query_with_options(0, 0, &[(10, &[1; 8])]);
        let mut lying = bad.clone();
        let n = lying.len();
        lying[n - 9] = 9; // option longer than the RDATA
        assert_eq!(parse_query(&lying).unwrap_err(), Reject::FormErr);
    }

    #[test]
    fn strips_client_subnet_and_keeps_other_options() {
        let ecs: &[u8] = &[0, 1, 24, 0, 192, 0, 2];
        let mut m = query_with_options(0, 0, &[(10, &[7; 8]), (OPTION_ECS, ecs), (12, &[0; 3])]);
        let q = parse_query(&m).unwrap();
        let e = q.edns.unwrap();
        assert!(e.ecs.is_some() && e.other_options);
        assert!(!q.cacheable(false));
        let before = m.len();
        strip_ecs(&mut m, &q);
        assert_eq!(m.len(), before - 4 - ecs.len());
        let again = parse_query(&m).unwrap().edns.unwrap();
        assert_eq!(again.ecs, None);
        assert!(again.other_options);
        let only = query_with_options(0, 0, &[(OPTION_ECS, ecs)]);
        let q = parse_query(&only).unwrap();
        assert!(q.cacheable(true) && !q.cacheable(false));
        let mut stripped = only.clone();
        strip_ecs(&mut stripped, &q);
        assert_eq!(stripped, query("a.example", TYPE_A, Some((1232, false))));
    }

    #[test]
    fn a_bare_notimp_answers_an_unknown_opcode_only() {
        let mut q = query("example.com", TYPE_A, None);
        let qend = question_end(&q).unwrap();
        q[2] = (15 << 3) | 0x01; // opcode 15, RD
        // BIND's answer: the header alone, QR and the opcode, NOTIMP.
        let mut bare = q[..HEADER_LEN].to_vec();
        bare[2] = 0x80 | (15 << 3);
        bare[3] = Rcode::NotImp as u8;
        bare[4..12].fill(0);
        assert!(answers_question(&bare, &q, qend));
        let mut other_opcode = bare.clone();
        other_opcode[2] = 0x80 | (14 << 3);
        assert!(!answers_question(&other_opcode, &q, qend));
        let mut noerror = bare.clone();
        noerror[3] = 0;
        assert!(!answers_question(&noerror, &q, qend), "only a refusal");
        q[2] = 0x01; // QUERY: the question must be repeated
        bare[2] = 0x80;
        assert!(!answers_question(&bare, &q, qend));
    }

    #[test]
    fn question_match_ignores_case_only_in_the_name() {
        let q = query("www.example.com", 65, None);
        let qend = parse_query(&q).unwrap().question_end;
        let mut r = query("WWW.example.COM", 65, None);
        r[2] |= 0x80;
        assert!(answers_question(&r, &q, qend));
        let mut other_type = query("www.example.com", 97, None);
        other_type[2] |= 0x80;
        assert!(!answers_question(&other_type, &q, qend));
        let mut other_name = query("www.example.org", 65, None);
        other_name[2] |= 0x80;
        assert!(!answers_question(&other_name, &q, qend));
        assert!(!answers_question(&q, &q, qend), "not a response");
        assert!(!answers_question(&r[..20], &q, qend));
    }
}
