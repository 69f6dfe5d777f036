#!/bin/bash
# compare.sh - wsgated side by side with the WebSocket servers people pick
# instead, in one run on one machine, and a table of the results.
#
#   bench/compare.sh            (as root for the Debian packages; see below)
#
# 1. Builds wsgated and wsgate-bench if $BUILD (default: build/) lacks them.
# 2. Installs the peers, each optional (skipped with a message when it
#    cannot be installed): Debian's libwebsockets-dev, websocketd, node-ws
#    and python3-websockets (apt-get, as root); uWebSockets.js
#    (@trufflesuite/uws-js-unofficial) and Bun (@oven/bun-linux-x64) from
#    npm into bench/.peers/ (never committed); compiles bench/peers/*.c there.
# 3. For each scenario, runs every server in turn (the order rotates from
#    round to round), each started fresh, pinned to CPU $SERVER_CPU with
#    the generator on CPU $GEN_CPU, compression and server pings off.
# 4. Prints a Markdown table: scenario x server, msgs/s, p99, the server's
#    CPU time per message and the ratio wsgated/peer.  The raw result lines
#    are kept in bench/.peers/results-*.txt.
#
# Scenarios (SCENARIOS): pingpong (100 conns x 64 B, 1 in flight), pipelined
# (100 x 64 B, 16 in flight), large (1 conn x 64 KiB, 4 in flight), broadcast
# (1 publisher, 1,000 subscribers, 64 B, 16 in flight), idle (10,000 idle
# connections: server RSS per connection and upgrades/s).  tcp-echo is a
# plain TCP echo (bench/peers/tcp_echo.c, no WebSocket work) driven with
# wsgate-bench --raw: the loopback's and the generator's own limit.
#
# Environment: BUILD, DURATION (s, default 3), WARMUP (1), ROUNDS (2; the best
# round by msgs/s is shown), SERVERS, SCENARIOS, SERVER_CPU (0), GEN_CPU (1),
# NO_INSTALL=1 (use only what is there), IDLE_CONNS (10000), SERVER_QUOTA
# (percent of one CPU, e.g. 50: each server runs in a cgroup with that CPU
# quota, so that the server and not the generator is the limit; off by default).
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$top/build}
PEERS=$top/bench/.peers
PEER_SRC=$top/bench/peers
DURATION=${DURATION:-3}
WARMUP=${WARMUP:-1}
ROUNDS=${ROUNDS:-2}
SERVER_CPU=${SERVER_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
IDLE_CONNS=${IDLE_CONNS:-10000}
SERVERS=${SERVERS:-"wsgated uws bun lws nodews websocketd python tcp-echo"}
SCENARIOS=${SCENARIOS:-"pingpong pipelined large broadcast idle"}
NO_INSTALL=${NO_INSTALL:-0}
SERVER_QUOTA=${SERVER_QUOTA:-}

mkdir -p "$PEERS/bin"
RESULTS=$PEERS/results-$(date +%Y%m%d-%H%M%S).txt
: >"$RESULTS"
BENCH=$BUILD/bench/wsgate-bench
BUN=$PEERS/node_modules/@oven/bun-linux-x64/bin/bun

. "$top/bench/lib.sh"

# Servers and generator both need up to IDLE_CONNS descriptors.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---- build ------------------------------------------------------------------
build_bench src/wsgated src/modules/echo.la \
    src/modules/broadcast.la bench/wsgate-bench || exit 1
[ -x "$BENCH" ] || { say "no $BENCH"; exit 1; }

# ---- install the peers ---------------------------------------------------------
if [ "$NO_INSTALL" != 1 ]; then
    missing=""
    for p in libwebsockets-dev websocketd node-ws python3-websockets nodejs; do
        dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        if [ "$(id -u)" -eq 0 ]; then
            say "== apt-get install$missing"
            # One at a time: a package that will not install skips its peer only.
            for p in $missing; do
                DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$p" >/dev/null 2>&1 \
                    || say "   $p: apt-get install failed; its peer will be skipped"
            done
        else
            say "== not root: cannot install$missing; those peers will be skipped"
        fi
    fi
    npm_peers @trufflesuite/uws-js-unofficial @oven/bun-linux-x64
fi
if pkg-config --exists libwebsockets 2>/dev/null \
    && { [ ! -x "$PEERS/bin/lws_echo" ] || [ "$PEER_SRC/lws_echo.c" -nt "$PEERS/bin/lws_echo" ]; }; then
    cc -O2 -o "$PEERS/bin/lws_echo" "$PEER_SRC/lws_echo.c" \
        $(pkg-config --cflags --libs libwebsockets) || say "lws_echo does not compile"
fi
if [ ! -x "$PEERS/bin/tcp_echo" ] || [ "$PEER_SRC/tcp_echo.c" -nt "$PEERS/bin/tcp_echo" ]; then
    cc -O2 -o "$PEERS/bin/tcp_echo" "$PEER_SRC/tcp_echo.c" || say "tcp_echo does not compile"
fi

# ---- servers --------------------------------------------------------------------
# available NAME: 0 if the server can run here, else prints why not.
available() {
    case $1 in
    wsgated) [ -x "$BUILD/src/wsgated" ] ;;
    uws) [ -d "$PEERS/node_modules/@trufflesuite/uws-js-unofficial" ] \
        && NODE_PATH=$PEERS/node_modules node -e 'require("@trufflesuite/uws-js-unofficial")' \
            >/dev/null 2>&1 ;;
    bun) [ -x "$BUN" ] && "$BUN" --version >/dev/null 2>&1 ;;
    lws) [ -x "$PEERS/bin/lws_echo" ] ;;
    nodews) [ -d /usr/share/nodejs/ws ] && command -v node >/dev/null ;;
    websocketd) command -v websocketd >/dev/null ;;
    python) /usr/bin/python3 -c 'import websockets' >/dev/null 2>&1 ;;
    tcp-echo) [ -x "$PEERS/bin/tcp_echo" ] ;;
    *) return 1 ;;
    esac
}

# supports NAME SCENARIO: does the scenario make sense for this server?
supports() {
    case $1:$2 in
    lws:broadcast | websocketd:broadcast | tcp-echo:broadcast) return 1 ;; # no broadcast of their own
    websocketd:idle) return 1 ;;  # one process per connection: 10,000 processes
    tcp-echo:idle) return 1 ;;
    websocketd:large) return 1 ;; # cat's line per message; 64 KiB lines exceed its scanner
    esac
    return 0
}

write_wsgated_conf() {
    cat >"$PEERS/wsgated-bench.conf" <<EOF
listen = ( { address = "127.0.0.1"; port = $1; backlog = 4096; } );
module_dir = "$BUILD/src/modules/.libs";
log = { level = "warning"; };
limits = {
    max_frame = "16M"; max_message = "16M"; max_connections = 0;
    handshake_timeout = 60; idle_timeout = 0; ping_interval = 0;
    output_high_watermark = "64M";
};
endpoints = (
    { path = "/echo"; module = "echo"; },
    { path = "/broadcast"; match = "prefix"; module = "broadcast"; options = { room = "path"; }; }
);
EOF
}

start_server() {
    local name=$1 port=$2 log=$PEERS/server-$1.log
    case $name in
    wsgated)
        write_wsgated_conf "$port"
        taskset -c "$SERVER_CPU" "$BUILD/src/wsgated" -c "$PEERS/wsgated-bench.conf" >"$log" 2>&1 & ;;
    uws)
        NODE_PATH=$PEERS/node_modules taskset -c "$SERVER_CPU" node "$PEER_SRC/uws_server.js" "$port" >"$log" 2>&1 & ;;
    bun)
        taskset -c "$SERVER_CPU" "$BUN" "$PEER_SRC/bun_server.js" "$port" >"$log" 2>&1 & ;;
    lws)
        taskset -c "$SERVER_CPU" "$PEERS/bin/lws_echo" "$port" >"$log" 2>&1 & ;;
    nodews)
        NODE_PATH=/usr/share/nodejs taskset -c "$SERVER_CPU" node "$PEER_SRC/node_ws_server.js" "$port" >"$log" 2>&1 & ;;
    websocketd)
        taskset -c "$SERVER_CPU" websocketd --address=127.0.0.1 --port="$port" --loglevel=fatal cat >"$log" 2>&1 & ;;
    python)
        taskset -c "$SERVER_CPU" /usr/bin/python3 "$PEER_SRC/python_server.py" "$port" >"$log" 2>&1 & ;;
    tcp-echo)
        taskset -c "$SERVER_CPU" "$PEERS/bin/tcp_echo" "$port" >"$log" 2>&1 & ;;
    esac
    SPID=$!
    [ -n "$SERVER_QUOTA" ] && quota_server "$SPID"
    wait_listening "$name" "$port" "$log"
}

# quota_server PID: hold PID (its threads and children follow) to
# SERVER_QUOTA percent of one CPU (lib.sh's cgroup).
quota_server() {
    if [ -z "$CG" ] && ! cpu_quota "$SERVER_QUOTA"; then
        say "== cannot set a CPU quota (no writable cgroup cpu controller): running without"
        SERVER_QUOTA=""
        return
    fi
    cpu_quota_join "$1"
}

trap 'stop_server; cpu_quota_remove; exit 130' INT TERM

# ---- scenarios ------------------------------------------------------------------
bench_args() {
    case $1 in
    pingpong) echo "--scenario echo --conns 100 --inflight 1 --size 64" ;;
    pipelined) echo "--scenario echo --conns 100 --inflight 16 --size 64" ;;
    large) echo "--scenario echo --conns 1 --inflight 4 --size 65536" ;;
    broadcast) echo "--scenario broadcast --conns 1000 --publishers 1 --inflight 16 --size 64" ;;
    idle) echo "--scenario connect --conns $IDLE_CONNS --inflight 64" ;;
    esac
}

run_one() {
    local sc=$1 name=$2 path=/echo extra="" line rc
    [ "$sc" = broadcast ] && path=/broadcast/bench
    [ "$name" = tcp-echo ] && extra=--raw
    next_port
    start_server "$name" "$PORT" || { echo "RESULT $sc $name FAILED-START" >>"$RESULTS"; return; }
    # shellcheck disable=SC2046
    line=$("$BENCH" $(bench_args "$sc") $extra --url "ws://127.0.0.1:$PORT$path" \
        --duration "$DURATION" --warmup "$WARMUP" --cpu "$GEN_CPU" --server-pid "$SPID" \
        --label "$sc/$name" 2>"$PEERS/bench-last.err")
    rc=$?
    stop_server
    if [ $rc -ne 0 ] || [ -z "$line" ]; then
        say "   $sc $name: wsgate-bench failed (exit $rc): $(grep -m3 error "$PEERS/bench-last.err")"
        echo "RESULT $sc $name FAILED rc=$rc $line" >>"$RESULTS"
    else
        echo "RESULT $sc $name $line" >>"$RESULTS"
    fi
    say "   $sc $name: ${line#WSGATE_BENCH }"
}

active=""
for s in $SERVERS; do
    if available "$s"; then active="$active $s"; else say "== $s: not available, skipped"; fi
done

{
    echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -sr), $(nproc) CPUs:" \
        "$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)," \
        "load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
    echo "# DURATION=$DURATION WARMUP=$WARMUP ROUNDS=$ROUNDS server CPU $SERVER_CPU, generator CPU $GEN_CPU${SERVER_QUOTA:+, server CPU quota $SERVER_QUOTA%}"
} | tee -a "$RESULTS" >&2
set -- $active
nserv=$#
for sc in $SCENARIOS; do
    rounds=$ROUNDS
    [ "$sc" = idle ] && rounds=1
    for r in $(seq "$rounds"); do
        say "== $sc, round $r"
        # Rotate the order every round, so no server always runs first.
        list=($active)
        for i in $(seq 0 $((nserv - 1))); do
            name=${list[$(((i + r - 1) % nserv))]}
            supports "$name" "$sc" && run_one "$sc" "$name"
        done
    done
done

cpu_quota_remove

# ---- table ------------------------------------------------------------------------
awk -v servers="$active" -v scenarios="$SCENARIOS" '
function kv(line, key,    re, m) {
    re = " " key "=[^ ]*"
    if (match(line, re)) return substr(line, RSTART + length(key) + 2, RLENGTH - length(key) - 2)
    return ""
}
/^RESULT / {
    sc = $2; sv = $3
    if ($4 ~ /^FAILED/) { if (!((sc, sv) in best)) failed[sc, sv] = 1; next }
    line = $0
    if (sc == "idle") score = -kv(line, "rss_kb_per_conn"); else score = kv(line, "msgs_per_s") + 0
    if (!((sc, sv) in best) || score > bestscore[sc, sv]) { best[sc, sv] = line; bestscore[sc, sv] = score }
}
function fmt(v, d) { return (v == "" || v < 0) ? "-" : sprintf("%." d "f", v) }
function ratio(a, b) { return (a == "" || b == "" || a <= 0 || b <= 0) ? "-" : sprintf("%.2f", a / b) }
END {
    n = split(servers, S, " "); m = split(scenarios, C, " ")
    print "| scenario | server | msgs/s | p99 ms | server CPU us/msg | generator CPU / its core | wsgated/peer msgs/s | wsgated/peer CPU per msg |"
    print "|---|---|---:|---:|---:|---:|---:|---:|"
    for (j = 1; j <= m; j++) {
        sc = C[j]; if (sc == "idle") continue
        w = best[sc, "wsgated"]; wr = kv(w, "msgs_per_s"); wc = kv(w, "server_us_per_msg")
        for (i = 1; i <= n; i++) {
            sv = S[i]
            if (!((sc, sv) in best)) { if ((sc, sv) in failed) print "| " sc " | " sv " | failed | | | | | |"; continue }
            l = best[sc, sv]
            busy = kv(l, "gen_core_busy"); gb = (busy + 0 >= 0.95 || kv(l, "gen_cpu") + 0 >= 0.95) ? " **generator-bound**" : ""
            print "| " sc " | " sv " | " fmt(kv(l, "msgs_per_s"), 0) " | " fmt(kv(l, "p99_us") / 1000, 2) \
                " | " fmt(kv(l, "server_us_per_msg"), 2) " | " fmt(kv(l, "gen_cpu") * 100, 0) "% / " fmt(busy * 100, 0) "%" gb \
                " | " (sv == "wsgated" ? "" : ratio(wr, kv(l, "msgs_per_s"))) \
                " | " (sv == "wsgated" ? "" : ratio(wc, kv(l, "server_us_per_msg"))) " |"
        }
    }
    for (j = 1; j <= m; j++) if (C[j] == "idle") {
        print ""
        print "| idle connections | server | upgrades/s | RSS KiB/conn at 1k | RSS KiB/conn at all | server CPU us/upgrade | wsgated/peer RSS per conn |"
        print "|---|---|---:|---:|---:|---:|---:|"
        w = best["idle", "wsgated"]; wk = kv(w, "rss_kb_per_conn")
        for (i = 1; i <= n; i++) {
            sv = S[i]
            if (!(("idle", sv) in best)) { if (("idle", sv) in failed) print "| idle | " sv " | failed | | | | |"; continue }
            l = best["idle", sv]
            print "| " kv(l, "conns") " | " sv " | " fmt(kv(l, "conns_per_s"), 0) " | " fmt(kv(l, "rss_kb_per_conn_mark"), 2) \
                " | " fmt(kv(l, "rss_kb_per_conn"), 2) " | " fmt(kv(l, "server_us_per_conn"), 1) \
                " | " (sv == "wsgated" ? "" : ratio(wk, kv(l, "rss_kb_per_conn"))) " |"
        }
    }
}' "$RESULTS" | tee "$RESULTS.md"
say ""
say "Ratios: msgs/s above 1 and CPU per message below 1 favour wsgated."
say "generator-bound: the generator (or its core) was >= 95% busy; such a row cannot rank"
say "servers by msgs/s, but server CPU per message still does."
say "results: $RESULTS (table: $RESULTS.md)"
