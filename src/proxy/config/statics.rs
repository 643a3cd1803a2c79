//! `[static]`: the records vpndns answers itself, written inline or in
//! hosts-format files. May touch: nothing (the files are read by the engine).

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Deserialize;
use toml::Spanned;

use super::{Checker, FileRef, StringOrList};
use crate::proxy::name::Name;

/// `[static]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticConfig {
    pub ttl: u32,
    pub auto_ptr: bool,
    pub records: Vec<(Name, IpAddr)>,
    pub files: Vec<FileRef>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStatic {
    ttl: Option<u32>,
    auto_ptr: Option<bool>,
    #[serde(default)]
    records: BTreeMap<String, Spanned<StringOrList>>,
    #[serde(default)]
    files: Vec<Spanned<String>>,
}

pub(super) fn check_statics(c: &mut Checker, raw: &RawStatic) -> StaticConfig {
    let mut records = Vec::new();
    for (name, value) in &raw.records {
        let span = value.span();
        let Some(n) = c.name(&Spanned::new(span.clone(), name.clone()), "records") else {
            continue;
        };
        let addrs = match value.get_ref() {
            StringOrList::One(s) => std::slice::from_ref(s),
            StringOrList::Many(v) => v.as_slice(),
        };
        for a in addrs {
            match a.parse::<IpAddr>() {
                Ok(addr) => records.push((n.clone(), addr)),
                Err(_) => c.error(
                    span.clone(),
                    format!("records.{name:?}: expected an IPv4 or IPv6 address, found {a:?}"),
                ),
            }
        }
    }
    StaticConfig {
        ttl: raw.ttl.unwrap_or(300),
        auto_ptr: raw.auto_ptr.unwrap_or(true),
        records,
        files: raw.files.iter().map(|f| c.file_ref(f)).collect(),
    }
}
