//! Blocklist groups, built: one block set and one allow set per group, built
//! once from its lists and shared by every policy that names it (a policy
//! holds only a [`GroupMask`]), and the `[block] allow` exceptions every group
//! obeys. Reads the list files and the cached copies of URL lists; never the
//! network (downloads are the lists module's job).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::blocklist::{self, FileStats, ListError};
use super::domainset::{DomainSet, DomainSetBuilder};
use super::fetch;
use super::listconfig::{BlocklistGroup, DEFAULT_GROUP, GroupMask, ListRef, ListSource};
use super::name::Name;

/// What the groups are built from: the checked `[block]` and
/// `[[blocklist]]` keys.
pub struct Sources<'a> {
    /// `[block] lists`, `allow` and `refresh`: the `default` group.
    pub lists: &'a [ListRef],
    pub allow: &'a [ListRef],
    pub refresh: Duration,
    pub groups: &'a [BlocklistGroup],
    /// Where the copies of URL lists are.
    pub cache_dir: &'a Path,
}

/// A list that could not be loaded: where the config names it, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListProblem {
    pub at: (usize, usize),
    pub message: String,
}

/// One list as loaded.
#[derive(Debug, Clone)]
pub struct ListLoad {
    /// As written in the config.
    pub written: String,
    /// The URL of a downloaded list.
    pub url: Option<String>,
    /// The file read: the list itself, or the cached copy of a URL.
    pub path: PathBuf,
    /// An `allow` entry rather than a `lists` one.
    pub allow: bool,
    pub stats: FileStats,
    /// A URL list without a usable cached copy: empty until downloaded, and why.
    pub missing: Option<String>,
}

impl ListLoad {
    /// Entries it contributed, block and allow.
    pub fn entries(&self) -> usize {
        self.stats.blocked + self.stats.allowed
    }
}

/// One built group.
pub struct Group {
    pub name: Box<str>,
    /// How often its URL lists are downloaded again.
    pub refresh: Duration,
    pub block: DomainSet,
    /// Exceptions to this group's lists (its `allow` and `@@` lines).
    pub allow: DomainSet,
    /// By source index in `block`.
    pub lists: Vec<ListLoad>,
}

/// Where a blocked name was listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit<'g> {
    pub group: &'g str,
    pub list: &'g str,
}

/// Every group of a config; group 0 is `[block]`'s (named `default`).
pub struct Groups {
    pub groups: Vec<Group>,
    /// `[block] allow` and the `@@` lines of the `[block]` lists: exceptions
    /// for every group.
    pub allow: DomainSet,
}

impl Groups {
    /// Loads every group's lists. A missing or broken file is a problem; a
    /// URL list without a cached copy is not (it loads empty until fetched).
    pub fn build(block: &Sources<'_>, problems: &mut Vec<ListProblem>) -> Groups {
        let mut global = DomainSetBuilder::default();
        let mut groups = Vec::with_capacity(1 + block.groups.len());
        let mut load = Loader {
            cache_dir: block.cache_dir,
            problems,
        };
        // The [block] lists: their @@ lines and [block] allow are global.
        let mut set = DomainSetBuilder::default();
        let mut lists = Vec::new();
        for list in block.lists {
            let source = lists.len();
            lists.extend(load.one(list, source, false, &mut set, &mut global));
        }
        for list in block.allow {
            let source = lists.len();
            lists.extend(load.one(list, source, true, &mut global, &mut global_sink()));
        }
        groups.push(Group {
            name: DEFAULT_GROUP.into(),
            refresh: block.refresh,
            block: set.build(),
            allow: DomainSet::default(),
            lists,
        });
        for g in block.groups {
            let (mut set, mut allow) = (DomainSetBuilder::default(), DomainSetBuilder::default());
            let mut lists = Vec::new();
            for list in &g.lists {
                let source = lists.len();
                lists.extend(load.one(list, source, false, &mut set, &mut allow));
            }
            for list in &g.allow {
                let source = lists.len();
                lists.extend(load.one(list, source, true, &mut allow, &mut global_sink()));
            }
            groups.push(Group {
                name: g.name.as_str().into(),
                refresh: g.refresh,
                block: set.build(),
                allow: allow.build(),
                lists,
            });
        }
        Groups {
            groups,
            allow: global.build(),
        }
    }

    /// The first group in `mask` that lists `name` (or a domain above it)
    /// without excepting it. No allocation: a few probes per chosen group.
    #[inline]
    pub fn lookup(&self, mask: GroupMask, name: &Name) -> Option<Hit<'_>> {
        mask.iter().find_map(|i| {
            let g = self.groups.get(i)?;
            let m = g.block.lookup(name)?;
            if g.allow.lookup(name).is_some() {
                return None;
            }
            let list = g
                .lists
                .get(usize::from(m.source))
                .map_or("?", |l| &l.written);
            Some(Hit {
                group: &g.name,
                list,
            })
        })
    }

    /// Whether `name` is excepted for every group (`[block] allow`).
    pub fn allowed(&self, name: &Name) -> bool {
        self.allow.lookup(name).is_some()
    }

    /// Distinct blocked domains, summed over groups.
    pub fn blocked_domains(&self) -> usize {
        self.groups.iter().map(|g| g.block.len()).sum()
    }

    /// Allowed domains, the global ones and each group's.
    pub fn allowed_domains(&self) -> usize {
        self.allow.len() + self.groups.iter().map(|g| g.allow.len()).sum::<usize>()
    }

    /// Heap bytes of every set: independent of how many policies share them.
    pub fn heap_bytes(&self) -> usize {
        self.allow.heap_bytes()
            + (self.groups.iter())
                .map(|g| g.block.heap_bytes() + g.allow.heap_bytes())
                .sum::<usize>()
    }

    /// The names of the groups in `mask`, in order.
    pub fn names(&self, mask: GroupMask) -> Vec<&str> {
        mask.iter()
            .filter_map(|i| self.groups.get(i).map(|g| &*g.name))
            .collect()
    }
}

/// A builder for entries that go nowhere (an allow list's own `@@` lines
/// are already allow entries).
fn global_sink() -> DomainSetBuilder {
    DomainSetBuilder::default()
}

struct Loader<'a> {
    cache_dir: &'a Path,
    problems: &'a mut Vec<ListProblem>,
}

impl Loader<'_> {
    /// Loads one list into `into` (its `@@` lines into `allow`); an `allow`
    /// list's entries, in any format, all go to `into`.
    fn one(
        &mut self,
        list: &ListRef,
        source: usize,
        is_allow: bool,
        into: &mut DomainSetBuilder,
        allow: &mut DomainSetBuilder,
    ) -> Option<ListLoad> {
        let Ok(source) = u16::try_from(source) else {
            self.problem(list, "more than 65535 lists in one group");
            return None;
        };
        let (path, url) = match &list.source {
            ListSource::File(p) => (p.clone(), None),
            ListSource::Url(u) => (fetch::cache_path(self.cache_dir, u), Some(u.clone())),
        };
        let mut load = ListLoad {
            written: list.written.clone(),
            url,
            path,
            allow: is_allow,
            stats: FileStats::default(),
            missing: None,
        };
        if load.url.is_some() && !load.path.exists() {
            load.missing = Some("no copy downloaded yet".into());
            return Some(load);
        }
        match load_into(&load.path, source, is_allow, into, allow) {
            Ok(stats) => load.stats = stats,
            // A cached copy passed the checks when it was written; if it
            // is unreadable now, serve the rest and say so.
            Err(e) if load.url.is_some() => {
                tracing::warn!(
                    "list {}: cached copy {}: {e}",
                    list.written,
                    load.path.display()
                );
                load.missing = Some(format!("cached copy unreadable: {e}"));
            }
            Err(e) => self.problem(list, &format!("({}): {e}", load.path.display())),
        }
        Some(load)
    }

    fn problem(&mut self, list: &ListRef, why: &str) {
        self.problems.push(ListProblem {
            at: list.at,
            message: format!("{:?} {why}", list.written),
        });
    }
}

/// Streams one list file into the builders (see [`Loader::one`]).
pub fn load_into(
    path: &std::path::Path,
    source: u16,
    is_allow: bool,
    into: &mut DomainSetBuilder,
    allow: &mut DomainSetBuilder,
) -> Result<FileStats, ListError> {
    if is_allow {
        let mut ignored = DomainSetBuilder::default();
        blocklist::load_file(path, source, into, &mut ignored).map(|mut s| {
            s.allowed += s.blocked;
            s.blocked = 0;
            s
        })
    } else {
        blocklist::load_file(path, source, into, allow)
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use crate::proxy::config::Config;
    use crate::proxy::engine::{Decision, Engine};
    use crate::proxy::wire::query_for;

    fn engine(dir: &std::path::Path, src: &str) -> Engine {
        for (name, text) in [
            ("ads.txt", "ads.example\nshared.example\n"),
            (
                "adult.txt",
                "adult.example\nshared.example\n@@||ok.adult.example^\n",
            ),
            ("base.txt", "base.example\n"),
        ] {
            std::fs::write(dir.join(name), text).unwrap();
        }
        let path = dir.join("vpndns.toml");
        Engine::build(Config::parse(&path, src).unwrap()).unwrap()
    }

    fn outcome(e: &Engine, client: &str, name: &str) -> String {
        let q = query_for(name, "A").unwrap();
        match e.decide(client.parse::<IpAddr>().unwrap(), &q) {
            Decision::Blocked { group, list } => format!("{group}:{list}"),
            other => other.action().to_string(),
        }
    }

    const HEAD: &str = r#"
[block]
lists = ["base.txt"]
[[blocklist]]
name = "ads"
lists = ["ads.txt"]
[[blocklist]]
name = "adult"
lists = ["adult.txt"]
"#;

    #[test]
    fn each_policy_applies_its_groups() {
        let dir = tempfile::tempdir().unwrap();
        let src = format!(
            "{HEAD}[[policy]]\nsource = [\"10.1.0.0/16\"]\nforward = \"source\"\nblock = [\"ads\", \"adult\"]\n\
             [[policy]]\nsource = [\"10.2.0.0/16\"]\nforward = \"source\"\nblock = [\"adult\"]\n\
             [[policy]]\nsource = [\"10.3.0.0/16\"]\nforward = \"source\"\nblock = []\n\
             [[policy]]\nsource = [\"10.4.0.0/16\"]\nforward = \"source\"\n"
        );
        let e = engine(dir.path(), &src);
        assert_eq!(outcome(&e, "10.1.0.1", "x.ads.example"), "ads:ads.txt");
        assert_eq!(outcome(&e, "10.1.0.1", "adult.example"), "adult:adult.txt");
        assert_eq!(
            outcome(&e, "10.1.0.1", "shared.example"),
            "ads:ads.txt",
            "first group in order"
        );
        assert_eq!(
            outcome(&e, "10.1.0.1", "base.example"),
            "forwarded",
            "not in its groups"
        );
        assert_eq!(
            outcome(&e, "10.1.0.1", "ok.adult.example"),
            "forwarded",
            "the group's @@"
        );
        assert_eq!(outcome(&e, "10.2.0.1", "ads.example"), "forwarded");
        assert_eq!(outcome(&e, "10.2.0.1", "shared.example"), "adult:adult.txt");
        assert_eq!(
            outcome(&e, "10.3.0.1", "adult.example"),
            "forwarded",
            "block = []"
        );
        assert_eq!(outcome(&e, "10.4.0.1", "base.example"), "default:base.txt");
        assert_eq!(outcome(&e, "10.4.0.1", "ads.example"), "forwarded");
    }

    #[test]
    fn policies_share_the_sets_of_their_groups() {
        let dir = tempfile::tempdir().unwrap();
        let policies = |n: usize| {
            let mut s = String::from(HEAD);
            for i in 0..n {
                s.push_str(&format!(
                    "[[policy]]\nsource = [\"10.{}.{}.0/24\"]\nforward = \"source\"\nblock = [\"ads\", \"adult\"]\n",
                    i / 256,
                    i % 256
                ));
            }
            s
        };
        let one = engine(dir.path(), &policies(1));
        let many = engine(dir.path(), &policies(500));
        assert_eq!(
            many.groups.groups.len(),
            3,
            "one set per group, not per policy"
        );
        assert_eq!(one.groups.heap_bytes(), many.groups.heap_bytes());
        assert_eq!(outcome(&many, "10.1.243.9", "ads.example"), "ads:ads.txt");
    }
}
