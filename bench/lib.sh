# lib.sh - shell functions the bench/ scripts share (sourced, not run).
# The caller sets PEERS (bench/.peers); SPID is the running server's pid.

say() { printf '%s\n' "$*" >&2; }

# next_port: set PORT to the next port after it that nothing listens on.
PORT=$((20000 + RANDOM % 20000))
next_port() {
    while :; do
        PORT=$((PORT + 1))
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || return 0
    done
}

# wait_listening NAME PORT LOG: after starting server NAME (pid SPID), wait
# until it accepts on PORT; 1 (with its log's tail) if it exits or never does.
wait_listening() {
    for _ in $(seq 100); do
        kill -0 "$SPID" 2>/dev/null || { say "   $1 exited at start: $(tail -3 "$3")"; return 1; }
        (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && { sleep 0.2; return 0; }
        sleep 0.1
    done
    say "   $1 does not listen on $2"
    stop_server
    return 1
}

# build_bench TARGET...: make the targets in $BUILD, or build it all with
# scripts/build when $BUILD is not configured yet ($top: the source tree).
build_bench() {
    if [ -f "$BUILD/Makefile" ]; then
        make -s -C "$BUILD" -j"$(nproc)" "$@" >&2
    else
        "$top/scripts/build" "$BUILD" >&2
    fi
}

SPID=""
stop_server() {
    [ -n "$SPID" ] || return 0
    kill -TERM "$SPID" 2>/dev/null
    for _ in $(seq 30); do
        kill -0 "$SPID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$SPID" 2>/dev/null
    wait "$SPID" 2>/dev/null
    SPID=""
}

# npm_peers PKG...: install npm packages into $PEERS (never committed);
# a package that will not install only skips its peer.
npm_peers() {
    if ! command -v npm >/dev/null; then
        say "== no npm: $* will be skipped"
        return
    fi
    for pkg in "$@"; do
        [ -d "$PEERS/node_modules/$pkg" ] && continue
        say "== npm install $pkg (into bench/.peers)"
        npm install --prefix "$PEERS" --no-audit --no-fund --no-save "$pkg" >/dev/null 2>&1 \
            || say "   npm install $pkg failed; its peer will be skipped"
    done
}

# cpu_quota PERCENT: make (or re-limit) the cgroup $CG, which holds what
# is moved into it to PERCENT of one CPU in all (cgroup v2 cpu.max, or v1
# CFS quota); 1 if there is no writable cpu controller.  cpu_quota_join
# PID moves a process into it; cpu_quota_remove removes the group.
CG=""
cpu_quota() {
    local period=100000 quota=$(($1 * 1000))
    if [ -f /sys/fs/cgroup/cgroup.controllers ] && grep -qw cpu /sys/fs/cgroup/cgroup.controllers; then
        CG=/sys/fs/cgroup/wsgate-bench
        mkdir -p "$CG" 2>/dev/null && echo "$quota $period" >"$CG/cpu.max" 2>/dev/null && return 0
    elif [ -d /sys/fs/cgroup/cpu ]; then
        CG=/sys/fs/cgroup/cpu/wsgate-bench
        mkdir -p "$CG" 2>/dev/null && echo $period >"$CG/cpu.cfs_period_us" \
            && echo "$quota" >"$CG/cpu.cfs_quota_us" 2>/dev/null && return 0
    fi
    CG=""
    return 1
}
cpu_quota_join() {
    echo "$1" >"$CG/cgroup.procs" 2>/dev/null || say "   cannot move $1 into $CG"
}
cpu_quota_remove() {
    [ -n "$CG" ] && rmdir "$CG" 2>/dev/null
    CG=""
}
