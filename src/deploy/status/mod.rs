//! `vpnjail status`: is everything up? Reads the live system (never changes
//! it) through one [`probe::Probe`] and reports per host and jail.
//! May touch: nothing but reads — read-only commands (`ip`, `nft -j list`,
//! `swanctl --list-sas`, `vtysh -c show`, `jls`, `pgrep`, `pfctl -s`), the
//! vpndns config file and control API.
//!
//! - [`probe`]: the trait, the live system and recorded answers for tests.
//! - [`parse`]: parsers of what the probes print (unit-tested on samples).
//! - [`report`]: the human table and the JSON (schema in docs/status.md).
//!
//! Linux reads namespaces (`ip netns`), links (`ip -o link`), processes (the
//! pid files `create` wrote), nftables counters, charon through swanctl and
//! FRR through vtysh; FreeBSD the same facts with `jls`, `pgrep -j`,
//! `jexec ifconfig`, `pfctl [-a vpnjail/killswitch] -v -s rules`, `swanctl`
//! and `vtysh` in the jails.

pub mod parse;
pub mod probe;
pub mod report;

use super::command::{Cmd, freebsd as fb, linux as lx};
use super::model::{Host, Jail, JailKind, Platform, Site, Standby, Vpn, VpnClient};
use super::monitor;
use super::plan::linux as pl;
use super::render::{killswitch, linux as rl};
use parse::{BgpPeer, Counter, Forwarder};
use probe::Probe;
use serde::Serialize;
use std::path::PathBuf;

/// The pf anchor of a FreeBSD vpn jail's kill switch (render/freebsd/pf.rs).
const PF_KILLSWITCH: &str = "vpnjail/killswitch";

/// The JSON schema's version; bumped on any incompatible change.
pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: u32,
    pub site: String,
    /// Every host, jail, process, tunnel, link and session below is up.
    pub up: bool,
    pub hosts: Vec<HostStatus>,
    pub replicated: Vec<Replicated>,
    /// What could not be looked at (a command missing): exit status 2.
    pub could_not_look: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostStatus {
    pub name: String,
    pub platform: &'static str,
    pub up: bool,
    /// The host's namespace (Linux with `netns`) exists and its bridge is there.
    pub bridge_up: bool,
    pub jails: Vec<JailStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct JailStatus {
    pub name: String,
    pub kind: &'static str,
    /// The jail (FreeBSD) or its network namespace (Linux) exists.
    pub running: bool,
    /// This jail and everything in it is up.
    pub up: bool,
    pub processes: Vec<Process>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpn: Option<VpnStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipsec: Option<IpsecStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpndns: Option<VpndnsStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Process {
    pub name: String,
    pub running: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct VpnStatus {
    pub tun: String,
    pub tunnel_up: bool,
    /// The resolvers DNS arriving on the jail is redirected to (the first)
    /// and the only ones its kill switch lets through the tunnel.
    pub dns: Vec<String>,
    /// `configured` (the site's `provider_dns`), `pushed` (by the tunnel:
    /// on Linux as `vpnjail tunnel-up` recorded it, on FreeBSD in the kill
    /// switch's table `<dns>`) or `none` (nothing recorded: DNS through the
    /// tunnel is blocked).
    pub dns_source: &'static str,
    /// Every named counter in the jail's firewall (the kill switch's drops
    /// when it has them); empty when there are none.
    pub counters: Vec<Counter>,
    /// With `replicas`: this host's copy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica: Option<ReplicaStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplicaStatus {
    pub anycast: String,
    /// 0 = primary.
    pub priority: usize,
    /// This host's FRR announces the anycast /32.
    pub announced: bool,
    /// `standby = "cold"`: the tunnel is up only while BGP elects this copy
    /// (docs/ha.md), so a down tunnel does not make the jail down.
    pub cold: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct IpsecStatus {
    pub links: Vec<LinkStatus>,
    /// With `routing = "bgp"`: one session per link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bgp: Option<Vec<BgpStatus>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LinkStatus {
    pub peer: String,
    pub reqid: u16,
    /// The IKE SA's state (`ESTABLISHED`, ...); `null` when there is none.
    pub sa: Option<String>,
    pub up: bool,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BgpStatus {
    pub peer: String,
    pub address: String,
    pub state: String,
    pub up: bool,
    pub prefixes_received: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct VpndnsStatus {
    /// `[control] listen` of its config; `null` when the API is off.
    pub control: Option<String>,
    /// Each forwarder's health from `GET /status`; `null` without the API.
    pub forwarders: Option<Vec<Forwarder>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Replicated {
    pub jail: String,
    pub anycast: String,
    /// The best-priority replica whose host announces it; `null`: none does.
    pub served_by: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("no host named {0:?} in the site")]
    UnknownHost(String),
}

/// Exit status: 0 all up, 1 something down, 2 could not look.
pub fn exit_code(r: &Report) -> u8 {
    if !r.could_not_look.is_empty() {
        2
    } else if r.up {
        0
    } else {
        1
    }
}

struct Look<'p> {
    probe: &'p mut dyn Probe,
    could_not_look: Vec<String>,
}

impl Look<'_> {
    /// Runs a read-only command; a command that cannot be run is remembered.
    fn ask(&mut self, cmd: &Cmd) -> (bool, String) {
        match self.probe.query(cmd) {
            Ok(r) => r,
            Err(e) => {
                let what = format!("{cmd}: {e}");
                if !self.could_not_look.contains(&what) {
                    self.could_not_look.push(what);
                }
                (false, String::new())
            }
        }
    }
    fn ok(&mut self, cmd: &Cmd) -> bool {
        self.ask(cmd).0
    }
}

/// The status of `site` (or of `only` one host), read through `probe`.
pub fn gather(
    site: &Site,
    only: Option<&str>,
    probe: &mut dyn Probe,
) -> Result<Report, StatusError> {
    if let Some(h) = only
        && site.host(h).is_none()
    {
        return Err(StatusError::UnknownHost(h.to_string()));
    }
    let mut look = Look {
        could_not_look: if probe.privileged() {
            Vec::new()
        } else {
            vec!["not root: what runs inside namespaces and jails (ip netns exec, jexec, nft, pfctl, swanctl, vtysh) cannot be read".into()]
        },
        probe,
    };
    let mut hosts = Vec::new();
    for h in site
        .hosts
        .iter()
        .filter(|h| only.is_none_or(|o| o == h.name))
    {
        hosts.push(host(site, h, &mut look));
    }
    let replicated = replicated(site, &hosts);
    let up = hosts.iter().all(|h| h.up);
    Ok(Report {
        schema: SCHEMA,
        site: site.name.clone(),
        up,
        hosts,
        replicated,
        could_not_look: look.could_not_look,
    })
}

fn host(site: &Site, h: &Host, look: &mut Look) -> HostStatus {
    let bridge_up = match h.platform {
        Platform::Linux => {
            h.netns
                .as_deref()
                .is_none_or(|ns| look.ok(&lx::netns_exists(ns)))
                && look.ok(&lx::link_exists(h.netns.as_deref(), &h.bridge.name))
        }
        Platform::FreeBsd => look.ok(&fb::if_exists(&h.bridge.name)),
    };
    let jails: Vec<JailStatus> = h.jails.iter().map(|j| jail(site, h, j, look)).collect();
    HostStatus {
        name: h.name.clone(),
        platform: match h.platform {
            Platform::Linux => "linux",
            Platform::FreeBsd => "freebsd",
        },
        up: bridge_up && jails.iter().all(|j| j.up),
        bridge_up,
        jails,
    }
}

/// The daemons vpnjail starts in a jail (Linux: their pid files' names),
/// as the create plans start them.
fn daemons(site: &Site, h: &Host, j: &Jail) -> Vec<&'static str> {
    let mut d = Vec::new();
    match &j.kind {
        JailKind::Vpndns => d.push("vpndns"),
        JailKind::Vpn(v) if matches!(v.client, VpnClient::OpenVpn(_)) => d.push("openvpn"),
        JailKind::Ipsec => {
            if site.runs_strongswan(h) {
                d.push("charon");
            }
            if site.bgp {
                d.extend(pl::frr_daemons(site).iter().copied());
                // On FreeBSD the monitor is the host's rc.d vpnjail_monitor.
                if h.platform == Platform::Linux && h.replicas().next().is_some() {
                    d.push("monitor");
                }
            }
        }
        _ => {}
    }
    d
}

/// The DNS a vpn jail uses and where it came from: `provider_dns` wins (so
/// the tunnel's hook records nothing); else what the hook recorded when the
/// tunnel came up: on Linux the set `dns` of the table `tunnel-up` loaded
/// in namespace `ns`, on FreeBSD the table `<dns>` of jail `jail`'s kill
/// switch anchor.
fn vpn_dns(
    v: &Vpn,
    (ns, jail): (&str, &str),
    running: bool,
    linux: bool,
    look: &mut Look,
) -> (Vec<String>, &'static str) {
    if let Some(p) = v.provider_dns {
        return (vec![p.to_string()], "configured");
    }
    let pushed = match (running, linux) {
        (false, _) => Vec::new(),
        (true, true) => {
            let args = ["-j", "list", "set", "inet", killswitch::TUNNEL_TABLE, "dns"];
            let (_, out) = look.ask(&lx::in_ns(Some(ns), "nft", args.map(String::from).to_vec()));
            parse::nft_set_elements(&out)
        }
        (true, false) => {
            let args = [
                jail,
                "pfctl",
                "-a",
                PF_KILLSWITCH,
                "-t",
                "dns",
                "-T",
                "show",
            ];
            parse::pf_table(&look.ask(&Cmd::new("jexec", args)).1)
        }
    };
    if pushed.is_empty() {
        (pushed, "none")
    } else {
        (pushed, "pushed")
    }
}

fn jail(site: &Site, h: &Host, j: &Jail, look: &mut Look) -> JailStatus {
    let ns = site.jail_netns(h, j);
    let linux = h.platform == Platform::Linux;
    let running = if linux {
        look.ok(&lx::netns_exists(&ns))
    } else {
        look.ok(&fb::jail_running(&j.name))
    };
    let processes: Vec<Process> = daemons(site, h, j)
        .into_iter()
        .map(|name| {
            let running = running
                && if linux {
                    look.ok(&lx::daemon_running(&pl::pidfile(h, &j.name, name)))
                } else {
                    look.ok(&Cmd::new("pgrep", ["-j", j.name.as_str(), "-x", name]))
                };
            Process {
                name: name.to_string(),
                running,
            }
        })
        .collect();
    let mut s = JailStatus {
        name: j.name.clone(),
        kind: j.kind_name(),
        running,
        up: false,
        processes,
        vpn: None,
        ipsec: None,
        vpndns: None,
    };
    match &j.kind {
        JailKind::Vpn(v) => {
            let (tunnel_up, counters) = if !running {
                (false, Vec::new())
            } else if linux {
                let (ok, out) = look.ask(&lx::link_show(&ns, &v.tun));
                let json = look.ask(&lx::in_ns(
                    Some(&ns),
                    "nft",
                    vec!["-j".into(), "list".into(), "counters".into()],
                ));
                (ok && monitor::flags_up(&out), parse::nft_counters(&json.1))
            } else {
                let (ok, out) = look.ask(&fb::jail_ifconfig(&j.name, &v.tun));
                // The jail's main ruleset (`block log all`: what no anchor
                // passes) and the kill switch's own anchor (its DNS block).
                let pf = |anchor: &[&str]| {
                    let mut a = vec![j.name.as_str(), "pfctl"];
                    a.extend_from_slice(anchor);
                    a.extend(["-v", "-s", "rules"]);
                    Cmd::new("jexec", a)
                };
                let mut counters = parse::pf_block_counters(&look.ask(&pf(&[])).1);
                let anchor = look.ask(&pf(&["-a", PF_KILLSWITCH])).1;
                counters.extend(parse::pf_block_counters(&anchor).into_iter().map(|mut c| {
                    c.name = format!("{PF_KILLSWITCH}: {}", c.name);
                    c
                }));
                (ok && monitor::flags_up(&out), counters)
            };
            let replica = v.replication.as_ref().and_then(|r| {
                let priority = r.priority(&h.name)?;
                let show = monitor::show_cmd(h, r.anycast).ok()?;
                let standby = 100u32.saturating_sub(r.replicas.len() as u32);
                let announced = monitor::bgp_view(&look.ask(&show).1, standby).ours;
                Some(ReplicaStatus {
                    anycast: r.anycast.to_string(),
                    priority,
                    announced,
                    cold: r.standby == Standby::Cold,
                })
            });
            let (dns, dns_source) = vpn_dns(v, (&ns, &j.name), running, linux, look);
            s.vpn = Some(VpnStatus {
                tun: v.tun.clone(),
                tunnel_up,
                dns,
                dns_source,
                counters,
                replica,
            });
        }
        JailKind::Ipsec => s.ipsec = Some(ipsec(site, h, j, &ns, running, look)),
        JailKind::Vpndns => s.vpndns = Some(vpndns(h, j, &ns, running, look)),
        JailKind::Service { .. } => {}
    }
    s.up = s.running
        && s.processes.iter().all(|p| p.running)
        && s.vpn
            .as_ref()
            .is_none_or(|v| v.tunnel_up || v.replica.as_ref().is_some_and(|r| r.cold))
        && s.ipsec
            .as_ref()
            .is_none_or(|i| i.links.iter().all(|l| l.up) && i.bgp.iter().flatten().all(|b| b.up))
        && s.vpndns
            .as_ref()
            .is_none_or(|d| d.error.is_none() && d.forwarders.iter().flatten().all(|f| f.up));
    s
}

fn ipsec(site: &Site, h: &Host, j: &Jail, ns: &str, running: bool, look: &mut Look) -> IpsecStatus {
    let ends = site.link_ends(h);
    let linux = h.platform == Platform::Linux;
    let sas = if running && !ends.is_empty() {
        let cmd = if linux {
            lx::swanctl(
                Some(ns),
                &h.jail_path(&j.name).join(rl::STRONGSWAN_FILE),
                vec!["--list-sas".into()],
            )
        } else {
            Cmd::new("jexec", [j.name.as_str(), "swanctl", "--list-sas"])
        };
        parse::swanctl_sas(&look.ask(&cmd).1)
    } else {
        Vec::new()
    };
    let links = ends
        .iter()
        .map(|e| {
            // vpnjail names each connection and its child after the peer host.
            // Both ends may initiate at once: of several IKE SAs the one
            // carrying an installed CHILD SA gives the state, and the link's
            // bytes are those of all its installed CHILD SAs (traffic may
            // come in on one and leave on another).
            let named = || sas.iter().filter(|s| s.name == e.peer.name);
            let children = || {
                named()
                    .filter(|s| s.state == "ESTABLISHED")
                    .flat_map(|s| &s.children)
                    .filter(|c| c.name == e.peer.name && c.state == "INSTALLED")
            };
            let installed = |s: &&parse::IkeSa| {
                s.state == "ESTABLISHED"
                    && s.children
                        .iter()
                        .any(|c| c.name == e.peer.name && c.state == "INSTALLED")
            };
            let sa = named().find(installed).or_else(|| named().next());
            LinkStatus {
                peer: e.peer.name.clone(),
                reqid: e.link.reqid,
                sa: sa.map(|s| s.state.clone()),
                up: children().next().is_some(),
                bytes_in: children().map(|c| c.bytes_in).sum(),
                bytes_out: children().map(|c| c.bytes_out).sum(),
            }
        })
        .collect();
    let bgp = site.bgp.then(|| {
        let peers: Vec<BgpPeer> = match (
            running,
            monitor::vtysh(h, &["show bgp summary json".into()]),
        ) {
            (true, Ok(cmd)) => parse::bgp_summary(&look.ask(&cmd).1),
            _ => Vec::new(),
        };
        ends.iter()
            .map(|e| {
                let addr = e.remote_inner().to_string();
                let p = peers.iter().find(|p| p.address == addr);
                BgpStatus {
                    peer: e.peer.name.clone(),
                    state: p.map_or_else(|| "absent".to_string(), |p| p.state.clone()),
                    up: p.is_some_and(|p| p.state == "Established"),
                    prefixes_received: p.map_or(0, |p| p.prefixes_received),
                    address: addr,
                }
            })
            .collect()
    });
    IpsecStatus { links, bgp }
}

fn vpndns(h: &Host, j: &Jail, ns: &str, running: bool, look: &mut Look) -> VpndnsStatus {
    let conf: PathBuf = match h.platform {
        Platform::Linux => h.jail_path(&j.name).join(rl::VPNDNS_FILE),
        Platform::FreeBsd => h
            .jail_path(&j.name)
            .join("usr/local/etc/vpndns/vpndns.toml"),
    };
    let listen = look
        .probe
        .read(&conf)
        .and_then(|t| parse::control_listen(&t));
    let mut s = VpndnsStatus {
        control: listen.map(|l| l.to_string()),
        forwarders: None,
        error: None,
    };
    let Some(listen) = listen else { return s };
    if !running {
        return s;
    }
    let body = match h.platform {
        Platform::Linux => look.probe.http_get(Some(ns), listen, "/status"),
        Platform::FreeBsd => {
            let url = format!("http://{listen}/status");
            match look.ask(&Cmd::new(
                "jexec",
                [j.name.as_str(), "fetch", "-qo", "-", url.as_str()],
            )) {
                (true, out) => Ok(out),
                (false, _) => Err(format!("fetch {url} failed")),
            }
        }
    };
    match body.map(|b| parse::vpndns_forwarders(&b)) {
        Ok(Some(f)) => s.forwarders = Some(f),
        Ok(None) => s.error = Some("GET /status: not vpndns's JSON".into()),
        Err(e) => s.error = Some(format!("GET /status: {e}")),
    }
    s
}

/// For each replicated vpn jail, the best-priority replica whose host
/// announces it (BGP elects it network-wide, docs/ha.md).
fn replicated(site: &Site, hosts: &[HostStatus]) -> Vec<Replicated> {
    let mut out: Vec<Replicated> = Vec::new();
    for (_, j, v) in site.vpn_jails() {
        let Some(r) = &v.replication else { continue };
        if out.iter().any(|o| o.jail == j.name) {
            continue;
        }
        let served_by = r
            .replicas
            .iter()
            .find(|host| {
                hosts.iter().any(|h| {
                    h.name == **host
                        && h.jails.iter().any(|js| {
                            js.name == j.name
                                && js.up
                                && js.vpn.as_ref().is_some_and(|v| {
                                    // A cold standby is up and announced
                                    // while it waits, tunnel down.
                                    v.tunnel_up && v.replica.as_ref().is_some_and(|r| r.announced)
                                })
                        })
                })
            })
            .cloned();
        out.push(Replicated {
            jail: j.name.clone(),
            anycast: r.anycast.to_string(),
            served_by,
        });
    }
    out
}

/// `examples/NAME` with its first `provider_dns = "DNS"` replaced by an
/// OpenVPN client file (in the returned directory, kept while it lives).
#[cfg(test)]
fn example_with_openvpn(name: &str, dns: &str) -> (tempfile::TempDir, Site) {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    let text = std::fs::read_to_string(&example).expect("example");
    let dir = tempfile::tempdir().expect("tempdir");
    let ovpn = dir.path().join("us.ovpn");
    std::fs::write(
        &ovpn,
        "client\ndev tun\nproto udp\nremote 203.0.113.7 1194\n",
    )
    .expect("us.ovpn");
    let with = format!("openvpn = {:?}", ovpn.display().to_string());
    let text = text.replacen(&format!("provider_dns = {dns:?}"), &with, 1);
    let site = super::check::check_text(&example, &text).expect("checks");
    (dir, site)
}

#[cfg(test)]
mod linux_tests {
    use super::probe::Recorded;
    use super::*;
    use std::path::Path;

    fn site() -> Site {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/linux-site.toml");
        super::super::check::load(&path).expect("examples/linux-site.toml checks")
    }

    /// alpha and beta initiated at once: alpha has three IKE SAs for beta,
    /// one without a CHILD SA, two whose CHILD SAs carry traffic one way each.
    const SAS: &str = "\
beta: #3, ESTABLISHED, IKEv2, 7a6f412f5b1c5e8d_i 5e8d7a6f412f5b1c_r*
beta: #2, ESTABLISHED, IKEv2, 5b1c5e8d7a6f412f_i 412f5b1c5e8d7a6f_r*
  beta: #2, reqid 100, INSTALLED, TUNNEL, ESP:AES_GCM_16-256
    in  c5a2b7d6,    336 bytes,     4 packets,     1s ago
    out c1f7e7ca,      0 bytes,     0 packets
beta: #1, ESTABLISHED, IKEv2, 2f5b1c5e8d7a6f41_i* 9d3e0c7a5b4f2e18_r
  beta: #1, reqid 100, INSTALLED, TUNNEL, ESP:AES_GCM_16-256
    in  c9a2b7d6,      0 bytes,     0 packets
    out c8f7e7ca,   1204 bytes,    11 packets,     0s ago
alpha: #1, ESTABLISHED, IKEv2, 9d3e0c7a5b4f2e18_i 2f5b1c5e8d7a6f41_r*
  alpha: #1, reqid 100, INSTALLED, TUNNEL, ESP:AES_GCM_16-256
";

    /// A machine where every question asked gets a healthy answer: asks
    /// until no new question comes (answers open further questions).
    fn healthy(site: &Site) -> Recorded {
        let mut rec = Recorded::default();
        let conf = site.hosts[0].jail_path("dns").join(rl::VPNDNS_FILE);
        rec.files
            .insert(conf, "[control]\nlisten = \"127.0.0.1:8053\"\n".into());
        let ns = site.jail_netns(&site.hosts[0], &site.hosts[0].jails[1]);
        rec.http.insert(
            Recorded::http_key(
                Some(&ns),
                "127.0.0.1:8053".parse().expect("addr"),
                "/status",
            ),
            r#"{"forwarders":[{"name":"vpnus","address":"10.10.1.2:53","state":"up"}]}"#.into(),
        );
        loop {
            let before = rec.commands.len();
            let _ = gather(site, None, &mut rec);
            for q in std::mem::take(&mut rec.asked) {
                if q.contains(" link show dev tun0") {
                    rec.commands.insert(
                        q,
                        (true, "9: tun0: <POINTOPOINT,UP,LOWER_UP> mtu 1500".into()),
                    );
                } else if q.contains("--list-sas") {
                    rec.commands.insert(q, (true, SAS.into()));
                } else if !q.starts_with("read ") && !q.contains(" /status") {
                    rec.commands.entry(q).or_insert((true, String::new()));
                }
            }
            if rec.commands.len() == before {
                return rec;
            }
        }
    }

    fn jail<'r>(r: &'r Report, host: &str, jail: &str) -> &'r JailStatus {
        let h = r.hosts.iter().find(|h| h.name == host).expect("host");
        h.jails.iter().find(|j| j.name == jail).expect("jail")
    }

    #[test]
    fn all_up() {
        let site = site();
        let mut rec = healthy(&site);
        let r = gather(&site, None, &mut rec).expect("gather");
        assert!(r.up, "{}", report::table(&r, false));
        assert_eq!(exit_code(&r), 0);
        let l = &jail(&r, "alpha", "ipsec")
            .ipsec
            .as_ref()
            .expect("ipsec")
            .links[0];
        assert_eq!(
            (l.peer.as_str(), l.sa.as_deref(), l.bytes_in, l.bytes_out),
            ("beta", Some("ESTABLISHED"), 336, 1204)
        );
        let d = jail(&r, "alpha", "dns").vpndns.as_ref().expect("vpndns");
        assert_eq!(d.control.as_deref(), Some("127.0.0.1:8053"));
        assert_eq!(d.forwarders.as_ref().map(Vec::len), Some(1));
        // Status only reads: no question is a command that changes anything.
        assert!(
            rec.asked
                .iter()
                .all(|q| !q.contains(" add ") && !q.contains(" del ") && !q.contains(" set "))
        );
    }

    #[test]
    fn a_dead_daemon_and_a_missing_tunnel_are_down() {
        let site = site();
        let mut rec = healthy(&site);
        let tun = rec
            .commands
            .keys()
            .find(|k| k.contains("vpnus") && k.contains("tun0"))
            .cloned()
            .expect("tun0 asked");
        rec.commands.insert(tun, (false, String::new()));
        let charon = rec
            .commands
            .keys()
            .find(|k| k.contains("demo/alpha/") && k.contains("charon"))
            .cloned()
            .expect("charon asked");
        rec.commands.insert(charon, (false, String::new()));
        let r = gather(&site, None, &mut rec).expect("gather");
        assert!(!r.up);
        assert_eq!(exit_code(&r), 1);
        let us = jail(&r, "alpha", "vpnus");
        assert!(us.running && !us.up && !us.vpn.as_ref().expect("vpn").tunnel_up);
        assert!(jail(&r, "alpha", "vpneu").up);
        let ipsec = jail(&r, "alpha", "ipsec");
        assert!(
            !ipsec.up
                && ipsec
                    .processes
                    .iter()
                    .any(|p| p.name == "charon" && !p.running)
        );
        let table = report::table(&r, false);
        assert!(
            table.starts_with("site demo: 5 of 7 jails up") && table.contains("tun0 DOWN"),
            "{table}"
        );
        assert!(!table.contains('\x1b'));
        let json: serde_json::Value = serde_json::from_str(&report::json(&r)).expect("json");
        assert_eq!(json["schema"], 1);
        assert_eq!(json["up"], false);
        assert_eq!(json["hosts"][0]["jails"][2]["vpn"]["tunnel_up"], false);
    }

    /// vpnus without `provider_dns`: the DNS is what `tunnel-up` recorded in
    /// the table vpnjail_tunnel, or none before the tunnel first came up.
    #[test]
    fn pushed_dns_from_the_tunnel_table() {
        let (_dir, site) = example_with_openvpn("linux-site.toml", "10.8.1.1");
        let mut rec = healthy(&site);
        let ask = rec
            .commands
            .keys()
            .find(|k| k.contains("vpnus") && k.contains("list set inet vpnjail_tunnel dns"))
            .cloned()
            .expect("the tunnel table asked");
        let dns = |rec: &mut Recorded| {
            let r = gather(&site, Some("alpha"), rec).expect("gather");
            let v = jail(&r, "alpha", "vpnus").vpn.clone().expect("vpn");
            (v.dns, v.dns_source, report::table(&r, false))
        };
        let (d, src, _) = dns(&mut rec);
        assert_eq!((d.len(), src), (0, "none"));
        rec.commands.insert(
            ask,
            (
                true,
                r#"{"nftables": [{"metainfo": {"version": "1.0.6"}}, {"set": {"family": "inet", "name": "dns", "table": "vpnjail_tunnel", "type": "ipv4_addr", "handle": 1, "elem": ["198.51.100.53"]}}]}"#.into(),
            ),
        );
        let (d, src, table) = dns(&mut rec);
        assert_eq!((d, src), (vec!["198.51.100.53".to_string()], "pushed"));
        assert!(table.contains("DNS 198.51.100.53 (pushed)"), "{table}");
        // vpneu keeps its provider_dns, without asking the tunnel table.
        let r = gather(&site, Some("alpha"), &mut rec).expect("gather");
        // The OpenVPN client vpnjail runs is one of the jail's processes.
        let us = jail(&r, "alpha", "vpnus");
        assert_eq!(us.processes.len(), 1);
        assert!(us.processes[0].name == "openvpn" && us.processes[0].running);
        assert!(jail(&r, "alpha", "vpneu").processes.is_empty());
        let eu = jail(&r, "alpha", "vpneu").vpn.clone().expect("vpn");
        assert_eq!(
            (eu.dns, eu.dns_source),
            (vec!["10.8.2.1".to_string()], "configured")
        );
        assert!(
            !rec.asked
                .iter()
                .any(|q| q.contains("vpneu") && q.contains("vpnjail_tunnel"))
        );
    }

    /// A daemon is running when `lx::daemon_running` (which tells a zombie
    /// from a live process, tested for real in command.rs) says so; when it
    /// says no, the jail and the host are down.
    #[test]
    fn a_daemon_that_does_not_run_puts_its_jail_down() {
        let site = site();
        let mut rec = healthy(&site);
        let check = lx::daemon_running(&pl::pidfile(&site.hosts[0], "dns", "vpndns"));
        assert_eq!(
            rec.commands.get(&check.to_string()).map(|a| a.0),
            Some(true)
        );
        let r = gather(&site, Some("alpha"), &mut rec).expect("gather");
        assert!(jail(&r, "alpha", "dns").processes[0].running);
        rec.commands
            .insert(check.to_string(), (false, String::new()));
        let r = gather(&site, Some("alpha"), &mut rec).expect("gather");
        let dns = jail(&r, "alpha", "dns");
        assert!(!dns.processes[0].running && !dns.up && !r.up);
    }

    #[test]
    fn nothing_to_look_with_is_exit_2_and_unknown_host_an_error() {
        let site = site();
        let mut rec = Recorded {
            missing: vec!["ip", "test"],
            ..Recorded::default()
        };
        let r = gather(&site, Some("beta"), &mut rec).expect("gather");
        assert_eq!(r.hosts.len(), 1);
        assert_eq!(exit_code(&r), 2);
        // Not root: the healthy machine's answers count for nothing.
        let mut rec = healthy(&site);
        assert_eq!(
            exit_code(&gather(&site, None, &mut rec).expect("gather")),
            0
        );
        rec.unprivileged = true;
        let r = gather(&site, None, &mut rec).expect("gather");
        assert_eq!(exit_code(&r), 2);
        assert!(
            r.could_not_look[0].starts_with("not root"),
            "{:?}",
            r.could_not_look
        );
        assert!(matches!(
            gather(&site, Some("zeta"), &mut rec),
            Err(StatusError::UnknownHost(_))
        ));
    }
}

#[cfg(test)]
mod freebsd_tests {
    use super::probe::Recorded;
    use super::*;

    fn example() -> Site {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/site.toml");
        crate::deploy::check::load(&p).expect("example site")
    }

    const IFCONFIG_UP: &str = "tun0: flags=8051<UP,POINTOPOINT,RUNNING,MULTICAST> metric 0 mtu 1500\n\tinet 10.8.0.6 --> 10.8.0.5 netmask 0xffffffff\n";

    fn sas(peer: &str) -> String {
        format!(
            "{peer}: #1, ESTABLISHED, IKEv2, 2f5b1c5e8d7a6f41_i* 9d3e0c7a5b4f2e18_r\n  {peer}: #1, reqid 1, INSTALLED, TUNNEL, ESP:AES_GCM_16-256\n    in  c5a2b7d6,    336 bytes,     4 packets,     1s ago\n    out c1f7e7ca,   1204 bytes,    11 packets,     0s ago\n"
        )
    }

    /// A FreeBSD machine where everything of examples/site.toml is up.
    fn all_up() -> Recorded {
        let mut r = Recorded::default();
        let c = |args: &[&str]| {
            Cmd::new(
                if args[0] == "pgrep" { "pgrep" } else { "jexec" },
                args[1..].to_vec(),
            )
        };
        r.answer(&fb::if_exists("vjbr0"), true, "");
        for j in [
            "ipsec", "dns", "vpnus", "desk", "ipsec_b", "dns_b", "laptop",
        ] {
            r.answer(&fb::jail_running(j), true, "1\n");
        }
        r.answer(&c(&["pgrep", "-j", "dns", "-x", "vpndns"]), true, "812\n");
        r.answer(&c(&["pgrep", "-j", "dns_b", "-x", "vpndns"]), true, "813\n");
        r.answer(&c(&["pgrep", "-j", "ipsec", "-x", "charon"]), true, "90\n");
        r.answer(
            &c(&["pgrep", "-j", "ipsec_b", "-x", "charon"]),
            true,
            "91\n",
        );
        r.answer(&fb::jail_ifconfig("vpnus", "tun0"), true, IFCONFIG_UP);
        // FreeBSD 14's `pfctl -v -s rules` of the jail's main ruleset, and of
        // the kill switch's anchor.
        r.answer(
            &c(&["jexec", "vpnus", "pfctl", "-v", "-s", "rules"]),
            true,
            "block drop log all\n  [ Evaluations: 1523      Packets: 12        Bytes: 864         States: 0     ]\n  [ Inserted: uid 0 pid 4411 State Creations: 0     ]\nanchor \"vpnjail/*\" all\n  [ Evaluations: 1523      Packets: 3409      Bytes: 402112      States: 0     ]\n  [ Inserted: uid 0 pid 4411 State Creations: 0     ]\n",
        );
        r.answer(
            &c(&["jexec", "vpnus", "pfctl", "-a", "vpnjail/killswitch", "-v", "-s", "rules"]),
            true,
            "pass in quick on e0b_vpnus inet proto udp from <egress> to <site> port = domain keep state\n  [ Evaluations: 40        Packets: 8         Bytes: 560         States: 0     ]\n  [ Inserted: uid 0 pid 4411 State Creations: 4     ]\nblock drop log quick inet proto udp from any to ! <dns> port = domain\n  [ Evaluations: 40        Packets: 3         Bytes: 180         States: 0     ]\n  [ Inserted: uid 0 pid 4411 State Creations: 0     ]\n",
        );
        r.answer(
            &c(&["jexec", "ipsec", "swanctl", "--list-sas"]),
            true,
            &sas("beta"),
        );
        r.answer(
            &c(&["jexec", "ipsec_b", "swanctl", "--list-sas"]),
            true,
            &sas("alpha"),
        );
        r
    }

    #[test]
    fn everything_up_on_freebsd() {
        let mut probe = all_up();
        let rep = gather(&example(), None, &mut probe).expect("gather");
        assert!(rep.up, "{}", report::table(&rep, false));
        assert_eq!(exit_code(&rep), 0);
        let alpha = &rep.hosts[0];
        let vpnus = alpha
            .jails
            .iter()
            .find(|j| j.name == "vpnus")
            .expect("vpnus");
        let v = vpnus.vpn.as_ref().expect("vpn");
        assert!(v.tunnel_up);
        assert_eq!(
            (v.dns.as_slice(), v.dns_source),
            (&["10.8.0.1".to_string()][..], "configured")
        );
        assert_eq!(
            v.counters,
            vec![
                Counter {
                    name: "block drop log all".into(),
                    packets: 12,
                    bytes: 864
                },
                Counter {
                    name: "vpnjail/killswitch: block drop log quick inet proto udp from any to ! <dns> port = domain".into(),
                    packets: 3,
                    bytes: 180
                }
            ]
        );
        let ipsec = alpha
            .jails
            .iter()
            .find(|j| j.name == "ipsec")
            .and_then(|j| j.ipsec.as_ref())
            .expect("ipsec");
        assert_eq!(ipsec.links.len(), 1);
        let l = &ipsec.links[0];
        assert_eq!(
            (
                l.peer.as_str(),
                l.sa.as_deref(),
                l.up,
                l.bytes_in,
                l.bytes_out
            ),
            ("beta", Some("ESTABLISHED"), true, 336, 1204)
        );
        // The FreeBSD commands asked, as a FreeBSD host would run them.
        for want in [
            "jls -j vpnus jid",
            "pgrep -j dns -x vpndns",
            "jexec vpnus ifconfig tun0",
            "jexec ipsec swanctl --list-sas",
            "jexec vpnus pfctl -v -s rules",
            "jexec vpnus pfctl -a vpnjail/killswitch -v -s rules",
        ] {
            assert!(
                probe.asked.iter().any(|a| a == want),
                "never asked {want}: {:?}",
                probe.asked
            );
        }
        // No control API in the generated vpndns.toml: nothing to ask, not a failure.
        let dns = alpha
            .jails
            .iter()
            .find(|j| j.name == "dns")
            .and_then(|j| j.vpndns.as_ref())
            .expect("vpndns");
        assert_eq!(
            (dns.control.as_deref(), dns.forwarders.is_none()),
            (None, true)
        );
        let table = report::table(&rep, false);
        assert!(
            table.starts_with("site vpncore: 7 of 7 jails up\n"),
            "{table}"
        );
        assert!(!table.contains('\x1b'));
        assert!(report::table(&rep, true).contains("\x1b[32mup"));
    }

    #[test]
    fn a_stopped_daemon_a_missing_tunnel_and_a_dead_sa_are_down() {
        let mut probe = all_up();
        probe.answer(&Cmd::new("pgrep", ["-j", "dns", "-x", "vpndns"]), false, "");
        probe.answer(&fb::jail_ifconfig("vpnus", "tun0"), false, "");
        probe.answer(
            &Cmd::new("jexec", ["ipsec", "swanctl", "--list-sas"]),
            true,
            "",
        );
        let rep = gather(&example(), Some("alpha"), &mut probe).expect("gather");
        assert!(!rep.up);
        assert_eq!(exit_code(&rep), 1);
        assert_eq!(rep.hosts.len(), 1, "--host alpha only");
        let j = |n: &str| {
            rep.hosts[0]
                .jails
                .iter()
                .find(|j| j.name == n)
                .expect("jail")
        };
        assert!(j("dns").running && !j("dns").up && !j("dns").processes[0].running);
        assert!(!j("vpnus").up && !j("vpnus").vpn.as_ref().expect("vpn").tunnel_up);
        let link = &j("ipsec").ipsec.as_ref().expect("ipsec").links[0];
        assert_eq!((link.sa.as_deref(), link.up), (None, false));
        assert!(j("desk").up);
        let json: serde_json::Value = serde_json::from_str(&report::json(&rep)).expect("json");
        assert_eq!(json["schema"], 1);
        assert_eq!(json["up"], false);
        assert_eq!(json["hosts"][0]["jails"][2]["vpn"]["tunnel_up"], false);
    }

    #[test]
    fn a_missing_tool_or_host_means_could_not_look() {
        let mut probe = all_up();
        probe.missing.push("jexec");
        let rep = gather(&example(), None, &mut probe).expect("gather");
        assert_eq!(exit_code(&rep), 2);
        assert!(
            rep.could_not_look.iter().any(|c| c.starts_with("jexec ")),
            "{:?}",
            rep.could_not_look
        );
        assert!(matches!(
            gather(&example(), Some("nope"), &mut all_up()),
            Err(StatusError::UnknownHost(_))
        ));
    }

    /// vpnus with OpenVPN and no `provider_dns`: the pushed DNS is what the
    /// route-up hook put in the kill switch's table `<dns>`.
    #[test]
    fn pushed_dns_from_the_kill_switch_table_on_freebsd() {
        let (_dir, site) = example_with_openvpn("site.toml", "10.8.0.1");
        let mut probe = all_up();
        let table = Cmd::new(
            "jexec",
            [
                "vpnus",
                "pfctl",
                "-a",
                "vpnjail/killswitch",
                "-t",
                "dns",
                "-T",
                "show",
            ],
        );
        let vpnus = |probe: &mut Recorded| {
            let r = gather(&site, Some("alpha"), probe).expect("gather");
            let j = r.hosts[0].jails.iter().find(|j| j.name == "vpnus").cloned();
            j.expect("vpnus")
        };
        let v = vpnus(&mut probe).vpn.expect("vpn");
        assert_eq!((v.dns.len(), v.dns_source), (0, "none"));
        probe.answer(&table, true, "   198.51.100.53\n");
        probe.answer(
            &Cmd::new("pgrep", ["-j", "vpnus", "-x", "openvpn"]),
            true,
            "77\n",
        );
        let j = vpnus(&mut probe);
        assert!(j.up && j.processes[0].name == "openvpn", "{j:?}");
        let v = j.vpn.expect("vpn");
        assert_eq!(
            (v.dns, v.dns_source),
            (vec!["198.51.100.53".to_string()], "pushed")
        );
    }

    /// examples/wan-site.toml on FreeBSD: three hosts in a BGP ring, vpnha
    /// replicated on alpha (primary) and beta. Every question gets a healthy
    /// answer: SAs and BGP sessions to each link peer's inner address
    /// (through `jexec ipsec vtysh`), the anycast /32 announced by alpha only.
    #[test]
    fn bgp_sessions_and_the_serving_replica_on_freebsd() {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/wan-site.toml");
        let site = crate::deploy::check::load(&p).expect("wan-site");
        let mut rec = Recorded::default();
        loop {
            let before = rec.commands.len();
            let _ = gather(&site, None, &mut rec);
            for q in std::mem::take(&mut rec.asked) {
                let jail = q.split_whitespace().nth(1).unwrap_or("");
                let host = site
                    .hosts
                    .iter()
                    .find(|h| h.ipsec_jail().is_some_and(|j| j.name == jail));
                let answer = match host {
                    Some(h) if q.contains("--list-sas") => site
                        .link_ends(h)
                        .iter()
                        .map(|e| {
                            let n = &e.peer.name;
                            format!("{n}: #1, ESTABLISHED, IKEv2, 2f5b_i* 9d3e_r\n  {n}: #1, reqid {}, INSTALLED, TUNNEL, ESP:AES_GCM_16-256\n    in  c5a2b7d6,    100 bytes,     1 packets\n    out c1f7e7ca,    200 bytes,     2 packets\n", e.link.reqid)
                        })
                        .collect(),
                    Some(h) if q.contains("show bgp summary json") => {
                        let peers: Vec<String> = site
                            .link_ends(h)
                            .iter()
                            .map(|e| format!("\"{}\":{{\"state\":\"Established\",\"pfxRcd\":3}}", e.remote_inner()))
                            .collect();
                        format!("{{\"ipv4Unicast\":{{\"peers\":{{{}}}}}}}", peers.join(","))
                    }
                    Some(h) if q.contains("/32 json") && h.name == "alpha" => {
                        r#"{"paths":[{"valid":true,"local":true,"locPrf":100}]}"#.into()
                    }
                    _ if q.contains(" ifconfig tun0") => IFCONFIG_UP.into(),
                    _ => String::new(),
                };
                rec.commands.entry(q).or_insert((true, answer));
            }
            if rec.commands.len() == before {
                break;
            }
        }
        let r = gather(&site, None, &mut rec).expect("gather");
        assert!(r.up, "{}", report::table(&r, false));
        for h in &r.hosts {
            let ipsec = h
                .jails
                .iter()
                .find_map(|j| j.ipsec.as_ref())
                .expect("ipsec jail");
            let bgp = ipsec.bgp.as_ref().expect("routing = bgp");
            assert_eq!(bgp.len(), ipsec.links.len(), "one session per link");
            assert!(
                bgp.iter().all(|b| b.up && b.prefixes_received == 3),
                "{bgp:?}"
            );
            assert!(
                ipsec
                    .links
                    .iter()
                    .all(|l| l.up && l.bytes_in == 100 && l.bytes_out == 200)
            );
        }
        assert!(
            rec.asked
                .iter()
                .any(|q| q == "jexec ipsec vtysh -c 'show bgp summary json'"),
            "{:?}",
            rec.asked
        );
        let served: Vec<_> = r
            .replicated
            .iter()
            .map(|x| (x.jail.as_str(), x.served_by.as_deref()))
            .collect();
        assert_eq!(served, [("vpnha", Some("alpha"))]);
        // alpha stops announcing: beta, next in priority, is not announcing either.
        let alpha_show = rec
            .commands
            .keys()
            .find(|k| k.starts_with("jexec ipsec ") && k.contains("/32 json"))
            .cloned()
            .expect("alpha asked");
        rec.commands.insert(alpha_show, (true, "{}".into()));
        let r = gather(&site, None, &mut rec).expect("gather");
        assert_eq!(r.replicated[0].served_by, None);
        assert!(report::table(&r, false).contains("served by NO replica"));
    }

    /// Every key the JSON has is in docs/status.md's schema (here with
    /// replicas and BGP; the Linux tests add vpndns's forwarders).
    #[test]
    fn every_json_key_is_documented() {
        let doc = include_str!("../../../docs/status.md");
        let schema = doc
            .split("```")
            .nth(1)
            .expect("docs/status.md has the schema in a code block");
        let mut probe = all_up();
        probe.answer(&Cmd::new("pgrep", ["-j", "dns", "-x", "vpndns"]), false, "");
        let mut reports = vec![gather(&example(), None, &mut probe).expect("gather")];
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/wan-site.toml");
        let wan = crate::deploy::check::load(&p).expect("wan-site");
        reports.push(gather(&wan, None, &mut Recorded::default()).expect("gather"));
        let linux =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/linux-site.toml");
        let linux = crate::deploy::check::load(&linux).expect("linux-site");
        let mut rec = Recorded::default();
        let conf = linux.hosts[0].jail_path("dns").join(rl::VPNDNS_FILE);
        rec.files
            .insert(conf, "[control]\nlisten = \"127.0.0.1:8053\"\n".into());
        rec.answer(
            &lx::netns_exists(&linux.jail_netns(&linux.hosts[0], &linux.hosts[0].jails[1])),
            true,
            "",
        );
        reports.push(gather(&linux, None, &mut rec).expect("gather"));
        fn keys(v: &serde_json::Value, out: &mut std::collections::BTreeSet<String>) {
            match v {
                serde_json::Value::Object(m) => {
                    for (k, v) in m {
                        out.insert(k.clone());
                        keys(v, out);
                    }
                }
                serde_json::Value::Array(a) => a.iter().for_each(|v| keys(v, out)),
                _ => {}
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for r in &reports {
            let v: serde_json::Value = serde_json::from_str(&report::json(r)).expect("json");
            keys(&v, &mut seen);
        }
        for k in ["replica", "bgp", "prefixes_received", "error", "served_by"] {
            assert!(seen.contains(k), "{k} never emitted: {seen:?}");
        }
        let undocumented: Vec<_> = seen
            .iter()
            .filter(|k| !schema.contains(&format!("\"{k}\"")))
            .collect();
        assert!(
            undocumented.is_empty(),
            "not in docs/status.md: {undocumented:?}"
        );
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        use std::ffi::OsStr;
        assert!(report::want_colour(true, None));
        assert!(!report::want_colour(false, None));
        assert!(!report::want_colour(true, Some(OsStr::new("1"))));
        assert!(report::want_colour(true, Some(OsStr::new(""))));
    }
}
