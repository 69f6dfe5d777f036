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
