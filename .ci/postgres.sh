#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster for the storage tests and prints shell exports for it.
#
#   eval "$(.ci/postgres.sh)"        # start; exports TESSERA_TEST_POSTGRES_URL and friends
#   .ci/postgres.sh stop             # stop the cluster named by $TESSERA_TEST_POSTGRES_DIR, delete it
#
# Installs PostgreSQL from the Debian packages if it is missing. The cluster lives in a temporary
# directory, listens on 127.0.0.1 only (plus a socket in that directory), and authenticates TCP
# clients with SCRAM-SHA-256 and a random password, as a real deployment would. As root, the server
# runs as the `postgres` user (it refuses to run as root).
#
# Only the `export` lines go to stdout; progress and errors go to stderr.
set -euo pipefail

log() { printf 'postgres.sh: %s\n' "$*" >&2; }

# Runs a command as the cluster's owner.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

find_bindir() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then
        printf '%s\n' "$dir"
    fi
}

install_postgres() {
    if [ "$(id -u)" -ne 0 ]; then
        log "PostgreSQL is not installed and installing it needs root"
        exit 1
    fi
    log "installing PostgreSQL from the Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    apt-get install -y --no-install-recommends postgresql >&2
}

stop_cluster() {
    local dir=${TESSERA_TEST_POSTGRES_DIR:?TESSERA_TEST_POSTGRES_DIR is not set}
    local bindir
    bindir=$(find_bindir)
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >&2
    fi
    rm -rf -- "$dir"
    log "stopped and removed $dir"
}

if [ "${1:-start}" = stop ]; then
    stop_cluster
    exit 0
fi

bindir=$(find_bindir)
if [ -z "$bindir" ]; then
    install_postgres
    bindir=$(find_bindir)
    [ -n "$bindir" ] || { log "no initdb under /usr/lib/postgresql after installing"; exit 1; }
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/tessera-pg.XXXXXX")
chmod 0700 "$dir"
if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$dir"
fi

password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
pwfile="$dir/pwfile"
printf '%s\n' "$password" | as_owner tee "$pwfile" >/dev/null

# A linguistic default collation where the server has ICU (PostgreSQL 15+), so the tests prove that
# the schema's own COLLATE "C" gives both backends the same bytewise order.
locale_args=(--locale=C.UTF-8)
if "$bindir/initdb" --help | grep -q -- '--locale-provider'; then
    locale_args+=(--locale-provider=icu --icu-locale=en-US)
fi
as_owner "$bindir/initdb" -D "$dir/data" -U tessera --pwfile="$pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 "${locale_args[@]}" >&2
rm -f -- "$pwfile"

# A free port: the first one from 55432 that nothing answers on.
port=55432
while (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    port=$((port + 1))
    [ "$port" -lt 55532 ] || { log "no free port in 55432..55531"; exit 1; }
done

# Throwaway settings: durability off (fsync) to keep the tests fast; nothing here outlives the run.
as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c full_page_writes=off" \
    start >&2 || { cat "$dir/server.log" >&2; exit 1; }

# The socket with `trust` is for this setup step only; the tests connect over TCP with the password.
as_owner "$bindir/createdb" -h "$dir" -p "$port" -U tessera tessera_test >&2
log "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data in $dir)"

printf 'export TESSERA_TEST_POSTGRES_URL=%q\n' \
    "postgres://tessera:$password@127.0.0.1:$port/tessera_test"
printf 'export TESSERA_TEST_POSTGRES_DIR=%q\n' "$dir"
# The cluster is up, so the storage suite must run against it rather than skip.
printf 'export TESSERA_REQUIRE_POSTGRES=1\n'
