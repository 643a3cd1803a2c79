//! The HTTP control API (`[control] listen`): status, the explanation of a
//! query, reload, run-time block exceptions, the cache, and metrics. JSON in
//! and out, served by axum; everything it changes goes through the same
//! [`Handle`] and shared state the DNS side reads.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::warn;

use super::engine::{Decision, Route};
use super::name::Name;
use super::state::{Handle, Shared};
use super::upstream::Targets;
use super::{check, lists};

/// Serves the API on `listener` until `shutdown` turns true.
pub async fn serve(listener: TcpListener, handle: Handle, mut shutdown: watch::Receiver<bool>) {
    let app = Router::new()
        .route("/status", get(status))
        .route("/policy", get(policy))
        .route("/reload", post(reload))
        .route("/lists/refresh", post(refresh_lists))
        .route("/block/exceptions", get(exceptions))
        .route(
            "/block/exceptions/{name}",
            post(add_exception).delete(remove_exception),
        )
        .route("/cache", get(cache).delete(flush_cache))
        .route("/cache/{name}", delete(remove_cached))
        .route("/metrics", get(metrics))
        .with_state(handle);
    let stop = async move {
        let _ = shutdown.changed().await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
    {
        warn!("control API: {e}");
    }
}

type Reply = (StatusCode, Json<Value>);

fn bad(status: StatusCode, message: impl Into<String>) -> Reply {
    (status, Json(json!({ "error": message.into() })))
}

fn ok(v: Value) -> Reply {
    (StatusCode::OK, Json(v))
}

fn shared(h: &Handle) -> &Arc<Shared> {
    h.shared()
}

fn name_param(name: &str) -> Result<Name, Reply> {
    match Name::from_text(name) {
        Ok(n) if !n.is_root() => Ok(n),
        _ => Err(bad(
            StatusCode::BAD_REQUEST,
            format!("{name:?} is not a domain name"),
        )),
    }
}

async fn status(State(h): State<Handle>) -> Reply {
    let s = shared(&h);
    let engine = s.engine.load();
    let cache = s.cache.load();
    let forwarders: Vec<Value> = engine
        .forwarders
        .iter()
        .map(|f| {
            json!({
                "name": f.name.as_ref(),
                "address": f.addr.to_string(),
                "state": if f.health.is_up() { "up" } else { "down" },
                "consecutive_failures": f.health.failures(),
                "queries": f.health.queries.load(std::sync::atomic::Ordering::Relaxed),
                "timeouts": f.health.timeouts.load(std::sync::atomic::Ordering::Relaxed),
                "probe": f.health_config.probe.as_ref().map(|n| n.to_string()),
            })
        })
        .collect();
    ok(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": s.started.elapsed().as_secs(),
        "config": s.config_path.display().to_string(),
        "forwarders": forwarders,
        "lists": {
            "blocked_domains": engine.report.blocked_domains,
            "allowed_domains": engine.report.allowed_domains,
            "static_names": engine.statics.len(),
            "exceptions": s.exceptions.load().names().count(),
        },
        "groups": engine.groups.groups.iter().map(|g| json!({
            "name": &*g.name,
            "blocked_domains": g.block.len(),
            "allowed_domains": g.allow.len(),
            "refresh_seconds": g.refresh.as_secs(),
        })).collect::<Vec<Value>>(),
        "blocklists": lists::status(&engine.groups, &engine.config.block.fetch.cache_dir, Some(&s.lists)),
        "cache": {
            "entries": cache.len(),
            "size": cache.config().size,
            "hits": cache.hits.load(std::sync::atomic::Ordering::Relaxed),
            "misses": cache.misses.load(std::sync::atomic::Ordering::Relaxed),
            "evictions": cache.evictions(),
        },
    }))
}

/// `GET /policy?client=ADDR&name=NAME&type=A`: what vpndns would do, and why.
async fn policy(State(h): State<Handle>, Query(params): Query<HashMap<String, String>>) -> Reply {
    let (Some(client), Some(name)) = (params.get("client"), params.get("name")) else {
        return bad(
            StatusCode::BAD_REQUEST,
            "expected ?client=ADDRESS&name=NAME[&type=A]",
        );
    };
    let Ok(client) = client.parse::<IpAddr>() else {
        return bad(
            StatusCode::BAD_REQUEST,
            format!("client: {client:?} is not an address"),
        );
    };
    let qtype = params.get("type").map_or("A", String::as_str);
    let q = match super::wire::query_for(name, qtype) {
        Ok(q) => q,
        Err(e) => return bad(StatusCode::BAD_REQUEST, e),
    };
    let s = shared(&h);
    let engine = s.engine.load();
    let decision = engine.decide(client, &q);
    let mut v = json!({
        "client": client.to_string(),
        "name": q.name.to_string(),
        "type": qtype.to_ascii_uppercase(),
        "action": decision.action(),
        "explanation": decision.to_string(),
    });
    match decision {
        Decision::Refused { net } => v["policy"] = json!(net.map(|n| n.to_string())),
        Decision::Blocked { group, list } => {
            v["group"] = json!(group);
            v["list"] = json!(list);
        }
        Decision::Forward { route, net, domain } => {
            v["policy"] = json!(net.to_string());
            v["domain_rule_line"] = json!(domain.map(|d| d.line));
            let targets = match route {
                Route::Identity(a) => Targets::Identity(a),
                Route::Forwarders(l) => Targets::by_health(l),
            };
            let cache = s.cache.load();
            let now = Instant::now();
            let order: Vec<Value> = (0..)
                .map_while(|n| targets.get(n).map(|a| (n, a)))
                .map(|(n, addr)| {
                    json!({
                        "name": targets.name(n),
                        "address": addr.to_string(),
                        "state": targets.forwarder(n).map_or("unknown", |f| if f.health.is_up() { "up" } else { "down" }),
                        "cached": cached(&cache, addr, &q, now),
                    })
                })
                .collect();
            v["try_in_order"] = json!(order);
            let c = &engine.config.cache;
            v["serve_stale"] = json!({
                "enabled": !c.serve_stale.is_zero() && c.size > 0,
                "window_secs": c.serve_stale.as_secs(),
                "stale_ttl": c.stale_ttl,
                "explanation": check::stale_note(c).trim_start_matches("; "),
            });
        }
        _ => {}
    }
    ok(v)
}

/// Whether `upstream` has an answer cached for `q`, as asked with RD by a
/// client with or without EDNS (DO clear), the two usual shapes.
fn cached(
    cache: &super::cache::Cache,
    upstream: std::net::SocketAddr,
    q: &super::wire::Query,
    now: Instant,
) -> bool {
    [
        None,
        Some(super::wire::Edns {
            udp_size: 1232,
            ..Default::default()
        }),
    ]
    .into_iter()
    .any(|edns| {
        let msg = super::wire::encode_query(0, &q.name, q.qtype, q.qclass);
        let q = super::wire::Query { edns, ..q.clone() };
        cache.serve(upstream, &msg, &q, usize::MAX, now, &mut Vec::new())
    })
}

async fn reload(State(h): State<Handle>) -> Reply {
    let handle = h.clone();
    match tokio::task::spawn_blocking(move || handle.reload()).await {
        Ok(Ok(())) => ok(json!({ "reloaded": true })),
        Ok(Err(e)) => bad(StatusCode::BAD_REQUEST, e.to_string()),
        Err(e) => bad(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `POST /lists/refresh`: downloads every URL list now, then the status of each.
async fn refresh_lists(State(h): State<Handle>) -> Reply {
    let s = shared(&h);
    if !s.lists.refresh_now().await {
        return bad(
            StatusCode::SERVICE_UNAVAILABLE,
            "the list refresher is not running",
        );
    }
    let engine = s.engine.load();
    let status = lists::status(
        &engine.groups,
        &engine.config.block.fetch.cache_dir,
        Some(&s.lists),
    );
    ok(json!({ "refreshed": true, "blocklists": status }))
}

async fn exceptions(State(h): State<Handle>) -> Reply {
    let names: Vec<String> = shared(&h)
        .exceptions
        .load()
        .names()
        .map(String::from)
        .collect();
    ok(json!({ "exceptions": names }))
}

async fn add_exception(State(h): State<Handle>, Path(name): Path<String>) -> Reply {
    let name = match name_param(&name) {
        Ok(n) => n,
        Err(r) => return r,
    };
    shared(&h).exceptions.rcu(|e| e.with(&name));
    ok(json!({ "added": name.to_string() }))
}

async fn remove_exception(State(h): State<Handle>, Path(name): Path<String>) -> Reply {
    let name = match name_param(&name) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let mut found = false;
    shared(&h).exceptions.rcu(|e| {
        let (rest, was) = e.without(&name);
        found = was;
        rest
    });
    if found {
        ok(json!({ "removed": name.to_string() }))
    } else {
        bad(StatusCode::NOT_FOUND, format!("{name} is not an exception"))
    }
}

async fn cache(State(h): State<Handle>, Query(params): Query<HashMap<String, String>>) -> Reply {
    let name = match params.get("name").map(|n| name_param(n)).transpose() {
        Ok(n) => n,
        Err(r) => return r,
    };
    let cache = shared(&h).cache.load();
    let entries = cache.list(name.as_ref(), 1000, Instant::now());
    ok(json!({ "count": cache.len(), "entries": entries }))
}

async fn flush_cache(State(h): State<Handle>) -> Reply {
    let cache = shared(&h).cache.load();
    let n = cache.len();
    cache.flush();
    ok(json!({ "flushed": n }))
}

async fn remove_cached(State(h): State<Handle>, Path(name): Path<String>) -> Reply {
    let name = match name_param(&name) {
        Ok(n) => n,
        Err(r) => return r,
    };
    ok(json!({ "removed": shared(&h).cache.load().remove_name(&name) }))
}

async fn metrics(State(h): State<Handle>) -> Response {
    let s = shared(&h);
    match s.metrics.encode(&s.engine.load(), &s.cache.load()) {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => bad(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
