//! The policy table: which forwarders serve a client, by the most specific
//! source network containing its address, and per-domain overrides by the
//! longest matching suffix. Built, with the live forwarders they list, from
//! the config's plain data once per load.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;

pub use super::config::MAX_FORWARDERS;
use super::config::{
    DomainConfig, Forward, ForwarderConfig, HealthConfig, PolicyConfig, Transport,
};
use super::dot::Dot;
use super::health::Health;
pub use super::listconfig::GroupMask;
use super::name::Name;

/// An upstream DNS server, by the name the config gives it, with its health
/// (shared by every copy of this forwarder in the policy lists).
#[derive(Debug, Clone)]
pub struct Forwarder {
    pub name: Box<str>,
    pub addr: SocketAddr,
    pub health_config: HealthConfig,
    pub health: Arc<Health>,
    /// A `tls://` forwarder's transport; `None`: plain UDP and TCP.
    pub tls: Option<Arc<Dot>>,
}

impl Forwarder {
    /// A forwarder, up, with no history.
    pub fn new(name: &str, addr: SocketAddr, health_config: HealthConfig) -> Forwarder {
        Forwarder {
            name: name.into(),
            addr,
            health_config,
            health: Arc::default(),
            tls: None,
        }
    }

    /// The live forwarder `config` describes, up, with no history. A
    /// `tls://` one's transport reads `tls_ca` and resolves a host name, here,
    /// once; its errors start with the key they are about.
    pub fn build(
        config: &ForwarderConfig,
        timeout: std::time::Duration,
    ) -> Result<Forwarder, String> {
        let health = config.health.clone();
        match &config.transport {
            Transport::Plain(addr) => Ok(Forwarder::new(&config.name, *addr, health)),
            Transport::Tls(tls) => {
                let (addr, dot) = Dot::from_config(&config.name, tls, timeout)?;
                let mut forwarder = Forwarder::new(&config.name, addr, health);
                forwarder.tls = Some(Arc::new(dot));
                Ok(forwarder)
            }
        }
    }

    /// Records an answer after `latency`.
    pub fn succeeded(&self, latency: std::time::Duration) {
        self.health
            .succeeded(&self.health_config, (&self.name, self.addr), latency);
    }

    /// Records a timeout, or (`timed_out` false) an answer counted as
    /// failure, of a query sent at `sent`.
    pub fn failed(&self, timed_out: bool, sent: std::time::Instant) {
        self.health.failed(
            &self.health_config,
            (&self.name, self.addr),
            timed_out,
            sent,
        );
    }

    /// Records that a hedge to another forwarder answered this one's query
    /// of `sent` first ([`Health::overtaken`]).
    pub fn overtaken(&self, sent: std::time::Instant) {
        self.health
            .overtaken(&self.health_config, (&self.name, self.addr), sent);
    }
}

impl PartialEq for Forwarder {
    fn eq(&self, other: &Forwarder) -> bool {
        self.name == other.name
            && self.addr == other.addr
            && self.health_config == other.health_config
            && self.tls.as_ref().map(|d| d.server_name())
                == other.tls.as_ref().map(|d| d.server_name())
    }
}

impl Eq for Forwarder {}

/// Forwarders tried in order, the next one on timeout.
pub type Forwarders = Arc<[Forwarder]>;

/// The forwarders named in `names`, from `all` (built from the same config,
/// which checked the names); an error for a name it has not.
fn pick(names: &[Box<str>], all: &[Forwarder]) -> Result<Forwarders, String> {
    names
        .iter()
        .map(|n| {
            (all.iter().find(|f| f.name == *n).cloned())
                .ok_or_else(|| format!("forward: no [[forwarder]] named {n:?}"))
        })
        .collect()
}

/// What a policy does with its clients' queries that are not answered locally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Identity: send the query back to the querying address (a VPN jail,
    /// whose firewall redirects it to its provider's resolver).
    Identity,
    /// Send to these forwarders.
    Forward(Forwarders),
    /// Answer REFUSED to everything.
    Refuse,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Identity => f.write_str("source (identity)"),
            Action::Refuse => f.write_str("refuse"),
            Action::Forward(list) => {
                for (i, fw) in list.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" -> ")?;
                    }
                    write!(f, "{} ({})", fw.name, fw.addr)?;
                }
                Ok(())
            }
        }
    }
}

/// One `[[policy]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub sources: Vec<IpNet>,
    pub action: Action,
    /// The blocklist groups applied to its clients.
    pub block: GroupMask,
    /// Line in the config file, for explanations.
    pub line: usize,
}

/// Source networks to policies, most specific first.
#[derive(Debug, Default)]
pub struct PolicyTable {
    /// (network, index into `policies`), longest prefix first.
    entries: Vec<(IpNet, usize)>,
    policies: Vec<Policy>,
}

impl PolicyTable {
    /// Builds the table. The caller has rejected identical networks in two
    /// policies; nested networks are fine and the longest prefix wins.
    pub fn new(policies: Vec<Policy>) -> PolicyTable {
        let mut entries: Vec<(IpNet, usize)> = policies
            .iter()
            .enumerate()
            .flat_map(|(i, p)| p.sources.iter().map(move |&n| (n, i)))
            .collect();
        entries.sort_by_key(|(net, i)| (std::cmp::Reverse(net.prefix_len()), *i));
        PolicyTable { entries, policies }
    }

    /// The table of the config's `policies`, their forwarders taken from
    /// `forwarders`; an error (with the policy's line) for a name it lacks.
    pub fn build(
        policies: &[PolicyConfig],
        forwarders: &[Forwarder],
    ) -> Result<PolicyTable, (usize, String)> {
        let policies = policies.iter().map(|p| {
            let action = match &p.forward {
                Forward::Source => Action::Identity,
                Forward::Refuse => Action::Refuse,
                Forward::To(names) => {
                    Action::Forward(pick(names, forwarders).map_err(|e| (p.line, e))?)
                }
            };
            Ok(Policy {
                sources: p.sources.clone(),
                action,
                block: p.block,
                line: p.line,
            })
        });
        Ok(PolicyTable::new(policies.collect::<Result<_, _>>()?))
    }

    /// The policy of the most specific network containing `client`, and that
    /// network. IPv4-mapped IPv6 addresses are looked up as IPv4.
    pub fn lookup(&self, client: IpAddr) -> Option<(IpNet, &Policy)> {
        let client = client.to_canonical();
        self.entries
            .iter()
            .find(|(net, _)| net.contains(&client))
            .map(|&(net, i)| (net, &self.policies[i]))
    }

    /// The networks and their policies, most specific first.
    pub fn entries(&self) -> impl Iterator<Item = (IpNet, &Policy)> {
        self.entries
            .iter()
            .map(|&(net, i)| (net, &self.policies[i]))
    }
}

/// One `[[domain]]` rule.
#[derive(Debug, Clone)]
pub struct DomainRule {
    pub suffixes: Vec<Name>,
    pub forwarders: Forwarders,
    pub line: usize,
}

/// Domain suffixes to forwarders; the longest matching suffix wins.
#[derive(Debug, Default)]
pub struct DomainRules {
    by_suffix: HashMap<Box<[u8]>, usize, foldhash::fast::RandomState>,
    rules: Vec<DomainRule>,
}

impl DomainRules {
    /// Builds the rules. A suffix listed twice keeps its first rule; the
    /// caller rejects that with a better message.
    pub fn new(rules: Vec<DomainRule>) -> DomainRules {
        let mut by_suffix = HashMap::default();
        for (i, r) in rules.iter().enumerate() {
            for s in &r.suffixes {
                by_suffix.entry(s.wire().into()).or_insert(i);
            }
        }
        DomainRules { by_suffix, rules }
    }

    /// The rules of the config's `[[domain]]`s, their forwarders taken from
    /// `forwarders`; an error (with the rule's line) for a name it lacks.
    pub fn build(
        rules: &[DomainConfig],
        forwarders: &[Forwarder],
    ) -> Result<DomainRules, (usize, String)> {
        let rules = rules.iter().map(|r| {
            Ok(DomainRule {
                suffixes: r.suffixes.clone(),
                forwarders: pick(&r.forward, forwarders).map_err(|e| (r.line, e))?,
                line: r.line,
            })
        });
        Ok(DomainRules::new(rules.collect::<Result<_, _>>()?))
    }

    /// The rule for the longest suffix of `name` that has one, and that suffix's
    /// depth (labels dropped from the left).
    pub fn lookup(&self, name: &Name) -> Option<(&DomainRule, usize)> {
        if self.by_suffix.is_empty() {
            return None;
        }
        name.suffixes()
            .enumerate()
            .find_map(|(depth, s)| self.by_suffix.get(s).map(|&i| (&self.rules[i], depth)))
    }

    /// The rules in config order.
    pub fn rules(&self) -> &[DomainRule] {
        &self.rules
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fw(name: &str, addr: &str) -> Forwarders {
        Arc::from(vec![Forwarder::new(
            name,
            addr.parse().unwrap(),
            HealthConfig::default(),
        )])
    }

    fn policy(sources: &[&str], action: Action) -> Policy {
        Policy {
            sources: sources.iter().map(|s| s.parse().unwrap()).collect(),
            action,
            block: GroupMask::DEFAULT,
            line: 0,
        }
    }

    #[test]
    fn longest_prefix_wins_regardless_of_order() {
        let t = PolicyTable::new(vec![
            policy(&["10.0.0.0/8"], Action::Forward(fw("wide", "1.1.1.1:53"))),
            policy(&["10.10.1.5/32"], Action::Refuse),
            policy(&["10.10.1.0/24", "fd00::/64"], Action::Identity),
        ]);
        let lookup = |a: &str| {
            t.lookup(a.parse().unwrap())
                .map(|(n, p)| (n.to_string(), p.action.clone()))
        };
        assert_eq!(
            lookup("10.10.1.5"),
            Some(("10.10.1.5/32".into(), Action::Refuse))
        );
        assert_eq!(
            lookup("10.10.1.6"),
            Some(("10.10.1.0/24".into(), Action::Identity))
        );
        assert!(matches!(lookup("10.200.0.1"), Some((n, Action::Forward(_))) if n == "10.0.0.0/8"));
        assert_eq!(lookup("fd00::7").map(|x| x.1), Some(Action::Identity));
        assert_eq!(
            lookup("::ffff:10.10.1.6").map(|x| x.1),
            Some(Action::Identity)
        );
        assert_eq!(lookup("192.168.1.1"), None);
    }

    #[test]
    fn domain_rules_take_the_longest_suffix() {
        let rules = DomainRules::new(vec![
            DomainRule {
                suffixes: vec![Name::from_text("example.com").unwrap()],
                forwarders: fw("a", "1.1.1.1:53"),
                line: 1,
            },
            DomainRule {
                suffixes: vec![Name::from_text("corp.example.com").unwrap()],
                forwarders: fw("b", "2.2.2.2:53"),
                line: 2,
            },
        ]);
        let pick = |n: &str| {
            rules
                .lookup(&Name::from_text(n).unwrap())
                .map(|(r, d)| (r.line, d))
        };
        assert_eq!(pick("x.corp.example.com"), Some((2, 1)));
        assert_eq!(pick("www.example.com"), Some((1, 1)));
        assert_eq!(pick("example.com"), Some((1, 0)));
        assert_eq!(pick("example.org"), None);
    }
}
