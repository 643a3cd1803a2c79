//! vpndns: DNS and Internet egress through several VPN connections from FreeBSD
//! jails (and Linux network namespaces).
//!
//! # Layout
//!
//! Two programs share this library; each binary under `src/bin/` only parses its
//! flags, sets up logging and calls in here.
//!
//! - [`proxy`] is the `vpndns` DNS proxy: wire parsing, the policy decision and
//!   the UDP/TCP server that acts on it.
//! - [`deploy`] is the `vpnjail` deployment tool: the site model, the renderers
//!   and the command executor.
//! - [`diag`] and [`parse`] are shared by the two file checkers (the vpndns
//!   config, the site file): locating a problem and writing problems one a
//!   line; durations, networks and socket addresses as both files write them.
//! - [`completions`] writes both binaries' shell completion scripts.
pub mod completions;
pub mod deploy;
pub mod diag;
pub mod parse;
pub mod proxy;
