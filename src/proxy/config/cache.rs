//! `[cache]`: size, TTL bounds and overrides, serve-stale. May touch: nothing.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{Checker, Problem};
use crate::parse::parse_duration;
use crate::proxy::name::Name;

/// `[cache]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// Entries; 0 disables the cache.
    pub size: usize,
    pub min_ttl: u32,
    pub max_ttl: u32,
    /// Upper bound for negative answers (NXDOMAIN, NODATA).
    pub negative_ttl: u32,
    /// Suffix → forced TTL.
    pub ttl_override: Vec<(Name, u32)>,
    /// How long past expiry an entry may still answer when every forwarder
    /// of the route fails (RFC 8767); zero: never.
    pub serve_stale: Duration,
    /// The TTL of a stale answer.
    pub stale_ttl: u32,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            size: 10_000,
            min_ttl: 0,
            max_ttl: 86_400,
            negative_ttl: 300,
            ttl_override: Vec::new(),
            serve_stale: Duration::from_secs(86_400),
            stale_ttl: 30,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCache {
    size: Option<usize>,
    min_ttl: Option<u32>,
    max_ttl: Option<u32>,
    negative_ttl: Option<u32>,
    serve_stale: Option<Spanned<String>>,
    stale_ttl: Option<u32>,
    #[serde(default)]
    ttl_override: BTreeMap<String, Spanned<u32>>,
}

pub(super) fn check_cache(c: &mut Checker, raw: &RawCache, path: &Path) -> CacheConfig {
    let defaults = CacheConfig::default();
    let mut ttl_override = Vec::new();
    for (suffix, ttl) in &raw.ttl_override {
        if let Some(n) = c.name(&Spanned::new(ttl.span(), suffix.clone()), "ttl_override") {
            ttl_override.push((n, *ttl.get_ref()));
        }
    }
    let cache = CacheConfig {
        size: raw.size.unwrap_or(defaults.size),
        min_ttl: raw.min_ttl.unwrap_or(defaults.min_ttl),
        max_ttl: raw.max_ttl.unwrap_or(defaults.max_ttl),
        negative_ttl: raw.negative_ttl.unwrap_or(defaults.negative_ttl),
        ttl_override,
        serve_stale: match &raw.serve_stale {
            Some(s) if parse_duration(s.get_ref()) == Some(Duration::ZERO) => Duration::ZERO,
            s => c.duration(s, "serve_stale", defaults.serve_stale),
        },
        stale_ttl: raw.stale_ttl.unwrap_or(defaults.stale_ttl),
    };
    if cache.min_ttl > cache.max_ttl {
        c.problems.push(Problem::whole(
            path,
            format!(
                "[cache] min_ttl {} is above max_ttl {}",
                cache.min_ttl, cache.max_ttl
            ),
        ));
    }
    cache
}
