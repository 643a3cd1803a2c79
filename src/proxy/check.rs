//! What `vpndns check` and `vpndns explain` print: an engine's resolved
//! tables, and the decision for one query, for a person to read.

use std::fmt::Write as _;
use std::net::IpAddr;

use hickory_proto::rr::RecordType;

use super::engine::Engine;
use super::lists;
use super::policy::GroupMask;
use super::wire::query_for;

/// The resolved configuration, as `vpndns check` prints it.
pub fn describe(engine: &Engine) -> String {
    let c = &engine.config;
    let mut s = String::new();
    let listen: Vec<String> = c.server.listen.iter().map(|a| a.to_string()).collect();
    let _ = writeln!(s, "listen:   {} (UDP and TCP)", listen.join(", "));
    let _ = writeln!(s, "timeout:  {:?} per upstream attempt", c.server.timeout);
    let _ = writeln!(s, "\npolicies, most specific network first:");
    for (net, p) in engine.policies.entries() {
        let block = match p.block {
            GroupMask::DEFAULT => String::new(),
            GroupMask::NONE => ", blocks nothing".into(),
            mask => format!(", blocks {}", engine.groups.names(mask).join(", ")),
        };
        let _ = writeln!(
            s,
            "  {:<22} {}{block}   (line {})",
            net.to_string(),
            p.action,
            p.line
        );
    }
    let _ = writeln!(
        s,
        "  {:<22} refuse (no policy covers it)",
        "any other client"
    );
    if !engine.domains.rules().is_empty() {
        let _ = writeln!(s, "\ndomain overrides, longest suffix first wins:");
        for r in engine.domains.rules() {
            let names: Vec<String> = r.suffixes.iter().map(|n| n.to_string()).collect();
            let fw: Vec<String> = r
                .forwarders
                .iter()
                .map(|f| format!("{} ({})", f.name, f.addr))
                .collect();
            let _ = writeln!(
                s,
                "  {} -> {}   (line {})",
                names.join(", "),
                fw.join(" -> "),
                r.line
            );
        }
    }
    let _ = writeln!(
        s,
        "\nstatic:   {} names, {} PTR records, TTL {}",
        engine.statics.len(),
        engine.statics.ptr_count(),
        engine.statics.ttl
    );
    for (name, addrs) in engine.statics.entries().iter().take(20) {
        let all: Vec<String> = addrs
            .v4
            .iter()
            .map(|a| a.to_string())
            .chain(addrs.v6.iter().map(|a| a.to_string()))
            .collect();
        let _ = writeln!(s, "  {name} = {}", all.join(", "));
    }
    if engine.statics.len() > 20 {
        let _ = writeln!(s, "  ... and {} more", engine.statics.len() - 20);
    }
    let r = &engine.report;
    let _ = writeln!(
        s,
        "\nblocking: {} domains blocked, {} allowed; answer {} (TTL {})",
        r.blocked_domains, r.allowed_domains, c.block.response, c.block.ttl
    );
    let statuses = lists::status(&engine.groups, &c.block.fetch.cache_dir, None);
    for g in &engine.groups.groups {
        let _ = writeln!(
            s,
            "  group {}: {} domains blocked, {} allowed",
            g.name,
            g.block.len(),
            g.allow.len()
        );
        for (l, status) in g
            .lists
            .iter()
            .zip(statuses.iter().filter(|x| *x.group == *g.name))
        {
            let st = &l.stats;
            let _ = write!(
                s,
                "    {}: {} block, {} allow entries, {} lines skipped",
                l.written, st.blocked, st.allowed, st.skipped
            );
            if let Some((line, why)) = st.first_skip {
                let _ = write!(s, " (first at line {line}: {why})");
            }
            if let Some(why) = &l.missing {
                let _ = write!(s, "; empty: {why}");
            }
            if l.url.is_some() {
                let or_never = |t: &Option<String>| t.clone().unwrap_or_else(|| "never".into());
                let _ = write!(
                    s,
                    "\n      last success {}, last failure {}{}, next refresh {}",
                    or_never(&status.last_success),
                    or_never(&status.last_failure),
                    status
                        .failure
                        .as_ref()
                        .map(|f| format!(" ({f})"))
                        .unwrap_or_default(),
                    status.next_refresh.as_deref().unwrap_or("now"),
                );
            }
            s.push('\n');
        }
    }
    if !c.block.exempt.is_empty() {
        let nets: Vec<String> = c.block.exempt.iter().map(|n| n.to_string()).collect();
        let _ = writeln!(s, "  exempt clients: {}", nets.join(", "));
    }
    if !c.block.local_only.is_empty() {
        let names: Vec<String> = c.block.local_only.iter().map(|n| n.to_string()).collect();
        let _ = writeln!(
            s,
            "local only (NXDOMAIN, never forwarded): {}",
            names.join(", ")
        );
    }
    s
}

/// Why a query would be answered as it would, as `vpndns explain` prints it.
pub fn explain(engine: &Engine, client: IpAddr, name: &str, qtype: &str) -> Result<String, String> {
    let q = query_for(name, qtype)?;
    let decision = engine.decide(client, &q);
    let mut text = format!(
        "{client} asks {} {}: {decision}",
        q.name,
        RecordType::from(q.qtype)
    );
    if matches!(decision, crate::proxy::engine::Decision::Forward { .. }) {
        text.push_str(&stale_note(&engine.config.cache));
    }
    Ok(text)
}

/// What happens to a forwarded query when every forwarder fails.
pub fn stale_note(cache: &crate::proxy::config::CacheConfig) -> String {
    if cache.serve_stale.is_zero() || cache.size == 0 {
        "; if every forwarder fails: SERVFAIL (serve_stale off)".into()
    } else {
        format!(
            "; if every forwarder fails: a cached answer of the same forwarders up to {}s past expiry, TTL {} (serve_stale), else SERVFAIL",
            cache.serve_stale.as_secs(),
            cache.stale_ttl
        )
    }
}
