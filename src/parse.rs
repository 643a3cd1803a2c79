//! Values as the vpndns config and the vpnjail site file write them:
//! durations (`"1500ms"`, `"2s"`, `"24h"`), networks and socket addresses.
//! Pure: shared by `proxy::config` and `deploy::check`; touches nothing.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;

/// `"1500ms"`, `"1.5s"`, `"2s"`, `"1m"`, `"24h"`, `"7d"`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = s.split_at(split);
    let num: f64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "ms" => num / 1000.0,
        "s" => num,
        "m" => num * 60.0,
        "h" => num * 3600.0,
        "d" => num * 86400.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(secs).ok()
}

/// A network `10.0.0.0/8`, or an address meaning just itself. Host bits set
/// below the prefix are an error: they usually mean a typo.
pub fn parse_network(s: &str) -> Result<IpNet, String> {
    if let Ok(addr) = s.parse::<IpAddr>() {
        return Ok(IpNet::from(addr));
    }
    let net: IpNet = s.parse().map_err(|_| {
        format!("expected a network such as \"10.10.1.0/24\" or an address, found {s:?}")
    })?;
    if net.trunc() != net {
        return Err(format!(
            "{s} has bits set below the /{}; did you mean {}?",
            net.prefix_len(),
            net.trunc()
        ));
    }
    Ok(net)
}

/// An address with an optional port: `10.0.0.1`, `10.0.0.1:5353`, `[fd00::2]:53`, `fd00::2`.
pub fn parse_socket_addr(s: &str, default_port: u16) -> Option<SocketAddr> {
    s.parse::<SocketAddr>().ok().or_else(|| {
        s.parse::<IpAddr>()
            .ok()
            .map(|a| SocketAddr::new(a, default_port))
    })
}
