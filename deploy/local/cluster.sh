#!/usr/bin/env bash
# cluster.sh — a whole drover cluster on this machine, for trying drover out
# and for tests: a private PostgreSQL, one coordinator, N workers.
#
#   deploy/local/cluster.sh up [--workers N]   start (idempotent)
#   deploy/local/cluster.sh down               stop exactly what 'up' started
#   deploy/local/cluster.sh status             each component, its pid and port
#   deploy/local/cluster.sh psql [ARGS...]     psql on the cluster's database
#
# Everything lives under $DROVER_STATE_DIR (default <repo>/.state/local):
# the config file, pid files, logs, the PostgreSQL data folder and the
# CurveZMQ keys. 'up' records the ports it used in cluster.env there, so
# 'status', 'down' and 'psql' find the cluster even when the environment
# changed since.
#
# Security: the first 'up' makes three key pairs in keys/ (secret files mode
# 0600): the coordinator's, one shared by the local workers, and an admin
# client key. The config names them (coordinator.secret_key + admin_keys,
# worker.secret_key/coordinator_key, cli.secret_key/coordinator_key), and
# the worker key is allowed with the admin key before the workers start.
# Point drover at the cluster with: export DROVER_CONFIG=<state>/drover.cfg
#
# Environment:
#   DROVER_BIN           programs (default <repo>/build/bin)
#   DROVER_STATE_DIR     state folder (default <repo>/.state/local)
#   DROVER_PG_PORT       private PostgreSQL port (default 7432)
#   DROVER_CLIENT_PORT   coordinator port for the CLI (default 7460)
#   DROVER_WORKER_PORT   coordinator port for workers (default 7461)
#   DROVER_DATABASE      libpq conninfo of an existing database; when set, no
#                        private PostgreSQL is started
#   DROVER_UP_TIMEOUT    seconds 'up' waits for each component (default 30)
#
# PostgreSQL: password authentication (scram-sha-256) only, no "trust":
# the first 'up' generates a password for the superuser postgres and one
# for the role drover (which owns the database drover and is what the
# coordinator connects as), kept in <state>/pgpass (mode 0600; the
# coordinator's conninfo names it with passfile=). 'cluster.sh psql'
# connects as drover with it.
#
# As root, PostgreSQL runs as the 'postgres' user (it refuses root), which
# may not be able to reach the state folder (a checkout in a private home
# folder): its data folder then lives in /var/tmp/drover-0-<hash of the
# state folder path>/pg instead, owned by postgres, and cluster.env records
# where. Nothing to set; DROVER_PG_DIR overrides it.
#
# Restarts: pid files hold "PID START-TIME" (field 22 of /proc/PID/stat),
# so a recycled pid is never taken for a component. 'up' after a crash
# starts only what is not running: a coordinator that died is started
# again on the same ports, and workers still alive are kept (never started
# twice under one name).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE="${DROVER_STATE_DIR:-$REPO/.state/local}"
BIN="${DROVER_BIN:-$REPO/build/bin}"
UP_TIMEOUT="${DROVER_UP_TIMEOUT:-30}"
PROG="cluster.sh"

die() { echo "$PROG: $*" >&2; exit 1; }
say() { echo "$PROG: $*"; }

# Settings: recorded ones (from a previous 'up') win over the environment.
load_settings() {
    PG_PORT="${DROVER_PG_PORT:-7432}"
    CLIENT_PORT="${DROVER_CLIENT_PORT:-7460}"
    WORKER_PORT="${DROVER_WORKER_PORT:-7461}"
    DATABASE="${DROVER_DATABASE:-}"
    PRIVATE_PG=1
    [[ -n "$DATABASE" ]] && PRIVATE_PG=0
    if [[ -f "$STATE/cluster.env" ]]; then
        # shellcheck disable=SC1091
        source "$STATE/cluster.env"
    fi
    if [[ -z "${PGDIR:-}" ]]; then
        if [[ -n "${DROVER_PG_DIR:-}" ]]; then
            PGDIR="$DROVER_PG_DIR"
        elif [[ $(id -u) -eq 0 ]]; then
            PGDIR="/var/tmp/drover-0-$(printf %s "$STATE" | sha256sum | cut -c1-12)/pg"
        else
            PGDIR="$STATE/pg"
        fi
    fi
    PGPASS="$STATE/pgpass"
    CFG="$STATE/drover.cfg"
    KEYS="$STATE/keys"
    CLIENT_EP="tcp://127.0.0.1:$CLIENT_PORT"
    WORKER_EP="tcp://127.0.0.1:$WORKER_PORT"
    [[ $PRIVATE_PG -eq 1 ]] &&
        DATABASE="host=127.0.0.1 port=$PG_PORT dbname=drover user=drover passfile=$PGPASS"
    return 0
}

PGBIN="$(pg_config --bindir 2>/dev/null || true)"
[[ -x "$PGBIN/initdb" ]] || PGBIN=/usr/lib/postgresql/15/bin
if [[ $(id -u) -eq 0 ]]; then AS_PG=(runuser -u postgres --); else AS_PG=(); fi

# start_time PID: field 22 of /proc/PID/stat (clock ticks since boot).
start_time() {
    local st
    st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    st=${st##*) }
    # shellcheck disable=SC2086
    set -- $st
    echo "${20}"
}

# write_pid NAME PID: records the pid and its start time.
write_pid() { echo "$2 $(start_time "$2" || echo 0)" >"$STATE/$1.pid"; }

# pid_of NAME: the pid in NAME.pid when that very process is still alive
# (same start time; the command line names a drover program), else nothing.
pid_of() {
    local f="$STATE/$1.pid" pid start now
    [[ -f "$f" ]] || return 1
    read -r pid start <"$f" 2>/dev/null || return 1
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    grep -q "drover" "/proc/$pid/cmdline" 2>/dev/null || return 1
    if [[ -n "${start:-}" && "$start" != 0 ]]; then
        now=$(start_time "$pid") || return 1
        [[ "$now" == "$start" ]] || return 1
    fi
    alive "$pid" || return 1
    echo "$pid"
}

# pg_psql ARGS...: psql on the private PostgreSQL as its superuser.
pg_psql() {
    PGPASSFILE="$PGPASS" psql -X -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"
}

# make_pgpass: the generated passwords (kept across 'up's).
make_pgpass() {
    [[ -f "$PGPASS" ]] && return 0
    local su dr
    su=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
    dr=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
    (umask 077 && printf '127.0.0.1:%s:*:postgres:%s\n127.0.0.1:%s:*:drover:%s\n' \
        "$PG_PORT" "$su" "$PG_PORT" "$dr" >"$PGPASS")
}

pg_password() { awk -F: -v u="$1" '$4 == u { print $5; exit }' "$PGPASS"; }

alive() { [[ -r "/proc/$1/stat" ]] && ! grep -qE '^[0-9]+ \(.*\) [ZX]' "/proc/$1/stat"; }

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pg_running() {
    [[ $PRIVATE_PG -eq 1 && -f "$PGDIR/data/PG_VERSION" ]] &&
        "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDIR/data" status >/dev/null 2>&1
}

# wait_until SECS WHAT CMD...: polls CMD every 100 ms up to SECS.
wait_until() {
    local secs="$1" what="$2" i
    shift 2
    for ((i = 0; i < secs * 10; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        read -r -t 0.1 <>"$STATE/.tick" || true
    done
    echo "$PROG: gave up after ${secs}s waiting for $what" >&2
    return 1
}

# The admin key is named explicitly: a DROVER_KEY in the caller's
# environment must not stand in for the cluster's own.
drover_cli() {
    "$BIN/drover" --config "$CFG" --coordinator "$CLIENT_EP" --key "$KEYS/admin" \
        --coordinator-key "$KEYS/coordinator.pub" --timeout 1 "$@"
}

# make_keys: the cluster's key pairs, made once and kept (a worker key
# already on the allow-list stays valid across restarts).
make_keys() {
    local k
    mkdir -p "$KEYS"
    chmod 700 "$KEYS"
    for k in coordinator admin local-worker; do
        [[ -f "$KEYS/$k" && -f "$KEYS/$k.pub" ]] && continue
        rm -f "$KEYS/$k" "$KEYS/$k.pub"
        "$BIN/drover" keygen --out "$KEYS/$k" >/dev/null || die "cannot make the $k key in $KEYS"
    done
}

# allow_workers: puts the local workers' key on the allow-list (idempotent).
allow_workers() {
    local have
    have=$(drover_cli keys list --json | jq -r '.[] | select(.name == "local-worker") | .revoked') ||
        die "cannot list the coordinator's keys (log: $STATE/coordinator.log)"
    [[ "$have" == false ]] && return 0
    [[ "$have" == true ]] &&
        die "the local workers' key was revoked; remove $KEYS/local-worker* and run '$0 up' again"
    drover_cli keys allow worker "$KEYS/local-worker.pub" >/dev/null ||
        die "cannot allow the local workers' key"
}

# workers_alive N: every local-1..N has a live process.
workers_alive() {
    local i
    for ((i = 1; i <= $1; i++)); do
        pid_of "worker-local-$i" >/dev/null || return 1
    done
}

workers_registered() {
    local n="$1" names i
    names=$(drover_cli workers --json | jq -r '.. | strings') || return 1
    for ((i = 1; i <= n; i++)); do
        grep -qx "local-$i" <<<"$names" || return 1
    done
}

# stop NAME: SIGTERM, up to 10 s, then SIGKILL; removes the pid file.
stop() {
    local name="$1" pid i
    if pid=$(pid_of "$name"); then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            alive "$pid" || break
            read -r -t 0.1 <>"$STATE/.tick" || true
        done
        if alive "$pid"; then
            say "$name (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        say "stopped $name (pid $pid)"
    fi
    rm -f "$STATE/$name.pid"
}

start_pg() {
    if pg_running; then
        say "PostgreSQL already running on port $PG_PORT"
        return 0
    fi
    port_taken "$PG_PORT" &&
        die "port $PG_PORT (PostgreSQL) is taken by another program; pick another with DROVER_PG_PORT=..."
    [[ -x "$PGBIN/initdb" ]] ||
        die "PostgreSQL server programs not found in $PGBIN; install postgresql (make deps) or set DROVER_DATABASE"
    make_pgpass
    # The pgpass lines name the port: a new port (DROVER_PG_PORT) keeps the passwords.
    sed -i -E "s/^127\.0\.0\.1:[0-9]+:/127.0.0.1:$PG_PORT:/" "$PGPASS"
    if [[ ! -f "$PGDIR/data/PG_VERSION" ]]; then
        if [[ ${#AS_PG[@]} -gt 0 ]]; then
            install -d -m 755 "$(dirname "$PGDIR")"
            install -d -o postgres -g postgres -m 700 "$PGDIR"
            "${AS_PG[@]}" test -w "$PGDIR" ||
                die "user postgres cannot write $PGDIR (a parent folder is private?); set DROVER_PG_DIR to a folder it can reach"
        else
            install -d -m 700 "$PGDIR"
        fi
        say "initialising PostgreSQL in $PGDIR/data (password authentication, passwords in $PGPASS)"
        local pw="$PGDIR/.pw"
        (umask 077 && pg_password postgres >"$pw")
        [[ ${#AS_PG[@]} -gt 0 ]] && chown postgres "$pw"
        "${AS_PG[@]}" "$PGBIN/initdb" -D "$PGDIR/data" -U postgres --auth=scram-sha-256 \
            --pwfile="$pw" -E UTF8 --locale=C.UTF-8 >"$STATE/initdb.log" 2>&1 ||
            { rm -f "$pw"; tail -20 "$STATE/initdb.log" >&2; die "initdb failed (log: $STATE/initdb.log)"; }
        rm -f "$pw"
    fi
    grep -qE '^[^#]*[[:space:]]trust([[:space:]]|$)' "$PGDIR/data/pg_hba.conf" 2>/dev/null &&
        say "WARNING: this cluster's PostgreSQL (made by an older cluster.sh) trusts every local user; remove $PGDIR and $STATE/pgpass to re-create it with passwords"
    "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t "$UP_TIMEOUT" \
        -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -c unix_socket_directories=$PGDIR" \
        start >"$STATE/pg_ctl.log" 2>&1 ||
        { tail -20 "$PGDIR/server.log" >&2 2>/dev/null; die "PostgreSQL did not start (log: $PGDIR/server.log)"; }
    say "PostgreSQL running on 127.0.0.1:$PG_PORT"
    local have
    have=$(pg_psql -d postgres -Atqc "select 1 from pg_roles where rolname = 'drover'") ||
        die "cannot query PostgreSQL on port $PG_PORT (passwords: $PGPASS)"
    if [[ "$have" != 1 ]]; then
        # The password travels on stdin, never on a command line.
        pg_psql -d postgres -v ON_ERROR_STOP=1 -v pw="$(pg_password drover)" -q >/dev/null <<'SQL' ||
CREATE ROLE drover LOGIN PASSWORD :'pw';
SQL
            die "cannot create the role drover"
    fi
    have=$(pg_psql -d postgres -Atqc "select 1 from pg_database where datname = 'drover'") ||
        die "cannot query PostgreSQL on port $PG_PORT"
    if [[ "$have" != 1 ]]; then
        pg_psql -d postgres -Atqc 'create database drover owner drover' >/dev/null ||
            die "cannot create database drover"
    fi
}

write_config() {
    cat >"$CFG" <<EOF
# written by deploy/local/cluster.sh — regenerated on every 'up'
coordinator = {
  client_endpoint = "$CLIENT_EP";
  worker_endpoint = "$WORKER_EP";
  database = "$DATABASE";
  secret_key = "$KEYS/coordinator";
  admin_keys = [ "$KEYS/admin.pub" ];
  # the workers' artifact store: the coordinator verifies model artifacts there
  artifact_dir = "$STATE/artifacts";
  # data triggers may watch only these folders (and below): the examples' data
  trigger_roots = [ "$REPO/examples" ];
};
worker = {
  coordinator = "$WORKER_EP";
  slots = 2;
  # one folder shared by every local worker, as a shared filesystem would be
  artifact_dir = "$STATE/artifacts";
  # records of live task units (worker/contain.h), one folder per worker
  state_dir = "$STATE/worker-state";
  # 'down' waits 10 s per worker: running steps get 5 s, then go back
  drain = "5s";
  secret_key = "$KEYS/local-worker";
  coordinator_key = "$KEYS/coordinator.pub";
};
cli = {
  coordinator = "$CLIENT_EP";
  secret_key = "$KEYS/admin";
  coordinator_key = "$KEYS/coordinator.pub";
};
EOF
}

cmd_up() {
    local nworkers=2
    while [[ $# -gt 0 ]]; do
        case "$1" in
        --workers) nworkers="${2:-}"; shift 2 || die "--workers needs a number" ;;
        --workers=*) nworkers="${1#--workers=}"; shift ;;
        *) die "unknown option for up: $1 (usage: cluster.sh up [--workers N])" ;;
        esac
    done
    [[ "$nworkers" =~ ^[0-9]+$ && $nworkers -ge 1 && $nworkers -le 64 ]] || die "--workers must be 1..64"
    for b in drover drover-coordinator drover-worker; do
        [[ -x "$BIN/$b" ]] || die "$BIN/$b not found; run 'make build' first (or set DROVER_BIN)"
    done
    command -v jq >/dev/null || die "jq is needed; run 'make deps'"

    mkdir -p "$STATE"
    [[ -p "$STATE/.tick" ]] || mkfifo "$STATE/.tick"
    local i running=0 some=0
    pid_of coordinator >/dev/null && running=1
    for ((i = 1; i <= nworkers; i++)); do
        pid_of "worker-local-$i" >/dev/null && some=1
    done
    if [[ $running -eq 1 ]] && workers_alive "$nworkers"; then
        say "the cluster is already up"
        cmd_status || true
        return 0
    fi
    if [[ $running -eq 0 && $some -eq 0 ]] && ! pg_running; then
        # A fresh start: forget ports recorded by an earlier cluster.
        rm -f "$STATE/cluster.env"
        PGDIR=""
        load_settings
    else
        # Part of the cluster still runs (a crashed coordinator, a dead
        # worker): same ports, start only what is missing.
        say "part of the cluster is still running; starting what is missing"
    fi
    cat >"$STATE/cluster.env" <<EOF
PG_PORT=$PG_PORT
CLIENT_PORT=$CLIENT_PORT
WORKER_PORT=$WORKER_PORT
PRIVATE_PG=$PRIVATE_PG
PGDIR=$(printf %q "$PGDIR")
DATABASE=$(printf %q "$DATABASE")
EOF

    [[ $PRIVATE_PG -eq 1 ]] && start_pg
    make_keys
    write_config

    if [[ $running -eq 0 ]]; then
        port_taken "$CLIENT_PORT" &&
            die "port $CLIENT_PORT (coordinator, clients) is taken; pick another with DROVER_CLIENT_PORT=..."
        port_taken "$WORKER_PORT" &&
            die "port $WORKER_PORT (coordinator, workers) is taken; pick another with DROVER_WORKER_PORT=..."
        # setsid: the daemons outlive this script and ignore the terminal's ^C.
        setsid "$BIN/drover-coordinator" --config "$CFG" </dev/null >>"$STATE/coordinator.log" 2>&1 &
        write_pid coordinator $!
    fi
    if ! wait_until "$UP_TIMEOUT" "the coordinator to serve on $CLIENT_EP" drover_cli info; then
        tail -20 "$STATE/coordinator.log" >&2
        die "the coordinator did not come up (log: $STATE/coordinator.log; stop with: $0 down)"
    fi
    say "coordinator pid $(pid_of coordinator): clients $CLIENT_EP, workers $WORKER_EP"
    allow_workers

    local pid
    for ((i = 1; i <= nworkers; i++)); do
        if pid=$(pid_of "worker-local-$i"); then
            say "worker local-$i still running (pid $pid): kept"
            continue
        fi
        setsid "$BIN/drover-worker" --config "$CFG" --name "local-$i" --slots 2 \
            </dev/null >>"$STATE/worker-local-$i.log" 2>&1 &
        write_pid "worker-local-$i" $!
    done
    if ! wait_until "$UP_TIMEOUT" "$nworkers workers to register" workers_registered "$nworkers"; then
        tail -n 10 "$STATE"/worker-*.log >&2
        die "the workers did not register (logs: $STATE/worker-*.log; stop with: $0 down)"
    fi
    say "$nworkers workers registered (local-1..local-$nworkers, 2 slots each)"
    say "up (CurveZMQ keys in $KEYS). Point drover at it, then try it:"
    say "  export DROVER_CONFIG=$CFG"
    say "  $BIN/drover workers"
}

cmd_down() {
    [[ -d "$STATE" ]] || { say "nothing to stop (no $STATE)"; return 0; }
    [[ -p "$STATE/.tick" ]] || mkfifo "$STATE/.tick"
    local f
    for f in "$STATE"/worker-*.pid; do
        [[ -e "$f" ]] || continue
        stop "$(basename "$f" .pid)"
    done
    stop coordinator
    if pg_running; then
        "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
            "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDIR/data" -m immediate -w stop >/dev/null 2>&1 ||
            die "could not stop PostgreSQL in $PGDIR/data"
        say "stopped PostgreSQL (port $PG_PORT)"
    fi
    say "down (state, logs and data kept in $STATE; remove that folder to start from scratch)"
}

cmd_status() {
    local all=0 pid f name
    printf '%-14s %-12s %-8s %s\n' COMPONENT STATE PID WHERE
    if [[ $PRIVATE_PG -eq 1 ]]; then
        if pg_running; then
            pid=$(head -1 "$PGDIR/data/postmaster.pid" 2>/dev/null || echo '?')
            printf '%-14s %-12s %-8s %s\n' postgresql running "$pid" "127.0.0.1:$PG_PORT ($PGDIR/data)"
        else
            printf '%-14s %-12s %-8s %s\n' postgresql "not running" - "127.0.0.1:$PG_PORT"
            all=1
        fi
    else
        printf '%-14s %-12s %-8s %s\n' postgresql external - "$DATABASE"
    fi
    if pid=$(pid_of coordinator); then
        printf '%-14s %-12s %-8s %s\n' coordinator running "$pid" "clients $CLIENT_EP, workers $WORKER_EP"
    else
        printf '%-14s %-12s %-8s %s\n' coordinator "not running" - "clients $CLIENT_EP, workers $WORKER_EP"
        all=1
    fi
    for f in "$STATE"/worker-*.pid; do
        [[ -e "$f" ]] || continue
        name=$(basename "$f" .pid)
        if pid=$(pid_of "$name"); then
            printf '%-14s %-12s %-8s %s\n' "${name#worker-}" running "$pid" "log $STATE/$name.log"
        else
            printf '%-14s %-12s %-8s %s\n' "${name#worker-}" "not running" - "log $STATE/$name.log"
            all=1
        fi
    done
    return $all
}

cmd_psql() {
    if [[ $PRIVATE_PG -eq 1 ]]; then
        PGPASSFILE="$PGPASS" exec psql -X -h 127.0.0.1 -p "$PG_PORT" -U drover -d drover "$@"
    else
        exec psql "$DATABASE" "$@"
    fi
}

usage() {
    sed -n '2,/^set -euo pipefail$/{/^set /!p}' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

load_settings
case "${1:-}" in
up) shift; cmd_up "$@" ;;
down) cmd_down ;;
status) cmd_status ;;
psql) shift; cmd_psql "$@" ;;
-h | --help | help) usage ;;
*) usage >&2; exit 2 ;;
esac
