//! `[block]`: the default blocklist group, its exceptions, what a blocked
//! name gets and how URL lists are fetched (the `[[blocklist]]` groups are
//! `listconfig`'s). May touch: nothing.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

use super::Checker;
use crate::proxy::listconfig::{self, BlocklistGroup, FetchConfig, ListRef, RawFetch};
use crate::proxy::name::Name;

/// What a blocked name gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockResponse {
    NxDomain,
    /// 0.0.0.0 for A, :: for AAAA, NODATA otherwise.
    Null,
    Refused,
    /// This address for its record type, NODATA otherwise.
    Address(IpAddr),
}

impl fmt::Display for BlockResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockResponse::NxDomain => f.write_str("nxdomain"),
            BlockResponse::Null => f.write_str("null (0.0.0.0 / ::)"),
            BlockResponse::Refused => f.write_str("refused"),
            BlockResponse::Address(a) => write!(f, "{a}"),
        }
    }
}

/// `[block]`, and the `[[blocklist]]` groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockConfig {
    /// The `default` group: what a policy without `block` applies.
    pub lists: Vec<ListRef>,
    /// Exceptions for every group.
    pub allow: Vec<ListRef>,
    /// How often the `[block]` URL lists are downloaded again.
    pub refresh: Duration,
    /// `[[blocklist]]`, in config order (group `i + 1` in a policy's mask).
    pub groups: Vec<BlocklistGroup>,
    pub fetch: FetchConfig,
    pub exempt: Vec<IpNet>,
    pub response: BlockResponse,
    pub ttl: u32,
    pub local_only: Vec<Name>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBlock {
    #[serde(default)]
    lists: Vec<Spanned<String>>,
    #[serde(default)]
    allow: Vec<Spanned<String>>,
    #[serde(default)]
    exempt: Vec<Spanned<String>>,
    response: Option<Spanned<String>>,
    ttl: Option<u32>,
    #[serde(default)]
    local_only: Vec<Spanned<String>>,
    refresh: Option<Spanned<String>>,
    cache_dir: Option<Spanned<String>>,
    tls_ca: Option<Spanned<String>>,
    max_list_bytes: Option<Spanned<u64>>,
    fetch_timeout: Option<Spanned<String>>,
}

pub(super) fn check_block(
    c: &mut Checker,
    raw: &RawBlock,
    groups: Vec<BlocklistGroup>,
) -> BlockConfig {
    let response = match &raw.response {
        None => BlockResponse::NxDomain,
        Some(r) => match r.get_ref().as_str() {
            "nxdomain" => BlockResponse::NxDomain,
            "null" => BlockResponse::Null,
            "refused" => BlockResponse::Refused,
            other => match other.parse::<IpAddr>() {
                Ok(a) => BlockResponse::Address(a),
                Err(_) => {
                    c.error(r.span(), format!("response: expected \"nxdomain\", \"null\", \"refused\" or an address, found {other:?}"));
                    BlockResponse::NxDomain
                }
            },
        },
    };
    let (fetch, refresh) = listconfig::fetch_config(
        c,
        &RawFetch {
            refresh: raw.refresh.clone(),
            cache_dir: raw.cache_dir.clone(),
            tls_ca: raw.tls_ca.clone(),
            max_list_bytes: raw.max_list_bytes.clone(),
            fetch_timeout: raw.fetch_timeout.clone(),
        },
    );
    BlockConfig {
        lists: (raw.lists.iter())
            .filter_map(|f| listconfig::list_ref(c, f, "lists"))
            .collect(),
        allow: (raw.allow.iter())
            .filter_map(|f| listconfig::list_ref(c, f, "allow"))
            .collect(),
        refresh,
        groups,
        fetch,
        exempt: raw
            .exempt
            .iter()
            .filter_map(|s| c.network(s, "exempt"))
            .collect(),
        response,
        ttl: raw.ttl.unwrap_or(60),
        local_only: raw
            .local_only
            .iter()
            .filter_map(|s| c.name(s, "local_only"))
            .collect(),
    }
}
