#!/usr/bin/env bash
# The seed's architecture running for real in Linux network namespaces:
#   bash examples/linux-demo.sh up     build, create everything, ask questions
#   bash examples/linux-demo.sh down   remove everything it made
# Needs root. Installs iproute2, nftables, strongSwan (charon-systemd,
# strongswan-swanctl, libcharon-extra-plugins), OpenVPN, openssl and dig when
# missing.
#
# The two hosts' external_if (wan0) are wired to an "internet" namespace;
# behind it sit two stand-in VPN providers, each an OpenVPN server (a
# throwaway PKI made here with openssl) that pushes redirect-gateway def1 and
# its own resolver as dhcp-option DNS. The vpn namespaces run OpenVPN from
# the providers' client files (openvpn = "...", no provider_dns): the site
# file is examples/linux-site.toml with those two keys swapped, written to
# the state directory.
#
# Everything lives in namespaces named vj*-$DEMO_TAG-* and under
# /run/vpnjail/$DEMO_TAG (DEMO_TAG defaults to "demo"); the machine's own
# interfaces, routes and nftables ruleset are not touched. With VPNJAIL and
# VPNDNS set to built binaries, nothing is built. See docs/linux.md.
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${DEMO_TAG:-demo}
[[ $tag =~ ^[a-z0-9]{1,12}$ ]] || { echo "DEMO_TAG: 1-12 of a-z0-9" >&2; exit 2; }
state=/run/vpnjail/$tag
site=$state/site.toml
inet=vji-$tag-net
vpnjail=${VPNJAIL:-$PWD/target/debug/vpnjail}
vpndns=${VPNDNS:-$PWD/target/debug/vpndns}

[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }

netns_exists() { [ -e "/run/netns/$1" ]; }

# A veth pair: $2 in namespace $1 with address $3, $5 in namespace $4 with $6.
wire() {
    if ! ip -n "$1" link show dev "$2" >/dev/null 2>&1; then
        ip -n "$1" link add name "$2" type veth peer name "$5" netns "$4"
        [ -z "$3" ] || ip -n "$1" addr add "$3" dev "$2"
        [ -z "$6" ] || ip -n "$4" addr add "$6" dev "$5"
    fi
    ip -n "$1" link set "$2" up
    ip -n "$4" link set "$5" up
}

# A throwaway PKI in $1 (P-256): a CA, a server and a client certificate.
# keyUsage is set on each: the client's `remote-cert-tls server` needs it.
pki() {
    local d=$1 name eku
    [ -f "$d/client.crt" ] && return
    mkdir -p "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$d/ca.key" -out "$d/ca.crt" -days 2 -subj "/CN=stand-in CA" \
        -addext basicConstraints=critical,CA:TRUE \
        -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
    for name in server client; do
        eku=serverAuth
        [ "$name" = client ] && eku=clientAuth
        printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyAgreement\nextendedKeyUsage=%s\n' \
            "$eku" >"$d/$name.ext"
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout "$d/$name.key" -out "$d/$name.csr" -subj "/CN=$name" 2>/dev/null
        openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
            -CAcreateserial -out "$d/$name.crt" -days 2 -extfile "$d/$name.ext" 2>/dev/null
    done
}

# Stand-in VPN provider $1 behind the internet namespace: its public address
# $3 (the internet side is $2, a /30), an OpenVPN server there handing out
# $4.0/24 and pushing its resolver $5, which answers a few names with $6.
provider() {
    local vpn=$1 gw=$2 public=$3 net=$4 dns=$5 answer=$6
    local p=vjp-$tag-$vpn d=$state/providers/$vpn
    netns_exists "$p" || ip netns add "$p"
    ip -n "$p" link set lo up
    wire "$inet" "$vpn" "$gw/30" "$p" up0 "$public/30"
    ip -n "$p" route replace default via "$gw"
    ip -n "$p" addr replace "$dns/32" dev lo
    pki "$d"
    cat >"$d/resolver.toml" <<TOML
# Stand-in resolver of VPN provider "$vpn" (examples/linux-demo.sh).
[server]
listen = ["$dns:53"]
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
        --pidfile "$d/resolver.pid" --output "$d/resolver.log" \
        --exec "$vpndns" -- -c "$d/resolver.toml" run >/dev/null || true
    cat >"$d/server.conf" <<CONF
dev tun
proto udp
local $public
port 1194
server $net.0 255.255.255.0
topology subnet
ca $d/ca.crt
cert $d/server.crt
key $d/server.key
dh none
push "redirect-gateway def1"
push "dhcp-option DNS $dns"
keepalive 2 10
verb 3
CONF
    if ! { [ -f "$d/openvpn.pid" ] && kill -0 "$(cat "$d/openvpn.pid")" 2>/dev/null; }; then
        ip netns exec "$p" openvpn --daemon "stand-in-$vpn" --writepid "$d/openvpn.pid" \
            --log "$d/openvpn.log" --config "$d/server.conf"
    fi
    # The client file the provider hands out (keys inline).
    {
        printf '# stand-in provider %s (examples/linux-demo.sh)\nclient\ndev tun\nproto udp\n' "$vpn"
        printf 'remote %s 1194\nnobind\nremote-cert-tls server\nverb 3\n' "$public"
        printf '<ca>\n%s\n</ca>\n' "$(cat "$d/ca.crt")"
        printf '<cert>\n%s\n</cert>\n' "$(cat "$d/client.crt")"
        printf '<key>\n%s\n</key>\n' "$(cat "$d/client.key")"
    } >"$state/providers/$vpn.ovpn"
}

ask() {
    local ns=$1 server=$2 name=$3
    printf '  %-22s asks %-12s for %-18s -> ' "${ns#vj-"$tag"-}" "$server" "$name"
    ip netns exec "$ns" dig +time=3 +tries=1 @"$server" "$name" A |
        awk '/status:/ { gsub(",", ""); s = $6 } /^[^;]/ && NF { a = a " " $NF } END { print s a }'
}

# Waits up to $1 seconds for `dig` in namespace $2 to get an answer from $3 for $4.
await() {
    local i
    for ((i = 0; i < $1; i++)); do
        ip netns exec "$2" dig +short +time=1 +tries=1 @"$3" "$4" | grep -q . && return
        sleep 1
    done
}

up() {
    local pkgs=()
    command -v ip >/dev/null || pkgs+=(iproute2)
    command -v nft >/dev/null || pkgs+=(nftables)
    command -v dig >/dev/null || pkgs+=(bind9-dnsutils)
    command -v openvpn >/dev/null || pkgs+=(openvpn)
    command -v openssl >/dev/null || pkgs+=(openssl)
    [ -x /usr/sbin/charon-systemd ] || pkgs+=(charon-systemd libcharon-extra-plugins)
    [ -x /usr/sbin/swanctl ] || pkgs+=(strongswan-swanctl)
    if [ ${#pkgs[@]} -gt 0 ]; then
        echo "== installing ${pkgs[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
    fi
    if [ -z "${VPNJAIL:-}" ]; then
        echo "== building"
        cargo build --locked --bin vpndns --bin vpnjail 2>&1 | tail -n 1
    fi
    umask 077 # the PKI, the client files and the state are root's alone
    mkdir -p "$state/secrets" "$state/providers"
    cp examples/secrets/alpha-beta.psk "$state/secrets/"
    # examples/linux-site.toml, with this demo's binaries and tag, and the
    # vpn jails running OpenVPN from the providers' files (no provider_dns).
    sed -e "s|demo|$tag|g" \
        -e "s|^vpndns_bin = .*|vpndns_bin = \"$vpndns\"\nvpnjail_bin = \"$vpnjail\"|" \
        -e 's|^provider_dns = "10.8.1.1"$|openvpn = "providers/vpnus.ovpn"|' \
        -e 's|^provider_dns = "10.8.2.1"$|openvpn = "providers/vpneu.ovpn"|' \
        examples/linux-site.toml >"$site"
    [ "$(grep -c '^openvpn = ' "$site")" = 2 ] ||
        { echo "examples/linux-site.toml changed: no provider_dns to swap" >&2; exit 1; }
    echo "== the Internet: hosts alpha (10.99.0.1) and beta (10.99.0.2) on its bridge"
    for ns in "$inet" "vjh-$tag-alpha" "vjh-$tag-beta"; do
        netns_exists "$ns" || ip netns add "$ns"
        ip -n "$ns" link set lo up
    done
    ip netns exec "$inet" sysctl -qw net.ipv4.ip_forward=1
    ip -n "$inet" link show dev wan >/dev/null 2>&1 || ip -n "$inet" link add name wan type bridge
    ip -n "$inet" addr replace 10.99.0.254/24 dev wan
    ip -n "$inet" link set wan up
    for h in alpha beta; do
        wire "vjh-$tag-$h" wan0 "" "$inet" "$h" ""
        ip -n "$inet" link set "$h" master wan
    done
    ip -n "vjh-$tag-alpha" addr replace 10.99.0.1/24 dev wan0
    ip -n "vjh-$tag-beta" addr replace 10.99.0.2/24 dev wan0
    for h in alpha beta; do
        ip -n "vjh-$tag-$h" route replace default via 10.99.0.254
    done
    # Counts what reaches the Internet from alpha's address: to an OpenVPN
    # endpoint ("tunnel") and anything else ("leak"; beta is on the bridge).
    ip netns exec "$inet" nft -f - <<NFT
table ip watch
delete table ip watch
table ip watch {
	chain pre {
		type filter hook prerouting priority raw; policy accept;
		ip saddr 10.99.0.1 ip daddr != 10.99.0.0/24 udp dport 1194 counter accept comment "tunnel"
		ip saddr 10.99.0.1 ip daddr != 10.99.0.0/24 counter comment "leak"
	}
}
NFT
    echo "== stand-in VPN providers: OpenVPN servers at 192.0.2.2 (us) and 192.0.2.6 (eu)"
    provider vpnus 192.0.2.1 192.0.2.2 10.8.1 198.51.100.1 198.18.0.1
    provider vpneu 192.0.2.5 192.0.2.6 10.8.2 198.51.100.2 198.18.0.2
    echo "== vpnjail create --all"
    "$vpnjail" create --all --site "$site" | sed 's/^/  /'
    echo "== waiting for the OpenVPN tunnels and their pushed DNS"
    await 20 "vj-$tag-alpha-desk" 10.10.1.53 whoami.vpn # desk is via vpnus
    await 20 "vj-$tag-alpha-desk" 10.10.1.3 whoami.vpn  # vpneu's step 5
    grep -h "DNS pushed by the provider" "$state"/alpha/vpn*/openvpn.log | sed 's/^/  /' || true
    echo "== questions (us = 198.18.0.1, eu = 198.18.0.2)"
    ask "vj-$tag-alpha-desk" 10.10.1.53 whoami.vpn   # desk's policy: vpnus
    ask "vj-$tag-alpha-desk" 10.10.1.3 whoami.vpn    # vpneu's own address: step 5
    ask "vj-$tag-alpha-vpneu" 10.10.1.53 whoami.vpn  # identity: back into vpneu
    ask "vj-$tag-alpha-desk" 10.10.1.53 nas.wan       # static
    ask "vj-$tag-alpha-desk" 10.10.1.53 x.ads.example.net  # blocked
    await 10 "vj-$tag-beta-laptop" 10.10.1.53 whoami.vpn  # IKE may take a moment
    ask "vj-$tag-beta-laptop" 10.10.1.53 whoami.vpn  # across IPsec, policy: vpneu
    echo "== the IPsec tunnel, from beta's ipsec namespace"
    ip netns exec "vj-$tag-beta-ipsec_b" env STRONGSWAN_CONF="$state/beta/ipsec_b/strongswan.conf" \
        swanctl --list-sas 2>/dev/null | sed 's/^/  /'
    cat <<TRY
== try more
  ip netns exec vj-$tag-alpha-desk dig @10.10.1.53 www.example.com   # via vpnus's pushed DNS
  ip netns exec vj-$tag-alpha-vpnus ip -d link show tun0              # the OpenVPN tunnel
  # the kill switch: kill vpnus's client, desk's queries go nowhere, and are counted
  kill \$(cat $state/alpha/vpnus/openvpn.pid)
  ip netns exec vj-$tag-alpha-desk dig +time=1 +tries=1 @10.10.1.53 whoami.vpn
  ip netns exec vj-$tag-alpha-vpnus nft list counters table inet vpnjail_killswitch
  ip netns exec $inet nft list table ip watch                        # "leak" stays put
  $vpnjail create --all --site $site                                 # the client again
== remove:    bash examples/linux-demo.sh down
TRY
}

# Stops the daemon of pid file $1, if it runs.
stop() {
    [ -f "$1" ] || return 0
    start-stop-daemon --stop --pidfile "$1" --remove-pidfile --retry TERM/5/KILL/2 >/dev/null || true
}

down() {
    local f ns
    for f in "$state"/providers/*/openvpn.pid "$state"/providers/*/resolver.pid; do
        stop "$f" &
    done
    wait
    if [ -f "$site" ]; then
        "$vpnjail" destroy --all --site "$site" | grep -v 'already so' | sed 's/^/  /' || true
    fi
    for ns in $(ip netns list | awk '{ print $1 }' | grep -E "^vj[a-z]*-$tag-" || true); do
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
