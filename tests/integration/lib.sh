# shellcheck shell=bash
# lib.sh — shared harness of drover's integration tests (sourced, bash).
#
# Each test script sources this file and gets:
#   - a private temp dir $T_DIR (mktemp -d), removed at exit unless
#     DROVER_TEST_KEEP=1 (handy when debugging a failure);
#   - an EXIT trap that stops everything the test started: the coordinator,
#     the workers, PostgreSQL, and any pid the test registered with
#     t_track_pid, then scans daemon logs for sanitizer reports (a report
#     fails the test even when every assertion passed); T_CLEANUP_HOOKS
#     run before the daemons are stopped, T_CLEANUP_LATE_HOOKS after;
#   - a watchdog that sends the script SIGTERM before ctest's TIMEOUT would
#     SIGKILL it, so cleanup still runs and no daemon outlives the test;
#   - helpers: pg_start/pg_stop, coord_start/coord_stop, worker_start,
#     sql, wait_for, fail, assert_eq, submit, wait_run.
#
# Data triggers may watch folders under $T_DIR only (coordinator.trigger_roots;
# T_TRIGGER_ROOTS="" before coord_start writes none); the test clock
# ($DROVER_CLOCK_FILE, see clock_init) is honoured because the config then
# says coordinator.test_clock = true (T_TEST_CLOCK=0 leaves it out).
#
# Security: tests run the way a real cluster does, with CurveZMQ. The first
# coord_start makes three key pairs under $T_KEYS (coordinator, admin,
# worker); the coordinator gets its secret and admin_keys = [admin.pub],
# every `drover` call the admin key through DROVER_KEY and
# DROVER_COORDINATOR_KEY, and every worker the shared worker key through the
# worker section of the config, allowed (`drover keys allow worker`) before
# the first worker starts. A test that needs a coordinator without CURVE
# sets T_INSECURE=1 before coord_start (workers then get --insecure through
# the config, and no key is exported).
#
# Synchronisation rule: nothing here sleeps and hopes. Every "until X"
# is wait_for with a condition and a deadline; on timeout it prints what it
# waited for and the tail of every log, and fails the test. Deadlines are
# liveness bounds (generous), never speed claims.
#
# Hosts: by default everything runs on loopback (T_HOST=127.0.0.1) in this
# network namespace. tests/netns/lib.sh puts PostgreSQL, the coordinator
# and each worker in network namespaces of their own: it sets T_HOST to the
# coordinator's address and T_NS[ROLE] (ROLE = pg, coordinator,
# coordinator2, worker-NAME) to the namespace a role's processes start in.
#
# Environment: DROVER_BIN (where drover, drover-coordinator, drover-worker
# and the drover-test-* helpers live; default <repo>/build/bin).

set -euo pipefail

T_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
T_WF="$T_REPO/tests/integration/workflows"
DROVER_BIN="${DROVER_BIN:-$T_REPO/build/bin}"
T_NAME="$(basename "$0" .sh)"
T_LIMIT="${DROVER_TEST_LIMIT:-110}"   # seconds; ctest kills at 120

for _b in drover drover-coordinator drover-worker drover-test-freeport drover-test-zmqpoke; do
    if [[ ! -x "$DROVER_BIN/$_b" ]]; then
        echo "$T_NAME: $DROVER_BIN/$_b is missing; build first (make build) or set DROVER_BIN" >&2
        exit 1
    fi
done
export PATH="$DROVER_BIN:$PATH"

T_DIR="$(mktemp -d "${TMPDIR:-/tmp}/drover-it-$T_NAME.XXXXXX")"
# PostgreSQL runs as 'postgres' when we are root and must reach its folder.
chmod 755 "$T_DIR"

declare -A T_PROCS=()     # name -> pid of daemons we started (stopped at exit)
T_EXTRA_PIDS=()           # task processes etc. to SIGKILL at exit if still alive
T_CLEANUP_HOOKS=()        # commands run first at exit (e.g. cluster.sh down)
T_CLEANUP_LATE_HOOKS=()   # commands run last at exit, once every process is stopped
T_FAILED_STOP=0
PG_PORT=""
PG_DIR=""
PG_STARTED=0
COORD_CLIENT_EP=""
COORD_WORKER_EP=""
T_CFG="$T_DIR/drover.cfg"
T_COORD_EXTRA=""
T_WORKER_EXTRA=""
T_WORKER_DRAIN="1s" # SIGTERM at cleanup: running tasks are handed back after 1 s
T_KEYS="$T_DIR/keys"
T_HOST="${T_HOST:-127.0.0.1}" # the address PostgreSQL and the coordinator listen on
declare -A T_NS=()            # role -> network namespace (tests/netns/lib.sh)
T_PFX=()                      # set by t_pfx
T_INSECURE="${T_INSECURE:-0}"
T_WORKER_KEY_ALLOWED=0

if [[ $(id -u) -eq 0 ]]; then T_AS_PG=(runuser -u postgres --); else T_AS_PG=(); fi
T_PGBIN="$(pg_config --bindir 2>/dev/null || true)"
[[ -x "$T_PGBIN/initdb" ]] || T_PGBIN=/usr/lib/postgresql/15/bin

log() { printf '[%s %s] %s\n' "$(date +%H:%M:%S.%3N)" "$T_NAME" "$*" >&2; }

# Prints the last lines of every log the test produced.
dump_logs() {
    local f
    for f in "$T_DIR"/*.log "$T_DIR"/pg/server.log "$T_DIR"/cluster/*.log; do
        [[ -f "$f" ]] || continue
        echo "----- $f (last ${1:-40} lines) -----" >&2
        tail -n "${1:-40}" "$f" >&2 || true
    done
}

# fail MSG: reports the failure with the logs and ends the test (exit 1).
fail() {
    echo "FAIL [$T_NAME]: $*" >&2
    dump_logs
    exit 1
}

# assert_eq EXPECTED ACTUAL WHAT
assert_eq() {
    [[ "$1" == "$2" ]] || fail "$3: expected '$1', got '$2'"
}

# assert_ge A B WHAT (numbers, floats allowed): A >= B
assert_ge() {
    awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }' || fail "$3: expected $1 >= $2"
}

_now() { echo "${EPOCHREALTIME/,/.}"; }

# wait_for DESCRIPTION DEADLINE_SECS CMD...: runs CMD every 50 ms until it
# succeeds; after DEADLINE_SECS reports DESCRIPTION and the logs and fails.
wait_for() {
    local what="$1" secs="$2"
    shift 2
    local end
    end=$(awk -v n="$(_now)" -v s="$secs" 'BEGIN { printf "%.3f", n + s }')
    while true; do
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        if awk -v n="$(_now)" -v e="$end" 'BEGIN { exit !(n > e) }'; then
            echo "TIMEOUT [$T_NAME] after ${secs}s waiting for: $what" >&2
            echo "  condition: $*" >&2
            fail "timed out waiting for: $what"
        fi
        # read -t on a never-written FIFO is a 50 ms pause without a process.
        read -r -t 0.05 <>"$T_DIR/.tick" || true
    done
}
mkfifo "$T_DIR/.tick"

# pid_alive PID: the process exists and is not a zombie (PID 1 here may not
# reap orphans, so a zombie counts as gone).
pid_alive() {
    local st
    [[ -r "/proc/$1/stat" ]] || return 1
    st=$(sed -E 's/^[0-9]+ \(.*\) ([A-Za-z]).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n "$st" && "$st" != Z && "$st" != X ]]
}
pid_gone() { ! pid_alive "$1"; }

t_track_pid() { T_EXTRA_PIDS+=("$@"); }

# stop_pid NAME PID: SIGTERM, wait up to 10 s, then SIGKILL. Returns the
# exit status (128+signal when killed).
stop_pid() {
    local name="$1" pid="$2" i rc=0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 200; i++)); do
            pid_alive "$pid" || break
            read -r -t 0.05 <>"$T_DIR/.tick" || true
        done
        if pid_alive "$pid"; then
            log "$name (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || rc=$?
    return "$rc"
}

# _t_end_units: a worker the test SIGKILLed and never restarted leaves its
# task units (worker/contain.h): end their processes and remove the cgroups
# its records name, so nothing outlives the test.
_t_end_units() {
    local rec cg base dir h i c
    for rec in "$T_DIR"/worker-state/*/units/*; do
        [[ -f "$rec" ]] || continue
        cg=$(sed -n 3p "$rec")
        [[ -n "$cg" && -d "$cg" ]] || continue
        echo 1 >"$cg/cgroup.kill" 2>/dev/null || true
        for _ in 1 2 3 4 5 6 7 8 9 10; do rmdir "$cg" 2>/dev/null && break; sleep 0.05; done
    done
    # The base cgroup of each worker: drover-<FNV-1a of its state folder>
    # (worker/contain.c), in the root of the v2 hierarchy here.
    for dir in "$T_DIR"/worker-state/*; do
        [[ -d "$dir" ]] || continue
        h=2166136261
        for ((i = 0; i < ${#dir}; i++)); do
            printf -v c '%d' "'${dir:i:1}"
            h=$((((h ^ c) * 16777619) & 0xffffffff))
        done
        printf -v base 'drover-%08x' "$h"
        for cg in /sys/fs/cgroup/"$base" /sys/fs/cgroup/unified/"$base"; do
            [[ -d "$cg" ]] && rmdir "$cg" 2>/dev/null
        done
    done
    return 0
}

_t_cleanup() {
    local rc=$? name pid src
    trap - EXIT INT TERM
    if [[ -n "${T_WATCHDOG:-}" ]]; then kill -KILL "$T_WATCHDOG" 2>/dev/null; wait "$T_WATCHDOG" 2>/dev/null || true; fi
    local h
    for h in "${T_CLEANUP_HOOKS[@]}"; do
        eval "$h" >&2 || true
    done
    # Workers first so they do not spin reconnecting to a gone coordinator.
    for name in "${!T_PROCS[@]}"; do
        [[ "$name" == worker-* ]] || continue
        stop_pid "$name" "${T_PROCS[$name]}" || log "$name exited with status $? on SIGTERM"
    done
    for name in "${!T_PROCS[@]}"; do
        [[ "$name" == worker-* ]] && continue
        src=0
        stop_pid "$name" "${T_PROCS[$name]}" || src=$?
        if [[ $src -ne 0 ]]; then
            log "$name exited with status $src on SIGTERM (expected 0)"
            T_FAILED_STOP=1
        fi
    done
    for pid in "${T_EXTRA_PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    _t_end_units
    pg_stop || true
    for h in "${T_CLEANUP_LATE_HOOKS[@]}"; do
        eval "$h" >&2 || true
    done
    if grep -lE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$T_DIR"/*.log >/dev/null 2>&1; then
        echo "FAIL [$T_NAME]: sanitizer report in a daemon log:" >&2
        grep -A 30 -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$T_DIR"/*.log >&2 || true
        rc=1
    fi
    if [[ $T_FAILED_STOP -ne 0 && $rc -eq 0 ]]; then
        echo "FAIL [$T_NAME]: a daemon did not exit cleanly on SIGTERM" >&2
        dump_logs 20
        rc=1
    fi
    if [[ "${DROVER_TEST_KEEP:-0}" == 1 ]]; then
        log "keeping $T_DIR"
    else
        rm -rf "$T_DIR"
    fi
    if [[ $rc -eq 0 ]]; then log "PASS"; else log "FAILED (status $rc)"; fi
    exit "$rc"
}
trap _t_cleanup EXIT
trap 'echo "[$T_NAME] interrupted" >&2; exit 1' INT TERM

# Watchdog: SIGTERM ourselves before ctest's hard kill so the trap cleans up.
mkfifo "$T_DIR/.watchdog"
(
    trap - EXIT
    read -r -t "$T_LIMIT" <>"$T_DIR/.watchdog" || true
    echo "[$T_NAME] watchdog: test ran past ${T_LIMIT}s; stopping it" >&2
    kill -TERM $$ 2>/dev/null
) &
T_WATCHDOG=$!

freeport() { drover-test-freeport "${1:-1}"; }

# t_pfx ROLE: sets T_PFX to the command prefix that starts a process of
# ROLE in its network namespace (empty when it has none). nsenter, not `ip
# netns exec`: that remounts /sys, hiding the cgroup hierarchy from a
# worker. Both exec the command, so $! after `"${T_PFX[@]}" CMD &` is CMD's
# pid.
t_pfx() {
    local ns="${T_NS[$1]:-}"
    T_PFX=()
    [[ -z "$ns" ]] || T_PFX=(nsenter "--net=/run/netns/$ns" --)
}

# ------------------------------------------------------------ PostgreSQL ---

# pg_init: picks the port and conninfo without starting anything (so a test
# can start the coordinator first).
pg_init() {
    [[ -n "$PG_PORT" ]] && return 0
    PG_PORT=$(freeport)
    PG_DIR="$T_DIR/pg"
    DB_CONNINFO="host=$T_HOST port=$PG_PORT dbname=drover user=postgres connect_timeout=5"
}

# pg_start: a private PostgreSQL on 127.0.0.1:$PG_PORT with database drover.
# fsync stays on: tests about durability must not run on a lying disk.
# --auth=trust is for tests only: a throwaway cluster on a free loopback
# port inside the test's own folder, gone when the test ends. The local
# cluster a person runs (deploy/local/cluster.sh) uses passwords.
pg_start() {
    pg_init
    if [[ ${#T_AS_PG[@]} -gt 0 ]]; then
        install -d -o postgres -g postgres -m 700 "$PG_DIR"
    else
        install -d -m 700 "$PG_DIR"
    fi
    pg_template
    cp -a "$PG_TEMPLATE" "$PG_DIR/data" || fail "cannot copy the PostgreSQL template $PG_TEMPLATE"
    # Off loopback (tests/netns): the database host's own address only.
    [[ "$T_HOST" == 127.0.0.1 ]] || echo "host all all $T_HOST/32 trust" >>"$PG_DIR/data/pg_hba.conf"
    t_pfx pg
    "${T_PFX[@]}" "${T_AS_PG[@]}" "$T_PGBIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
        -o "-c listen_addresses=$T_HOST -p $PG_PORT -c unix_socket_directories=$PG_DIR -c fsync=on" \
        start >"$T_DIR/pg_ctl.out" 2>&1 ||
        { cat "$T_DIR/pg_ctl.out" >&2; fail "PostgreSQL did not start on port $PG_PORT"; }
    PG_STARTED=1
}

# pg_template: $PG_TEMPLATE, a stopped data folder made by initdb with an
# empty database drover, made once per build folder, PostgreSQL version and
# user (under a lock, moved into place whole) and copied by every pg_start:
# initdb and CREATE DATABASE were a second of every test, twice per CI run.
pg_template() {
    local ver key tmp port fd
    ver=$("$T_PGBIN/postgres" -V | awk '{ print $3 }')
    key="pg-template-$ver-u$(id -u)-v1"
    PG_TEMPLATE="${DROVER_TEST_PG_TEMPLATE_DIR:-$DROVER_BIN/..}/$key"
    [[ -f "$PG_TEMPLATE/PG_VERSION" && ! -e "$PG_TEMPLATE/postmaster.pid" ]] && return 0
    exec {fd}>>"$PG_TEMPLATE.lock" || fail "cannot open $PG_TEMPLATE.lock"
    flock "$fd" || fail "cannot lock $PG_TEMPLATE.lock"
    if [[ ! -f "$PG_TEMPLATE/PG_VERSION" || -e "$PG_TEMPLATE/postmaster.pid" ]]; then
        rm -rf "$PG_TEMPLATE"
        tmp="$T_DIR/pg-template"
        if [[ ${#T_AS_PG[@]} -gt 0 ]]; then
            install -d -o postgres -g postgres -m 700 "$tmp"
        else
            install -d -m 700 "$tmp"
        fi
        "${T_AS_PG[@]}" "$T_PGBIN/initdb" -D "$tmp/data" -U postgres --auth=trust -E UTF8 \
            --locale=C.UTF-8 --no-sync >"$T_DIR/initdb.out" 2>&1 ||
            { cat "$T_DIR/initdb.out" >&2; fail "initdb failed"; }
        port=$(freeport)
        "${T_AS_PG[@]}" "$T_PGBIN/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w -t 60 \
            -o "-c listen_addresses= -p $port -c unix_socket_directories=$tmp" start >"$T_DIR/pg_ctl.out" 2>&1 ||
            { cat "$T_DIR/pg_ctl.out" "$tmp/server.log" >&2; fail "the template PostgreSQL did not start"; }
        psql -X -h "$tmp" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -Atqc \
            'create database drover' >/dev/null || fail "cannot create database drover in the template"
        "${T_AS_PG[@]}" "$T_PGBIN/pg_ctl" -D "$tmp/data" -m fast -w -t 60 stop >/dev/null 2>&1 ||
            fail "the template PostgreSQL did not stop"
        mv "$tmp/data" "$PG_TEMPLATE.new.$$" && mv -T "$PG_TEMPLATE.new.$$" "$PG_TEMPLATE" ||
            fail "cannot move the template into $PG_TEMPLATE"
    fi
    exec {fd}>&-
}

pg_stop() {
    [[ $PG_STARTED -eq 1 ]] || return 0
    PG_STARTED=0
    "${T_AS_PG[@]}" "$T_PGBIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
        "${T_AS_PG[@]}" "$T_PGBIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1
}

# pg_resume: starts the PostgreSQL that pg_stop stopped (same data).
pg_resume() {
    [[ $PG_STARTED -eq 0 ]] || return 0
    t_pfx pg
    "${T_PFX[@]}" "${T_AS_PG[@]}" "$T_PGBIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
        -o "-c listen_addresses=$T_HOST -p $PG_PORT -c unix_socket_directories=$PG_DIR -c fsync=on" \
        start >"$T_DIR/pg_ctl.out" 2>&1 ||
        { cat "$T_DIR/pg_ctl.out" >&2; fail "PostgreSQL did not start again on port $PG_PORT"; }
    PG_STARTED=1
}

# sql QUERY: runs QUERY on the test database, unaligned, tuples only.
sql() {
    psql -X -h "$T_HOST" -p "$PG_PORT" -U postgres -d drover -v ON_ERROR_STOP=1 -Atqc "$1"
}

# sql_is QUERY EXPECTED: succeeds when QUERY returns exactly EXPECTED.
sql_is() {
    local got
    got=$(sql "$1" 2>/dev/null) || return 1
    [[ "$got" == "$2" ]]
}

# ----------------------------------------------------------- coordinator ---

# keys_init: the coordinator, admin (client) and worker key pairs, made
# once per test with `drover keygen` (secret files mode 0600).
keys_init() {
    [[ -f "$T_KEYS/coordinator" ]] && return 0
    mkdir -p -m 700 "$T_KEYS"
    local k
    for k in coordinator admin worker; do
        drover keygen --out "$T_KEYS/$k" >/dev/null || fail "drover keygen --out $T_KEYS/$k exited $?"
    done
}

# _write_config: the test config. Short timers keep failure detection fast;
# extra coordinator settings come from T_COORD_EXTRA, worker ones from
# T_WORKER_EXTRA.
_write_config() {
    local coord_sec worker_sec
    if [[ "$T_INSECURE" == 1 ]]; then
        coord_sec="  insecure = true;"
        worker_sec="  insecure = true;"
    else
        coord_sec="  secret_key = \"$T_KEYS/coordinator\";
  admin_keys = [ \"$T_KEYS/admin.pub\" ];"
        worker_sec="  secret_key = \"$T_KEYS/worker\";
  coordinator_key = \"$T_KEYS/coordinator.pub\";"
    fi
    cat >"$T_CFG" <<EOF
# written by tests/integration/lib.sh for $T_NAME
coordinator = {
  client_endpoint = "$COORD_CLIENT_EP";
  worker_endpoint = "$COORD_WORKER_EP";
  database = "$DB_CONNINFO";
  heartbeat_interval = "100ms";
  worker_timeout = "1s";
  retry_delay_cap = "2s";
  artifact_dir = "$T_DIR/artifacts";
$coord_sec
$([[ -n "${T_TRIGGER_ROOTS-$T_DIR}" ]] && echo "  trigger_roots = [ \"${T_TRIGGER_ROOTS-$T_DIR}\" ];")
$([[ -n "${DROVER_CLOCK_FILE:-}" && "${T_TEST_CLOCK:-1}" == 1 ]] && echo "  test_clock = true;")
$T_COORD_EXTRA
};
worker = {
  coordinator = "$COORD_WORKER_EP";
  kill_grace = "1s";
  state_dir = "$T_DIR/worker-state";
  drain = "$T_WORKER_DRAIN";
$worker_sec
$T_WORKER_EXTRA
};
cli = {
  coordinator = "$COORD_CLIENT_EP";
  timeout = 5;
};
EOF
}

# coord_start [--no-wait]: starts the coordinator (same endpoints on every
# call, so a restart is transparent to workers and clients) and, unless
# --no-wait, waits until `drover info` answers.
coord_start() {
    pg_init
    if [[ -z "$COORD_CLIENT_EP" ]]; then
        local ports
        mapfile -t ports < <(freeport 2)
        COORD_CLIENT_EP="tcp://$T_HOST:${ports[0]}"
        COORD_WORKER_EP="tcp://$T_HOST:${ports[1]}"
        export DROVER_COORDINATOR="$COORD_CLIENT_EP"
        export DROVER_CONFIG="$T_CFG"
    fi
    if [[ "$T_INSECURE" == 1 ]]; then
        unset DROVER_KEY DROVER_COORDINATOR_KEY
    else
        keys_init
        export DROVER_KEY="$T_KEYS/admin" DROVER_COORDINATOR_KEY="$T_KEYS/coordinator.pub"
    fi
    _write_config
    t_pfx coordinator
    "${T_PFX[@]}" drover-coordinator --config "$T_CFG" </dev/null >>"$T_DIR/coordinator.log" 2>&1 &
    T_PROCS[coordinator]=$!
    log "coordinator pid ${T_PROCS[coordinator]} on $COORD_CLIENT_EP / $COORD_WORKER_EP"
    [[ "${1:-}" == --no-wait ]] && return 0
    coord_wait
}

coord_wait() {
    wait_for "the coordinator answers 'drover info'" 30 drover info --timeout 1
}

# coord_kill9: SIGKILL the coordinator (a crash) and reap it.
coord_kill9() {
    local pid="${T_PROCS[coordinator]}"
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null || true
    unset 'T_PROCS[coordinator]'
}

coord_pid() { echo "${T_PROCS[coordinator]}"; }

# admin_poke ARGS...: drover-test-zmqpoke on the client endpoint as the
# admin key (--proto client): a hand-made request, the CLI bypassed.
admin_poke() {
    drover-test-zmqpoke -q --proto client --key "$T_KEYS/admin" \
        --server-key "$T_KEYS/coordinator.pub" --linger 1000 "$@" "$COORD_CLIENT_EP"
}

# artifact_service_start: PostgreSQL and a coordinator with its artifact
# service (coordinator.artifact_listen) on a port of its own, $ART_EP, which
# every worker started afterwards uses (worker.artifact_endpoint);
# docs/artifacts.md.
artifact_service_start() {
    local port
    read -r port < <(freeport 1)
    ART_EP="tcp://127.0.0.1:$port"
    T_COORD_EXTRA+="
  artifact_listen = \"$ART_EP\";"
    T_WORKER_EXTRA+="
  artifact_endpoint = \"$ART_EP\";"
    pg_start
    coord_start
}

# ---------------------------------------------------------------- workers ---

# worker_start [--no-wait] NAME [SLOTS] [EXTRA ARGS...]: starts a worker;
# waits for its "registered with" log line unless --no-wait.
worker_start() {
    local nowait=0
    [[ "$1" == --no-wait ]] && { nowait=1; shift; }
    worker_key_allow
    local name="$1" slots="${2:-2}"
    shift $(($# >= 2 ? 2 : 1))
    t_pfx "worker-$name"
    "${T_PFX[@]}" drover-worker --config "$T_CFG" --coordinator "$COORD_WORKER_EP" --name "$name" \
        --slots "$slots" "$@" </dev/null >>"$T_DIR/worker-$name.log" 2>&1 &
    T_PROCS[worker-$name]=$!
    log "worker $name pid $! ($slots slots)"
    [[ $nowait -eq 1 ]] && return 0
    wait_for "worker $name registered" 20 grep -q "registered with" "$T_DIR/worker-$name.log"
}

# worker_key_allow: puts the shared worker key on the coordinator's
# allow-list (with the admin key) unless it is there; the coordinator must
# be up. A no-op for an insecure coordinator.
worker_key_allow() {
    [[ "$T_INSECURE" == 1 || "$T_WORKER_KEY_ALLOWED" == 1 ]] && return 0
    if ! drover keys list --json | jq -e '.[] | select(.name == "worker")' >/dev/null; then
        drover keys allow worker "$T_KEYS/worker.pub" >/dev/null ||
            fail "drover keys allow worker $T_KEYS/worker.pub exited $?"
    fi
    T_WORKER_KEY_ALLOWED=1
}

worker_pid() { echo "${T_PROCS[worker-$1]}"; }

# worker_forget NAME: the worker ended (or the test killed it); reap it and
# do not stop it at exit. Sets T_RC to its exit status. Call it directly,
# not in $(...): a subshell cannot reap it or update T_PROCS.
worker_forget() {
    local pid="${T_PROCS[worker-$1]}"
    T_RC=0
    # shellcheck disable=SC2034 # read by the test scripts
    wait "$pid" 2>/dev/null || T_RC=$?
    unset "T_PROCS[worker-$1]"
}

# -------------------------------------------------------------- workflows ---

# wf NAME: copies workflows/NAME.cfg into the test dir with @DIR@ replaced
# by $T_DIR, and prints the copy's path.
wf() {
    sed "s|@DIR@|$T_DIR|g" "$T_WF/$1.cfg" >"$T_DIR/$1.cfg"
    echo "$T_DIR/$1.cfg"
}

# submit FILE [OPTION...]: submits without waiting, prints the run id.
submit() {
    local id
    id=$(drover submit "$@") || fail "drover submit $* exited $?"
    [[ "$id" =~ ^[0-9]+$ ]] || fail "drover submit printed '$id', expected a run id alone"
    echo "$id"
}

# wait_run RUN [SECS]: waits until the run leaves 'running'; prints its state.
wait_run() {
    wait_for "run $1 finishes" "${2:-60}" sql_is \
        "select state <> 'running' from drover.runs where id = $1" t
    sql "select state from drover.runs where id = $1"
}

run_state() { sql "select state from drover.runs where id = $1"; }
task_field() { sql "select $3 from drover.tasks where run_id = $1 and name = '$2'"; }
task_state_is() { sql_is "select state from drover.tasks where run_id = $1 and name = '$2'" "$3"; }

# Gated steps: a step whose command is `gate_cmd NAME` runs until the test
# calls `gate_open NAME`, so the test decides when each step ends (order
# without timing). gate_init writes the script once per test.
gate_init() { printf '%s\n' 'while [ ! -e "$1" ]; do sleep 0.05; done' >"$T_DIR/gate.sh"; }
gate_cmd() { echo "command = \"sh $T_DIR/gate.sh $T_DIR/go.$1\";"; }
gate_open() { local t; for t in "$@"; do touch "$T_DIR/go.$t"; done; }

# ------------------------------------------------------------ test clock ---
# The coordinator's calendar reads "now" (unix seconds) from the file named
# by $DROVER_CLOCK_FILE, re-read every tick (coordinator/calendar.h).
# clock_init VALUE...: exports that file (call it before coord_start) and
# declares every value the test will set, so that clock_to can prove the
# coordinator ticked at a value, backwards moves included: a witness data
# trigger watches $T_DIR/clock-witness, which holds one 1-row CSV per value
# v with mtime v - 1. A file counts once its mtime is a second older than
# the calendar's now, i.e. exactly when the clock is >= v, so the witness's
# pending_rows is the rank of the clock among the values, rescanned every
# 2 s in the same tick that handles the schedules.
T_CLOCK="$T_DIR/clock"
T_CLOCK_VALUES=()
clock_init() {
    export DROVER_CLOCK_FILE="$T_CLOCK"
    mapfile -t T_CLOCK_VALUES < <(printf '%s\n' "$@" | sort -n -u)
    mkdir -p "$T_DIR/clock-witness"
    local v
    for v in "${T_CLOCK_VALUES[@]}"; do
        printf 'x\n1\n' >"$T_DIR/clock-witness/at-$v.csv"
        touch -d "@$((v - 1))" "$T_DIR/clock-witness/at-$v.csv"
    done
}
# clock_set V: moves the clock (atomically: a reader never sees half a number).
clock_set() { echo "$1" >"$T_CLOCK.tmp" && mv -f "$T_CLOCK.tmp" "$T_CLOCK"; }
# clock_witness: registers the witness trigger (it never fires); once per database.
clock_witness() {
    printf '%s\n' 'workflow = "clock-witness";' \
        "trigger = { watch = \"$T_DIR/clock-witness\"; min_new_rows = 1000000; };" \
        'steps = ({ name = "never"; kind = "exec"; command = "true"; });' >"$T_DIR/clock-witness.cfg"
    drover submit "$T_DIR/clock-witness.cfg" >/dev/null || fail "registering the clock witness exited $?"
}
_clock_rank_is() {
    [[ "$(drover --json schedule list | jq '.[] | select(.name == "clock-witness") | .pending_rows')" == "$1" ]]
}
# clock_to V: sets the clock to V (one of clock_init's values) and waits
# until the coordinator has handled its schedules at V.
clock_to() {
    local i rank=0
    for i in "${!T_CLOCK_VALUES[@]}"; do
        [[ "${T_CLOCK_VALUES[$i]}" -le "$1" ]] && rank=$((i + 1))
    done
    [[ " ${T_CLOCK_VALUES[*]} " == *" $1 "* ]] || fail "clock_to $1: not declared in clock_init"
    clock_set "$1"
    wait_for "the coordinator's clock at $1 (witness rank $rank)" 20 _clock_rank_is "$rank"
}
