//! pf anchors and the main pf.conf fragments that declare and load them.
//! May touch: nothing (pure).

use crate::deploy::model::{Host, Jail, Site, Vpn};
use crate::deploy::render::{File, Owner, RenderError, killswitch, render, vpn_step2};
use serde::Serialize;
use tera::Context;

/// `vpn_dns` of a jail whose tunnel pushes its DNS, until it does.
pub const PUSHED_DNS_PLACEHOLDER: std::net::Ipv4Addr = std::net::Ipv4Addr::LOCALHOST;
/// The anchor file inside a vpn jail (vpnjail's anchor files live in
/// /etc/pf.vpnjail, on the host and in the jails).
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

/// The host's NAT anchor and its file.
pub const NAT_ANCHOR: &str = "vpnjail/nat";
pub const NAT_ANCHOR_FILE: &str = "/etc/pf.vpnjail/nat.conf";
/// The host's anchor for IKE/NAT-T to the ipsec jail, and its file.
pub const IPSEC_ANCHOR: &str = "vpnjail/ipsec";
pub const IPSEC_ANCHOR_FILE: &str = "/etc/pf.vpnjail/ipsec.conf";

/// Host anchors, by their name under `vpnjail/` and file: `nat` always;
/// `ipsec` when the host has an ipsec jail.
fn host_anchors(host: &Host) -> Vec<(&'static str, &'static str)> {
    let mut v = vec![("nat", NAT_ANCHOR_FILE)];
    if host.ipsec_jail().is_some() {
        v.push(("ipsec", IPSEC_ANCHOR_FILE));
    }
    v
}

/// The host's pf files by what each is for.
pub struct HostPf {
    /// `/etc/pf.conf.vpnjail`: the fragment to merge into /etc/pf.conf,
    /// declaring and loading the anchors.
    pub conf: File,
    /// The [`NAT_ANCHOR`]: the bridge network's NAT.
    pub nat: File,
    /// The [`IPSEC_ANCHOR`], when the host has an ipsec jail: the jail's
    /// file (loaded when it is created, flushed when it is destroyed).
    pub ipsec: Option<File>,
}

impl HostPf {
    /// The anchors to load, each with its file, in the order pf.conf has them.
    pub fn anchors(&self) -> Vec<(&'static str, &File)> {
        let mut v = vec![(NAT_ANCHOR, &self.nat)];
        v.extend(self.ipsec.iter().map(|f| (IPSEC_ANCHOR, f)));
        v
    }

    /// Every file, the fragment first.
    pub fn files(&self) -> Vec<&File> {
        let mut v = vec![&self.conf, &self.nat];
        v.extend(&self.ipsec);
        v
    }
}

/// The host's pf.conf fragment and anchors.
pub fn host(site: &Site, host: &Host) -> Result<HostPf, RenderError> {
    let mut ctx = Context::new();
    ctx.insert("site", &site.name);
    ctx.insert("host", &host.name);
    ctx.insert("ext_if", &host.external_if);
    ctx.insert("bridge_net", &host.bridge.network.to_string());
    let nat = File {
        path: NAT_ANCHOR_FILE.into(),
        mode: 0o644,
        content: render("host-nat.conf", &ctx)?,
        owner: Owner::Host,
    };
    let ipsec = match host.ipsec_jail() {
        Some(ipsec) => {
            ctx.insert("ipsec_jail", &ipsec.address.to_string());
            Some(File {
                path: IPSEC_ANCHOR_FILE.into(),
                mode: 0o644,
                content: render("host-ipsec.conf", &ctx)?,
                owner: Owner::Jail(ipsec.name.clone()),
            })
        }
        None => None,
    };
    let conf = File {
        path: "/etc/pf.conf.vpnjail".into(),
        mode: 0o644,
        content: main_conf(
            site,
            &format!("host {}: merge into /etc/pf.conf", host.name),
            &host_anchors(host),
            &MainOptions::default(),
        )?,
        owner: Owner::Host,
    };
    Ok(HostPf { conf, nat, ipsec })
}

/// A vpn jail's pf files, by what each is for.
pub struct VpnPf {
    /// /etc/pf.conf: blocks by default and loads the two anchors.
    pub conf: String,
    /// The `vpnjail/dns` anchor (seed steps 2 and 5: translation only).
    pub dns: String,
    /// The `vpnjail/killswitch` anchor (filtering).
    pub killswitch: String,
}

/// A vpn jail's /etc/pf.conf, its `vpnjail/dns` anchor (seed steps 2 and
/// 5: translation only) and its `vpnjail/killswitch` anchor (filtering).
pub fn vpn(site: &Site, host: &Host, j: &Jail, v: &Vpn) -> Result<VpnPf, RenderError> {
    let conf = main_conf(
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
    Ok(VpnPf {
        conf,
        dns: render("vpn-dns.conf", &ctx)?,
        killswitch: killswitch::pf(site, host, j, v)?,
    })
}
