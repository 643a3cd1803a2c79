//! How `vpnjail status` shows a [`Report`]: a table for people (colour only
//! on a terminal without NO_COLOR) or the JSON of docs/status.md.
//! May touch: nothing (pure).

use super::{JailStatus, Report};
use std::fmt::Write;

/// The report as JSON (one object, schema [`super::SCHEMA`]).
pub fn json(r: &Report) -> String {
    serde_json::to_string_pretty(r).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}")) + "\n"
}

fn state(up: bool, colour: bool) -> String {
    match (up, colour) {
        (true, true) => "\x1b[32mup\x1b[0m  ".into(),
        (false, true) => "\x1b[31mdown\x1b[0m".into(),
        (true, false) => "up  ".into(),
        (false, false) => "down".into(),
    }
}

/// What is worth saying about a jail, shortest first.
fn details(j: &JailStatus) -> String {
    let mut d: Vec<String> = Vec::new();
    if !j.running {
        d.push("not running".into());
    }
    for p in &j.processes {
        d.push(format!(
            "{} {}",
            p.name,
            if p.running { "running" } else { "NOT running" }
        ));
    }
    if let Some(v) = &j.vpn {
        d.push(format!(
            "{} {}",
            v.tun,
            if v.tunnel_up { "up" } else { "DOWN" }
        ));
        if v.dns.is_empty() {
            d.push(format!("DNS {}", v.dns_source));
        } else {
            d.push(format!("DNS {} ({})", v.dns.join(", "), v.dns_source));
        }
        for c in &v.counters {
            d.push(format!("{} {} pkts", c.name, c.packets));
        }
        if let Some(r) = &v.replica {
            d.push(format!(
                "replica priority {}{}, {}",
                r.priority,
                if r.cold { " (cold standby)" } else { "" },
                if r.announced {
                    "announced"
                } else {
                    "not announced"
                }
            ));
        }
    }
    if let Some(i) = &j.ipsec {
        for l in &i.links {
            d.push(format!(
                "link {} {} in {} B out {} B",
                l.peer,
                l.sa.as_deref().unwrap_or("NO SA"),
                l.bytes_in,
                l.bytes_out
            ));
        }
        for b in i.bgp.iter().flatten() {
            d.push(format!("BGP {} {}", b.peer, b.state));
        }
    }
    if let Some(v) = &j.vpndns {
        match (&v.control, &v.forwarders, &v.error) {
            (None, _, _) => d.push("no [control] API".into()),
            (_, _, Some(e)) => d.push(e.clone()),
            (_, Some(f), None) => {
                for f in f {
                    d.push(format!("{} {}", f.name, if f.up { "up" } else { "DOWN" }));
                }
            }
            _ => {}
        }
    }
    d.join("; ")
}

/// The report as a table: one line per host and per jail.
pub fn table(r: &Report, colour: bool) -> String {
    let jails: usize = r.hosts.iter().map(|h| h.jails.len()).sum();
    let down: usize = r
        .hosts
        .iter()
        .flat_map(|h| &h.jails)
        .filter(|j| !j.up)
        .count();
    let mut s = format!("site {}: {} of {jails} jails up\n", r.site, jails - down);
    let rows: Vec<[String; 5]> = r
        .hosts
        .iter()
        .flat_map(|h| {
            std::iter::once([
                h.name.clone(),
                "-".into(),
                "host".into(),
                state(h.up, colour),
                format!(
                    "{}; bridge {}",
                    h.platform,
                    if h.bridge_up { "up" } else { "MISSING" }
                ),
            ])
            .chain(h.jails.iter().map(|j| {
                [
                    h.name.clone(),
                    j.name.clone(),
                    j.kind.into(),
                    state(j.up, colour),
                    details(j),
                ]
            }))
        })
        .collect();
    let w = |i: usize, head: &str| {
        rows.iter()
            .map(|r| r[i].len())
            .max()
            .unwrap_or(0)
            .max(head.len())
    };
    let (wh, wj, wk) = (w(0, "HOST"), w(1, "JAIL"), w(2, "KIND"));
    let _ = writeln!(
        s,
        "{:wh$}  {:wj$}  {:wk$}  STATE  DETAILS",
        "HOST", "JAIL", "KIND"
    );
    for row in &rows {
        let _ = writeln!(
            s,
            "{:wh$}  {:wj$}  {:wk$}  {}   {}",
            row[0], row[1], row[2], row[3], row[4]
        );
    }
    for rep in &r.replicated {
        let _ = writeln!(
            s,
            "replicated {} (anycast {}): served by {}",
            rep.jail,
            rep.anycast,
            rep.served_by.as_deref().unwrap_or("NO replica")
        );
    }
    for c in &r.could_not_look {
        let _ = writeln!(s, "could not look: {c}");
    }
    s
}

/// Colour only on a terminal, and never when NO_COLOR is set (to anything
/// but the empty string, as no-color.org says).
pub fn want_colour(tty: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    tty && no_color.is_none_or(|v| v.is_empty())
}
