#!/bin/sh
# backplane.sh [BUILDDIR] - broadcast across nodes: one publisher and 1,000
# subscribers in one room, first all on one wsgated, then spread over two
# wsgated nodes sharing a Redis backplane (the publisher on the first node,
# every other subscriber on the second).  Prints delivered messages/s and
# p99 delivery latency of both side by side.  Every message is verified
# (wsgate-bench counts lost, duplicated and reordered deliveries).
#
# Environment: DURATION (5) and WARMUP (1) seconds per run, CONNS (1000),
# INFLIGHT (16), SIZE (64), REDIS (redis-server).  Everything runs on this
# machine, unpinned: the figures include Redis and both nodes sharing it.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
b=${1:-$top/build}
bench=$b/bench/wsgate-bench
REDIS=${REDIS:-redis-server}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-1000}
INFLIGHT=${INFLIGHT:-16}
SIZE=${SIZE:-64}
tmp=$(mktemp -d)
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    for p in $pids; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for FILE TEXT PID: until FILE contains TEXT (10 s), while PID lives.
wait_for() {
    i=0
    until grep -q "$2" "$1" 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 100 ] || { echo "backplane.sh: no \"$2\" in $1" >&2; cat "$1" >&2; exit 1; }
        kill -0 "$3" 2>/dev/null || { echo "backplane.sh: process $3 exited" >&2; cat "$1" >&2; exit 1; }
        sleep 0.1
    done
}

redis_port=$(free_port)
"$REDIS" --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" \
    >"$tmp/redis.log" 2>&1 &
rpid=$!
pids="$rpid"
wait_for "$tmp/redis.log" "Ready to accept connections" "$rpid"

# node NAME: a wsgated on a free port with /broadcast on the backplane.
node() {
    port=$(free_port)
    cat >"$tmp/$1.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = $port; } );
module_dir = "$b/src/modules/.libs";
log = { level = "notice"; };
limits = { ping_interval = 0; max_connections = 0; };
endpoints = (
    { path = "/broadcast"; match = "prefix"; module = "broadcast";
      options = { room = "path"; backplane = "redis://127.0.0.1:$redis_port"; }; }
);
CONF
    "$b/src/wsgated" -c "$tmp/$1.conf" >"$tmp/$1.log" 2>&1 &
    npid=$!
    pids="$pids $npid"
    wait_for "$tmp/$1.log" "backplane.*connected" "$npid"
    eval "$1_port=$port"
}
node a
node b

common="--scenario broadcast --conns $CONNS --publishers 1 --inflight $INFLIGHT --size $SIZE
        --duration $DURATION --warmup $WARMUP"
# shellcheck disable=SC2086
one=$("$bench" --url "ws://127.0.0.1:$a_port/broadcast/one" $common --label one-node)
# shellcheck disable=SC2086
two=$("$bench" --url "ws://127.0.0.1:$a_port/broadcast/two" \
    --sub-url "ws://127.0.0.1:$b_port/broadcast/two" $common --label two-nodes)

kv() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
echo
echo "broadcast, 1 publisher, $CONNS subscribers, $SIZE B, $INFLIGHT in flight, ${DURATION} s"
printf '%-34s %14s %10s %8s\n' "" "delivered/s" "p99 (us)" "errors"
printf '%-34s %14s %10s %8s\n' "one node" "$(kv "$one" msgs_per_s)" "$(kv "$one" p99_us)" \
    "$(kv "$one" errors)"
printf '%-34s %14s %10s %8s\n' "two nodes, Redis backplane (1:1)" "$(kv "$two" msgs_per_s)" \
    "$(kv "$two" p99_us)" "$(kv "$two" errors)"
[ "$(kv "$one" errors)" = 0 ] && [ "$(kv "$two" errors)" = 0 ]
