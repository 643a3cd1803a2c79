//! Upstream responses: `upstream::InFlight::match_response` (and so
//! `wire::answers_question`) against an in-flight query. The asked query is
//! either a fixed one or, when the input's first part parses as a query, that
//! one. Invariants: no panic; a response is accepted exactly when it comes
//! from the slot's socket and address, carries its upstream ID, is a response
//! with one question, and repeats the question (name ignoring ASCII case,
//! type and class exactly), or for an opcode other than QUERY is a bare
//! FORMERR/NOTIMP/REFUSED header of that opcode, as checked here by a plain
//! reference.
#![no_main]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;
use rand::rngs::StdRng;
use vpndns::proxy::config::HealthConfig;
use vpndns::proxy::policy::Forwarder;
use vpndns::proxy::upstream::{InFlight, Mismatch, Origin, Targets, Which};
use vpndns::proxy::wire;

/// `www.Example.com` A with EDNS.
const FIXED: &[u8] = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01\x03www\x07Example\x03com\x00\x00\x01\x00\x01\x00\x00\x29\x04\xd0\x00\x00\x80\x00\x00\x00";

fn reference(resp: &[u8], asked: &[u8], qend: usize) -> bool {
    let opcode = |m: &[u8]| (m[2] >> 3) & 0x0f;
    if opcode(asked) != 0 && resp.len() >= wire::HEADER_LEN && resp[4..6] == [0, 0] {
        // A bare refusal of an opcode the upstream does not know.
        return wire::is_response(resp)
            && opcode(resp) == opcode(asked)
            && [1, 4, 5].contains(&(resp[3] & 0x0f));
    }
    let name_end = qend - 4;
    resp.len() >= qend
        && wire::is_response(resp)
        && resp[4..6] == [0, 1]
        && resp[wire::HEADER_LEN..name_end].eq_ignore_ascii_case(&asked[wire::HEADER_LEN..name_end])
        && resp[name_end..qend] == asked[name_end..qend]
}

fuzz_target!(|data: &[u8]| {
    let [sel, qlen, rest @ ..] = data else {
        return;
    };
    let (asked, resp) = rest.split_at(usize::from(*qlen).min(rest.len()));
    let (asked, q) = match wire::parse_query(asked) {
        Ok(q) => (asked, q),
        Err(_) => (FIXED, wire::parse_query(FIXED).expect("fixed query")),
    };
    let qend = q.question_end;
    let target: SocketAddr = "10.9.0.1:53".parse().expect("fixed");
    let targets = Targets::by_health(&Arc::from(vec![Forwarder::new("a", target, HealthConfig::default())]));
    let mut rng = StdRng::seed_from_u64(u64::from(*sel));
    let mut table = InFlight::new(4);
    let origin = Origin {
        client: "127.0.0.9:4000".parse().expect("fixed"),
        listener: 0,
    };
    let Some(i) = table.insert(&mut rng, origin, asked, &q, targets, Instant::now(), false) else {
        panic!("an empty table takes a query");
    };
    table.set_socket(i, 1);
    let sent_id = wire::id(&table.slot(i).query).expect("a header");

    // Half the inputs carry the right ID so the question check is reached.
    let mut resp = resp.to_vec();
    if sel & 1 == 1 && resp.len() >= 2 {
        wire::set_id(&mut resp, sent_id);
    }
    let (socket, from) = match (sel >> 1) % 4 {
        0 | 1 => (1, target),
        2 => (0, target),
        _ => (1, "10.9.0.1:54".parse().expect("fixed")),
    };
    let got = table.match_response(socket, from, &resp);
    let expected = if wire::id(&resp) != Some(sent_id) {
        Err(Mismatch::UnknownId)
    } else if (socket, from) != (1, target) {
        Err(Mismatch::WrongSource)
    } else if !reference(&resp, &table.slot(i).query, qend) {
        Err(Mismatch::WrongQuestion)
    } else {
        Ok((i, Which::Current))
    };
    assert_eq!(got, expected);
    assert_eq!(
        wire::answers_question(&resp, asked, qend),
        reference(&resp, asked, qend)
    );
    // A replay after the answer is unknown.
    table.remove(i);
    assert_eq!(
        table.match_response(socket, from, &resp),
        Err(Mismatch::UnknownId)
    );
});
