//! `vpnjail diagram`: golden SVG and dot for every example site, every host
//! and jail named in the picture, and the SVG rendered by rsvg-convert.

mod vpnjail_support;

use std::path::Path;
use std::process::Command;
use vpndns::deploy::diagram;
use vpnjail_support::*;

const EXAMPLES: [&str; 4] = ["site", "wan-site", "linux-site", "roadwarriors"];

fn load(name: &str) -> vpndns::deploy::model::Site {
    let path = root().join("examples").join(format!("{name}.toml"));
    // The picture needs no certificates: roadwarriors.toml has no pki/ here.
    vpndns::deploy::check::load_without_pki(&path).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn golden_svg_and_dot_for_the_example_sites() {
    for name in EXAMPLES {
        let p = diagram::picture(&load(name));
        golden(
            &Path::new("diagram").join(format!("{name}.svg")),
            &diagram::svg::render(&p),
        );
        golden(
            &Path::new("diagram").join(format!("{name}.dot")),
            &diagram::dot::render(&p),
        );
    }
    // The README's picture is the example's.
    let readme = std::fs::read_to_string(root().join("docs/site.svg")).expect("docs/site.svg");
    assert_eq!(
        readme,
        diagram::svg::render(&diagram::picture(&load("site"))),
        "regenerate docs/site.svg: vpnjail diagram --site examples/site.toml > docs/site.svg"
    );
}

#[test]
fn every_host_and_jail_is_named_and_each_link_and_via_drawn() {
    for name in EXAMPLES {
        let site = load(name);
        let svg = diagram::svg::render(&diagram::picture(&site));
        let dot = diagram::dot::render(&diagram::picture(&site));
        for h in &site.hosts {
            assert!(
                svg.contains(&format!(">{}</text>", h.name)),
                "{name}: host {}",
                h.name
            );
            for j in &h.jails {
                assert!(
                    svg.contains(&format!("id=\"jail-{}-{}\"", h.name, j.name)),
                    "{name}: {}/{}",
                    h.name,
                    j.name
                );
                assert!(
                    svg.contains(&format!(">{}</tspan>", j.name)),
                    "{name}: jail {}",
                    j.name
                );
                assert!(
                    dot.contains(&format!("\"{}/{}\" [label=", h.name, j.name)),
                    "{name}: dot {}",
                    j.name
                );
            }
        }
        for l in &site.links {
            assert!(
                svg.contains(&format!("IPsec reqid {} ", l.reqid)),
                "{name}: link {}",
                l.reqid
            );
        }
        let vias = site
            .hosts
            .iter()
            .flat_map(|h| &h.jails)
            .filter(|j| {
                matches!(
                    &j.kind,
                    vpndns::deploy::model::JailKind::Service { via: Some(_) }
                )
            })
            .count();
        assert_eq!(svg.matches(" leaves via ").count(), vias, "{name}");
        assert_eq!(dot.matches("label=\"leaves via\"").count(), vias, "{name}");
    }
}

#[test]
fn a_gre_client_outside_the_site_is_drawn_under_its_host() {
    let (_dir, path) =
        edited_site(|t| t.replace("remote = \"10.10.2.77\"", "remote = \"203.0.113.9\""));
    let site = vpndns::deploy::check::load(&path).expect("valid");
    let p = diagram::picture(&site);
    assert!(p.gres.is_empty());
    assert_eq!(p.outside.len(), 1);
    assert_eq!(p.outside[0].into, (0, "vpnus".to_string()));
    let svg = diagram::svg::render(&p);
    assert!(svg.contains(">client 203.0.113.9</text>"), "{svg}");
    assert!(diagram::dot::render(&p).contains("outside_0 -> \"alpha/vpnus\""));
}

#[test]
fn road_warriors_are_drawn_into_their_exit_or_their_hosts_ipsec_jail() {
    let site = load("roadwarriors");
    let p = diagram::picture(&site);
    for c in &site.clients {
        let o = p
            .outside
            .iter()
            .find(|o| o.label == format!("{} {}", c.name, c.address))
            .unwrap_or_else(|| panic!("{} is not drawn", c.name));
        let host = site
            .hosts
            .iter()
            .position(|h| h.name == c.host)
            .expect("host");
        match &c.exit {
            Some(e) => {
                assert_eq!(o.into, (host, e.clone()));
                assert_eq!(o.how, "IKEv2 · exit");
            }
            None => {
                assert_eq!(
                    site.hosts[host].jail(&o.into.1).map(|j| j.kind_name()),
                    Some("ipsec")
                );
                assert_eq!(o.how, "IKEv2 · WAN only");
            }
        }
    }
    assert!(site.clients.iter().any(|c| c.exit.is_some()));
    assert!(site.clients.iter().any(|c| c.exit.is_none()));
}

/// rsvg-convert (librsvg2-bin, installed by .ci/run) parses and renders every
/// picture; a missing rsvg-convert is a failure, not a silent pass.
#[test]
fn rsvg_convert_renders_each_picture() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in EXAMPLES {
        let svg = dir.path().join(format!("{name}.svg"));
        let png = dir.path().join(format!("{name}.png"));
        std::fs::write(&svg, diagram::svg::render(&diagram::picture(&load(name)))).expect("write");
        let out = Command::new("rsvg-convert")
            .arg(&svg)
            .arg("-o")
            .arg(&png)
            .output()
            .unwrap_or_else(|e| {
                panic!("rsvg-convert is required (apt-get install librsvg2-bin): {e}")
            });
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bytes = std::fs::read(&png).expect("png");
        assert_eq!(&bytes[1..4], b"PNG", "{name}");
        // Width and height from the IHDR chunk: a real picture, not a dot.
        let w = u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
        let h = u32::from_be_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]);
        assert!(w >= 600 && h >= 300, "{name}: {w}x{h}");
    }
}

#[test]
fn the_cli_writes_svg_by_default_and_dot_on_request() {
    let bin = env!("CARGO_BIN_EXE_vpnjail");
    let site = example_path();
    let svg = Command::new(bin)
        .args(["diagram", "--site"])
        .arg(&site)
        .output()
        .expect("run");
    assert!(svg.status.success());
    assert!(String::from_utf8_lossy(&svg.stdout).starts_with("<svg xmlns="));
    let dot = Command::new(bin)
        .args(["diagram", "--format", "dot", "--site"])
        .arg(&site)
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&dot.stdout).starts_with("digraph \"vpncore\" {"));
}
