//! Writes a [`Picture`] as a Graphviz graph (`vpnjail diagram --format dot`):
//! a cluster per host, a node per jail, edges for links, GRE and `via`.
//! May touch: nothing (pure).

use super::{Kind, Picture};
use std::fmt::Write;

/// A dot string literal.
fn q(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn node(host: &str, jail: &str) -> String {
    q(&format!("{host}/{jail}"))
}

fn fill(k: Kind) -> &'static str {
    match k {
        Kind::Ipsec => "#dbeafe",
        Kind::Vpndns => "#dcfce7",
        Kind::Vpn => "#fef3c7",
        Kind::Service => "#f3f4f6",
    }
}

/// The picture as a dot digraph.
pub fn render(p: &Picture) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "digraph {} {{\n  label={};\n  labelloc=t;\n  fontname=\"Helvetica\";\n  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10];\n  edge [fontname=\"Helvetica\", fontsize=9];",
        q(&p.site),
        q(&format!("site {}", p.site))
    );
    for (i, h) in p.hosts.iter().enumerate() {
        let mut label = format!("{}\\n{}\\n{}", h.name, h.subtitle, h.bridge);
        if let Some(a) = &h.anycast_bridge {
            label.push_str(&format!("\\n{a}"));
        }
        let _ = writeln!(
            s,
            "  subgraph cluster_{i} {{\n    label=\"{}\";\n    style=rounded;",
            label.replace('"', "\\\"")
        );
        for j in &h.jails {
            let mut text = format!("{} {} ({})", j.name, j.address, j.kind.name());
            for n in &j.notes {
                text.push_str(&format!("\\n{}", n.replace('"', "\\\"")));
            }
            let _ = writeln!(
                s,
                "    {} [label=\"{text}\", fillcolor=\"{}\"];",
                node(&h.name, &j.name),
                fill(j.kind)
            );
        }
        s.push_str("  }\n");
        for j in &h.jails {
            if let Some(via) = &j.via {
                let _ = writeln!(
                    s,
                    "  {} -> {} [label=\"leaves via\", color=\"#b45309\"];",
                    node(&h.name, &j.name),
                    node(&h.name, via)
                );
            }
        }
    }
    let ipsec = |i: usize| {
        p.hosts.get(i).and_then(|h| {
            h.jails
                .iter()
                .find(|j| j.kind == Kind::Ipsec)
                .map(|j| node(&h.name, &j.name))
        })
    };
    for l in &p.links {
        if let (Some(a), Some(b)) = (ipsec(l.hosts[0]), ipsec(l.hosts[1])) {
            let _ = writeln!(
                s,
                "  {a} -> {b} [dir=none, penwidth=2, color=\"#1d4ed8\", label={}];",
                q(&format!("{}\\n{}", l.label, l.detail)).replace("\\\\n", "\\n")
            );
        }
    }
    for g in &p.gres {
        let (Some(fh), Some(th)) = (p.hosts.get(g.from.0), p.hosts.get(g.to.0)) else {
            continue;
        };
        let _ = writeln!(
            s,
            "  {} -> {} [style=dashed, color=\"#7c3aed\", label={}];",
            node(&fh.name, &g.from.1),
            node(&th.name, &g.to.1),
            q(&g.label)
        );
    }
    for (k, o) in p.outside.iter().enumerate() {
        let Some(h) = p.hosts.get(o.into.0) else {
            continue;
        };
        let _ = writeln!(
            s,
            "  outside_{k} [label={}, shape=box, fillcolor=\"#f5f3ff\"];\n  outside_{k} -> {} [style=dashed, color=\"#7c3aed\", label={}];",
            q(&o.label),
            node(&h.name, &o.into.1),
            q(&o.how)
        );
    }
    s.push_str("}\n");
    s
}
