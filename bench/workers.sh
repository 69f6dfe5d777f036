#!/bin/bash
# workers.sh - does wsgated scale with workers = N?  Each run gives the
# server a CPU budget (a cgroup quota) and compares:
#   1 worker  with QUOTA% of a CPU,
#   N workers with N x QUOTA% (the same budget per worker: should be ~N x
#             the throughput if the workers scale),
#   N workers with QUOTA% in all (the same budget as 1 worker: the cost of
#             running several loops).
# The machine has 2 CPUs here and the generator needs one, so the server
# is held to a fraction of each core: the budget, not the cores, is the
# limit, and a row where the generator is >= 95% busy cannot rank.
#
#   bench/workers.sh             (as root: the quota needs a cgroup)
#
# Scenarios: pipelined (100 connections x 64 B, 16 in flight) and
# broadcast (1 publisher, 1,000 subscribers over every worker, 64 B, 16 in
# flight; wsgate-bench counts lost and duplicated deliveries, which must
# be 0 across workers too).  Prints a Markdown table; raw lines in
# bench/.peers/workers-*.txt.
#
# Environment: BUILD (build/), N (2), QUOTA (percent of one CPU per
# worker, 35), DURATION (s, 3), WARMUP (1), ROUNDS (3, alternating; the
# best is shown), SCENARIOS.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$top/build}
PEERS=$top/bench/.peers
N=${N:-2}
QUOTA=${QUOTA:-35}
DURATION=${DURATION:-3}
WARMUP=${WARMUP:-1}
ROUNDS=${ROUNDS:-3}
SCENARIOS=${SCENARIOS:-"pipelined broadcast"}
BENCH=$BUILD/bench/wsgate-bench

. "$top/bench/lib.sh"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
mkdir -p "$PEERS"
RESULTS=$PEERS/workers-$(date +%Y%m%d-%H%M%S).txt
: >"$RESULTS"

build_bench src/wsgated src/modules/echo.la \
    src/modules/broadcast.la bench/wsgate-bench || exit 1
cpu_quota "$QUOTA" || { say "no writable cgroup cpu controller: cannot hold the server to a budget"; exit 1; }
trap 'stop_server; cpu_quota_remove; exit 130' INT TERM

# run_one SCENARIO WORKERS PERCENT
run_one() {
    local sc=$1 w=$2 pct=$3 conf=$PEERS/wsgated-workers.conf args path line rc
    next_port
    cat >"$conf" <<EOF
workers = $w;
listen = ( { address = "127.0.0.1"; port = $PORT; backlog = 4096; } );
module_dir = "$BUILD/src/modules/.libs";
log = { level = "warning"; };
limits = {
    max_connections = 0; handshake_timeout = 60; idle_timeout = 0; ping_interval = 0;
    output_high_watermark = "64M";
};
endpoints = (
    { path = "/echo"; module = "echo"; },
    { path = "/broadcast"; match = "prefix"; module = "broadcast"; options = { room = "path"; }; }
);
EOF
    case $sc in
    pipelined) args="--scenario echo --conns 100 --inflight 16 --size 64"; path=/echo ;;
    broadcast) args="--scenario broadcast --conns 1000 --publishers 1 --inflight 16 --size 64"
               path=/broadcast/bench ;;
    esac
    cpu_quota "$pct"
    "$BUILD/src/wsgated" -c "$conf" >"$PEERS/server-workers.log" 2>&1 &
    SPID=$!
    cpu_quota_join "$SPID"
    wait_listening wsgated "$PORT" "$PEERS/server-workers.log" || return
    # shellcheck disable=SC2086
    line=$("$BENCH" $args --url "ws://127.0.0.1:$PORT$path" --duration "$DURATION" \
        --warmup "$WARMUP" --server-pid "$SPID" --label "$sc/$w/$pct" 2>"$PEERS/bench-last.err")
    rc=$?
    stop_server
    if [ $rc -ne 0 ] || [ -z "$line" ]; then
        say "   $sc, $w workers, $pct%: wsgate-bench failed (exit $rc): $(grep -m3 error "$PEERS/bench-last.err")"
        return
    fi
    echo "RESULT $sc $w $pct $line" >>"$RESULTS"
    say "   $sc, $w workers, $pct%: ${line#WSGATE_BENCH }"
}

{
    echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -sr), $(nproc) CPUs:" \
        "$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)," \
        "load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
    echo "# N=$N QUOTA=$QUOTA% per worker DURATION=$DURATION WARMUP=$WARMUP ROUNDS=$ROUNDS"
} | tee -a "$RESULTS" >&2
for sc in $SCENARIOS; do
    for r in $(seq "$ROUNDS"); do
        say "== $sc, round $r"
        run_one "$sc" 1 "$QUOTA"
        run_one "$sc" "$N" $((N * QUOTA))
        run_one "$sc" "$N" "$QUOTA"
    done
done
cpu_quota_remove

awk -v q="$QUOTA" -v n="$N" '
function kv(line, key,    re) {
    re = " " key "=[^ ]*"
    if (match(line, re)) return substr(line, RSTART + length(key) + 2, RLENGTH - length(key) - 2)
    return ""
}
/^RESULT / {
    k = $2 SUBSEP $3 SUBSEP $4; r = kv($0, "msgs_per_s") + 0
    if (!(k in best) || r > rate[k]) { best[k] = $0; rate[k] = r }
    if (!($2 in seen)) { seen[$2] = 1; order[++m] = $2 }
}
END {
    print "| scenario | workers | server CPU budget | msgs/s | p99 ms | server CPU us/msg | lost, duplicated | generator core busy | vs 1 worker |"
    print "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    for (i = 1; i <= m; i++) {
        sc = order[i]; one = rate[sc, 1, q]
        split("1 " q " " n " " n * q " " n " " q, R, " ")
        for (j = 1; j <= 5; j += 2) {
            k = sc SUBSEP R[j] SUBSEP R[j + 1]
            if (!(k in best)) continue
            l = best[k]; busy = kv(l, "gen_core_busy") + 0; gen = kv(l, "gen_cpu") + 0
            lost = kv(l, "lost"); dup = kv(l, "dup")
            printf "| %s | %d | %d%% of a CPU | %.0f | %.2f | %.2f | %s | %.0f%%%s | %s |\n", sc, R[j], R[j + 1], \
                rate[k], kv(l, "p99_us") / 1000, kv(l, "server_us_per_msg"), \
                (lost == "" ? "-" : lost ", " dup), (busy > gen ? busy : gen) * 100, \
                ((busy >= 0.95 || gen >= 0.95) ? " **generator-bound**" : ""), \
                (one > 0 ? sprintf("%.2fx", rate[k] / one) : "-")
        }
    }
}' "$RESULTS" | tee "$RESULTS.md"
say "results: $RESULTS (table: $RESULTS.md)"
