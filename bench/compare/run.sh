#!/usr/bin/env bash
# Side-by-side load comparison of Tessera, Prosody and ejabberd on this machine (issue 5).
# See bench/compare/README.md. One server at a time, all on loopback, the same certificate,
# the same accounts and the same loads from `loadgen` (tests/src/bin/loadgen.rs). Every step is
# bounded by `timeout`; every server is stopped on exit. Results: $OUT/results.jsonl (one JSON
# line per measurement, each tagged with its server) and a Markdown table on stdout.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${OUT:-/tmp/tessera-compare}
SERVERS=${SERVERS:-"tessera prosody ejabberd"}
SESSIONS=${SESSIONS:-19000}          # idle sessions to hold (per server; see SESSIONS_<server>)
ACCOUNTS=${ACCOUNTS:-2000}           # registered accounts; sessions share them, ≤10 each
HOLD=${HOLD:-10s}
PAIRS=${PAIRS:-40}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
LOGIN_SEQ=${LOGIN_SEQ:-200}
LOGIN_CONC=${LOGIN_CONC:-2000}
CONCURRENCY=${CONCURRENCY:-50}
ITERATIONS=${ITERATIONS:-10000}      # Tessera's default; Prosody set to match; ejabberd fixed
PASSWORD=${PASSWORD:-compare-pw-$RANDOM$RANDOM}
# The same mechanism everywhere: Prosody 0.12's internal_hashed and ejabberd's default
# auth_scram_hash offer SCRAM-SHA-1 only.
SCRAM=${SCRAM:-sha-1}
STEP_TIMEOUT=${STEP_TIMEOUT:-900}
PORT_TESSERA=15222 PORT_PROSODY=25222 PORT_EJABBERD=35222 HTTP_EJABBERD=35280
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
TESSERA=${TESSERA:-$CARGO_TARGET_DIR/release/tessera}
LOADGEN=${LOADGEN:-$CARGO_TARGET_DIR/release/loadgen}

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The descriptor ceiling here is 20 000 per process; servers started below inherit it.
ulimit -n 20000 || die "cannot raise the file descriptor limit to 20000"

install_servers() {
    local missing=()
    # Only what $SERVERS needs: a Tessera-only run installs neither of the others.
    [[ " $SERVERS " != *" prosody "* ]] || command -v prosody >/dev/null || missing+=(prosody)
    [[ " $SERVERS " != *" ejabberd "* ]] || command -v ejabberdctl >/dev/null || missing+=(ejabberd)
    command -v openssl >/dev/null || missing+=(openssl)
    if ((${#missing[@]})); then
        log "installing ${missing[*]} from Debian"
        DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y "${missing[@]}"
    fi
    # The packages start their own instances; ours use other ports and node names, but the
    # machine has two cores: stop theirs.
    timeout 60 service prosody stop >/dev/null 2>&1 || true
    timeout 60 service ejabberd stop >/dev/null 2>&1 || true
}

build() {
    if [[ -x $TESSERA && -x $LOADGEN && -z ${REBUILD:-} ]]; then return; fi
    log "building tessera and loadgen (release)"
    (cd "$ROOT" && timeout 3600 cargo build --release -p tessera --bin tessera \
        -p tessera-tests --bin loadgen)
}

# One CA and one leaf for `localhost` (ECDSA P-256), used by all three servers.
make_cert() {
    local d=$OUT/tls
    mkdir -p "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj "/CN=compare CA" -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -subj "/CN=localhost" -keyout "$d/key.pem" -out "$d/leaf.csr" 2>/dev/null
    printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$d/ext"
    openssl x509 -req -in "$d/leaf.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
        -days 2 -extfile "$d/ext" -out "$d/leaf.pem" 2>/dev/null
    cat "$d/leaf.pem" "$d/ca.pem" >"$d/cert.pem"
    cat "$d/cert.pem" "$d/key.pem" >"$d/certkey.pem"
    chmod 0755 "$d"
    chmod 0644 "$d"/ca.pem "$d"/leaf.pem "$d"/cert.pem
    # The private key: readable by the servers' own users only.
    chmod 0600 "$d"/ca.key
    chmod 0600 "$d/key.pem" "$d/certkey.pem"
    if getent group prosody >/dev/null; then chgrp prosody "$d/key.pem" && chmod 0640 "$d/key.pem"; fi
    if getent group ejabberd >/dev/null; then
        chgrp ejabberd "$d/certkey.pem" && chmod 0640 "$d/certkey.pem"
    fi
}

# fill TEMPLATE OUTPUT DIR PORT: the @…@ placeholders.
fill() {
    sed -e "s|@DIR@|$3|g" -e "s|@PORT@|$4|g" -e "s|@HTTP_PORT@|$HTTP_EJABBERD|g" \
        -e "s|@CERT@|$OUT/tls/cert.pem|g" -e "s|@KEY@|$OUT/tls/key.pem|g" \
        -e "s|@CERTKEY@|$OUT/tls/certkey.pem|g" -e "s|@ITERATIONS@|$ITERATIONS|g" "$1" >"$2"
}

wait_port() {
    local port=$1 deadline=$((SECONDS + ${2:-90}))
    until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        ((SECONDS < deadline)) || die "nothing listens on $port"
        sleep 0.5
    done
}

# PIDS: the processes whose memory and CPU count as the server's.
PIDS=()
STOP=""

start_tessera() {
    local d=$OUT/tessera
    mkdir -p "$d"
    fill "$HERE/tessera.toml.in" "$d/tessera.toml" "$d" $PORT_TESSERA
    log "tessera: registering $ACCOUNTS accounts"
    # Two at a time (the machine has two cores); concurrent `user add` processes wait for each
    # other's migrations on a new database (storage/sqlite.rs `migrate`).
    seq 0 $((ACCOUNTS - 1)) | timeout "$STEP_TIMEOUT" xargs -P 2 -I{} sh -c \
        'printf "%s\n" "$1" | "$2" user add --config "$3" "u$4"' \
        _ "$PASSWORD" "$TESSERA" "$d/tessera.toml" {} >>"$d/register.log" 2>&1 ||
        die "tessera user add: $(tail -3 "$d/register.log")"
    "$TESSERA" run --config "$d/tessera.toml" >"$d/stdout.log" 2>&1 &
    PIDS=($!)
    STOP="kill ${PIDS[0]}"
    wait_port $PORT_TESSERA
}

start_prosody() {
    local d=$OUT/prosody
    mkdir -p "$d/data" "$d/certs"
    fill "$HERE/prosody.cfg.lua.in" "$d/prosody.cfg.lua" "$d" $PORT_PROSODY
    chown -R prosody:prosody "$d"
    # -F: stay in the foreground (mod_posix would otherwise daemonize an installed Prosody).
    # runuser's PAM session resets the soft descriptor limit to 1024: raise it again inside.
    runuser -u prosody -- sh -c 'ulimit -n 20000 && exec prosody -F --config "$0"' \
        "$d/prosody.cfg.lua" >"$d/stdout.log" 2>&1 &
    wait_port $PORT_PROSODY
    local deadline=$((SECONDS + 90))
    until [[ -S $d/prosody.sock ]]; do
        ((SECONDS < deadline)) || die "prosody's admin socket did not appear"
        sleep 0.5
    done
    PIDS=($(pgrep -u prosody -f "prosody -F --config $d/"))
    ((${#PIDS[@]})) || die "prosody is not running"
    STOP="kill ${PIDS[*]}"
    log "prosody: registering $ACCOUNTS accounts (prosodyctl shell)"
    local i
    for ((i = 0; i < ACCOUNTS; i++)); do
        printf 'user:create("u%d@localhost", "%s")\n' "$i" "$PASSWORD"
    done >"$d/register.txt"
    chown prosody "$d/register.txt"
    timeout "$STEP_TIMEOUT" runuser -u prosody -- \
        prosodyctl --config "$d/prosody.cfg.lua" shell <"$d/register.txt" >"$d/register.log" 2>&1 ||
        die "prosodyctl shell failed: $(tail -3 "$d/register.log")"
}

start_ejabberd() {
    local d=$OUT/ejabberd
    mkdir -p "$d/db" "$d/log"
    fill "$HERE/ejabberd.yml.in" "$d/ejabberd.yml" "$d" $PORT_EJABBERD
    # Debian's ejabberdctl.cfg, without its config path (it would override --config) and with
    # the pid file here.
    sed -e "s|^EJABBERD_PID_PATH=.*|EJABBERD_PID_PATH=$d/ejabberd.pid|" \
        -e "/^EJABBERD_CONFIG_PATH=/d" /etc/ejabberd/ejabberdctl.cfg >"$d/ejabberdctl.cfg"
    chown -R ejabberd:ejabberd "$d"
    EJCTL=(ejabberdctl --config "$d/ejabberd.yml" --ctl-config "$d/ejabberdctl.cfg"
        --node compare@localhost --spool "$d/db" --logs "$d/log")
    # Started as the ejabberd user directly (ejabberdctl would `su`, whose PAM session resets
    # the soft descriptor limit to 1024), with the limit raised inside.
    (cd "$d" && timeout 120 runuser -u ejabberd -- sh -c 'ulimit -n 20000 && exec "$@"' _ \
        "${EJCTL[@]}" start)
    timeout 120 "${EJCTL[@]}" started || die "ejabberd did not start: $(tail -5 "$d/log/ejabberd.log")"
    wait_port $PORT_EJABBERD
    wait_port $HTTP_EJABBERD
    # beam.smp and its helpers (epmd, erl_child_setup, inet_gethost) all run as ejabberd.
    PIDS=($(pgrep -u ejabberd))
    # epmd (Erlang's port mapper, shared by every node on the machine) outlives the node; it is
    # counted in ejabberd's memory but left running.
    STOP="timeout 60 ${EJCTL[*]} stop"
    log "ejabberd: registering $ACCOUNTS accounts (mod_http_api)"
    timeout "$STEP_TIMEOUT" python3 - "$HTTP_EJABBERD" "$ACCOUNTS" "$PASSWORD" <<'PY'
import json, sys, http.client
port, count, password = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
for i in range(count):
    body = json.dumps({"user": f"u{i}", "host": "localhost", "password": password})
    conn.request("POST", "/api/register", body, {"Content-Type": "application/json"})
    reply = conn.getresponse()
    text = reply.read()
    if reply.status != 200:
        sys.exit(f"register u{i}: HTTP {reply.status}: {text[:200]!r}")
PY
    PIDS=($(pgrep -u ejabberd))
}

stop_server() {
    if [[ -n $STOP ]]; then
        log "stopping: $STOP"
        eval "$STOP" >/dev/null 2>&1 || true
        sleep 2
    fi
    STOP=""
    PIDS=()
}
trap stop_server EXIT

# Logs each server process's descriptor limit (a server below 20 000 cannot hold 19 000).
show_limits() {
    local p
    for p in "${PIDS[@]}"; do
        log "$1: pid $p ($(cat "/proc/$p/comm")): $(grep 'open files' "/proc/$p/limits" | tr -s ' ')"
    done
}

# loadgen SERVER PORT TEST ARGS...: one measurement, appended to results.jsonl with its server.
loadgen() {
    local server=$1 port=$2
    shift 2
    local pid_args=()
    for p in "${PIDS[@]}"; do pid_args+=(--pid "$p"); done
    log "$server: loadgen $*"
    local line
    line=$(timeout "$STEP_TIMEOUT" "$LOADGEN" --addr "127.0.0.1:$port" --domain localhost \
        --ca "$OUT/tls/ca.pem" --users "$ACCOUNTS" --password "$PASSWORD" --scram "$SCRAM" \
        "${pid_args[@]}" "$@" 2>>"$OUT/loadgen.err") || {
        log "$server: loadgen $1 failed (see $OUT/loadgen.err)"
        return 1
    }
    # The load average when it ended: the machine is shared, so contention is on record.
    printf '%s\n' "$line" | jq -c --arg s "$server" --arg l "$(cut -d' ' -f1-3 /proc/loadavg)" \
        '. + {server: $s, loadavg: $l}' | tee -a "$OUT/results.jsonl" >&2
    printf '%s\n' "$line"
}

measure() {
    local server=$1 port=$2
    local peak half sessions_var="SESSIONS_${server^^}"
    peak=$(loadgen "$server" "$port" throughput --pairs "$PAIRS" --duration "$DURATION" \
        --warmup "$WARMUP" | jq -r '.per_second | floor') || peak=""
    if [[ -n $peak && $peak -gt 1 ]]; then
        half=$((peak / 2))
        loadgen "$server" "$port" throughput --pairs "$PAIRS" --duration "$DURATION" \
            --warmup "$WARMUP" --rate "$half" >/dev/null || true
    fi
    loadgen "$server" "$port" login-rate --count "$LOGIN_SEQ" --concurrency 1 >/dev/null || true
    loadgen "$server" "$port" login-rate --count "$LOGIN_CONC" --concurrency "$CONCURRENCY" \
        >/dev/null || true
    loadgen "$server" "$port" sessions --count "${!sessions_var:-$SESSIONS}" --hold "$HOLD" \
        --concurrency "$CONCURRENCY" >/dev/null || true
}

versions() {
    {
        echo "date: $(date -u +%FT%TZ)"
        echo "kernel: $(uname -sr); cores: $(nproc); memory: $(free -g | awk '/Mem:/{print $2}') GiB"
        echo "tessera: $(git -C "$ROOT" rev-parse --short HEAD) ($("$TESSERA" --version 2>/dev/null || echo '?'))"
        echo "prosody: $(dpkg-query -W -f '${Version}' prosody 2>/dev/null)"
        echo "ejabberd: $(dpkg-query -W -f '${Version}' ejabberd 2>/dev/null); erlang: $(dpkg-query -W -f '${Version}' erlang-base 2>/dev/null)"
        echo "lua: $(dpkg-query -W -f '${Version}' lua5.4 2>/dev/null || true)"
    } >"$OUT/versions.txt"
    cat "$OUT/versions.txt" >&2
}

main() {
    command -v jq >/dev/null || DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y jq
    install_servers
    build
    rm -rf "$OUT"
    mkdir -p "$OUT"
    chmod 0755 "$OUT"
    make_cert
    versions
    for server in $SERVERS; do
        case $server in
            tessera) start_tessera; show_limits tessera; measure tessera $PORT_TESSERA ;;
            prosody) start_prosody; show_limits prosody; measure prosody $PORT_PROSODY ;;
            ejabberd) start_ejabberd; show_limits ejabberd; measure ejabberd $PORT_EJABBERD ;;
            *) die "unknown server $server" ;;
        esac
        stop_server
    done
    "$HERE/table.sh" "$OUT/results.jsonl"
}

main "$@"
