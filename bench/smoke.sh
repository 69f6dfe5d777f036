#!/bin/sh
# smoke.sh [BUILDDIR] - a few seconds of wsgate-bench against wsgated from
# BUILDDIR (default build) on a free port: echo (text, then binary with
# messages over the 125-byte and 64 KiB length forms), a broadcast, and
# compressed echo (permessage-deflate) on /deflate.
# Exit status 0 only if every run verified every message (zero errors).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
b=${1:-$top/build}
bench=$b/bench/wsgate-bench
tmp=$(mktemp -d)
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$tmp/wsgated.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = $port; } );
module_dir = "$b/src/modules/.libs";
log = { level = "warning"; };
limits = { ping_interval = 0; max_connections = 0; };
endpoints = (
    { path = "/echo"; module = "echo"; },
    { path = "/deflate"; module = "echo"; compression = { enabled = true; min_size = 0; }; },
    { path = "/broadcast"; match = "prefix"; module = "broadcast"; options = { room = "path"; }; }
);
CONF
"$b/src/wsgated" -c "$tmp/wsgated.conf" &
pid=$!
i=0
until python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2)' "$port" 2>/dev/null; do
    i=$((i + 1))
    [ $i -lt 100 ] || { echo "smoke: wsgated does not listen on $port" >&2; exit 1; }
    kill -0 "$pid" || { echo "smoke: wsgated exited" >&2; exit 1; }
    sleep 0.1
done
url=ws://127.0.0.1:$port
"$bench" --url "$url/echo" --conns 20 --inflight 8 --size 64 --duration 2 --warmup 0.5 --server-pid "$pid"
"$bench" --url "$url/echo" --conns 4 --inflight 4 --size 70000 --binary --duration 1 --warmup 0.2
"$bench" --url "$url/echo" --conns 4 --inflight 2 --size 200 --duration 1 --warmup 0.2
"$bench" --url "$url/broadcast/smoke" --scenario broadcast --conns 50 --publishers 2 \
    --inflight 4 --duration 1 --warmup 0.2
"$bench" --url "$url/echo" --scenario connect --conns 200 --server-pid "$pid" --rss-mark 100 --settle 0.2
"$bench" --url "$url/deflate" --compress --conns 20 --inflight 4 --size 1024 --duration 1 --warmup 0.2
"$bench" --url "$url/deflate" --compress --conns 4 --inflight 2 --size 70000 --binary --duration 1 \
    --warmup 0.2
echo "smoke: wsgate-bench against wsgated: zero errors"
