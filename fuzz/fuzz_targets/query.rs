//! Client queries: `wire::parse_query`, then the decision and the local
//! answer on small fixed engines. Invariants: no panic; every answer the
//! proxy makes parses in hickory-proto, carries the query's ID and one
//! question, fits the requester's limit; REFUSED is never larger than the
//! query (no amplification); FORMERR/NOTIMP are bare headers.
#![no_main]

use hickory_proto::op::{Message, MessageType, ResponseCode};
use libfuzzer_sys::fuzz_target;
use vpndns::proxy::answer;
use vpndns::proxy::engine::Decision;
use vpndns::proxy::wire::{self, Rcode, Reject};
use vpndns_fuzz::{ENGINES, client};

fn parse_ours(out: &[u8]) -> Message {
    Message::from_vec(out).unwrap_or_else(|e| panic!("our answer does not parse: {e}: {out:02x?}"))
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, msg)) = data.split_first() else {
        return;
    };
    let engine = &ENGINES[usize::from(sel >> 4) % ENGINES.len()];
    let client = client(sel & 0x0f);
    let mut out = Vec::new();
    let q = match wire::parse_query(msg) {
        Ok(q) => q,
        Err(Reject::Drop) => {
            assert!(msg.len() < wire::HEADER_LEN || wire::is_response(msg));
            return;
        }
        Err(reject) => {
            let rcode = if reject == Reject::NotImp {
                Rcode::NotImp
            } else {
                Rcode::FormErr
            };
            answer::encode_header_only(msg, rcode, &mut out);
            assert_eq!(out.len(), wire::HEADER_LEN);
            let m = parse_ours(&out);
            assert_eq!(Some(m.metadata.id), wire::id(msg));
            assert_eq!(m.metadata.message_type, MessageType::Response);
            assert_eq!(u16::from(m.metadata.response_code), rcode as u16);
            return;
        }
    };
    assert!(q.question_end <= msg.len());
    assert_eq!(Some(q.id), wire::id(msg));
    assert!((512..=4096).contains(&q.udp_limit()));
    let decision = engine.decide(client, &q);
    let _ = decision.to_string();
    let Some(a) = engine.local_answer(&decision, &q) else {
        assert!(matches!(decision, Decision::Forward { .. }));
        return;
    };
    for limit in [q.udp_limit(), usize::from(u16::MAX)] {
        answer::encode(msg, &q, &a, limit, &mut out);
        assert!(out.len() <= limit, "{} > {limit}", out.len());
        let m = parse_ours(&out);
        assert_eq!(m.metadata.id, q.id);
        assert_eq!(m.metadata.message_type, MessageType::Response);
        assert_eq!(m.queries.len(), 1);
        assert_eq!(u16::from(m.queries[0].query_type()), q.qtype);
        assert_eq!(m.edns.is_some(), q.edns.is_some());
        if matches!(decision, Decision::Refused { .. }) {
            assert_eq!(m.metadata.response_code, ResponseCode::Refused);
            assert!(
                out.len() <= msg.len(),
                "REFUSED amplifies: {} > {}",
                out.len(),
                msg.len()
            );
        }
    }
});
