//! Lays out a [`Picture`] and writes it as SVG: hosts side by side, each with
//! its bridge and a column of jails; IPsec links as arcs above the hosts, GRE
//! tunnels as dashed arcs below, clients from outside under their host.
//! May touch: nothing (pure).

use super::{Kind, Picture, escape};
use std::fmt::Write;

const PAD: f64 = 24.0;
const GAP: f64 = 110.0;
/// Average advance of a 12 px sans-serif character; boxes are sized from it.
const CHAR: f64 = 6.7;
const NOTE: f64 = 15.0;
const FONT: &str = "DejaVu Sans, Helvetica, Arial, sans-serif";

fn colours(k: Kind) -> (&'static str, &'static str) {
    match k {
        Kind::Ipsec => ("#dbeafe", "#1d4ed8"),
        Kind::Vpndns => ("#dcfce7", "#15803d"),
        Kind::Vpn => ("#fef3c7", "#b45309"),
        Kind::Service => ("#f3f4f6", "#4b5563"),
    }
}

const LINES: [(&str, &str, &str, &str); 3] = [
    ("IPsec link", "#1d4ed8", "", ""),
    ("GRE tunnel", "#7c3aed", " stroke-dasharray=\"6 4\"", ""),
    ("leaves via", "#b45309", "", " marker-end=\"url(#arrow)\""),
];
const KINDS: [Kind; 4] = [Kind::Ipsec, Kind::Vpndns, Kind::Vpn, Kind::Service];

fn legend_width() -> f64 {
    let kinds: f64 = KINDS.iter().map(|k| 70.0 + width(k.name())).sum();
    let lines: f64 = LINES.iter().map(|l| 60.0 + width(l.0)).sum();
    kinds + lines
}

fn width(s: &str) -> f64 {
    s.chars().count() as f64 * CHAR
}

fn jail_height(notes: usize) -> f64 {
    28.0 + NOTE * notes as f64
}

/// Where each jail box of a host is: (y, height), in the order of `jails`.
struct HostLayout {
    x: f64,
    jails: Vec<(f64, f64)>,
}

/// The picture as an SVG document.
pub fn render(p: &Picture) -> String {
    // Column width: the widest text of any host.
    let mut w: f64 = 250.0;
    for h in &p.hosts {
        w = w.max(width(&h.name) * 1.4 + 40.0);
        w = w.max(width(&h.subtitle) + 40.0);
        w = w.max(width(&h.bridge) + 40.0);
        for j in &h.jails {
            w = w.max(width(&format!("{}  {}  {}", j.name, j.address, j.kind.name())) + 90.0);
            for n in &j.notes {
                w = w.max(width(n) * 0.95 + 90.0);
            }
        }
    }
    w = w.ceil();
    let n = p.hosts.len().max(1) as f64;
    let max_span = p
        .links
        .iter()
        .map(|l| l.hosts[0].abs_diff(l.hosts[1]))
        .max();
    let arc = |span: usize| 34.0 + 40.0 * (span.max(1) - 1) as f64;
    let top = 56.0 + max_span.map_or(0.0, |s| arc(s) + 44.0);
    // Each host's content, laid out from its top.
    let mut layouts = Vec::new();
    let mut height: f64 = 0.0;
    for (i, h) in p.hosts.iter().enumerate() {
        let mut y = top + 56.0 + 32.0 * (1 + usize::from(h.anycast_bridge.is_some())) as f64;
        let mut jails = Vec::new();
        for j in &h.jails {
            let jh = jail_height(j.notes.len());
            jails.push((y, jh));
            y += jh + 10.0;
        }
        height = height.max(y - top + 4.0);
        layouts.push(HostLayout {
            x: PAD + i as f64 * (w + GAP),
            jails,
        });
    }
    let bottom = top + height;
    let gre_span = p.gres.iter().map(|g| g.from.0.abs_diff(g.to.0)).max();
    let mut y_out = bottom + 24.0 + gre_span.map_or(0.0, |s| arc(s) + 30.0);
    let total_w = (PAD * 2.0 + n * w + (n - 1.0) * GAP).max(legend_width() + PAD * 2.0);
    let outside_h = if p.outside.is_empty() { 0.0 } else { 70.0 };
    let total_h = y_out + outside_h + 50.0;

    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{total_w}\" height=\"{total_h}\" viewBox=\"0 0 {total_w} {total_h}\" font-family=\"{FONT}\" font-size=\"12\">"
    );
    let _ = writeln!(
        s,
        "<title>{} — vpnjail diagram</title>\n<defs>\n<marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#b45309\"/></marker>\n<marker id=\"arrowgre\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#7c3aed\"/></marker>\n</defs>",
        escape(&p.site)
    );
    let _ = writeln!(
        s,
        "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n<text x=\"{PAD}\" y=\"30\" font-size=\"18\" font-weight=\"bold\" fill=\"#111827\">site {}</text>\n<text x=\"{}\" y=\"30\" font-size=\"12\" fill=\"#6b7280\">{} hosts · {} links · routing {}</text>",
        escape(&p.site),
        PAD + width(&format!("site {}", p.site)) * 1.75 + 16.0,
        p.hosts.len(),
        p.links.len(),
        if p.bgp { "bgp" } else { "static" }
    );

    // IPsec links: arcs above the hosts, each end a little apart from the others.
    let mut ends_used = vec![0usize; p.hosts.len()];
    for l in &p.links {
        let [a, b] = l.hosts;
        let (Some(la), Some(lb)) = (layouts.get(a), layouts.get(b)) else {
            continue;
        };
        let mut end = |i: usize, x: f64, right: bool| {
            let k = ends_used[i] as f64;
            ends_used[i] += 1;
            let off = 20.0 + 14.0 * k;
            x + w / 2.0 + if right { off } else { -off }
        };
        let (x1, x2) = (end(a, la.x, b > a), end(b, lb.x, a > b));
        let h = arc(a.abs_diff(b));
        let c = top - h * 4.0 / 3.0;
        let _ = writeln!(
            s,
            "<path d=\"M{x1},{top} C{x1},{c} {x2},{c} {x2},{top}\" fill=\"none\" stroke=\"#1d4ed8\" stroke-width=\"2.5\"/>"
        );
        let mx = (x1 + x2) / 2.0;
        let label_w = width(&l.label).max(width(&l.detail)) + 16.0;
        let _ = writeln!(
            s,
            "<rect x=\"{}\" y=\"{}\" width=\"{label_w}\" height=\"34\" rx=\"5\" fill=\"#ffffff\" stroke=\"#bfdbfe\"/>\n<text x=\"{mx}\" y=\"{}\" text-anchor=\"middle\" fill=\"#1e3a8a\" font-weight=\"bold\">{}</text>\n<text x=\"{mx}\" y=\"{}\" text-anchor=\"middle\" fill=\"#1e3a8a\" font-size=\"11\">{}</text>",
            mx - label_w / 2.0,
            top - h - 17.0,
            top - h - 3.0,
            escape(&l.label),
            top - h + 12.0,
            escape(&l.detail)
        );
    }

    for (h, lay) in p.hosts.iter().zip(&layouts) {
        let x = lay.x;
        let _ = writeln!(
            s,
            "<g class=\"host\" id=\"host-{}\">\n<rect x=\"{x}\" y=\"{top}\" width=\"{w}\" height=\"{height}\" rx=\"10\" fill=\"#f9fafb\" stroke=\"#374151\" stroke-width=\"1.5\"/>\n<text x=\"{}\" y=\"{}\" font-size=\"16\" font-weight=\"bold\" fill=\"#111827\">{}</text>\n<text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"#6b7280\">{}</text>",
            escape(&h.name),
            x + 14.0,
            top + 24.0,
            escape(&h.name),
            x + 14.0,
            top + 42.0,
            escape(&h.subtitle)
        );
        let mut bar_y = top + 54.0;
        for (label, fill) in std::iter::once((&h.bridge, "#e0e7ff"))
            .chain(h.anycast_bridge.as_ref().map(|b| (b, "#fae8ff")))
        {
            let _ = writeln!(
                s,
                "<rect x=\"{}\" y=\"{bar_y}\" width=\"{}\" height=\"24\" rx=\"4\" fill=\"{fill}\" stroke=\"#6366f1\"/>\n<text x=\"{}\" y=\"{}\" fill=\"#312e81\">{}</text>",
                x + 12.0,
                w - 24.0,
                x + 22.0,
                bar_y + 16.0,
                escape(label)
            );
            bar_y += 32.0;
        }
        let bus_x = x + 24.0;
        if let Some((ly, _)) = lay.jails.last() {
            let _ = writeln!(
                s,
                "<line x1=\"{bus_x}\" y1=\"{}\" x2=\"{bus_x}\" y2=\"{}\" stroke=\"#6366f1\" stroke-width=\"2\"/>",
                bar_y - 8.0,
                ly + 18.0
            );
        }
        let bx = x + 40.0;
        let bw = w - 40.0 - 34.0;
        for (j, (jy, jh)) in h.jails.iter().zip(&lay.jails) {
            let (fill, stroke) = colours(j.kind);
            let replica = j.notes.iter().any(|n| n.starts_with("replica "));
            let dash = if replica {
                " stroke-dasharray=\"6 3\""
            } else {
                ""
            };
            let _ = writeln!(
                s,
                "<line x1=\"{bus_x}\" y1=\"{}\" x2=\"{bx}\" y2=\"{}\" stroke=\"#6366f1\" stroke-width=\"2\"/>\n<g class=\"jail\" id=\"jail-{}-{}\">\n<rect x=\"{bx}\" y=\"{jy}\" width=\"{bw}\" height=\"{jh}\" rx=\"6\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"1.5\"{dash}/>\n<text x=\"{}\" y=\"{}\"><tspan font-weight=\"bold\" font-size=\"13\" fill=\"#111827\">{}</tspan><tspan fill=\"#374151\" dx=\"8\">{}</tspan></text>\n<text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"11\" font-weight=\"bold\" fill=\"{stroke}\">{}</text>",
                jy + 18.0,
                jy + 18.0,
                escape(&h.name),
                escape(&j.name),
                bx + 10.0,
                jy + 18.0,
                escape(&j.name),
                escape(&j.address),
                bx + bw - 10.0,
                jy + 18.0,
                j.kind.name()
            );
            for (k, note) in j.notes.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "<text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"#374151\">{}</text>",
                    bx + 12.0,
                    jy + 18.0 + NOTE * (k + 1) as f64,
                    escape(note)
                );
            }
            s.push_str("</g>\n");
        }
        // Which vpn jail each service jail leaves through: arrows in the right gutter.
        let mid = |name: &str| {
            h.jails
                .iter()
                .zip(&lay.jails)
                .find(|(j, _)| j.name == name)
                .map(|(_, (y, _))| y + 18.0)
        };
        let mut k = 0.0;
        for j in &h.jails {
            let (Some(via), Some(from)) = (&j.via, mid(&j.name)) else {
                continue;
            };
            let Some(to) = mid(via) else { continue };
            let ex = bx + bw;
            let gx = ex + 16.0 + 6.0 * k;
            k += 1.0;
            let _ = writeln!(
                s,
                "<path d=\"M{ex},{from} C{gx},{from} {gx},{to} {},{to}\" fill=\"none\" stroke=\"#b45309\" stroke-width=\"2\" marker-end=\"url(#arrow)\"><title>{} leaves via {via}</title></path>",
                ex + 2.0,
                escape(&j.name)
            );
        }
        s.push_str("</g>\n");
    }

    // GRE tunnels: dashed arcs below the hosts (or in the gutter within one host).
    let mut gre_used = vec![0usize; p.hosts.len()];
    for g in &p.gres {
        let (fa, ta) = (g.from.0, g.to.0);
        let (Some(lf), Some(lt)) = (layouts.get(fa), layouts.get(ta)) else {
            continue;
        };
        let label = format!("{}: {} → {}", g.label, g.from.1, g.to.1);
        if fa == ta {
            let find = |name: &str| {
                p.hosts[fa]
                    .jails
                    .iter()
                    .zip(&lf.jails)
                    .find(|(j, _)| j.name == name)
                    .map(|(_, (y, _))| y + 24.0)
            };
            if let (Some(y1), Some(y2)) = (find(&g.from.1), find(&g.to.1)) {
                let ex = lf.x + w - 34.0;
                let gx = ex + 28.0;
                let _ = writeln!(
                    s,
                    "<path d=\"M{ex},{y1} C{gx},{y1} {gx},{y2} {},{y2}\" fill=\"none\" stroke=\"#7c3aed\" stroke-width=\"2\" stroke-dasharray=\"6 4\" marker-end=\"url(#arrowgre)\"><title>{}</title></path>",
                    ex + 2.0,
                    escape(&label)
                );
            }
            continue;
        }
        let mut end = |i: usize, x: f64, right: bool| {
            let k = gre_used[i] as f64;
            gre_used[i] += 1;
            let off = 30.0 + 14.0 * k;
            x + w / 2.0 + if right { off } else { -off }
        };
        let (x1, x2) = (end(fa, lf.x, ta > fa), end(ta, lt.x, fa > ta));
        let h = arc(fa.abs_diff(ta));
        let c = bottom + h * 4.0 / 3.0;
        let _ = writeln!(
            s,
            "<path d=\"M{x1},{bottom} C{x1},{c} {x2},{c} {x2},{bottom}\" fill=\"none\" stroke=\"#7c3aed\" stroke-width=\"2\" stroke-dasharray=\"6 4\" marker-end=\"url(#arrowgre)\"/>"
        );
        let mx = (x1 + x2) / 2.0;
        let lw = width(&label) + 16.0;
        let _ = writeln!(
            s,
            "<rect x=\"{}\" y=\"{}\" width=\"{lw}\" height=\"20\" rx=\"5\" fill=\"#ffffff\" stroke=\"#ddd6fe\"/>\n<text x=\"{mx}\" y=\"{}\" text-anchor=\"middle\" fill=\"#5b21b6\">{}</text>",
            mx - lw / 2.0,
            bottom + h - 10.0 + 6.0,
            bottom + h + 10.0,
            escape(&label)
        );
    }

    // Clients from outside the site, under the host they enter.
    let mut per_host = vec![0usize; p.hosts.len()];
    for o in &p.outside {
        let Some(lay) = layouts.get(o.into.0) else {
            continue;
        };
        let k = per_host[o.into.0] as f64;
        per_host[o.into.0] += 1;
        let bw = width(&format!("{} → {}", o.how, o.into.1)).max(width(&o.label) * 1.1) + 24.0;
        let ox = lay.x + 10.0 + k * (bw + 10.0);
        let _ = writeln!(
            s,
            "<line x1=\"{}\" y1=\"{y_out}\" x2=\"{}\" y2=\"{bottom}\" stroke=\"#7c3aed\" stroke-width=\"2\" stroke-dasharray=\"6 4\" marker-end=\"url(#arrowgre)\"/>\n<rect x=\"{ox}\" y=\"{y_out}\" width=\"{bw}\" height=\"40\" rx=\"6\" fill=\"#f5f3ff\" stroke=\"#7c3aed\"/>\n<text x=\"{}\" y=\"{}\" font-weight=\"bold\" fill=\"#4c1d95\">{}</text>\n<text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"#4c1d95\">{} → {}</text>",
            ox + bw / 2.0,
            ox + bw / 2.0,
            ox + 10.0,
            y_out + 16.0,
            escape(&o.label),
            ox + 10.0,
            y_out + 32.0,
            escape(&o.how),
            escape(&o.into.1)
        );
    }
    if !p.outside.is_empty() {
        y_out += outside_h;
    }

    // Legend (its width is legend_width()).
    let ly = y_out + 20.0;
    let mut lx = PAD;
    for k in KINDS {
        let (fill, stroke) = colours(k);
        let _ = writeln!(
            s,
            "<rect x=\"{lx}\" y=\"{}\" width=\"14\" height=\"14\" rx=\"3\" fill=\"{fill}\" stroke=\"{stroke}\"/><text x=\"{}\" y=\"{ly}\" fill=\"#374151\">{} jail</text>",
            ly - 11.0,
            lx + 20.0,
            k.name()
        );
        lx += 20.0 + width(k.name()) + 50.0;
    }
    for (what, stroke, dash, marker) in LINES {
        let _ = writeln!(
            s,
            "<line x1=\"{lx}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{stroke}\" stroke-width=\"2.5\"{dash}{marker}/><text x=\"{}\" y=\"{ly}\" fill=\"#374151\">{what}</text>",
            ly - 4.0,
            lx + 30.0,
            ly - 4.0,
            lx + 36.0
        );
        lx += 36.0 + width(what) + 24.0;
    }
    s.push_str("</svg>\n");
    s
}
