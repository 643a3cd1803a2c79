//! Allocates the inner addresses of `[[link]]`s that give none, from
//! `[site] link_network`: deterministic, so both ends of a link (and every
//! host rendering the same site file) agree. May touch: nothing (pure).

use ipnet::Ipv4Net;
use std::collections::HashSet;
use std::net::Ipv4Addr;

/// The first `wanted` pairs of host addresses of `net`, in address order,
/// skipping every address in `used` (explicit inner addresses, jails,
/// bridges). Link `k` (the k-th link without `inner`, in file order) gets
/// pair `k`: its first address for `hosts[0]`, the second for `hosts[1]`.
///
/// Returns how many pairs fit when `net` is too small.
pub fn allocate(
    net: Ipv4Net,
    used: &HashSet<Ipv4Addr>,
    wanted: usize,
) -> Result<Vec<[Ipv4Addr; 2]>, usize> {
    let mut free = net.hosts().filter(|a| !used.contains(a));
    let mut pairs = Vec::with_capacity(wanted);
    while pairs.len() < wanted {
        match (free.next(), free.next()) {
            (Some(a), Some(b)) => pairs.push([a, b]),
            _ => return Err(pairs.len()),
        }
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Ipv4Addr {
        s.parse().expect("address")
    }

    #[test]
    fn pairs_are_taken_in_order_and_skip_used_addresses() {
        let net: Ipv4Net = "172.31.255.0/24".parse().expect("net");
        let used: HashSet<Ipv4Addr> = [a("172.31.255.2"), a("172.31.255.5")].into();
        let got = allocate(net, &used, 3).expect("fits");
        assert_eq!(
            got,
            vec![
                [a("172.31.255.1"), a("172.31.255.3")],
                [a("172.31.255.4"), a("172.31.255.6")],
                [a("172.31.255.7"), a("172.31.255.8")],
            ]
        );
        // The same input gives the same answer (both ends agree).
        assert_eq!(allocate(net, &used, 3), Ok(got));
    }

    #[test]
    fn a_full_network_says_how_many_fit() {
        let net: Ipv4Net = "10.0.0.0/29".parse().expect("net"); // 6 host addresses
        assert_eq!(allocate(net, &HashSet::new(), 4), Err(3));
        let used: HashSet<Ipv4Addr> = [a("10.0.0.1")].into();
        assert_eq!(allocate(net, &used, 3), Err(2));
        assert_eq!(allocate(net, &HashSet::new(), 0), Ok(vec![]));
    }
}
