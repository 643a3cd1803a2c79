//! `[server]` (listen addresses, timeouts, workers, limits) and `[control]`
//! (the HTTP control API). May touch: nothing.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{Checker, Problem};
use crate::parse::parse_socket_addr;

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    pub listen: Vec<SocketAddr>,
    pub timeout: Duration,
    pub user: Option<String>,
    pub group: Option<String>,
    /// Port an identity-mode query is sent to on the client's address.
    pub identity_port: u16,
    /// UDP worker threads; 0 means one per core.
    pub workers: usize,
    /// Forwarded queries in flight per worker before new ones get SERVFAIL.
    pub max_inflight: usize,
    pub tcp_idle_timeout: Duration,
    pub tcp_max_clients: usize,
    /// TCP connections one client address may hold at once.
    pub tcp_max_per_client: usize,
    /// Queries a second per client address; 0: unlimited.
    pub client_rate: u32,
    /// Queries a client may send at once above its rate.
    pub client_burst: u32,
    /// Whether a client's EDNS Client Subnet option is removed before a
    /// query is forwarded (`ecs = "strip"`, the default) or passed on.
    pub strip_ecs: bool,
}

/// `[control]`: the HTTP control API and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlConfig {
    pub listen: SocketAddr,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    listen: Option<Vec<Spanned<String>>>,
    timeout: Option<Spanned<String>>,
    user: Option<String>,
    group: Option<String>,
    identity_port: Option<u16>,
    workers: Option<usize>,
    max_inflight: Option<Spanned<usize>>,
    tcp_idle_timeout: Option<Spanned<String>>,
    tcp_max_clients: Option<usize>,
    tcp_max_per_client: Option<usize>,
    client_rate: Option<u32>,
    client_burst: Option<u32>,
    ecs: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawControl {
    listen: Spanned<String>,
    #[serde(default)]
    allow_remote: bool,
}

pub(super) fn check_server(c: &mut Checker, raw: &RawServer) -> ServerConfig {
    let mut listen = Vec::new();
    match &raw.listen {
        None => listen.push(SocketAddr::from(([127, 0, 0, 1], 53))),
        Some(list) => {
            for s in list {
                match parse_socket_addr(s.get_ref(), 53) {
                    Some(a) if a.ip().is_unspecified() => c.error(
                        s.span(),
                        format!("listen: {a} is a wildcard address; listen on the addresses clients query, so answers leave from them"),
                    ),
                    Some(a) if listen.contains(&a) => c.error(s.span(), format!("listen: {a} is listed twice")),
                    Some(a) => listen.push(a),
                    None => c.error(
                        s.span(),
                        format!("listen: expected \"127.0.0.1:5353\" or \"[::1]:53\", found {:?}", s.get_ref()),
                    ),
                }
            }
            if list.is_empty() {
                c.problems.push(Problem::whole(
                    c.file,
                    "[server] listen: expected at least one address",
                ));
            }
        }
    }
    let max_inflight = match &raw.max_inflight {
        Some(m) if !(16..=60_000).contains(m.get_ref()) => {
            c.error(m.span(), "max_inflight: expected a number from 16 to 60000");
            4096
        }
        Some(m) => *m.get_ref(),
        None => 4096,
    };
    ServerConfig {
        listen,
        timeout: c.duration(&raw.timeout, "timeout", Duration::from_millis(1500)),
        user: raw.user.clone(),
        group: raw.group.clone(),
        identity_port: raw.identity_port.unwrap_or(53),
        workers: raw.workers.unwrap_or(0),
        max_inflight,
        tcp_idle_timeout: c.duration(
            &raw.tcp_idle_timeout,
            "tcp_idle_timeout",
            Duration::from_secs(10),
        ),
        tcp_max_clients: raw.tcp_max_clients.unwrap_or(256),
        tcp_max_per_client: raw.tcp_max_per_client.unwrap_or(16),
        client_rate: raw.client_rate.unwrap_or(0),
        client_burst: raw
            .client_burst
            .unwrap_or_else(|| raw.client_rate.unwrap_or(0).saturating_mul(2).max(1)),
        strip_ecs: match raw.ecs.as_ref().map(|e| (e.span(), e.get_ref().as_str())) {
            None | Some((_, "strip")) => true,
            Some((_, "pass")) => false,
            Some((span, other)) => {
                c.error(
                    span,
                    format!("ecs: expected \"strip\" or \"pass\", found {other:?}"),
                );
                true
            }
        },
    }
}

pub(super) fn check_control(c: &mut Checker, raw: Option<&RawControl>) -> Option<ControlConfig> {
    raw.and_then(|ctl| match parse_socket_addr(ctl.listen.get_ref(), 8053) {
        Some(a) if !a.ip().is_loopback() && !ctl.allow_remote => {
            c.error(ctl.listen.span(), format!("listen: {a} is not a loopback address; the control API can reload and change vpndns, so set allow_remote = true to mean it"));
            None
        }
        Some(listen) => Some(ControlConfig { listen }),
        None => {
            c.error(ctl.listen.span(), format!("listen: expected \"127.0.0.1:8053\", found {:?}", ctl.listen.get_ref()));
            None
        }
    })
}
