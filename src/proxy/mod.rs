//! The `vpndns` DNS proxy. A query flows one way through these modules:
//!
//! - [`wire`] and [`name`] parse the datagram (untrusted bytes, no allocation);
//! - [`engine`] decides, from the tables in [`policy`], [`statics`],
//!   [`domainset`] and [`blocklist`], built from [`config`];
//! - [`answer`] encodes a local answer, or [`upstream`] forwards it;
//! - [`framing`] splits a TCP stream into messages;
//! - [`udp`] and [`tcp`] are the listeners that run this per packet, and
//!   [`server`] binds them, drops privileges, reloads and shuts down.
pub mod answer;
pub mod blocklist;
pub mod check;
pub mod config;
pub mod domainset;
pub mod engine;
pub mod framing;
pub mod name;
pub mod policy;
pub mod querylog;
pub mod server;
pub mod statics;
pub mod tcp;
pub mod udp;
pub mod upstream;
pub mod wire;
