//! vpndns: DNS and Internet egress through several VPN connections from FreeBSD
//! jails (and Linux network namespaces).
//!
//! # Layout
//!
//! Two programs share this library; each binary under `src/bin/` only parses its
//! flags, sets up logging and calls in here. One line per module:
//!
//! - [`proxy`]: the `vpndns` DNS proxy (wire parsing, the decision, the UDP/TCP server);
//! - [`deploy`]: the `vpnjail` deployment tool (site model, renderers, executor);
//! - [`diag`]: the two file checkers' one `Problem` type, located and written one a line;
//! - [`parse`]: durations, networks and socket addresses as both files write them;
//! - [`completions`]: both binaries' shell completion scripts.
pub mod completions;
pub mod deploy;
pub mod diag;
pub mod parse;
pub mod proxy;
