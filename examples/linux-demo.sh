#!/usr/bin/env bash
# The seed's architecture running for real in Linux network namespaces:
#   bash examples/linux-demo.sh up     build, create everything, ask questions
#   bash examples/linux-demo.sh down   remove everything it made
# Needs root. Installs iproute2, nftables, strongSwan (charon-systemd,
# strongswan-swanctl, libcharon-extra-plugins) and dig when missing.
# Everything lives in namespaces named vj*-demo-* and under /run/vpnjail/demo;
# the machine's own interfaces, routes and nftables ruleset are not touched.
# See docs/linux.md.
set -euo pipefail
cd "$(dirname "$0")/.."
state=/run/vpnjail/demo
site=$state/site.toml
vpnjail=$PWD/target/debug/vpnjail
vpndns=$PWD/target/debug/vpndns

[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }

netns_exists() { [ -e "/run/netns/$1" ]; }

# A stand-in for a VPN provider behind vpn namespace $1: a veth pair "tun0"
# (10.8.N.2 in the vpn namespace) / "p0" (10.8.N.1 in the provider), and a
# vpndns there answering a few names with an address unique to the provider.
provider() {
    local vpn=$1 net=$2 answer=$3 p=vjp-demo-$1
    netns_exists "$p" || ip netns add "$p"
    ip -n "$p" link set lo up
    if ! ip -n "vj-demo-alpha-$vpn" link show dev tun0 >/dev/null 2>&1; then
        ip -n "vj-demo-alpha-$vpn" link add name tun0 type veth peer name p0 netns "$p"
        ip -n "vj-demo-alpha-$vpn" addr add "$net.2/30" dev tun0
        ip -n "$p" addr add "$net.1/30" dev p0
    fi
    ip -n "vj-demo-alpha-$vpn" link set tun0 up
    ip -n "$p" link set p0 up
    cat > "$state/provider-$vpn.toml" <<TOML
# Stand-in resolver of VPN provider "$vpn" (examples/linux-demo.sh).
[server]
listen = ["$net.1:53"]
timeout = "200ms"
[[forwarder]]
name = "nowhere"
address = "127.0.0.4:53"
[[policy]]
source = ["0.0.0.0/0"]
forward = "nowhere"
[static]
records = { "whoami.vpn" = "$answer", "www.example.com" = "$answer" }
[log]
queries = true
TOML
    ip netns exec "$p" start-stop-daemon --start --background --make-pidfile \
        --pidfile "$state/provider-$vpn.pid" --output "$state/provider-$vpn.log" \
        --exec "$vpndns" -- -c "$state/provider-$vpn.toml" run >/dev/null || true
}

ask() {
    local ns=$1 server=$2 name=$3
    printf '  %-22s asks %-12s for %-18s -> ' "${ns#vj-demo-}" "$server" "$name"
    ip netns exec "$ns" dig +time=3 +tries=1 @"$server" "$name" A |
        awk '/status:/ { gsub(",", ""); s = $6 } /^[^;]/ && NF { a = a " " $NF } END { print s a }'
}

up() {
    local pkgs=()
    command -v ip >/dev/null || pkgs+=(iproute2)
    command -v nft >/dev/null || pkgs+=(nftables)
    command -v dig >/dev/null || pkgs+=(bind9-dnsutils)
    [ -x /usr/sbin/charon-systemd ] || pkgs+=(charon-systemd libcharon-extra-plugins)
    [ -x /usr/sbin/swanctl ] || pkgs+=(strongswan-swanctl)
    if [ ${#pkgs[@]} -gt 0 ]; then
        echo "== installing ${pkgs[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
    fi
    echo "== building"
    cargo build --locked --bin vpndns --bin vpnjail 2>&1 | tail -n 1
    mkdir -p "$state/secrets"
    cp examples/secrets/alpha-beta.psk "$state/secrets/"
    sed "s|^vpndns_bin = .*|vpndns_bin = \"$vpndns\"|" examples/linux-site.toml >"$site"
    echo "== the machine: host namespaces alpha and beta joined by a WAN link (wan0)"
    for h in alpha beta; do
        netns_exists "vjh-demo-$h" || ip netns add "vjh-demo-$h"
    done
    if ! ip -n vjh-demo-alpha link show dev wan0 >/dev/null 2>&1; then
        ip -n vjh-demo-alpha link add name wan0 type veth peer name wan0 netns vjh-demo-beta
        ip -n vjh-demo-alpha addr add 10.99.0.1/24 dev wan0
        ip -n vjh-demo-beta addr add 10.99.0.2/24 dev wan0
    fi
    ip -n vjh-demo-alpha link set wan0 up
    ip -n vjh-demo-beta link set wan0 up
    echo "== vpnjail create --all"
    "$vpnjail" create --all --site "$site" | sed 's/^/  /'
    echo "== stand-in VPN providers behind vpnus and vpneu"
    provider vpnus 10.8.1 198.18.0.1
    provider vpneu 10.8.2 198.18.0.2
    sleep 1
    echo "== questions (us = 198.18.0.1, eu = 198.18.0.2)"
    ask vj-demo-alpha-desk 10.10.1.53 whoami.vpn   # desk's policy: vpnus
    ask vj-demo-alpha-desk 10.10.1.3 whoami.vpn    # vpneu's own address: step 5
    ask vj-demo-alpha-vpneu 10.10.1.53 whoami.vpn  # identity: back into vpneu
    ask vj-demo-alpha-desk 10.10.1.53 nas.wan       # static
    ask vj-demo-alpha-desk 10.10.1.53 x.ads.example.net  # blocked
    for _ in 1 2 3 4 5 6 7 8 9 10; do  # IKE may take a moment
        ip netns exec vj-demo-beta-laptop dig +short +time=1 +tries=1 @10.10.1.53 whoami.vpn |
            grep -q . && break
        sleep 1
    done
    ask vj-demo-beta-laptop 10.10.1.53 whoami.vpn  # across IPsec, policy: vpneu
    echo "== the IPsec tunnel, from beta's ipsec namespace"
    ip netns exec vj-demo-beta-ipsec_b env STRONGSWAN_CONF="/run/vpnjail/demo/beta/ipsec_b/strongswan.conf" \
        swanctl --list-sas 2>/dev/null | sed 's/^/  /'
    echo "== try more:  ip netns exec vj-demo-beta-laptop dig @10.10.1.53 www.example.com"
    echo "== remove:    bash examples/linux-demo.sh down"
}

down() {
    for vpn in vpnus vpneu; do
        if [ -f "$state/provider-$vpn.pid" ]; then
            start-stop-daemon --stop --pidfile "$state/provider-$vpn.pid" --remove-pidfile \
                --retry TERM/5/KILL/2 >/dev/null || true
        fi
    done
    if [ -f "$site" ]; then
        "$vpnjail" destroy --all --site "$site" | grep -v 'already so' | sed 's/^/  /' || true
    fi
    for ns in $(ip netns list | awk '{ print $1 }' | grep -E '^vj[a-z]*-demo-' || true); do
        ip netns del "$ns"
    done
    rm -rf "$state"
    rmdir /run/vpnjail 2>/dev/null || true
    echo "== removed"
}

case "${1:-}" in
up) up ;;
down) down ;;
*) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
