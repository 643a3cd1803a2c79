//! Parsers of what the status probes print: `swanctl --list-sas`, FRR's
//! `show bgp summary json`, `nft -j list counters`, `pfctl -v -s rules`, the
//! vpndns control API's `/status`. Unknown or broken text reads as "nothing
//! found", never as a panic. May touch: nothing (pure).

use serde::Serialize;

/// One IKE SA of `swanctl --list-sas` and its CHILD SAs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IkeSa {
    /// The connection name (vpnjail names it after the peer host).
    pub name: String,
    /// `ESTABLISHED`, `CONNECTING`, ...
    pub state: String,
    pub children: Vec<ChildSa>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChildSa {
    pub name: String,
    /// `INSTALLED`, `REKEYING`, ...
    pub state: String,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// `swanctl --list-sas`: an IKE SA starts a line at column 0
/// (`beta: #1, ESTABLISHED, IKEv2, ...`), its CHILD SAs at column 2
/// (`  beta: #1, reqid 1, INSTALLED, TUNNEL, ESP:...`), their traffic below
/// (`    in  c5a2b7d6,    336 bytes,     4 packets,     1s ago`).
pub fn swanctl_sas(text: &str) -> Vec<IkeSa> {
    let mut sas: Vec<IkeSa> = Vec::new();
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let l = line.trim();
        let head = |l: &str| -> Option<(String, Vec<String>)> {
            let (name, rest) = l.split_once(": #")?;
            let fields: Vec<String> = rest.split(',').map(|f| f.trim().to_string()).collect();
            Some((name.to_string(), fields))
        };
        if indent == 0 {
            if let Some((name, f)) = head(l)
                && f.get(2).is_some_and(|v| v.starts_with("IKEv"))
            {
                sas.push(IkeSa {
                    name,
                    state: f.get(1).cloned().unwrap_or_default(),
                    children: Vec::new(),
                });
            }
        } else if indent == 2 {
            if let (Some((name, f)), Some(sa)) = (head(l), sas.last_mut())
                && f.get(1).is_some_and(|v| v.starts_with("reqid"))
            {
                sa.children.push(ChildSa {
                    name,
                    state: f.get(2).cloned().unwrap_or_default(),
                    bytes_in: 0,
                    bytes_out: 0,
                });
            }
        } else if let Some(child) = sas.last_mut().and_then(|s| s.children.last_mut()) {
            let dir = l.split_whitespace().next();
            let bytes = l
                .split(',')
                .find(|f| f.trim_end().ends_with(" bytes"))
                .and_then(|f| f.split_whitespace().next())
                .and_then(|n| n.parse::<u64>().ok());
            match (dir, bytes) {
                (Some("in"), Some(b)) => child.bytes_in = b,
                (Some("out"), Some(b)) => child.bytes_out = b,
                _ => {}
            }
        }
    }
    sas
}

/// One BGP neighbour of `show bgp summary json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BgpPeer {
    pub address: String,
    /// `Established`, `Active`, `Connect`, ...
    pub state: String,
    pub prefixes_received: u64,
}

/// FRR's `show bgp summary json` (`{"ipv4Unicast": {"peers": {...}}}`) or
/// `show ip bgp summary json` (`{"peers": {...}}`).
pub fn bgp_summary(json: &str) -> Vec<BgpPeer> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
        return Vec::new();
    };
    let peers = v
        .get("peers")
        .or_else(|| v.get("ipv4Unicast").and_then(|a| a.get("peers")));
    let Some(peers) = peers.and_then(|p| p.as_object()) else {
        return Vec::new();
    };
    peers
        .iter()
        .map(|(addr, p)| BgpPeer {
            address: addr.clone(),
            state: p
                .get("state")
                .and_then(|s| s.as_str())
                .unwrap_or("unknown")
                .to_string(),
            prefixes_received: p.get("pfxRcd").and_then(|n| n.as_u64()).unwrap_or(0),
        })
        .collect()
}

/// A named counter: an nftables `counter` object, or a pf block rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Counter {
    /// `table/name` (nftables) or the rule's label or text (pf).
    pub name: String,
    pub packets: u64,
    pub bytes: u64,
}

/// `nft -j list counters`: every named counter of every table.
pub fn nft_counters(json: &str) -> Vec<Counter> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
        return Vec::new();
    };
    let Some(items) = v.get("nftables").and_then(|n| n.as_array()) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|i| i.get("counter"))
        .map(|c| {
            let s = |k: &str| c.get(k).and_then(|x| x.as_str()).unwrap_or("");
            let n = |k: &str| c.get(k).and_then(|x| x.as_u64()).unwrap_or(0);
            Counter {
                name: format!("{}/{}", s("table"), s("name")),
                packets: n("packets"),
                bytes: n("bytes"),
            }
        })
        .collect()
}

/// The elements of `nft -j list set FAMILY TABLE SET` (addresses, as nft
/// prints them); empty for an empty or missing set.
pub fn nft_set_elements(json: &str) -> Vec<String> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
        return Vec::new();
    };
    let items = v.get("nftables").and_then(|n| n.as_array());
    items
        .into_iter()
        .flatten()
        .filter_map(|i| i.get("set")?.get("elem")?.as_array())
        .flatten()
        .filter_map(|e| e.as_str().map(str::to_string))
        .collect()
}

/// `pfctl -a ANCHOR -t TABLE -T show`: one address (or network) a line,
/// indented; pfctl's complaints (`pfctl: Table does not exist.`) go to
/// standard error, and anything that is not an address is skipped.
pub fn pf_table(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.parse::<ipnet::IpNet>().is_ok() || l.parse::<std::net::IpAddr>().is_ok())
        .map(str::to_string)
        .collect()
}

/// `pfctl -a ANCHOR -v -s rules`: each `block` rule with the packets and
/// bytes of the `[ Evaluations: ... Packets: N Bytes: N ... ]` line after it.
pub fn pf_block_counters(text: &str) -> Vec<Counter> {
    let mut out: Vec<Counter> = Vec::new();
    let mut pending: Option<String> = None;
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            if let Some(name) = pending.take() {
                let field = |k: &str| {
                    l.split_whitespace()
                        .skip_while(|w| *w != k)
                        .nth(1)
                        .and_then(|n| n.parse::<u64>().ok())
                        .unwrap_or(0)
                };
                out.push(Counter {
                    name,
                    packets: field("Packets:"),
                    bytes: field("Bytes:"),
                });
            }
        } else if l.starts_with("block") {
            let name = l
                .split_once("label \"")
                .and_then(|(_, r)| r.split('"').next())
                .map(str::to_string)
                .unwrap_or_else(|| l.to_string());
            pending = Some(name);
        } else {
            pending = None;
        }
    }
    out
}

/// One forwarder of vpndns's `/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Forwarder {
    pub name: String,
    pub address: String,
    pub up: bool,
}

/// The forwarders of vpndns's `GET /status` (`{"forwarders": [{"name",
/// "address", "state": "up"|"down"}]}`); `None` when it is not that JSON.
pub fn vpndns_forwarders(json: &str) -> Option<Vec<Forwarder>> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let list = v.get("forwarders")?.as_array()?;
    Some(
        list.iter()
            .map(|f| {
                let s = |k: &str| f.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
                Forwarder {
                    name: s("name"),
                    address: s("address"),
                    up: s("state") == "up",
                }
            })
            .collect(),
    )
}

/// `listen` of a vpndns.toml's `[control]`, if it has one.
pub fn control_listen(vpndns_toml: &str) -> Option<std::net::SocketAddr> {
    let t: toml::Table = toml::from_str(vpndns_toml).ok()?;
    t.get("control")?.get("listen")?.as_str()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// strongSwan 5.9's `swanctl --list-sas`, two IKE SAs, one still connecting.
    const SAS: &str = "\
beta: #1, ESTABLISHED, IKEv2, 2f5b1c5e8d7a6f41_i* 9d3e0c7a5b4f2e18_r
  local  'alpha' @ 192.0.2.10[4500]
  remote 'beta' @ 198.51.100.20[4500]
  AES_GCM_16-256/PRF_HMAC_SHA2_384/ECP_384
  established 12s ago, rekeying in 13984s
  beta: #1, reqid 1, INSTALLED, TUNNEL-in-UDP, ESP:AES_GCM_16-256
    installed 12s ago, rekeying in 3311s, expires in 3948s
    in  c5a2b7d6,    336 bytes,     4 packets,     1s ago
    out c1f7e7ca,   1204 bytes,    11 packets,     0s ago
    local  10.10.1.0/24
    remote 10.10.2.0/24
gamma: #2, CONNECTING, IKEv2, 7a6f412f5b1c5e8d_i* 0000000000000000_r
  local  'alpha' @ 192.0.2.10[500]
  remote '%any' @ 203.0.113.30[500]
  queued:  IKE_SA_INIT
";

    #[test]
    fn swanctl_list_sas() {
        let sas = swanctl_sas(SAS);
        assert_eq!(sas.len(), 2);
        assert_eq!(
            (sas[0].name.as_str(), sas[0].state.as_str()),
            ("beta", "ESTABLISHED")
        );
        assert_eq!(
            sas[0].children,
            vec![ChildSa {
                name: "beta".into(),
                state: "INSTALLED".into(),
                bytes_in: 336,
                bytes_out: 1204
            }]
        );
        assert_eq!(
            (sas[1].name.as_str(), sas[1].state.as_str()),
            ("gamma", "CONNECTING")
        );
        assert!(sas[1].children.is_empty());
        assert!(swanctl_sas("").is_empty());
        assert!(swanctl_sas("no SAs\n  garbage: #x\n").is_empty());
    }

    /// FRR 8.4 `show bgp summary json`, trimmed.
    const BGP: &str = r#"{"ipv4Unicast":{"routerId":"172.16.0.1","as":4200000001,"peers":{
        "172.16.0.2":{"remoteAs":4200000002,"state":"Established","pfxRcd":2,"peerState":"OK"},
        "172.16.0.10":{"remoteAs":64512,"state":"Active","pfxRcd":0}},"totalPeers":2}}"#;

    #[test]
    fn frr_bgp_summary() {
        let p = bgp_summary(BGP);
        assert_eq!(p.len(), 2);
        let est = p.iter().find(|p| p.address == "172.16.0.2").expect("peer");
        assert_eq!(
            (est.state.as_str(), est.prefixes_received),
            ("Established", 2)
        );
        assert_eq!(
            p.iter()
                .find(|p| p.address == "172.16.0.10")
                .map(|p| p.state.as_str()),
            Some("Active")
        );
        // `show ip bgp summary json` has the peers at the top.
        assert_eq!(
            bgp_summary(r#"{"peers":{"10.0.0.1":{"state":"Idle"}}}"#)[0].state,
            "Idle"
        );
        assert!(bgp_summary("% BGP instance not found").is_empty());
        assert!(bgp_summary("{}").is_empty());
    }

    #[test]
    fn nftables_named_counters() {
        let j = r#"{"nftables":[{"metainfo":{"version":"1.0.6","json_schema_version":1}},
            {"counter":{"family":"inet","name":"drop_forward","table":"killswitch","handle":3,"packets":17,"bytes":1428}},
            {"counter":{"family":"inet","name":"drop_output","table":"killswitch","handle":4,"packets":0,"bytes":0}}]}"#;
        assert_eq!(
            nft_counters(j),
            vec![
                Counter {
                    name: "killswitch/drop_forward".into(),
                    packets: 17,
                    bytes: 1428
                },
                Counter {
                    name: "killswitch/drop_output".into(),
                    packets: 0,
                    bytes: 0
                },
            ]
        );
        // A namespace without counters, and nft's error text.
        assert!(nft_counters(r#"{"nftables":[{"metainfo":{"version":"1.0.6"}}]}"#).is_empty());
        assert!(nft_counters("Error: syntax error").is_empty());
    }

    /// nft 1.0.6 `nft -j list set inet vpnjail_tunnel dns`, as `tunnel-up` left it.
    #[test]
    fn nftables_set_elements() {
        let j = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"set": {"family": "inet", "name": "dns", "table": "vpnjail_tunnel", "type": "ipv4_addr", "handle": 1, "elem": ["198.51.100.53", "198.51.100.54"]}}]}"#;
        assert_eq!(nft_set_elements(j), ["198.51.100.53", "198.51.100.54"]);
        // The provider pushed nothing: the set has no elem.
        let empty = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}}, {"set": {"family": "inet", "name": "dns", "table": "vpnjail_tunnel", "type": "ipv4_addr", "handle": 2}}]}"#;
        assert!(nft_set_elements(empty).is_empty());
        // No table (the tunnel never came up): nft prints its error on stderr only.
        assert!(nft_set_elements("").is_empty());
        assert!(nft_set_elements("Error: No such file or directory").is_empty());
    }

    /// FreeBSD 14 `pfctl -a vpnjail/killswitch -t dns -T show`.
    #[test]
    fn pf_table_addresses() {
        assert_eq!(
            pf_table("   198.51.100.53\n   198.51.100.54\n"),
            ["198.51.100.53", "198.51.100.54"]
        );
        assert_eq!(pf_table("   10.8.0.0/24\n"), ["10.8.0.0/24"]);
        assert!(pf_table("").is_empty());
        assert!(pf_table("pfctl: Table does not exist.\n").is_empty());
    }

    /// FreeBSD 14 `pfctl -a vpnjail/killswitch -v -s rules`.
    const PF: &str = "\
pass out quick on tun0 all flags S/SA keep state
  [ Evaluations: 812       Packets: 3409      Bytes: 402112      States: 3     ]
  [ Inserted: uid 0 pid 4411 State Creations: 51    ]
block drop out log on ! tun0 all label \"ks_out\"
  [ Evaluations: 97        Packets: 12        Bytes: 864         States: 0     ]
  [ Inserted: uid 0 pid 4411 State Creations: 0     ]
block drop in quick on e0b_vpnus inet from any to ! 10.10.1.0/24
  [ Evaluations: 40        Packets: 5         Bytes: 300         States: 0     ]
  [ Inserted: uid 0 pid 4411 State Creations: 0     ]
";

    #[test]
    fn pf_block_rules_with_their_counters() {
        let c = pf_block_counters(PF);
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!(
            c[0],
            Counter {
                name: "ks_out".into(),
                packets: 12,
                bytes: 864
            }
        );
        assert_eq!(
            c[1].name,
            "block drop in quick on e0b_vpnus inet from any to ! 10.10.1.0/24"
        );
        assert_eq!((c[1].packets, c[1].bytes), (5, 300));
        assert!(pf_block_counters("pfctl: Anchor does not exist.\n").is_empty());
    }

    #[test]
    fn vpndns_status_and_control_listen() {
        let j = r#"{"version":"0.1.0","forwarders":[{"name":"vpnus","address":"10.10.1.2:53","state":"up"},
            {"name":"vpneu","address":"10.10.1.3:53","state":"down"}]}"#;
        let f = vpndns_forwarders(j).expect("forwarders");
        assert_eq!(f.len(), 2);
        assert!(f[0].up && !f[1].up);
        assert_eq!(vpndns_forwarders("<html>"), None);
        assert_eq!(
            control_listen(
                "[server]\nlisten = [\"10.10.1.53:53\"]\n[control]\nlisten = \"127.0.0.1:8053\"\n"
            ),
            Some("127.0.0.1:8053".parse().expect("addr"))
        );
        assert_eq!(control_listen("[server]\n"), None);
    }
}
