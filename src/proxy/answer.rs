//! Encodes the responses the proxy gives itself (static, blocked, refused,
//! errors) into a reused buffer: the query's header and question, then the
//! records, whose owner is a pointer to the question name.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::name::Name;
use super::wire::{self, HEADER_LEN, Query, Rcode, TYPE_A, TYPE_AAAA, TYPE_OPT, TYPE_PTR};

/// UDP payload size the proxy advertises in its own OPT records.
pub const EDNS_UDP_SIZE: u16 = 1232;

/// The records of a local answer.
#[derive(Debug, Clone, Copy)]
pub enum Records<'a> {
    None,
    V4(&'a [Ipv4Addr]),
    V6(&'a [Ipv6Addr]),
    Ptr(&'a Name),
}

/// A response the proxy makes without asking anyone.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    pub rcode: Rcode,
    /// Authoritative: set for names the proxy owns (static, local-only).
    pub authoritative: bool,
    pub records: Records<'a>,
    pub ttl: u32,
}

impl Answer<'_> {
    /// An answer with no records.
    pub fn empty(rcode: Rcode, authoritative: bool) -> Answer<'static> {
        Answer {
            rcode,
            authoritative,
            records: Records::None,
            ttl: 0,
        }
    }
}

/// Writes `answer` to `q` (whose bytes are `msg`) into `out`, keeping to
/// `limit` bytes: records that do not fit are left out and TC is set.
pub fn encode(msg: &[u8], q: &Query, answer: &Answer, limit: usize, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&msg[..q.question_end]);
    let opt_len = if q.edns.is_some() { 11 } else { 0 };
    let mut count: u16 = 0;
    let mut truncated = false;
    let mut push = |out: &mut Vec<u8>, rtype: u16, rdata: &[u8]| {
        if out.len() + 12 + rdata.len() + opt_len > limit {
            truncated = true;
            return;
        }
        out.extend_from_slice(&[0xc0, HEADER_LEN as u8]);
        out.extend_from_slice(&rtype.to_be_bytes());
        out.extend_from_slice(&q.qclass.to_be_bytes());
        out.extend_from_slice(&answer.ttl.to_be_bytes());
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(rdata);
        count += 1;
    };
    match answer.records {
        Records::None => {}
        Records::V4(addrs) => addrs.iter().for_each(|a| push(out, TYPE_A, &a.octets())),
        Records::V6(addrs) => addrs.iter().for_each(|a| push(out, TYPE_AAAA, &a.octets())),
        Records::Ptr(target) => {
            let mut rdata = [0u8; 255];
            let n = target.wire().len();
            rdata[..n].copy_from_slice(target.wire());
            push(out, TYPE_PTR, &rdata[..n + 1]);
        }
    }
    if let Some(edns) = q.edns {
        out.push(0);
        out.extend_from_slice(&TYPE_OPT.to_be_bytes());
        out.extend_from_slice(&EDNS_UDP_SIZE.to_be_bytes());
        let do_bit = if edns.dnssec_ok { 0x80 } else { 0 };
        out.extend_from_slice(&[0, 0, do_bit, 0, 0, 0]);
    }
    let rd_cd = (msg[2] & 0x01, msg[3] & 0x10);
    out[2] = 0x80 | (u8::from(answer.authoritative) << 2) | (u8::from(truncated) << 1) | rd_cd.0;
    out[3] = 0x80 | rd_cd.1 | answer.rcode as u8;
    out[4..12].copy_from_slice(&[
        0,
        1,
        (count >> 8) as u8,
        count as u8,
        0,
        0,
        0,
        opt_len.min(1) as u8,
    ]);
}

/// A header-only response (FORMERR, NOTIMP) for a message whose question
/// cannot be trusted: ID and opcode echoed, all counts zero. RA is clear,
/// as BIND leaves it on these (the `opcode` compliance test without a
/// question): nothing was looked up, so nothing is claimed of recursion.
pub fn encode_header_only(msg: &[u8], rcode: Rcode, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&msg[..HEADER_LEN]);
    out[2] = 0x80 | (msg[2] & 0x79); // QR, opcode and RD kept; AA, TC cleared
    out[3] = rcode as u8; // RA, Z, AD, CD cleared
    out[4..12].fill(0);
}

/// A response with `rcode` and no records, repeating the question of a query
/// we forwarded (`msg` up to `question_end`), with the client's `id`.
pub fn encode_failure(msg: &[u8], question_end: usize, id: u16, rcode: Rcode, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&msg[..question_end]);
    wire::set_id(out, id);
    out[2] = 0x80 | (msg[2] & 0x01);
    out[3] = 0x80 | (msg[3] & 0x10) | rcode as u8;
    out[4..12].copy_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::wire::{parse_query, tests::query};
    use hickory_proto::op::{Message, ResponseCode};
    use hickory_proto::rr::RData;

    fn answer_for(msg: &[u8], answer: Answer, limit: usize) -> Message {
        let q = parse_query(msg).unwrap();
        let mut out = Vec::new();
        encode(msg, &q, &answer, limit, &mut out);
        Message::from_vec(&out).unwrap()
    }

    #[test]
    fn static_a_answer_parses_in_hickory() {
        let msg = query("Nas.Wan", TYPE_A, Some((1232, true)));
        let addrs = ["10.10.1.20".parse().unwrap(), "10.10.1.21".parse().unwrap()];
        let m = answer_for(
            &msg,
            Answer {
                rcode: Rcode::NoError,
                authoritative: true,
                records: Records::V4(&addrs),
                ttl: 300,
            },
            512,
        );
        assert_eq!(m.metadata.id, 0x1234);
        assert!(m.metadata.authoritative);
        assert!(m.metadata.recursion_desired && m.metadata.recursion_available);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert_eq!(m.answers.len(), 2);
        assert_eq!(m.answers[0].ttl, 300);
        assert_eq!(m.answers[0].name.to_string(), "Nas.Wan.");
        assert!(matches!(&m.answers[1].data, RData::A(a) if a.0 == addrs[1]));
        let edns = m.edns.as_ref().unwrap();
        assert!(edns.flags().dnssec_ok);
    }

    #[test]
    fn ptr_and_nxdomain() {
        let msg = query("20.1.10.10.in-addr.arpa", TYPE_PTR, None);
        let target = Name::from_text("nas.wan").unwrap();
        let m = answer_for(
            &msg,
            Answer {
                rcode: Rcode::NoError,
                authoritative: true,
                records: Records::Ptr(&target),
                ttl: 60,
            },
            512,
        );
        assert!(matches!(&m.answers[0].data, RData::PTR(p) if p.0.to_string() == "nas.wan."));
        let m = answer_for(&msg, Answer::empty(Rcode::NxDomain, false), 512);
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
        assert!(m.answers.is_empty() && m.edns.is_none());
    }

    #[test]
    fn too_many_records_set_tc() {
        let msg = query("many.wan", TYPE_AAAA, None);
        let addrs = vec![Ipv6Addr::LOCALHOST; 40];
        let m = answer_for(
            &msg,
            Answer {
                rcode: Rcode::NoError,
                authoritative: true,
                records: Records::V6(&addrs),
                ttl: 1,
            },
            512,
        );
        assert!(m.metadata.truncation);
        assert!(m.answers.len() < 40 && !m.answers.is_empty());
    }

    #[test]
    fn header_only_and_failure() {
        let msg = query("a.b", TYPE_A, None);
        let mut out = Vec::new();
        encode_header_only(&msg, Rcode::FormErr, &mut out);
        let m = Message::from_vec(&out).unwrap();
        assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
        assert!(m.queries.is_empty());
        assert!(!m.metadata.recursion_available, "no RA, as BIND answers");
        let q = parse_query(&msg).unwrap();
        encode_failure(&msg, q.question_end, 0x4321, Rcode::ServFail, &mut out);
        let m = Message::from_vec(&out).unwrap();
        assert_eq!(m.metadata.id, 0x4321);
        assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
        assert_eq!(m.queries.len(), 1);
    }
}
