#!/bin/bash
# deflate_compare.sh - permessage-deflate side by side: wsgated with each of
# its memory settings, uWebSockets.js with its shared and dedicated
# compressors, and Node ws, in one run on one machine.
#
#   bench/deflate_compare.sh        (as root to apt-get node-ws if missing)
#
# For every server, each figure from a freshly started server pinned to CPU
# $SERVER_CPU, wsgate-bench --compress on CPU $GEN_CPU:
#   idle     $CONNS connections that negotiated permessage-deflate, no
#            message yet: server RSS per connection.
#   active   the same $CONNS connections each echoing 1 KiB JSON text, one
#            message in flight each: RSS per connection while they do (this
#            is where zlib's state is paid for) and messages/s.
#   busy     100 connections x 16 messages of 1 KiB JSON in flight:
#            messages/s and the server's CPU time per message.
# Prints a Markdown table; raw lines in bench/.peers/deflate-*.txt.
#
# Environment: BUILD (build/), CONNS (10000), DURATION (s, 3), SERVERS,
# SERVER_CPU (0), GEN_CPU (1), NO_INSTALL=1.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$top/build}
PEERS=$top/bench/.peers
PEER_SRC=$top/bench/peers
CONNS=${CONNS:-10000}
DURATION=${DURATION:-3}
SERVER_CPU=${SERVER_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
NO_INSTALL=${NO_INSTALL:-0}
SERVERS=${SERVERS:-"wsgated wsgated-level-1 wsgated-12-5 wsgated-10-1 wsgated-no-takeover uws-shared uws-dedicated-3kb uws-dedicated nodews"}
BENCH=$BUILD/bench/wsgate-bench

. "$top/bench/lib.sh"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
mkdir -p "$PEERS"
RESULTS=$PEERS/deflate-$(date +%Y%m%d-%H%M%S).txt
: >"$RESULTS"

build_bench src/wsgated src/modules/echo.la bench/wsgate-bench || exit 1
if [ "$NO_INSTALL" != 1 ]; then
    if ! dpkg -s node-ws >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q node-ws >/dev/null 2>&1 \
            || say "   node-ws: apt-get install failed; nodews will be skipped"
    fi
    npm_peers @trufflesuite/uws-js-unofficial
fi

# The wsgated compression group for each setting (see etc/wsgated.conf).
wsgated_compression() {
    case $1 in
    wsgated) echo "" ;;
    wsgated-level-1) echo "level = 1;" ;;   # the level this uWS.js build compresses at
    wsgated-12-5) echo "server_max_window_bits = 12; client_max_window_bits = 12; mem_level = 5;" ;;
    wsgated-10-1) echo "server_max_window_bits = 10; client_max_window_bits = 10; mem_level = 1;" ;;
    wsgated-no-takeover) echo "server_no_context_takeover = true; client_no_context_takeover = true;" ;;
    esac
}

start_server() {
    local name=$1 port=$2 log=$PEERS/server-$1.log
    case $name in
    wsgated*)
        cat >"$PEERS/wsgated-deflate.conf" <<EOF
listen = ( { address = "127.0.0.1"; port = $port; backlog = 4096; } );
module_dir = "$BUILD/src/modules/.libs";
log = { level = "warning"; };
limits = { max_connections = 0; handshake_timeout = 60; idle_timeout = 0; ping_interval = 0; };
compression = { enabled = true; min_size = 0; $(wsgated_compression "$name") };
endpoints = ( { path = "/echo"; module = "echo"; } );
EOF
        taskset -c "$SERVER_CPU" "$BUILD/src/wsgated" -c "$PEERS/wsgated-deflate.conf" >"$log" 2>&1 & ;;
    uws-*)
        NODE_PATH=$PEERS/node_modules taskset -c "$SERVER_CPU" \
            node "$PEER_SRC/uws_server.js" "$port" "${name#uws-}" >"$log" 2>&1 & ;;
    nodews)
        NODE_PATH=/usr/share/nodejs taskset -c "$SERVER_CPU" \
            node "$PEER_SRC/node_ws_server.js" "$port" deflate >"$log" 2>&1 & ;;
    *) say "unknown server $name"; return 1 ;;
    esac
    SPID=$!
    wait_listening "$name" "$port" "$log"
}
trap 'stop_server; exit 130' INT TERM

# run NAME FIGURE ARGS...: one wsgate-bench run against a fresh server.
run() {
    local name=$1 fig=$2 line rc
    shift 2
    next_port
    start_server "$name" "$PORT" || { echo "RESULT $fig $name FAILED-START" >>"$RESULTS"; return; }
    line=$("$BENCH" --compress --url "ws://127.0.0.1:$PORT/echo" --cpu "$GEN_CPU" \
        --server-pid "$SPID" --label "$fig/$name" "$@" 2>"$PEERS/bench-last.err")
    rc=$?
    stop_server
    if [ $rc -ne 0 ] || [ -z "$line" ]; then
        say "   $fig $name: wsgate-bench failed (exit $rc): $(grep -m3 error "$PEERS/bench-last.err")"
        echo "RESULT $fig $name FAILED rc=$rc $line" >>"$RESULTS"
    else
        echo "RESULT $fig $name $line" >>"$RESULTS"
    fi
    say "   $fig $name: ${line#WSGATE_BENCH }"
}

{
    echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -sr), $(nproc) CPUs:" \
        "$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)," \
        "load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
    echo "# CONNS=$CONNS DURATION=$DURATION server CPU $SERVER_CPU, generator CPU $GEN_CPU"
} | tee -a "$RESULTS" >&2
for name in $SERVERS; do
    say "== $name"
    run "$name" idle --scenario connect --conns "$CONNS" --inflight 64
    run "$name" active --scenario echo --conns "$CONNS" --inflight 1 --size 1024 \
        --duration "$DURATION" --warmup 1
    run "$name" busy --scenario echo --conns 100 --inflight 16 --size 1024 \
        --duration "$DURATION" --warmup 1
done

awk -v servers="$SERVERS" -v conns="$CONNS" '
function kv(line, key,    re) {
    re = " " key "=[^ ]*"
    if (match(line, re)) return substr(line, RSTART + length(key) + 2, RLENGTH - length(key) - 2)
    return ""
}
/^RESULT / { r[$2, $3] = ($4 ~ /^FAILED/) ? "FAILED" : $0 }
function get(fig, sv, key) { return r[fig, sv] == "FAILED" ? "failed" : kv(r[fig, sv], key) }
function ms(us) { return (us == "" || us == "failed") ? us : us / 1000 }
function fmt(v, d) { return (v == "" || v == "failed") ? (v == "" ? "-" : v) : (v < 0 ? "-" : sprintf("%." d "f", v)) }
END {
    printf "| server | KiB/conn, %d negotiated, idle | KiB/conn, %d echoing 1 KiB | msgs/s at %d | msgs/s, 100 x 16 in flight | server CPU us/msg | p99 ms |\n", conns, conns, conns
    print "|---|---:|---:|---:|---:|---:|---:|"
    n = split(servers, S, " ")
    for (i = 1; i <= n; i++) {
        sv = S[i]
        print "| " sv " | " fmt(get("idle", sv, "rss_kb_per_conn"), 2) " | " fmt(get("active", sv, "rss_kb_per_conn"), 1) \
            " | " fmt(get("active", sv, "msgs_per_s"), 0) " | " fmt(get("busy", sv, "msgs_per_s"), 0) \
            " | " fmt(get("busy", sv, "server_us_per_msg"), 2) " | " fmt(ms(get("busy", sv, "p99_us")), 1) " |"
    }
}' "$RESULTS" | tee "$RESULTS.md"
say "results: $RESULTS (table: $RESULTS.md)"
