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
//! - [`completions`] writes both binaries' shell completion scripts.
pub mod completions;
pub mod deploy;
pub mod proxy;
