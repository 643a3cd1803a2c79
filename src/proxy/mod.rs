//! The `vpndns` DNS proxy. A query flows one way through these modules:
//!
//! - [`wire`] and [`name`] parse the datagram (untrusted bytes, no allocation);
//! - [`engine`] decides, from the tables in [`policy`], [`statics`],
//!   [`domainset`], [`blocklist`] and [`groups`] (named blocklist groups),
//!   built from [`config`] and [`listconfig`] (its blocklist keys);
//! - [`lists`] keeps URL lists fresh in the background, one download at a
//!   time by [`fetch`], and swaps rebuilt tables in whole;
//! - [`answer`] encodes a local answer, [`cache`] serves one fetched before
//!   through the same upstream, or [`upstream`] forwards it, choosing among
//!   forwarders by [`health`];
//! - [`pipeline`] is those steps for one query whatever its transport:
//!   answer, forward, relay, hedge, or give up with a stale answer;
//! - [`framing`] splits a TCP stream into messages, [`conntable`] bounds
//!   the TCP connections and evicts the longest idle;
//! - [`portpool`] keeps the UDP workers' upstream sockets on fresh random
//!   ports;
//! - [`udp`] and [`tcp`] are the listeners that run this per packet, and
//!   [`server`] binds them, drops privileges, reloads and shuts down;
//! - [`control`] is the HTTP control API, [`metrics`] the counters it exposes.
pub mod answer;
pub mod batch;
pub mod blocklist;
pub mod cache;
pub mod check;
pub mod config;
pub mod conntable;
pub mod control;
pub mod domainset;
pub mod engine;
pub mod fetch;
pub mod framing;
pub mod groups;
pub mod health;
pub mod listconfig;
pub mod lists;
pub mod metrics;
pub mod name;
pub mod pipeline;
pub mod policy;
pub mod portpool;
pub mod probe;
pub mod querylog;
pub mod ratelimit;
pub mod server;
pub mod state;
pub mod statics;
pub mod tcp;
pub mod udp;
pub mod upstream;
pub mod wire;
