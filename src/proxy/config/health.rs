//! A `[[forwarder]]`'s health settings (`probe`, `probe_interval`,
//! `max_failures`, `rise`, `servfail_is_failure`), as plain data; the live
//! state they drive is [`health`](crate::proxy::health)'s. May touch: nothing.

use std::time::Duration;

use crate::proxy::name::Name;

/// Health settings of one `[[forwarder]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthConfig {
    /// A name to ask (type A) every `probe_interval`; `None`: no probes.
    pub probe: Option<Name>,
    pub probe_interval: Duration,
    /// Consecutive failures that mark the forwarder down.
    pub max_failures: u32,
    /// Consecutive successes that bring it back up.
    pub rise: u32,
    /// Count an upstream SERVFAIL as a failure (and try the next forwarder).
    pub servfail_is_failure: bool,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            probe: None,
            probe_interval: Duration::from_secs(5),
            max_failures: 3,
            rise: 1,
            servfail_is_failure: false,
        }
    }
}
