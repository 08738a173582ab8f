#!/usr/bin/env bash
# Reachability across home NATs, in a lab of network namespaces (needs root,
# iproute2 and nftables; `.ci/run` installs them). Two people behind two
# home routers and one public Kith node run with --relay that both bootstrap
# from:
#   pub  198.51.100.10   the public relay node
#   h1   192.168.1.2     behind router r1 (public 198.51.100.20)
#   h2   192.168.2.2     behind router r2 (public 198.51.100.30)
# Round 1: cone NATs (nftables masquerade keeps the source port): friendship
# by ticket, edits both ways, a linked device across the NATs, and the
# connection turns direct (hole punching). Round 2: symmetric NATs
# (`masquerade random`): the same works through the relay. Round 3 (churn):
# with two relays, the first one dies and the home node reserves on the
# others. Prints timings for docs/performance.md. (Two more public hosts,
# 198.51.100.40 and .50, serve as extra relays in that round.)
#
# Usage: tests/natlab/reachability.sh [path/to/kith]   (default target/release/kith)
set -u
KITH=${1:-$PWD/target/release/kith}
[ -x "$KITH" ] || { echo "FAIL: no kith binary at $KITH"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "FAIL: the NAT lab needs root"; exit 1; }
command -v nft >/dev/null || { echo "FAIL: nft missing (apt-get install nftables)"; exit 1; }
SCRATCH=$(mktemp -d -t kithnat.XXXXXX)
LAB=kn$$
PIDS=()
fail() { echo "FAIL: $*"; exit 1; }
ns() { local n=$1; shift; ip netns exec "$LAB-$n" "$@"; }
lab_down() { for n in wan pub pub2 pub3 r1 r2 h1 h2; do ip netns del "$LAB-$n" 2>/dev/null; done; }
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
  sleep 0.3
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null; done
  lab_down
  [ -n "${KEEP:-}" ] || rm -rf "$SCRATCH"
}
trap cleanup EXIT

lab_up() { # [random]
  local mode=${1:-} i=0 n k
  for n in wan pub pub2 pub3 r1 r2 h1 h2; do ip netns add "$LAB-$n" || fail "ip netns add"; ns $n ip link set lo up; done
  ns wan ip link add br0 type bridge; ns wan ip link set br0 up
  for n in pub r1 r2 pub2 pub3; do
    i=$((i+1))
    ip link add "$LAB-w$i" netns "$LAB-wan" type veth peer name eth0 netns "$LAB-$n"
    ns wan ip link set "$LAB-w$i" master br0 up
    ns $n ip addr add "198.51.100.$((i*10))/24" dev eth0; ns $n ip link set eth0 up
  done
  for k in 1 2; do
    ip link add lan0 netns "$LAB-r$k" type veth peer name eth0 netns "$LAB-h$k"
    ns r$k ip addr add "192.168.$k.1/24" dev lan0; ns r$k ip link set lan0 up
    ns h$k ip addr add "192.168.$k.2/24" dev eth0; ns h$k ip link set eth0 up
    ns h$k ip route add default via "192.168.$k.1"
    ns r$k sysctl -qw net.ipv4.ip_forward=1
    ns r$k nft -f - <<NFT || fail "nft rules"
table ip nat {
  chain postrouting { type nat hook postrouting priority 100; oifname "eth0" masquerade $mode; }
}
table ip filter {
  chain forwarding {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    iifname "lan0" oifname "eth0" accept
  }
  chain incoming { type filter hook input priority 0; iifname "eth0" ct state new drop; }
}
NFT
  done
}

kn() { local n=$1 s=$2; shift 2; ns "$s" env KITH_HOME="$SCRATCH/$n" "$KITH" "$@"; }
start_in() { # NODE NS DAEMON-ARGS...
  local n=$1 s=$2; shift 2
  mkdir -p "$SCRATCH/$n"
  [ -e "$SCRATCH/$n/.inited" ] || { kn "$n" "$s" init --name "$n" >/dev/null || fail "init $n"; touch "$SCRATCH/$n/.inited"; }
  ip netns exec "$LAB-$s" env KITH_HOME="$SCRATCH/$n" RUST_LOG=${RUST_LOG:-info,kith_node=debug} "$KITH" daemon --no-mdns "$@" >>"$SCRATCH/$n.log" 2>&1 &
  PIDS+=($!); eval "PID_$n=$!"
  for _ in $(seq 1 150); do [ -s "$SCRATCH/$n/daemon.json" ] && kn "$n" "$s" status --json >/dev/null 2>&1 && return 0; sleep 0.1; done
  tail -5 "$SCRATCH/$n.log"; fail "daemon $n not ready"
}
jget() { python3 -c 'import json,sys;d=json.load(sys.stdin);exec("print("+sys.argv[1]+")")' "$1"; }
field() { kn "$1" "$2" profile show "$3" --json 2>/dev/null | jget "d['fields'].get('$4',{}).get('value','')"; }
has() { [ "$(field "$1" "$2" "$3" "$4")" = "$5" ]; }
is_friend() { kn "$1" "$2" friend list --json | grep -q "$3"; }
via_of() {
  kn "$1" "$2" status --json | python3 -c '
import json,sys
d=json.load(sys.stdin); v=[p.get("via","") for p in d["peers"] if p.get("account")==sys.argv[1]]
print("direct" if "direct" in v else (v[0] if v else ""))' "$3"
}
is_via() { [ "$(via_of "$1" "$2" "$3")" = "$4" ]; }
reach_is() { [ "$(kn "$1" "$2" status --json | jget 'd.get("reachability","")')" = "$3" ]; }
relays() { kn "$1" "$2" status --json | jget 'len(d.get("relays",[]))'; }
wait_for() { local t=$1; shift; local end=$((SECONDS + t)); until "$@" >/dev/null 2>&1; do [ $SECONDS -ge $end ] && return 1; sleep 0.1; done; }
now_ms() { date +%s%3N; }

round() { # MODE EXPECTED-VIA TAG
  local mode=$1 want=$2 tag=$3 rdev boot A B t t0 t1 ma mb
  lab_up $mode
  start_in r$tag pub --listen /ip4/198.51.100.10/tcp/4001 --listen /ip4/198.51.100.10/udp/4001/quic-v1 --relay
  rdev=$(kn r$tag pub id --json | jget 'd["device"]')
  boot=/ip4/198.51.100.10/tcp/4001/p2p/$rdev
  start_in a$tag h1 --listen /ip4/0.0.0.0/tcp/0 --listen /ip4/0.0.0.0/udp/0/quic-v1 --bootstrap "$boot"
  start_in b$tag h2 --listen /ip4/0.0.0.0/tcp/0 --listen /ip4/0.0.0.0/udp/0/quic-v1 --bootstrap "$boot"
  A=$(kn a$tag h1 id --json | jget 'd["account"]'); B=$(kn b$tag h2 id --json | jget 'd["account"]')
  wait_for 30 reach_is a$tag h1 private || fail "[$mode] a home node does not report reachability private"
  wait_for 30 reach_is r$tag pub public || fail "[$mode] the relay does not report reachability public"
  wait_for 30 sh -c "[ \$(KITH_HOME=$SCRATCH/a$tag ip netns exec $LAB-h1 $KITH status --json | python3 -c 'import json,sys;print(len(json.load(sys.stdin)[\"relays\"]))') -ge 1 ]" \
    || fail "[$mode] a home node holds no relay reservation"
  t=$(kn a$tag h1 friend invite --json | jget 'd["ticket"]')
  t0=$(now_ms)
  kn b$tag h2 friend add "$t" >/dev/null 2>"$SCRATCH/add.err" || fail "[$mode] friend add across NATs: $(cat "$SCRATCH/add.err")"
  wait_for 30 is_friend a$tag h1 "$B" || fail "[$mode] A never saw B as a friend"
  wait_for 30 is_friend b$tag h2 "$A" || fail "[$mode] B never saw A as a friend"
  t1=$(now_ms); echo "[$mode] friend add to friendship: $((t1 - t0)) ms"
  wait_for 45 is_via a$tag h1 "$B" "$want" || fail "[$mode] A reaches B via '$(via_of a$tag h1 "$B")', expected $want"
  ma="a-$mode-$RANDOM"; t0=$(now_ms); kn a$tag h1 profile set motto "$ma" >/dev/null
  wait_for 30 has b$tag h2 "$A" motto "$ma" || fail "[$mode] A's edit never reached B"
  t1=$(now_ms); echo "[$mode] edit to arrival ($want): $((t1 - t0)) ms"
  mb="b-$mode-$RANDOM"; kn b$tag h2 profile set motto "$mb" --visibility friends >/dev/null
  wait_for 30 has a$tag h1 "$B" motto "$mb" || fail "[$mode] B's edit never reached A"
  # A friend request by account id alone: C finds A through the DHT (A's
  # record carries its relayed address) from behind the other NAT.
  start_in c$tag h2 --listen /ip4/0.0.0.0/tcp/0 --listen /ip4/0.0.0.0/udp/0/quic-v1 --bootstrap "$boot"
  local C; C=$(kn c$tag h2 id --json | jget 'd["account"]')
  local asked=0 t_req; t_req=$(now_ms)
  # The DHT may not hold A's record at once: ask again (at most every 5 s).
  for _ in $(seq 1 6); do
    kn c$tag h2 friend add "$A" --message hi >/dev/null 2>&1
    wait_for 5 sh -c "KITH_HOME=$SCRATCH/a$tag ip netns exec $LAB-h1 $KITH friend requests --json | grep -q $C" && { asked=1; break; }
  done
  if [ $asked != 1 ]; then
    echo "C's status: $(kn c$tag h2 status --json)"; echo "C's requests: $(kn c$tag h2 friend requests --json)"
    for n in c$tag a$tag r$tag; do echo "--- $n's log"; grep -v "libp2p\|kademlia" "$SCRATCH/$n.log" | tail -25 | cut -c1-300; done
    fail "[$mode] a request by account id never reached A across the NATs"
  fi
  echo "[$mode] request by account id reached A through the DHT in $(( $(now_ms) - t_req )) ms"
  kn a$tag h1 friend accept "$C" >/dev/null || fail "[$mode] accept"
  wait_for 30 is_friend c$tag h2 "$A" || fail "[$mode] C never saw A accept"
  # A second device for A, linked from behind the other NAT.
  local pt; pt=$(kn a$tag h1 device link --json | jget 'd["ticket"]')
  mkdir -p "$SCRATCH/d$tag"
  kn d$tag h2 device join "$pt" --device-name phone >/dev/null 2>"$SCRATCH/join.err" || fail "[$mode] device join across NATs: $(cat "$SCRATCH/join.err")"
  touch "$SCRATCH/d$tag/.inited"
  start_in d$tag h2 --listen /ip4/0.0.0.0/tcp/0 --listen /ip4/0.0.0.0/udp/0/quic-v1 --bootstrap "$boot"
  wait_for 45 has d$tag h2 "$A" motto "$ma" || fail "[$mode] the linked device never got the account's profile"
  echo "[$mode] friends, edits both ways, device linked, request by account id, connected $want"
  for n in r$tag a$tag b$tag d$tag c$tag; do kill "$(eval echo \$PID_$n)" 2>/dev/null; done
  sleep 1; lab_down
}

churn() { # the home node's relay dies: it reserves on another within 30 s
  lab_up
  start_in r1c pub --listen /ip4/198.51.100.10/tcp/4001 --relay
  start_in r2c pub2 --listen /ip4/198.51.100.40/tcp/4001 --relay
  start_in r3c pub3 --listen /ip4/198.51.100.50/tcp/4001 --relay
  local b1 b2 b3 t0
  b1=/ip4/198.51.100.10/tcp/4001/p2p/$(kn r1c pub id --json | jget 'd["device"]')
  b2=/ip4/198.51.100.40/tcp/4001/p2p/$(kn r2c pub2 id --json | jget 'd["device"]')
  b3=/ip4/198.51.100.50/tcp/4001/p2p/$(kn r3c pub3 id --json | jget 'd["device"]')
  start_in ac h1 --listen /ip4/0.0.0.0/tcp/0 --bootstrap "$b1" --bootstrap "$b2" --bootstrap "$b3"
  wait_for 30 sh -c "[ \$(KITH_HOME=$SCRATCH/ac ip netns exec $LAB-h1 $KITH status --json | python3 -c 'import json,sys;print(len(json.load(sys.stdin)[\"relays\"]))') -ge 2 ]" \
    || fail "[churn] the home node did not reserve on two relays"
  # Kill a relay it holds a reservation on.
  local held victim
  held=$(kn ac h1 status --json | jget 'd["relays"][0]')
  case $held in *198.51.100.10*) victim=r1c;; *198.51.100.40*) victim=r2c;; *) victim=r3c;; esac
  kill "$(eval echo \$PID_$victim)"
  t0=$(now_ms)
  local gone=${held%%/p2p-circuit*}
  wait_for 30 sh -c "KITH_HOME=$SCRATCH/ac ip netns exec $LAB-h1 $KITH status --json | python3 -c 'import json,sys;r=json.load(sys.stdin)[\"relays\"];sys.exit(0 if len(r)>=2 and not any(a.startswith(sys.argv[1]) for a in r) else 1)' $gone" \
    || fail "[churn] no second reservation 30 s after a relay died: $(kn ac h1 status --json)"
  echo "[churn] a relay died; two reservations again within $(( $(now_ms) - t0 )) ms"
  kill "$PID_ac" "$PID_r1c" "$PID_r2c" "$PID_r3c" 2>/dev/null; sleep 1; lab_down
}

for part in ${PARTS:-cone symmetric churn}; do
  case $part in
    cone) round "" direct 1;;
    symmetric) round random relayed 2;;
    churn) churn;;
  esac
done
echo "natlab: all checks hold"
