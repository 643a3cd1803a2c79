//! Keeps URL lists fresh: one background thread downloads each list when its
//! group's `refresh` is due, or at once when asked (`POST /lists/refresh`),
//! one at a time through [`fetch`]; when a copy changed it asks the server
//! to rebuild its tables from the cache dir, swapped in whole like a reload.
//! Also the per-list status that `/status` and `vpndns check` show.
//! Touches the network and the cache dir only through [`fetch`].

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use serde::Serialize;
use tracing::{info, warn};

use super::fetch::{self, Fetched, Meta, unix_now};
use super::groups::Groups;
use super::listconfig::FetchConfig;

/// After a failed download, the next try comes this soon (or at the
/// group's `refresh`, if sooner).
pub const RETRY: Duration = Duration::from_secs(300);

/// What the refresher needs from the server: its current tables, a way to
/// rebuild them from the files, and the failure counter.
pub trait Tables: Send + 'static {
    /// The URL lists of the tables now serving, and how to fetch them.
    fn current(&self) -> Current;
    /// Rebuilds the tables from the current config and files, and swaps them in.
    fn rebuild(&self) -> Result<(), String>;
    /// Counts a refresh that kept the last good copy.
    fn refresh_failed(&self);
    /// The refresher whose thread this is.
    fn refresher(&self) -> &Refresher;
}

enum Msg {
    /// Refresh every URL list now, then answer.
    Now(tokio::sync::oneshot::Sender<()>),
    /// The tables changed (a reload): look again at what is due.
    Wake,
    Stop,
}

/// The refresh thread's mailbox and what it knows of each URL.
#[derive(Default)]
pub struct Refresher {
    tx: Mutex<Option<mpsc::Sender<Msg>>>,
    /// Per URL, the meta last written beside its copy.
    metas: Mutex<HashMap<String, Meta>>,
}

impl Refresher {
    /// Starts the refresh thread over `tables`.
    pub fn start<T: Tables>(tables: T) -> std::io::Result<()> {
        let (tx, rx) = mpsc::channel();
        *lock(&tables.refresher().tx) = Some(tx);
        std::thread::Builder::new()
            .name("vpndns-lists".into())
            .spawn(move || run(&tables, &rx))?;
        Ok(())
    }

    /// Asks the thread to end (it finishes a download under way first).
    pub fn stop(&self) {
        if let Some(tx) = lock(&self.tx).take() {
            let _ = tx.send(Msg::Stop);
        }
    }

    /// Tells the thread the config changed, so new lists are fetched at once.
    pub fn wake(&self) {
        if let Some(tx) = lock(&self.tx).as_ref() {
            let _ = tx.send(Msg::Wake);
        }
    }

    /// Refreshes every URL list now; false if the thread is not running.
    pub async fn refresh_now(&self) -> bool {
        let (reply, done) = tokio::sync::oneshot::channel();
        let sent = lock(&self.tx)
            .as_ref()
            .is_some_and(|tx| tx.send(Msg::Now(reply)).is_ok());
        sent && done.await.is_ok()
    }

    fn meta(&self, dir: &std::path::Path, url: &str) -> Meta {
        lock(&self.metas)
            .get(url)
            .cloned()
            .unwrap_or_else(|| Meta::load(dir, url))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What the tables now serving ask of the refresher.
pub struct Current {
    pub fetch: FetchConfig,
    pub lists: Vec<Due>,
}

/// A URL list as the refresher sees it: the shortest `refresh` of the
/// groups naming it, and the entries of the copy serving now.
pub struct Due {
    url: String,
    refresh: Duration,
    entries: usize,
}

/// The distinct URL lists of `groups`.
pub fn url_lists(groups: &Groups) -> Vec<Due> {
    let mut out: Vec<Due> = Vec::new();
    for g in &groups.groups {
        for l in &g.lists {
            let Some(url) = &l.url else { continue };
            match out.iter_mut().find(|d| &d.url == url) {
                Some(d) => d.refresh = d.refresh.min(g.refresh),
                None => out.push(Due {
                    url: url.clone(),
                    refresh: g.refresh,
                    entries: l.entries(),
                }),
            }
        }
    }
    out
}

/// When `meta`'s list is next due, in Unix seconds: `refresh` after a
/// success, [`RETRY`] (at most `refresh`) after a failure, now if never tried.
pub fn next_due(meta: &Meta, refresh: Duration, has_copy: bool) -> u64 {
    let retry = RETRY.min(refresh).as_secs();
    match (&meta.last_failure, meta.last_success) {
        (_, _) if !has_copy && meta.last_attempt().is_none() => 0,
        (Some((failed, _)), ok) if ok.is_none_or(|s| *failed >= s) => failed + retry,
        (_, Some(ok)) => ok + refresh.as_secs(),
        _ => 0,
    }
}

/// Which lists a round downloads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    /// Those due by their history.
    Due,
    /// Those due, and those without a copy whatever their history: at
    /// start and after a reload, so a fixed config is tried at once.
    DueOrMissing,
    /// Every one (`POST /lists/refresh`).
    All,
}

fn run<T: Tables>(tables: &T, rx: &mpsc::Receiver<Msg>) {
    round(tables, Which::DueOrMissing);
    loop {
        let current = tables.current();
        let dir = &current.fetch.cache_dir;
        let now = unix_now();
        let soonest = (current.lists.iter())
            .map(|d| {
                let has_copy = fetch::cache_path(dir, &d.url).exists();
                next_due(&tables.refresher().meta(dir, &d.url), d.refresh, has_copy)
            })
            .min();
        // With nothing to fetch, still wake now and then: a reload may add lists.
        let wait = soonest.map_or(60, |t| t.saturating_sub(now).min(60));
        let (which, reply) = match rx.recv_timeout(Duration::from_secs(wait)) {
            Ok(Msg::Now(reply)) => (Which::All, Some(reply)),
            Ok(Msg::Wake) => (Which::DueOrMissing, None),
            Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => (Which::Due, None),
        };
        round(tables, which);
        if let Some(reply) = reply {
            let _ = reply.send(());
        }
    }
}

/// Downloads the URL lists `which` picks, then rebuilds the tables if any
/// copy changed.
fn round<T: Tables>(tables: &T, which: Which) {
    let Current {
        fetch: config,
        lists,
    } = tables.current();
    let config = &config;
    let refresher = tables.refresher();
    let now = unix_now();
    let due: Vec<Due> = (lists.into_iter())
        .filter(|d| {
            let has_copy = fetch::cache_path(&config.cache_dir, &d.url).exists();
            which == Which::All
                || (which == Which::DueOrMissing && !has_copy)
                || next_due(
                    &refresher.meta(&config.cache_dir, &d.url),
                    d.refresh,
                    has_copy,
                ) <= now
        })
        .collect();
    if due.is_empty() {
        return;
    }
    let agent = fetch::agent(config);
    let mut changed = false;
    for d in due {
        let mut meta = refresher.meta(&config.cache_dir, &d.url);
        let result = match &agent {
            Ok(agent) => {
                fetch::refresh(agent, config, &mut meta, d.entries).map_err(|e| e.to_string())
            }
            Err(e) => Err(e.clone()),
        };
        let now = unix_now();
        match result {
            Ok(Fetched::NotModified) => {
                info!("list {}: not modified", d.url);
                meta.last_success = Some(now);
            }
            Ok(Fetched::Updated(stats)) => {
                info!(
                    "list {}: downloaded, {} block, {} allow entries, {} lines skipped",
                    d.url, stats.blocked, stats.allowed, stats.skipped
                );
                meta.last_success = Some(now);
                meta.entries = Some(stats.blocked + stats.allowed);
                changed = true;
            }
            Err(why) => {
                let kept = if fetch::cache_path(&config.cache_dir, &d.url).exists() {
                    "keeping the last good copy"
                } else {
                    "no copy yet, the list is empty"
                };
                warn!("list {}: refresh failed, {kept}: {why}", d.url);
                meta.last_failure = Some((now, why));
                tables.refresh_failed();
            }
        }
        if let Err(e) = meta.store(&config.cache_dir) {
            warn!(
                "list {}: cannot write its meta in {}: {e}",
                d.url,
                config.cache_dir.display()
            );
        }
        lock(&refresher.metas).insert(d.url, meta);
    }
    if changed && let Err(e) = tables.rebuild() {
        warn!(
            "lists changed, but the tables were not rebuilt; still serving the previous ones:\n{e}"
        );
    }
}

/// One list's status, for `/status` and `vpndns check`.
#[derive(Debug, Clone, Serialize)]
pub struct ListStatus {
    pub group: String,
    /// As written in the config: a path or a URL.
    pub source: String,
    /// `"file"` or `"url"`.
    pub kind: &'static str,
    /// `"block"` or `"allow"`.
    pub role: &'static str,
    pub entries: usize,
    /// Why a URL list serves nothing (no copy yet).
    pub empty_because: Option<String>,
    pub last_success: Option<String>,
    pub last_failure: Option<String>,
    pub failure: Option<String>,
    pub next_refresh: Option<String>,
}

/// The status of every list of `groups`; URL lists' history comes from the
/// running refresher, or (for `check`) from the cache dir `dir`.
pub fn status(groups: &Groups, dir: &Path, live: Option<&Refresher>) -> Vec<ListStatus> {
    let mut out = Vec::new();
    for g in &groups.groups {
        for l in &g.lists {
            let mut s = ListStatus {
                group: g.name.to_string(),
                source: l.written.clone(),
                kind: if l.url.is_some() { "url" } else { "file" },
                role: if l.allow { "allow" } else { "block" },
                entries: l.entries(),
                empty_because: l.missing.clone(),
                last_success: None,
                last_failure: None,
                failure: None,
                next_refresh: None,
            };
            if let Some(url) = &l.url {
                let meta = live.map_or_else(|| Meta::load(dir, url), |r| r.meta(dir, url));
                s.last_success = meta.last_success.map(utc);
                s.last_failure = meta.last_failure.as_ref().map(|f| utc(f.0));
                s.failure = meta.last_failure.as_ref().map(|f| f.1.clone());
                let due = next_due(&meta, g.refresh, l.missing.is_none());
                s.next_refresh = Some(if due == 0 { "now".into() } else { utc(due) });
            }
            out.push(s);
        }
    }
    out
}

/// Unix seconds as `2026-12-02T09:30:00Z`.
pub fn utc(secs: u64) -> String {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_796_203_845), "2026-12-02T09:30:45Z");
    }

    #[test]
    fn lists_are_due_by_their_history() {
        let day = Duration::from_secs(86_400);
        let mut m = Meta::default();
        assert_eq!(next_due(&m, day, false), 0, "never tried, no copy: now");
        m.last_success = Some(1000);
        assert_eq!(next_due(&m, day, true), 1000 + 86_400);
        m.last_failure = Some((2000, "HTTP status 500".into()));
        assert_eq!(
            next_due(&m, day, true),
            2000 + 300,
            "a failure retries soon"
        );
        assert_eq!(
            next_due(&m, Duration::from_secs(60), true),
            2060,
            "but never later than refresh"
        );
        m.last_success = Some(3000);
        assert_eq!(
            next_due(&m, day, true),
            3000 + 86_400,
            "success after the failure"
        );
        let copy_without_meta = Meta::default();
        assert_eq!(next_due(&copy_without_meta, day, true), 0);
    }
}
