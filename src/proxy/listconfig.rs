//! The blocklist keys of the config: list entries (files or `http(s)://`
//! URLs), named `[[blocklist]]` groups, each policy's `block` choice, and how
//! downloads are made and kept (`[block] cache_dir`, `tls_ca`, bounds).
//! Checks config text only; the groups module reads the lists.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::parse::parse_duration;

/// The blocklist groups a policy applies, one bit each: bit 0 is the
/// `[block]` lists, bit `i + 1` the `i`-th `[[blocklist]]`. The sets are built
/// once per group and shared; a policy holds only these bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupMask(pub u64);

impl GroupMask {
    /// A policy without `block`: the `[block]` lists.
    pub const DEFAULT: GroupMask = GroupMask(1);
    /// `block = []`.
    pub const NONE: GroupMask = GroupMask(0);

    /// The group indices, lowest first, without allocating.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        let mut bits = self.0;
        std::iter::from_fn(move || {
            (bits != 0).then(|| {
                let i = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                i
            })
        })
    }

    /// Whether group `i` is chosen.
    pub fn has(self, i: usize) -> bool {
        i < 64 && self.0 & (1 << i) != 0
    }
}

impl Default for GroupMask {
    fn default() -> Self {
        GroupMask::DEFAULT
    }
}

/// Where the checks report: the config checker, which locates spans.
pub(super) trait Checks {
    fn at(&self, span: Range<usize>) -> (usize, usize);
    fn error(&mut self, span: Range<usize>, message: String);
    /// Relative paths are resolved against it.
    fn config_dir(&self) -> &Path;
}

/// The name that means the `[block]` lists in a policy's `block`.
pub const DEFAULT_GROUP: &str = "default";
/// Groups a config may define, with the `[block]` one: one bit each in a [`GroupMask`].
pub const MAX_GROUPS: usize = 64;
/// The shortest `refresh`: lists are published daily or hourly, and a
/// minute keeps a typo from hammering the server.
pub const MIN_REFRESH: Duration = Duration::from_secs(60);
/// `refresh` when not given.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(24 * 3600);
/// `max_list_bytes` when not given: the largest public lists are a few tens of MiB.
pub const DEFAULT_MAX_BYTES: u64 = 64 << 20;
/// `fetch_timeout` when not given: for the whole download.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(60);
/// The cache folder, beside the config, when `cache_dir` is not given.
pub const DEFAULT_CACHE_DIR: &str = "list-cache";

/// Where a list comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListSource {
    /// A local file, resolved against the config's folder.
    File(PathBuf),
    /// An `http://` or `https://` URL, kept in the cache dir.
    Url(String),
}

/// A list named in the config, with where it is named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRef {
    pub source: ListSource,
    /// As written in the config.
    pub written: String,
    pub at: (usize, usize),
}

impl ListRef {
    /// The URL, for a downloaded list.
    pub fn url(&self) -> Option<&str> {
        match &self.source {
            ListSource::Url(u) => Some(u),
            ListSource::File(_) => None,
        }
    }
}

/// One group of lists, `[[blocklist]]` or the `[block]` lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlocklistGroup {
    pub name: String,
    pub lists: Vec<ListRef>,
    /// Exceptions for this group's lists only.
    pub allow: Vec<ListRef>,
    /// How often its URL lists are downloaded again.
    pub refresh: Duration,
    /// Line of its `name` (0 for `[block]`).
    pub line: usize,
}

/// How URL lists are downloaded and kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchConfig {
    /// Downloaded copies, written atomically; the last good one serves.
    pub cache_dir: PathBuf,
    /// PEM file of the CA that signs the list servers (instead of the web's roots).
    pub tls_ca: Option<PathBuf>,
    /// A download over this is refused and the last good copy kept.
    pub max_bytes: u64,
    /// Time allowed for one whole download.
    pub timeout: Duration,
}

/// `[[blocklist]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBlocklist {
    name: Spanned<String>,
    #[serde(default)]
    lists: Vec<Spanned<String>>,
    #[serde(default)]
    allow: Vec<Spanned<String>>,
    refresh: Option<Spanned<String>>,
}

/// `[block]`'s download keys as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFetch {
    pub refresh: Option<Spanned<String>>,
    pub cache_dir: Option<Spanned<String>>,
    pub tls_ca: Option<Spanned<String>>,
    pub max_list_bytes: Option<Spanned<u64>>,
    pub fetch_timeout: Option<Spanned<String>>,
}

/// A list entry: a URL, or a file relative to the config.
pub(super) fn list_ref(c: &mut impl Checks, s: &Spanned<String>, key: &str) -> Option<ListRef> {
    let text = s.get_ref();
    let at = c.at(s.span());
    let source = if text.starts_with("http://") || text.starts_with("https://") {
        match text.parse::<ureq::http::Uri>() {
            Ok(u) if u.host().is_some_and(|h| !h.is_empty()) => ListSource::Url(text.clone()),
            _ => {
                c.error(s.span(), format!("{key}: {text:?} is not a URL"));
                return None;
            }
        }
    } else if let Some((scheme, _)) = text.split_once("://") {
        c.error(
            s.span(),
            format!(
                "{key}: {scheme}:// lists are not supported; expected a file, http:// or https://"
            ),
        );
        return None;
    } else {
        ListSource::File(relative(c, text))
    };
    Some(ListRef {
        source,
        written: text.clone(),
        at,
    })
}

fn relative(c: &impl Checks, path: &str) -> PathBuf {
    c.config_dir().join(path)
}

fn refresh(c: &mut impl Checks, s: &Option<Spanned<String>>, default: Duration) -> Duration {
    let Some(s) = s else { return default };
    match parse_duration(s.get_ref()) {
        Some(d) if d >= MIN_REFRESH => d,
        _ => {
            c.error(
                    s.span(),
                    format!(
                        "refresh: expected a duration of at least 1m, such as \"24h\" or \"30m\", found {:?}",
                        s.get_ref()
                    ),
                );
            default
        }
    }
}

/// The `[block]` download settings, and the `[block]` refresh.
pub(super) fn fetch_config(c: &mut impl Checks, raw: &RawFetch) -> (FetchConfig, Duration) {
    let refresh = refresh(c, &raw.refresh, DEFAULT_REFRESH);
    let max_bytes = match &raw.max_list_bytes {
        Some(m) if !(1..=super::blocklist::MAX_FILE_BYTES).contains(m.get_ref()) => {
            c.error(
                m.span(),
                format!(
                    "max_list_bytes: expected 1 to {}",
                    super::blocklist::MAX_FILE_BYTES
                ),
            );
            DEFAULT_MAX_BYTES
        }
        Some(m) => *m.get_ref(),
        None => DEFAULT_MAX_BYTES,
    };
    let timeout = match &raw.fetch_timeout {
        Some(t) => match parse_duration(t.get_ref()) {
            Some(d) if !d.is_zero() => d,
            _ => {
                c.error(
                    t.span(),
                    format!(
                        "fetch_timeout: expected a duration such as \"60s\", found {:?}",
                        t.get_ref()
                    ),
                );
                DEFAULT_FETCH_TIMEOUT
            }
        },
        None => DEFAULT_FETCH_TIMEOUT,
    };
    let cache_dir = relative(
        c,
        raw.cache_dir
            .as_ref()
            .map_or(DEFAULT_CACHE_DIR, |d| d.get_ref().as_str()),
    );
    let tls_ca = raw.tls_ca.as_ref().map(|p| relative(c, p.get_ref()));
    let fetch = FetchConfig {
        cache_dir,
        tls_ca,
        max_bytes,
        timeout,
    };
    (fetch, refresh)
}

/// The `[[blocklist]]` groups, checked: names unique and well-formed, at
/// least one list each, at most [`MAX_GROUPS`] with `[block]`'s.
pub(super) fn groups(c: &mut impl Checks, raw: &[RawBlocklist]) -> Vec<BlocklistGroup> {
    let mut groups: Vec<BlocklistGroup> = Vec::new();
    for g in raw {
        let name = g.name.get_ref();
        let line = c.at(g.name.span()).0;
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            c.error(
                g.name.span(),
                format!("blocklist name {name:?}: expected letters, digits, '_' or '-'"),
            );
        } else if name == DEFAULT_GROUP {
            c.error(
                g.name.span(),
                format!("blocklist name {name:?} is reserved: it means the [block] lists"),
            );
        } else if let Some(other) = groups.iter().find(|o| &o.name == name) {
            c.error(
                g.name.span(),
                format!(
                    "blocklist {name:?} is already defined at line {}",
                    other.line
                ),
            );
        }
        if g.lists.is_empty() {
            c.error(
                g.name.span(),
                format!("blocklist {name:?}: expected at least one entry in lists"),
            );
        }
        let lists = g
            .lists
            .iter()
            .filter_map(|s| list_ref(c, s, "lists"))
            .collect();
        let allow = g
            .allow
            .iter()
            .filter_map(|s| list_ref(c, s, "allow"))
            .collect();
        let refresh = refresh(c, &g.refresh, DEFAULT_REFRESH);
        groups.push(BlocklistGroup {
            name: name.clone(),
            lists,
            allow,
            refresh,
            line,
        });
    }
    if groups.len() >= MAX_GROUPS {
        let span = raw[MAX_GROUPS - 1].name.span();
        c.error(
            span,
            format!("at most {} [[blocklist]] groups", MAX_GROUPS - 1),
        );
    }
    groups
}

/// A policy's `block`: `None` is the `[block]` lists; names are looked
/// up in `groups` (the `[[blocklist]]`s, bit `i + 1`) or `"default"` (bit 0).
pub(super) fn group_mask(
    c: &mut impl Checks,
    block: &Option<Vec<Spanned<String>>>,
    groups: &[BlocklistGroup],
) -> GroupMask {
    let Some(names) = block else {
        return GroupMask::DEFAULT;
    };
    let mut mask = 0u64;
    for n in names {
        let name = n.get_ref();
        let bit = if name == DEFAULT_GROUP {
            Some(0)
        } else {
            groups
                .iter()
                .take(MAX_GROUPS - 1)
                .position(|g| &g.name == name)
                .map(|i| i + 1)
        };
        match bit {
            Some(b) => mask |= 1 << b,
            None => {
                let mut known: Vec<&str> = vec![DEFAULT_GROUP];
                for g in groups {
                    if !known.contains(&g.name.as_str()) {
                        known.push(&g.name);
                    }
                }
                c.error(
                    n.span(),
                    format!(
                        "block: no [[blocklist]] named {name:?} (defined: {})",
                        known.join(", ")
                    ),
                );
            }
        }
    }
    GroupMask(mask)
}

#[cfg(test)]
mod tests {
    use crate::proxy::config::Config;
    use crate::proxy::listconfig::ListSource;
    use crate::proxy::policy::GroupMask;
    use std::path::Path;
    use std::time::Duration;

    fn parse(src: &str) -> Result<Config, String> {
        Config::parse(Path::new("/etc/vpndns/t.toml"), src).map_err(|e| e.to_string())
    }

    const GROUPS: &str = r#"
[block]
lists = ["ads.txt"]
cache_dir = "/var/db/vpndns/lists"
[[blocklist]]
name = "ads"
lists = ["https://lists.example.org/ads.txt", "more-ads.txt"]
refresh = "6h"
[[blocklist]]
name = "adult"
lists = ["http://10.0.0.9:8080/adult.txt"]
allow = ["adult-ok.txt"]
[[policy]]
source = ["10.1.0.0/24"]
forward = "source"
block = ["ads", "adult"]
[[policy]]
source = ["10.2.0.0/24"]
forward = "source"
block = []
[[policy]]
source = ["10.3.0.0/24"]
forward = "source"
[[policy]]
source = ["10.4.0.0/24"]
forward = "source"
block = ["default", "adult"]
"#;

    #[test]
    fn groups_urls_and_policy_choices() {
        let c = parse(GROUPS).unwrap();
        let g = &c.block.groups;
        assert_eq!((g[0].name.as_str(), g[1].name.as_str()), ("ads", "adult"));
        assert_eq!(
            g[0].lists[0].source,
            ListSource::Url("https://lists.example.org/ads.txt".into())
        );
        assert_eq!(
            g[0].lists[1].source,
            ListSource::File("/etc/vpndns/more-ads.txt".into())
        );
        assert_eq!(g[0].refresh, Duration::from_secs(6 * 3600));
        assert_eq!(g[1].refresh, Duration::from_secs(86_400), "the default");
        assert_eq!(g[1].allow.len(), 1);
        let masks: Vec<GroupMask> = c.policies.iter().map(|p| p.block).collect();
        assert_eq!(
            masks,
            [
                GroupMask(0b110),
                GroupMask::NONE,
                GroupMask::DEFAULT,
                GroupMask(0b101)
            ]
        );
        assert_eq!(c.block.fetch.cache_dir, Path::new("/var/db/vpndns/lists"));
        let d = parse("").unwrap();
        assert_eq!(d.block.fetch.cache_dir, Path::new("/etc/vpndns/list-cache"));
        assert_eq!(d.block.fetch.max_bytes, 64 << 20);
    }

    #[test]
    fn group_mistakes_are_each_reported() {
        let src = r#"
[block]
lists = ["ftp://x.example/l.txt", "https://"]
refresh = "30s"
max_list_bytes = 0
[[blocklist]]
name = "ads"
lists = ["a.txt"]
[[blocklist]]
name = "ads"
lists = ["b.txt"]
[[blocklist]]
name = "default"
[[policy]]
source = ["10.0.0.0/8"]
forward = "source"
block = ["ads", "adz"]
"#;
        let e = parse(src).unwrap_err();
        let want = [
            ":3:10: lists: ftp:// lists are not supported",
            ":3:35: lists: \"https://\" is not a URL",
            ":4:11: refresh: expected a duration of at least 1m",
            ":5:18: max_list_bytes: expected 1 to",
            ":10:8: blocklist \"ads\" is already defined at line 7",
            ":13:8: blocklist name \"default\" is reserved",
            ":13:8: blocklist \"default\": expected at least one entry in lists",
            ":17:17: block: no [[blocklist]] named \"adz\" (defined: default, ads)",
        ];
        for w in want {
            assert!(e.contains(w), "{w:?} not in:\n{e}");
        }
        assert_eq!(e.lines().count(), want.len(), "{e}");
    }

    #[test]
    fn group_masks_iterate_their_bits() {
        let bits: Vec<usize> = GroupMask(0b1010_0001).iter().collect();
        assert_eq!(bits, vec![0, 5, 7]);
        assert_eq!(GroupMask::NONE.iter().count(), 0);
        assert_eq!(GroupMask(1 << 63).iter().collect::<Vec<_>>(), vec![63]);
        assert!(GroupMask(4).has(2) && !GroupMask(4).has(1) && !GroupMask(4).has(64));
    }
}
