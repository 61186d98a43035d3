#!/usr/bin/env bash
# Run a command against a throwaway PostgreSQL cluster, then remove the cluster.
#
#   bash ci/postgres.sh COMMAND [ARG...]
#   e.g. bash ci/postgres.sh .venv/bin/python -m pytest
#
# The cluster lives in a fresh temporary folder (mktemp -d), listens on 127.0.0.1 on a free
# port (and on a unix socket inside that folder), runs with fsync off, and has one database
# and one password-protected role for the tests. COMMAND runs with these variables set:
#
#   OAUTH_CC_TEST_DB=postgres  PGHOST=127.0.0.1  PGPORT  PGUSER  PGPASSWORD  PGDATABASE
#
# (tests/settings.py reads them). On exit, whatever the cause, the server is stopped and the
# folder deleted; the script exits with COMMAND's status (2 if the cluster cannot be set up).
# Should this script be killed outright (SIGKILL), a watchdog stops the cluster.
#
# PostgreSQL refuses to run as root: as root, the server runs as the system user
# $OAUTH_CC_PG_OS_USER (default oauthcc-pg, created with useradd --system if missing; if it
# cannot be created, nobody). The server binaries are taken from $PG_BINDIR if set, else the
# newest /usr/lib/postgresql/*/bin, else PATH. Debian/Ubuntu: apt-get install postgresql.
set -euo pipefail

say() { printf 'ci/postgres.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 2; }

if [ "$#" -eq 0 ]; then
    sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//' >&2
    die "no COMMAND given"
fi

# --- the server binaries --------------------------------------------------------------------
bindir="${PG_BINDIR:-}"
if [ -z "$bindir" ]; then
    for candidate in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r); do
        if [ -x "$candidate/initdb" ] && [ -x "$candidate/pg_ctl" ]; then
            bindir="$candidate"
            break
        fi
    done
fi
if [ -z "$bindir" ] && command -v initdb >/dev/null 2>&1; then
    bindir="$(dirname "$(readlink -f "$(command -v initdb)")")"
fi
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
    die "initdb not found (looked in \$PG_BINDIR, /usr/lib/postgresql/*/bin and PATH): \
install the PostgreSQL server (Debian/Ubuntu: apt-get install postgresql) or set PG_BINDIR"
fi
for tool in pg_ctl postgres; do
    [ -x "$bindir/$tool" ] || die "$bindir/$tool not found next to initdb"
done
psql="$bindir/psql"
[ -x "$psql" ] || psql="$(command -v psql || true)"
[ -n "$psql" ] || die "psql not found (Debian/Ubuntu: apt-get install postgresql-client)"

# --- who runs the server --------------------------------------------------------------------
as_server=()   # the prefix that runs a command as the server's user
server_user="$(id -un)"
if [ "$(id -u)" -eq 0 ]; then
    server_user="${OAUTH_CC_PG_OS_USER:-oauthcc-pg}"
    if ! id -u "$server_user" >/dev/null 2>&1; then
        if ! useradd --system --no-create-home --home-dir /nonexistent \
                --shell /usr/sbin/nologin "$server_user" >/dev/null 2>&1 \
                && ! id -u "$server_user" >/dev/null 2>&1; then   # lost a race: fine
            say "cannot create the system user $server_user; using nobody"
            server_user=nobody
        fi
    fi
    if command -v runuser >/dev/null 2>&1; then
        as_server=(runuser -u "$server_user" --)
    elif command -v setpriv >/dev/null 2>&1; then
        as_server=(setpriv --reuid="$server_user" --regid="$(id -g "$server_user")"
                   --clear-groups --)
    else
        die "need runuser or setpriv (util-linux) to run PostgreSQL as $server_user"
    fi
fi
as_server_user() { ${as_server[@]+"${as_server[@]}"} "$@"; }

# --- the cluster, removed on exit -----------------------------------------------------------
tmp="$(mktemp -d "${TMPDIR:-/tmp}/oauthcc-pg.XXXXXX")"
data="$tmp/data"
log="$tmp/postgres.log"
stop=(${as_server[@]+"${as_server[@]}"} "$bindir/pg_ctl" -D "$data" -m immediate -w -t 30 stop)
started=""
child=""
watchdog=""

# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
    local status=$?
    trap - EXIT INT TERM HUP
    if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
        kill -TERM "$child" 2>/dev/null || true
        wait "$child" 2>/dev/null || true
    fi
    if [ -n "$started" ]; then
        (cd / && "${stop[@]}") >/dev/null 2>&1 || say "pg_ctl stop failed; see $log"
    fi
    [ -z "$watchdog" ] || kill "$watchdog" 2>/dev/null || true
    rm -rf -- "$tmp"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

chmod 700 "$tmp"
[ "$server_user" = "$(id -un)" ] || chown "$server_user" "$tmp"
here="$PWD"
cd "$tmp"   # the server's user must be able to stand in the current folder

# A random password for the test role. Unix-socket connections (only the server's user and
# root can reach the folder) are trusted; TCP connections need the password.
password="$(od -An -tx1 -N18 /dev/urandom | tr -d ' \n')"
db_user="oauth_cc"
db_name="oauth_cc"

as_server_user "$bindir/initdb" -D "$data" -U postgres --encoding=UTF8 --locale=C \
    --auth-local=trust --auth-host=scram-sha-256 --no-sync >"$tmp/initdb.log" 2>&1 \
    || { cat "$tmp/initdb.log" >&2; die "initdb failed"; }

as_server_user sh -c "cat >> '$data/postgresql.conf'" <<EOF
# ci/postgres.sh: a throwaway test cluster, speed over durability
listen_addresses = '127.0.0.1'
unix_socket_directories = '$tmp'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 100
timezone = 'UTC'
EOF

# The watchdog, in its own session: if this script dies without its trap (SIGKILL, or its
# whole process group killed), stop the server and delete the folder.
# shellcheck disable=SC2016  # the inner script expands its own arguments
setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 2; done
                tmp=$2; shift 2; cd / && "$@" >/dev/null 2>&1; rm -rf -- "$tmp"' \
    watchdog "$$" "$tmp" "${stop[@]}" </dev/null >/dev/null 2>&1 &
watchdog=$!

# A free port: skip ports something already listens on, and retry if the server loses a race.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port=""
for _attempt in 1 2 3 4 5 6 7 8; do
    candidate=$(( 20000 + (RANDOM * 32768 + RANDOM) % 30000 ))
    port_in_use "$candidate" && continue
    rm -f "$log"
    if as_server_user "$bindir/pg_ctl" -D "$data" -l "$log" -o "-p $candidate" -w -t 60 start \
            >/dev/null 2>&1; then
        started=yes
        port="$candidate"
        break
    fi
    if ! grep -qiE 'address already in use|could not bind|could not create' "$log"; then
        cat "$log" >&2 || true
        die "PostgreSQL did not start"
    fi
done
[ -n "$port" ] || { cat "$log" >&2 2>/dev/null || true; die "no free port found"; }

as_server_user "$psql" -X -q -v ON_ERROR_STOP=1 -h "$tmp" -p "$port" -U postgres -d postgres \
    >/dev/null <<EOF
CREATE ROLE $db_user LOGIN CREATEDB PASSWORD '$password';
CREATE DATABASE $db_name OWNER $db_user;
EOF

export OAUTH_CC_TEST_DB=postgres
export PGHOST=127.0.0.1 PGPORT="$port" PGUSER="$db_user" PGPASSWORD="$password"
export PGDATABASE="$db_name"
unset PGSERVICE PGSERVICEFILE PGSSLMODE PGOPTIONS PGHOSTADDR 2>/dev/null || true
say "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') in $tmp (server user" \
    "$server_user):"
say "  OAUTH_CC_TEST_DB=postgres PGHOST=$PGHOST PGPORT=$PGPORT PGUSER=$PGUSER" \
    "PGPASSWORD=$PGPASSWORD PGDATABASE=$PGDATABASE"

# COMMAND runs in the background (stdin kept) so that a TERM, INT or HUP sent to this script
# is handled at once: COMMAND gets a TERM, then the cluster goes.
cd "$here"
"$@" <&0 &
child=$!
set +e
wait "$child"
status=$?
set -e
child=""
exit "$status"
