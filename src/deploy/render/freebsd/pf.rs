//! pf anchors and the main pf.conf fragments that declare and load them.
//! May touch: nothing (pure).

use crate::deploy::model::{Host, Jail, Site, Vpn};
use crate::deploy::render::{File, Owner, RenderError, killswitch, render, vpn_step2};
use serde::Serialize;
use tera::Context;

/// Directory (on the host and inside vpn jails) holding vpnjail's anchor files.
pub const ANCHOR_DIR: &str = "/etc/pf.vpnjail";
/// `vpn_dns` of a jail whose tunnel pushes its DNS, until it does.
pub const PUSHED_DNS_PLACEHOLDER: std::net::Ipv4Addr = std::net::Ipv4Addr::LOCALHOST;
/// The anchor file inside a vpn jail.
pub const VPN_ANCHOR_FILE: &str = "/etc/pf.vpnjail/dns.conf";

#[derive(Serialize)]
struct Anchor {
    name: String,
    file: String,
}

/// What a main ruleset holds besides its anchors: the host's passes by
/// default; a vpn jail's blocks by default (its kill switch).
#[derive(Default)]
pub(super) struct MainOptions {
    options: &'static [&'static str],
    default_block: bool,
}

/// A vpn jail's main ruleset: loopback skipped, states bound to their
/// interface (a flow whose tunnel went away is not let out through another
/// interface by its old state), and `block log all` before the anchors.
const VPN_MAIN: MainOptions = MainOptions {
    options: &["set skip on lo0", "set state-policy if-bound"],
    default_block: true,
};

pub(super) fn main_conf(
    site: &Site,
    what: &str,
    anchors: &[(&str, &str)],
    opts: &MainOptions,
) -> Result<String, RenderError> {
    let mut ctx = Context::new();
    ctx.insert("options", opts.options);
    ctx.insert("default_block", &opts.default_block);
    ctx.insert("site", &site.name);
    ctx.insert("what", what);
    let a: Vec<Anchor> = anchors
        .iter()
        .map(|(n, f)| Anchor {
            name: n.to_string(),
            file: f.to_string(),
        })
        .collect();
    ctx.insert("anchors", &a);
    render("pf.conf", &ctx)
}

/// Host anchors: `vpnjail/nat` always; `vpnjail/ipsec` when the host has an ipsec jail.
pub fn host_anchors(host: &Host) -> Vec<(&'static str, String)> {
    let mut v = vec![("nat", format!("{ANCHOR_DIR}/nat.conf"))];
    if host.ipsec_jail().is_some() {
        v.push(("ipsec", format!("{ANCHOR_DIR}/ipsec.conf")));
    }
    v
}

pub fn host(site: &Site, host: &Host) -> Result<Vec<File>, RenderError> {
    let mut ctx = Context::new();
    ctx.insert("site", &site.name);
    ctx.insert("host", &host.name);
    ctx.insert("ext_if", &host.external_if);
    ctx.insert("bridge_net", &host.bridge.network.to_string());
    let anchors = host_anchors(host);
    let mut files = vec![File {
        path: format!("{ANCHOR_DIR}/nat.conf").into(),
        mode: 0o644,
        content: render("host-nat.conf", &ctx)?,
        owner: Owner::Host,
    }];
    if let Some(ipsec) = host.ipsec_jail() {
        ctx.insert("ipsec_jail", &ipsec.address.to_string());
        files.push(File {
            path: format!("{ANCHOR_DIR}/ipsec.conf").into(),
            mode: 0o644,
            content: render("host-ipsec.conf", &ctx)?,
            // Loaded when the ipsec jail is created, flushed when it is destroyed.
            owner: Owner::Jail(ipsec.name.clone()),
        });
    }
    let refs: Vec<(&str, &str)> = anchors.iter().map(|(n, f)| (*n, f.as_str())).collect();
    files.insert(
        0,
        File {
            path: "/etc/pf.conf.vpnjail".into(),
            mode: 0o644,
            content: main_conf(
                site,
                &format!("host {}: merge into /etc/pf.conf", host.name),
                &refs,
                &MainOptions::default(),
            )?,
            owner: Owner::Host,
        },
    );
    Ok(files)
}

/// A vpn jail's /etc/pf.conf, its `vpnjail/dns` anchor (seed steps 2 and
/// 5: translation only) and its `vpnjail/killswitch` anchor (filtering).
pub fn vpn(
    site: &Site,
    host: &Host,
    j: &Jail,
    v: &Vpn,
) -> Result<(String, String, String), RenderError> {
    let main = main_conf(
        site,
        &format!("/etc/pf.conf of vpn jail {}", j.name),
        &[
            ("dns", VPN_ANCHOR_FILE),
            ("killswitch", killswitch::PF_ANCHOR_FILE),
        ],
        &VPN_MAIN,
    )?;
    let (vpndns, clients) = vpn_step2(site, host, j, v);
    let mut ctx = Context::new();
    ctx.insert("site", &site.name);
    ctx.insert("host", &host.name);
    ctx.insert("jail", &j.name);
    ctx.insert("lan_if", &j.epair_jail());
    // A replica sits on the anycast bridge with two addresses: translate to
    // the first (its own), never to the shared anycast alias.
    let nat_to = match (&v.replication, &site.anycast) {
        (Some(_), Some(_)) => "($lan_if:0)",
        _ => "($lan_if)",
    };
    ctx.insert("nat_to", nat_to);
    ctx.insert("tun_if", &v.tun);
    // Without provider_dns the tunnel's hook loads this anchor with
    // `pfctl -D vpn_dns=<pushed>`; until then DNS is redirected to nothing.
    ctx.insert(
        "vpn_dns",
        &v.provider_dns.unwrap_or(PUSHED_DNS_PLACEHOLDER).to_string(),
    );
    ctx.insert("vpndns", &vpndns);
    ctx.insert("clients", &clients);
    Ok((
        main,
        render("vpn-dns.conf", &ctx)?,
        killswitch::pf(site, host, j, v)?,
    ))
}
