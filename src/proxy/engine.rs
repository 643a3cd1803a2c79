//! The decision: what vpndns does with a query, as a plain value. Built once
//! per config (the live forwarders, the policy tables, and what the list and
//! hosts files hold), then shared read-only by every worker; the server, the
//! query log and `check` all use [`Engine::decide`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use arc_swap::ArcSwap;
use ipnet::IpNet;
use std::sync::Arc;

use super::answer::{Answer, Records};
use super::blocklist::BoundedLines;
use super::config::{BlockResponse, Config, ConfigError, FileRef, Problem, Transport};
use super::domainset::DomainSet;
use super::groups::{Groups, Sources};
use super::name::Name;
use super::policy::{Action, DomainRule, DomainRules, Forwarder, Forwarders, PolicyTable};
use super::ratelimit::RateLimiter;
use super::statics::{self, Hit, StaticRecords};
use super::wire::{CLASS_IN, Query, Rcode, TYPE_A, TYPE_AAAA};

/// Where a forwarded query goes.
#[derive(Debug, Clone, Copy)]
pub enum Route<'e> {
    /// Back to the querying address (identity mode).
    Identity(SocketAddr),
    /// To these forwarders, in order.
    Forwarders(&'e Forwarders),
}

/// What to do with one query.
#[derive(Debug, Clone, Copy)]
pub enum Decision<'e> {
    /// REFUSED: `net` is the refusing policy's network, `None` when no policy
    /// covers the client.
    Refused { net: Option<IpNet> },
    /// NXDOMAIN for a local-only suffix, never forwarded.
    LocalOnly,
    /// A static record (or NODATA for a static name).
    Static(Hit<'e>),
    /// A blocked name: `list` (as written in the config) listed it, in `group`.
    Blocked { group: &'e str, list: &'e str },
    /// Forward along `route`; `net` is the client's policy network and
    /// `domain` the `[[domain]]` rule that chose the forwarders, if any.
    Forward {
        route: Route<'e>,
        net: IpNet,
        domain: Option<&'e DomainRule>,
    },
}

impl fmt::Display for Decision<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Refused { net: None } => f.write_str("refused: no policy covers the client"),
            Decision::Refused { net: Some(n) } => write!(f, "refused by the policy for {n}"),
            Decision::LocalOnly => f.write_str("local_only: NXDOMAIN"),
            Decision::Static(_) => f.write_str("static record"),
            Decision::Blocked { group, list } => write!(f, "blocked by {list} (group {group})"),
            Decision::Forward { route, net, domain } => {
                match route {
                    Route::Identity(a) => write!(f, "forwarded to the client itself ({a})")?,
                    Route::Forwarders(l) => {
                        let names: Vec<&str> = l.iter().map(|x| x.name.as_ref()).collect();
                        write!(f, "forwarded to {}", names.join(" -> "))?
                    }
                }
                match domain {
                    Some(d) => write!(f, " by the [[domain]] rule at line {}", d.line),
                    None => write!(f, " by the policy for {net}"),
                }
            }
        }
    }
}

/// Allow entries added while running (the control API's block exceptions):
/// they outlive reloads until removed.
#[derive(Default)]
pub struct Exceptions {
    names: std::collections::BTreeSet<String>,
    set: DomainSet,
}

impl Exceptions {
    /// These exceptions plus `name`.
    pub fn with(&self, name: &Name) -> Exceptions {
        let mut names = self.names.clone();
        names.insert(name.to_string());
        Exceptions::from_names(names)
    }

    /// These exceptions less `name`, and whether it was there.
    pub fn without(&self, name: &Name) -> (Exceptions, bool) {
        let mut names = self.names.clone();
        let was = names.remove(&name.to_string());
        (Exceptions::from_names(names), was)
    }

    fn from_names(names: std::collections::BTreeSet<String>) -> Exceptions {
        let parsed: Vec<Name> = names
            .iter()
            .filter_map(|n| Name::from_text(n).ok())
            .collect();
        Exceptions {
            set: DomainSet::from_names(&parsed),
            names,
        }
    }

    /// The names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// Whether `name` or a domain above it is excepted.
    pub fn covers(&self, name: &Name) -> bool {
        self.set.lookup(name).is_some()
    }
}

/// Counts from loading, for the log and `check` (per list: [`Groups`]).
#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    pub blocked_domains: usize,
    pub allowed_domains: usize,
}

/// Everything needed to decide, built from one config.
pub struct Engine {
    pub config: Config,
    /// The config's forwarders, live (health, TLS connection), in its order;
    /// the policies and domain rules hold copies that share their state.
    pub forwarders: Vec<Forwarder>,
    pub policies: PolicyTable,
    pub domains: DomainRules,
    pub statics: StaticRecords,
    /// The blocklist groups, each built once; policies choose them by mask.
    pub groups: Groups,
    pub local_only: DomainSet,
    /// Per-client rate limits (`[server] client_rate`); buckets start full
    /// on every reload.
    pub limiter: Option<RateLimiter>,
    /// Run-time exceptions, shared with the server so they survive reloads.
    pub exceptions: Arc<ArcSwap<Exceptions>>,
    /// The `[block] response` address, as a one-record answer of each family.
    block_addr4: [Ipv4Addr; 1],
    block_addr6: [Ipv6Addr; 1],
    pub report: LoadReport,
}

impl Engine {
    /// Builds the engine, its forwarders new (up, no history; a `tls://`
    /// one reads `tls_ca` and resolves its host), reading every list and
    /// hosts file the config names.
    pub fn build(config: Config) -> Result<Engine, ConfigError> {
        Engine::assemble(config, None)
    }

    /// The engine `old` is, its list and hosts files read again: the same
    /// config and the same live forwarders (their health, counters and TLS
    /// connections carry on).
    pub fn rebuild(old: &Engine) -> Result<Engine, ConfigError> {
        Engine::assemble(old.config.clone(), Some(old.forwarders.clone()))
    }

    fn assemble(config: Config, forwarders: Option<Vec<Forwarder>>) -> Result<Engine, ConfigError> {
        let mut problems = Vec::new();
        let forwarders = forwarders.unwrap_or_else(|| build_forwarders(&config, &mut problems));
        let statics = load_statics(&config, &mut problems);

        let b = &config.block;
        let sources = Sources {
            lists: &b.lists,
            allow: &b.allow,
            refresh: b.refresh,
            groups: &b.groups,
            cache_dir: &b.fetch.cache_dir,
        };
        if b.fetch.tls_ca.is_some()
            && let Err(why) = super::fetch::agent(&b.fetch)
        {
            problems.push(Problem::whole(&config.path, format!("[block] {why}")));
        }
        let mut list_problems = Vec::new();
        let groups = Groups::build(&sources, &mut list_problems);
        problems.extend(
            (list_problems.into_iter()).map(|p| Problem::at(&config.path, p.at, p.message)),
        );
        if !problems.is_empty() {
            return Err(ConfigError(problems));
        }
        let report = LoadReport {
            blocked_domains: groups.blocked_domains(),
            allowed_domains: groups.allowed_domains(),
        };
        let unknown_name =
            |(line, message)| ConfigError(vec![Problem::at(&config.path, (line, 1), message)]);
        let policies = PolicyTable::build(&config.policies, &forwarders).map_err(unknown_name)?;
        let domains = DomainRules::build(&config.domains, &forwarders).map_err(unknown_name)?;
        Ok(Engine {
            forwarders,
            policies,
            domains,
            local_only: DomainSet::from_names(&config.block.local_only),
            statics,
            groups,
            report,
            exceptions: Arc::default(),
            limiter: RateLimiter::new(config.server.client_rate, config.server.client_burst),
            block_addr4: match config.block.response {
                BlockResponse::Address(IpAddr::V4(a)) => [a],
                _ => [Ipv4Addr::UNSPECIFIED],
            },
            block_addr6: match config.block.response {
                BlockResponse::Address(IpAddr::V6(a)) => [a],
                _ => [Ipv6Addr::UNSPECIFIED],
            },
            config,
        })
    }

    /// Decides what to do with query `q` from `client`.
    pub fn decide(&self, client: IpAddr, q: &Query) -> Decision<'_> {
        let client = client.to_canonical();
        let Some((net, policy)) = self.policies.lookup(client) else {
            return Decision::Refused { net: None };
        };
        if policy.action == Action::Refuse {
            return Decision::Refused { net: Some(net) };
        }
        if self.local_only.lookup(&q.name).is_some() {
            return Decision::LocalOnly;
        }
        if q.qclass == CLASS_IN
            && let Some(hit) = self.statics.lookup(&q.name, q.qtype)
        {
            return Decision::Static(hit);
        }
        if let Some(hit) = self.groups.lookup(policy.block, &q.name)
            && !self.groups.allowed(&q.name)
            && !self.config.block.exempt.iter().any(|n| n.contains(&client))
            && !self.exceptions.load().covers(&q.name)
        {
            return Decision::Blocked {
                group: hit.group,
                list: hit.list,
            };
        }
        if let Some((rule, _)) = self.domains.lookup(&q.name) {
            return Decision::Forward {
                route: Route::Forwarders(&rule.forwarders),
                net,
                domain: Some(rule),
            };
        }
        let route = match &policy.action {
            Action::Forward(list) => Route::Forwarders(list),
            _ => Route::Identity(SocketAddr::new(client, self.config.server.identity_port)),
        };
        Decision::Forward {
            route,
            net,
            domain: None,
        }
    }

    /// The answer for a decision the proxy answers itself; `None` for a forward.
    pub fn local_answer<'e>(&'e self, decision: &Decision<'e>, q: &Query) -> Option<Answer<'e>> {
        const NULL4: [Ipv4Addr; 1] = [Ipv4Addr::UNSPECIFIED];
        const NULL6: [Ipv6Addr; 1] = [Ipv6Addr::UNSPECIFIED];
        let records = |records, ttl| Answer {
            rcode: Rcode::NoError,
            authoritative: true,
            records,
            ttl,
        };
        Some(match *decision {
            Decision::Forward { .. } => return None,
            Decision::Refused { .. } => Answer::empty(Rcode::Refused, false),
            Decision::LocalOnly => Answer::empty(Rcode::NxDomain, true),
            Decision::Static(hit) => {
                let ttl = self.statics.ttl;
                match hit {
                    Hit::V4(a) => records(Records::V4(a), ttl),
                    Hit::V6(a) => records(Records::V6(a), ttl),
                    Hit::Ptr(n) => records(Records::Ptr(n), ttl),
                    Hit::NoData => Answer::empty(Rcode::NoError, true),
                }
            }
            Decision::Blocked { .. } => {
                let ttl = self.config.block.ttl;
                let mut a = match (self.config.block.response, q.qtype) {
                    (BlockResponse::NxDomain, _) => Answer::empty(Rcode::NxDomain, false),
                    (BlockResponse::Refused, _) => Answer::empty(Rcode::Refused, false),
                    (BlockResponse::Null, TYPE_A) => records(Records::V4(&NULL4), ttl),
                    (BlockResponse::Null, TYPE_AAAA) => records(Records::V6(&NULL6), ttl),
                    (BlockResponse::Address(IpAddr::V4(_)), TYPE_A) => {
                        records(Records::V4(&self.block_addr4), ttl)
                    }
                    (BlockResponse::Address(IpAddr::V6(_)), TYPE_AAAA) => {
                        records(Records::V6(&self.block_addr6), ttl)
                    }
                    _ => Answer::empty(Rcode::NoError, false),
                };
                a.authoritative = false;
                a
            }
        })
    }

    /// Logs what was loaded, one line per list file.
    pub fn log_summary(&self) {
        for g in &self.groups.groups {
            for l in &g.lists {
                let st = &l.stats;
                match &l.missing {
                    Some(why) => {
                        tracing::warn!("list {} (group {}): empty: {why}", l.written, g.name)
                    }
                    None => tracing::info!(
                        "list {}: {} block, {} allow entries, {} lines skipped (group {})",
                        l.written,
                        st.blocked,
                        st.allowed,
                        st.skipped,
                        g.name
                    ),
                }
            }
        }
        tracing::info!(
            "config {}: {} policies, {} static names, {} blocked and {} allowed domains",
            self.config.path.display(),
            self.config.policies.len(),
            self.statics.len(),
            self.report.blocked_domains,
            self.report.allowed_domains
        );
    }

    /// Takes over the health (state and counters) and the TLS connection
    /// counters of forwarders with the same name and address in `old`
    /// (nothing to take from a forwarder [`rebuild`](Engine::rebuild) kept).
    pub fn adopt_health(&self, old: &Engine) {
        for f in &self.forwarders {
            if let Some(o) = old
                .forwarders
                .iter()
                .find(|o| o.name == f.name && o.addr == f.addr)
            {
                if Arc::ptr_eq(&f.health, &o.health) {
                    continue;
                }
                f.health.copy_from(&o.health);
                if let (Some(new), Some(old)) = (&f.tls, &o.tls) {
                    new.counters().copy_from(old.counters());
                }
            }
        }
    }
}

/// The live forwarders of `config`, in its order; a problem for each that
/// cannot be built (a `tls_ca` that does not read, a host that does not
/// resolve), at the key it is about.
fn build_forwarders(config: &Config, problems: &mut Vec<Problem>) -> Vec<Forwarder> {
    let mut built = Vec::with_capacity(config.forwarders.len());
    for f in &config.forwarders {
        match Forwarder::build(f, config.server.timeout) {
            Ok(forwarder) => built.push(forwarder),
            Err(message) => problems.push(match &f.transport {
                Transport::Tls(tls) => Problem::at(&config.path, tls.at_of(&message), message),
                Transport::Plain(_) => Problem::whole(&config.path, message),
            }),
        }
    }
    built
}

fn file_problem(config: &Config, file: &FileRef, why: &str) -> Problem {
    let message = format!("{:?} ({}): {why}", file.written, file.path.display());
    Problem::at(&config.path, file.at, message)
}

fn load_statics(config: &Config, problems: &mut Vec<Problem>) -> StaticRecords {
    let mut table = StaticRecords::new(config.statics.ttl);
    for (name, addr) in &config.statics.records {
        table.add(name, *addr);
    }
    for file in &config.statics.files {
        // Read within the same caps as list files: a device or a huge file
        // given as a hosts file is refused, not read whole.
        let mut lines = match BoundedLines::open(&file.path) {
            Ok(l) => l,
            Err(e) => {
                problems.push(file_problem(config, file, &e.to_string()));
                continue;
            }
        };
        loop {
            let (number, bytes) = match lines.next_line() {
                Ok(Some(line)) => line,
                Ok(None) => break,
                Err(e) => {
                    problems.push(file_problem(config, file, &e.to_string()));
                    break;
                }
            };
            let parsed = std::str::from_utf8(bytes)
                .map_err(|_| "not UTF-8".to_string())
                .and_then(statics::parse_hosts_line);
            match parsed {
                Ok(None) => {}
                Ok(Some((addr, names))) => names.iter().for_each(|n| table.add(n, addr)),
                Err(why) => problems.push(Problem::at(&file.path, (number, 1), why)),
            }
        }
    }
    if config.statics.auto_ptr {
        table.add_reverse_records();
    }
    table
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::atomic::Ordering;

    use super::*;

    const CONFIG: &str = "[[forwarder]]\nname = \"a\"\naddress = \"10.0.0.1\"\n\
        [[policy]]\nsource = [\"10.0.0.0/8\"]\nforward = \"a\"\n\
        [[domain]]\nsuffix = [\"example.com\"]\nforward = \"a\"\n";

    /// The health of the forwarder the policy for 10.0.0.1 lists first, and
    /// of the one the domain rule lists.
    fn table_healths(e: &Engine) -> [&Arc<crate::proxy::health::Health>; 2] {
        let Some((_, policy)) = e.policies.lookup("10.0.0.1".parse().unwrap()) else {
            panic!("no policy");
        };
        let Action::Forward(list) = &policy.action else {
            panic!("{:?}", policy.action);
        };
        [&list[0].health, &e.domains.rules()[0].forwarders[0].health]
    }

    #[test]
    fn the_tables_share_the_engines_live_forwarders() {
        let config = Config::parse(Path::new("/x/vpndns.toml"), CONFIG).unwrap();
        let e = Engine::build(config).unwrap();
        for h in table_healths(&e) {
            assert!(Arc::ptr_eq(h, &e.forwarders[0].health));
        }
    }

    #[test]
    fn a_rebuild_keeps_the_forwarders_and_a_build_adopts_their_health() {
        let config = Config::parse(Path::new("/x/vpndns.toml"), CONFIG).unwrap();
        let old = Engine::build(config.clone()).unwrap();
        old.forwarders[0].health.sent();
        let rebuilt = Engine::rebuild(&old).unwrap();
        for h in table_healths(&rebuilt) {
            assert!(
                Arc::ptr_eq(h, &old.forwarders[0].health),
                "the same forwarder"
            );
        }
        rebuilt.adopt_health(&old);
        assert_eq!(
            rebuilt.forwarders[0].health.queries.load(Ordering::Relaxed),
            1
        );

        let reloaded = Engine::build(config).unwrap();
        assert!(!Arc::ptr_eq(
            &reloaded.forwarders[0].health,
            &old.forwarders[0].health
        ));
        reloaded.adopt_health(&old);
        for h in table_healths(&reloaded) {
            assert_eq!(h.queries.load(Ordering::Relaxed), 1, "taken over");
        }
    }
}
