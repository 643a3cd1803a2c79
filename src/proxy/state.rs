//! The state every UDP worker, TCP connection, probe and control request
//! reads ([`Shared`]: the engine and cache, swapped whole on reload), and the
//! [`Handle`] that reloads and rebuilds it. Below the listeners and the server
//! that bind them; may touch: the config file (on reload), nothing else.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use arc_swap::ArcSwap;
use tracing::{info, warn};

use super::cache::Cache;
use super::config::{Config, ConfigError};
use super::engine::{Engine, Exceptions};
use super::lists::{self, Refresher};
use super::metrics::Metrics;

/// State every worker and connection reads: the current engine and cache,
/// swapped whole on reload (readers never lock), and the counters.
pub struct Shared {
    pub engine: ArcSwap<Engine>,
    /// Replaced (emptied) only when `[cache]` changes.
    pub cache: ArcSwap<Cache>,
    pub metrics: Metrics,
    /// Run-time block exceptions; every engine points at this one.
    pub exceptions: Arc<ArcSwap<Exceptions>>,
    pub config_path: PathBuf,
    pub started: Instant,
    /// The URL lists' refresh thread and what it knows.
    pub lists: Refresher,
    /// Held while a new engine is built and swapped in, so a reload and a
    /// list refresh never overwrite each other's tables.
    pub(super) rebuilding: std::sync::Mutex<()>,
}

/// Reloads a running server's config.
#[derive(Clone)]
pub struct Handle {
    pub(super) shared: Arc<Shared>,
}

impl Handle {
    /// Reads the config file again and, if it is good, serves with it from
    /// the next query on. A bad config leaves the old one serving.
    pub fn reload(&self) -> Result<(), ConfigError> {
        let _one_at_a_time = self.lock();
        let built = Config::load(&self.shared.config_path).and_then(Engine::build);
        self.install(built)?;
        self.shared.lists.wake();
        Ok(())
    }

    /// Builds the tables again from the config now serving and the files it
    /// names (the cache dir's copies of URL lists included), and swaps them
    /// in; the forwarders carry on as they are ([`Engine::rebuild`]).
    pub fn rebuild(&self) -> Result<(), ConfigError> {
        let _one_at_a_time = self.lock();
        self.install(Engine::rebuild(&self.shared.engine.load()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        (self.shared.rebuilding.lock()).unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn install(&self, built: Result<Engine, ConfigError>) -> Result<(), ConfigError> {
        let mut engine = match built {
            Ok(e) => e,
            Err(e) => {
                self.shared
                    .metrics
                    .reload_failures
                    .fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
        };
        engine.exceptions = self.shared.exceptions.clone();
        let old = self.shared.engine.load();
        engine.adopt_health(&old);
        if engine.config.cache != *self.shared.cache.load().config() {
            info!("[cache] changed: starting with an empty cache");
            self.shared
                .cache
                .store(Arc::new(Cache::new(&engine.config.cache)));
        }
        if engine.config.control != old.config.control {
            warn!("[control] changes only on restart");
        }
        if engine.config.server.listen != old.config.server.listen
            || engine.config.server.workers != old.config.server.workers
        {
            warn!(
                "listen addresses and workers change only on restart; keeping {:?}",
                old.config.server.listen
            );
        }
        engine.log_summary();
        self.shared.engine.store(Arc::new(engine));
        self.shared.metrics.reloads.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// The shared state.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

impl lists::Tables for Handle {
    fn current(&self) -> lists::Current {
        let engine = self.shared.engine.load();
        lists::Current {
            fetch: engine.config.block.fetch.clone(),
            lists: lists::url_lists(&engine.groups),
        }
    }

    fn rebuild(&self) -> Result<(), String> {
        Handle::rebuild(self).map_err(|e| e.to_string())
    }

    fn refresh_failed(&self) {
        (self.shared.metrics.list_refresh_failures).fetch_add(1, Ordering::Relaxed);
    }

    fn refresher(&self) -> &Refresher {
        &self.shared.lists
    }
}
