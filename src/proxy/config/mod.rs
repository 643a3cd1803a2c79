//! The vpndns config file: TOML read into raw serde structs, then checked into
//! typed values. Every error names the file, the line and what was expected.
//! Reads only the config file itself; lists are read by the engine.
//!
//! This file holds the whole [`Config`], its `[[policy]]`,
//! `[[domain]]` and `[log]` sections and the checker they share; one file per
//! section holds the rest, its typed and raw structs and its check:
//!
//! - `server`: `[server]` and `[control]`;
//! - `statics`: `[static]`;
//! - `forwarder`: `[[forwarder]]`, its address and `tls://` settings;
//! - `health`: a forwarder's health settings;
//! - `block`: `[block]` (the `[[blocklist]]` groups are [`listconfig`]'s);
//! - `cache`: `[cache]`.
//!
//! Plain data only: the engine builds the live forwarders (health, TLS
//! connections) and the policy tables from it.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

use super::listconfig::{self, GroupMask, RawBlocklist};
use super::name::Name;
pub use crate::diag::{Problem, line_col};
pub use crate::parse::{parse_duration, parse_network, parse_socket_addr};

mod block;
mod cache;
mod forwarder;
mod health;
mod server;
mod statics;

use block::RawBlock;
use cache::RawCache;
use forwarder::RawForwarder;
use server::{RawControl, RawServer};
use statics::RawStatic;

pub use block::{BlockConfig, BlockResponse};
pub use cache::CacheConfig;
pub use forwarder::{ForwarderConfig, TlsConfig, Transport, split_address};
pub use health::HealthConfig;
pub use server::{ControlConfig, ServerConfig};
pub use statics::StaticConfig;

/// Default location, as installed by the rc.d script.
pub const DEFAULT_PATH: &str = "/usr/local/etc/vpndns/vpndns.toml";

/// Everything wrong with a config, all reported at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub Vec<Problem>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::diag::write_lines(f, &self.0)
    }
}

impl std::error::Error for ConfigError {}

/// A file named in the config, with the line that names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    /// Resolved against the config file's folder.
    pub path: PathBuf,
    /// As written in the config.
    pub written: String,
    pub at: (usize, usize),
}

/// A checked config: plain data, compared whole on reload; the engine
/// builds the live forwarders and tables from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub path: PathBuf,
    pub server: ServerConfig,
    pub forwarders: Vec<ForwarderConfig>,
    pub policies: Vec<PolicyConfig>,
    pub domains: Vec<DomainConfig>,
    pub statics: StaticConfig,
    pub block: BlockConfig,
    /// `[log] queries`: one line per query.
    pub log_queries: bool,
    pub cache: CacheConfig,
    pub control: Option<ControlConfig>,
}

/// Most forwarders one policy or domain rule may list.
pub const MAX_FORWARDERS: usize = 16;

/// A `[[policy]]`'s `forward`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forward {
    /// `"source"`: back to the querying address (identity mode).
    Source,
    /// To these `[[forwarder]]`s, by name, tried in order.
    To(Vec<Box<str>>),
    /// `"refuse"`: REFUSED to everything.
    Refuse,
}

/// One `[[policy]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyConfig {
    pub sources: Vec<IpNet>,
    pub forward: Forward,
    /// The blocklist groups applied to its clients.
    pub block: GroupMask,
    /// Line in the config file, for explanations.
    pub line: usize,
}

/// One `[[domain]]` rule: these suffixes go to these forwarders, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainConfig {
    pub suffixes: Vec<Name>,
    pub forward: Vec<Box<str>>,
    pub line: usize,
}

// ---- raw serde structs ------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    forwarder: Vec<RawForwarder>,
    #[serde(default)]
    policy: Vec<RawPolicy>,
    #[serde(default)]
    domain: Vec<RawDomain>,
    #[serde(default, rename = "static")]
    statics: RawStatic,
    #[serde(default)]
    block: RawBlock,
    #[serde(default)]
    blocklist: Vec<RawBlocklist>,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    cache: RawCache,
    control: Option<RawControl>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    source: Vec<Spanned<String>>,
    forward: Spanned<StringOrList>,
    /// Blocklist groups by name; absent: the `[block]` lists.
    block: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDomain {
    suffix: Vec<Spanned<String>>,
    forward: Spanned<StringOrList>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLog {
    #[serde(default)]
    queries: bool,
}

/// A string or a list of strings (`forward`, static record values).
enum StringOrList {
    One(String),
    Many(Vec<String>),
}

impl<'de> Deserialize<'de> for StringOrList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = StringOrList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<StringOrList, E> {
                Ok(StringOrList::One(s.to_owned()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<StringOrList, A::Error> {
                let mut v = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    v.push(s);
                }
                Ok(StringOrList::Many(v))
            }
        }
        d.deserialize_any(V)
    }
}

// ---- checking ---------------------------------------------------------------

/// Collects problems against one source text.
struct Checker<'a> {
    file: &'a Path,
    src: &'a str,
    problems: Vec<Problem>,
}

impl listconfig::Checks for Checker<'_> {
    fn at(&self, span: Range<usize>) -> (usize, usize) {
        Checker::at(self, span)
    }

    fn error(&mut self, span: Range<usize>, message: String) {
        Checker::error(self, span, message);
    }

    fn config_dir(&self) -> &Path {
        self.file.parent().unwrap_or(Path::new("."))
    }
}

impl Checker<'_> {
    fn at(&self, span: Range<usize>) -> (usize, usize) {
        line_col(self.src, span.start)
    }

    fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        let at = self.at(span);
        self.problems.push(Problem::at(self.file, at, message));
    }

    fn file_ref(&self, s: &Spanned<String>) -> FileRef {
        let dir = self.file.parent().unwrap_or(Path::new("."));
        FileRef {
            path: dir.join(s.get_ref()),
            written: s.get_ref().clone(),
            at: self.at(s.span()),
        }
    }

    fn duration(&mut self, s: &Option<Spanned<String>>, key: &str, default: Duration) -> Duration {
        let Some(s) = s else { return default };
        match parse_duration(s.get_ref()) {
            Some(d) if !d.is_zero() => d,
            _ => {
                self.error(
                    s.span(),
                    format!("{key}: expected a duration such as \"1500ms\", \"2s\" or \"1m\", found {:?}", s.get_ref()),
                );
                default
            }
        }
    }

    fn network(&mut self, s: &Spanned<String>, key: &str) -> Option<IpNet> {
        match parse_network(s.get_ref()) {
            Ok(n) => Some(n),
            Err(why) => {
                self.error(s.span(), format!("{key}: {why}"));
                None
            }
        }
    }

    fn name(&mut self, s: &Spanned<String>, key: &str) -> Option<Name> {
        match Name::from_text(s.get_ref()) {
            Ok(n) if !n.is_root() => Some(n),
            Ok(_) => {
                self.error(
                    s.span(),
                    format!("{key}: expected a domain name, found the root"),
                );
                None
            }
            Err(e) => {
                self.error(
                    s.span(),
                    format!("{key}: {:?} is not a domain name: {e}", s.get_ref()),
                );
                None
            }
        }
    }
}

impl Config {
    /// Reads and checks the config at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let src = std::fs::read_to_string(path).map_err(|e| {
            ConfigError(vec![Problem::whole(
                path,
                format!("cannot read config: {e}"),
            )])
        })?;
        Config::parse(path, &src)
    }

    /// Checks config text `src`, which came from `path` (relative file names
    /// are resolved against its folder).
    pub fn parse(path: &Path, src: &str) -> Result<Config, ConfigError> {
        let raw: RawFile = toml::from_str(src).map_err(|e| {
            let message = e.message().trim();
            ConfigError(vec![match e.span() {
                Some(s) => Problem::at(path, line_col(src, s.start), message),
                None => Problem::whole(path, message),
            }])
        })?;
        let mut c = Checker {
            file: path,
            src,
            problems: Vec::new(),
        };
        let config = check(&mut c, raw, path);
        if c.problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError(c.problems))
        }
    }
}

fn check(c: &mut Checker, raw: RawFile, path: &Path) -> Config {
    let server = server::check_server(c, &raw.server);

    let forwarders = forwarder::check_forwarders(c, &raw.forwarder);

    let resolve =
        |c: &mut Checker, names: &[String], span: Range<usize>| -> Option<Vec<Box<str>>> {
            let mut list = Vec::new();
            for n in names {
                match forwarders.iter().find(|f| f.name.as_ref() == n) {
                    Some(f) => list.push(f.name.clone()),
                    None => {
                        let known: Vec<&str> = forwarders.iter().map(|f| f.name.as_ref()).collect();
                        let known = if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        };
                        c.error(
                            span.clone(),
                            format!("forward: no [[forwarder]] named {n:?} (defined: {known})"),
                        );
                        return None;
                    }
                }
            }
            if list.is_empty() {
                c.error(span, "forward: expected at least one forwarder name");
                return None;
            }
            if list.len() > MAX_FORWARDERS {
                c.error(
                    span,
                    format!("forward: at most {MAX_FORWARDERS} forwarders in one list"),
                );
                return None;
            }
            Some(list)
        };

    let groups = listconfig::groups(c, &raw.blocklist);
    let mut policies = Vec::new();
    let mut seen_nets: HashMap<IpNet, usize> = HashMap::new();
    for p in &raw.policy {
        let line = c.at(p.forward.span()).0;
        let action = match p.forward.get_ref() {
            StringOrList::One(s) if s == "source" => Some(Forward::Source),
            StringOrList::One(s) if s == "refuse" => Some(Forward::Refuse),
            StringOrList::One(s) => {
                resolve(c, std::slice::from_ref(s), p.forward.span()).map(Forward::To)
            }
            StringOrList::Many(v) => resolve(c, v, p.forward.span()).map(Forward::To),
        };
        let mut sources = Vec::new();
        for s in &p.source {
            let Some(net) = c.network(s, "source") else {
                continue;
            };
            if let Some(other) = seen_nets.insert(net, c.at(s.span()).0) {
                c.error(s.span(), format!("source {net} is already in the policy at line {other}; a network may have one policy"));
            }
            sources.push(net);
        }
        if p.source.is_empty() {
            c.error(
                p.forward.span(),
                "policy: expected at least one source network",
            );
        }
        if let Some(forward) = action {
            let block = listconfig::group_mask(c, &p.block, &groups);
            policies.push(PolicyConfig {
                sources,
                forward,
                block,
                line,
            });
        }
    }

    let mut domains = Vec::new();
    let mut seen_suffix: HashMap<Box<[u8]>, usize> = HashMap::new();
    for d in &raw.domain {
        let line = c.at(d.forward.span()).0;
        let fw = match d.forward.get_ref() {
            StringOrList::One(s) if s == "source" || s == "refuse" => {
                c.error(
                    d.forward.span(),
                    format!("forward: a [[domain]] rule takes forwarder names, not {s:?}"),
                );
                None
            }
            StringOrList::One(s) => resolve(c, std::slice::from_ref(s), d.forward.span()),
            StringOrList::Many(v) => resolve(c, v, d.forward.span()),
        };
        let mut suffixes = Vec::new();
        for s in &d.suffix {
            let Some(name) = c.name(s, "suffix") else {
                continue;
            };
            if let Some(other) = seen_suffix.insert(name.wire().into(), c.at(s.span()).0) {
                c.error(
                    s.span(),
                    format!("suffix {name} is already in the [[domain]] rule at line {other}"),
                );
            }
            suffixes.push(name);
        }
        if let Some(forward) = fw {
            domains.push(DomainConfig {
                suffixes,
                forward,
                line,
            });
        }
    }

    let statics = statics::check_statics(c, &raw.statics);
    let block = block::check_block(c, &raw.block, groups);
    let cache = cache::check_cache(c, &raw.cache, path);
    let control = server::check_control(c, raw.control.as_ref());

    Config {
        path: path.to_path_buf(),
        server,
        forwarders,
        policies,
        domains,
        statics,
        block,
        log_queries: raw.log.queries,
        cache,
        control,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::listconfig::ListSource;

    fn parse(src: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/vpndns/test.toml"), src)
    }

    fn first_error(src: &str) -> String {
        parse(src).unwrap_err().0[0].to_string()
    }

    const GOOD: &str = r#"
[server]
listen = ["127.0.0.1:5353", "[::1]:5353"]
timeout = "1500ms"

[[forwarder]]
name = "vpn_us"
address = "10.10.1.2"

[[forwarder]]
name = "vpn_eu"
address = "[fd00::2]:5353"

[[policy]]
source = ["10.10.1.0/28"]
forward = "source"

[[policy]]
source = ["192.168.10.0/29", "fd00:1::/64"]
forward = ["vpn_us", "vpn_eu"]

[[policy]]
source = ["192.168.20.0/24"]
forward = "refuse"

[[domain]]
suffix = ["protonvpn.net"]
forward = "vpn_eu"

[static]
records = { "nas.wan" = "10.10.1.20", "printer.wan" = ["10.10.1.21", "fd00::21"] }
files = ["static.hosts"]

[block]
lists = ["blocklists/ads.txt"]
exempt = ["10.10.1.50"]
response = "null"
local_only = ["localdomain", "home.arpa"]
"#;

    #[test]
    fn a_good_config() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.server.listen.len(), 2);
        assert_eq!(c.server.timeout, Duration::from_millis(1500));
        let plain = |a: &str| Transport::Plain(a.parse().unwrap());
        assert_eq!(c.forwarders[0].transport, plain("10.10.1.2:53"));
        assert_eq!(c.forwarders[1].transport, plain("[fd00::2]:5353"));
        assert_eq!(c.policies.len(), 3);
        assert_eq!(c.policies[0].forward, Forward::Source);
        assert_eq!(
            c.policies[1].forward,
            Forward::To(vec!["vpn_us".into(), "vpn_eu".into()])
        );
        assert_eq!(c.policies[1].line, 20);
        assert_eq!(c.domains[0].forward, ["vpn_eu".into()]);
        assert_eq!(c.statics.records.len(), 3);
        assert!(c.statics.auto_ptr);
        assert_eq!(
            c.statics.files[0].path,
            Path::new("/etc/vpndns/static.hosts")
        );
        assert_eq!(
            c.block.lists[0].source,
            ListSource::File("/etc/vpndns/blocklists/ads.txt".into())
        );
        assert_eq!(c.block.exempt[0].to_string(), "10.10.1.50/32");
        assert_eq!(c.block.response, BlockResponse::Null);
        assert_eq!(c.block.local_only.len(), 2);
    }

    #[test]
    fn unknown_key_names_the_line() {
        let e = first_error("[server]\nlisten = [\"127.0.0.1:53\"]\ntimout = \"1s\"\n");
        assert!(
            e.starts_with("/etc/vpndns/test.toml:3:1: unknown field `timout`"),
            "{e}"
        );
        let e = first_error("[sever]\n");
        assert!(
            e.contains(":1:") && e.contains("unknown field `sever`"),
            "{e}"
        );
    }

    #[test]
    fn unknown_forwarder_lists_the_known_ones() {
        let src = "[[forwarder]]\nname = \"a\"\naddress = \"10.0.0.1\"\n[[policy]]\nsource = [\"10.0.0.0/8\"]\nforward = [\"a\", \"b\"]\n";
        let e = first_error(src);
        assert_eq!(
            e,
            "/etc/vpndns/test.toml:6:11: forward: no [[forwarder]] named \"b\" (defined: a)"
        );
    }

    #[test]
    fn identical_networks_in_two_policies() {
        let src = "[[policy]]\nsource = [\"10.0.0.0/8\"]\nforward = \"source\"\n[[policy]]\nsource = [\"10.0.0.0/8\"]\nforward = \"refuse\"\n";
        let e = first_error(src);
        assert!(
            e.contains(":5:11: source 10.0.0.0/8 is already in the policy at line 2"),
            "{e}"
        );
    }

    #[test]
    fn bad_values_are_each_reported() {
        let src = r#"
[server]
listen = ["0.0.0.0:53", "nonsense"]
timeout = "fast"
[[forwarder]]
name = "x"
address = "10.0.0.300"
[[policy]]
source = ["10.0.0.5/8"]
forward = "source"
[block]
response = "sinkhole"
exempt = ["10.0.0.0/40"]
"#;
        let e = parse(src).unwrap_err();
        let text = e.to_string();
        assert_eq!(e.0.len(), 7, "{text}");
        assert!(text.contains(":3:11: listen: 0.0.0.0:53 is a wildcard address"));
        assert!(text.contains(":3:25: listen: expected"));
        assert!(text.contains(":4:11: timeout: expected a duration"));
        assert!(text.contains(":7:11: address: expected"));
        assert!(text.contains("did you mean 10.0.0.0/8?"));
        assert!(text.contains(":12:12: response: expected"));
        assert!(text.contains(":13:11: exempt: expected a network"));
    }

    #[test]
    fn wrong_types_are_explained() {
        let e = first_error("[[policy]]\nsource = [\"10.0.0.0/8\"]\nforward = 5\n");
        assert!(
            e.contains(":3:11:") && e.contains("a string or a list of strings"),
            "{e}"
        );
        let e = first_error("[static]\nrecords = { \"a.wan\" = \"not-an-ip\" }\n");
        assert!(
            e.contains(":2:23: records.\"a.wan\": expected an IPv4 or IPv6 address"),
            "{e}"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1500ms"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2 s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("1d"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("ms"), None);
    }

    #[test]
    fn defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.server.listen, vec!["127.0.0.1:53".parse().unwrap()]);
        assert_eq!(c.server.identity_port, 53);
        assert_eq!(c.block.response, BlockResponse::NxDomain);
        assert_eq!((c.block.ttl, c.statics.ttl), (60, 300));
        assert!(c.policies.is_empty());
    }
}
