//! The templates and fixed files the renderers embed (from the top-level
//! template folders), and the one function that renders a template. May
//! touch: nothing (pure).

use super::RenderError;

/// The templates, embedded from the top-level template folders.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "jail.conf",
        include_str!("../../../jail.conf.d/jail.conf.tera"),
    ),
    (
        "devfs.rules",
        include_str!("../../../jail.conf.d/devfs.rules.tera"),
    ),
    ("pf.conf", include_str!("../../../pf/pf.conf.tera")),
    (
        "host-nat.conf",
        include_str!("../../../pf/host-nat.conf.tera"),
    ),
    (
        "host-ipsec.conf",
        include_str!("../../../pf/host-ipsec.conf.tera"),
    ),
    (
        "vpn-dns.conf",
        include_str!("../../../pf/vpn-dns.conf.tera"),
    ),
    (
        "swanctl.conf",
        include_str!("../../../ipsec/swanctl.conf.tera"),
    ),
    (
        "setkey.conf",
        include_str!("../../../ipsec/setkey.conf.tera"),
    ),
    ("vpn.nft", include_str!("../../../nft/vpn.nft.tera")),
    (
        "killswitch.nft",
        include_str!("../../../nft/killswitch.nft.tera"),
    ),
    ("tunnel.nft", include_str!("../../../nft/tunnel.nft.tera")),
    (
        "vpn-killswitch.conf",
        include_str!("../../../pf/vpn-killswitch.conf.tera"),
    ),
    ("host.nft", include_str!("../../../nft/host.nft.tera")),
    (
        "client-swanctl.conf",
        include_str!("../../../ipsec/client-swanctl.conf.tera"),
    ),
    (
        "roadwarrior.nft",
        include_str!("../../../nft/roadwarrior.nft.tera"),
    ),
    (
        "roadwarrior-pf.conf",
        include_str!("../../../pf/roadwarrior.conf.tera"),
    ),
    ("frr.conf", include_str!("../../../frr/frr.conf.tera")),
    ("bfd.conf", include_str!("../../../frr/bfd.conf.tera")),
    (
        "strongswan-linux.conf",
        include_str!("../../../ipsec/strongswan-linux.conf.tera"),
    ),
];

/// The rc.d script is not a template: it reads everything from rc.conf.
pub const RC_VPNDNS: &str = include_str!("../../../rc.d/vpndns");
/// The monitor's rc.d script (host side; docs/ha.md): reads rc.conf only.
pub const RC_MONITOR: &str = include_str!("../../../rc.d/vpnjail_monitor");
/// vtysh.conf has no per-site facts.
pub const VTYSH_CONF: &str = include_str!("../../../frr/vtysh.conf");
/// strongswan.conf has no per-site facts.
pub const STRONGSWAN_CONF: &str = include_str!("../../../ipsec/strongswan.conf");

pub(crate) fn render(name: &'static str, ctx: &tera::Context) -> Result<String, RenderError> {
    let mut t = tera::Tera::new();
    let (_, text) = TEMPLATES
        .iter()
        .find(|(n, _)| *n == name)
        .ok_or(RenderError::Invalid(format!("no template {name}")))?;
    t.add_raw_template(name, text)
        .and_then(|_| t.render(name, ctx))
        .map(|mut s| {
            if !s.ends_with('\n') {
                s.push('\n');
            }
            s
        })
        .map_err(|source| RenderError::Template { name, source })
}
