# shellcheck shell=bash
# bench/lib.sh — the private cluster and the workload functions shared by
# bench/run.sh (make bench) and the peer-harness adapter
# (bench/peers-adapter/adapters/drover/adapter.sh). Sourced, bash.
#
# A cluster here is: a PostgreSQL with exactly the peer harness's settings
# (../shared/bench-peers/lib/servers.sh, copied below so the comparison is
# fair), one coordinator, and workers started per workload. Every workload
# run gets a fresh database (drop + create), so no run sees another's dead
# tuples, like the peer adapters that drop their schema.
#
# Times come from the database (tasks.started_at/finished_at are the
# worker's clock) and from drover-bench's client clock; everything runs on
# one host, so the clocks agree. Every wait has a deadline (BENCH_TIMEOUT).
#
# Caller sets before sourcing (all optional):
#   DROVER_BIN        programs (default <repo>/build/bin)
#   BENCH_DIR         state folder (default: a new mktemp -d, removed at exit)
#   BENCH_PG_URL      use this PostgreSQL server (libpq URL without database,
#                     e.g. postgres://postgres@127.0.0.1:55432) instead of a
#                     private one; its settings are the caller's business
#   BENCH_KIND        noop | exec | auto (default auto: noop when
#                     drover-worker advertises it, else exec of /bin/true)
#   BENCH_LAYOUT      worker layout for 8 slots: 1x8 or 2x4 (default 2x4: faster than 1x8 in W1 here)
#   BENCH_TIMEOUT     seconds any one wait may take (default 600)
#   BENCH_METRICS_DIR save the coordinator's /metrics (loop-iteration, commit,
#                     hand-off histograms) there before each coordinator stops

B_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DROVER_BIN="${DROVER_BIN:-$B_REPO/build/bin}"
BENCH_TIMEOUT="${BENCH_TIMEOUT:-600}"
BENCH_LAYOUT="${BENCH_LAYOUT:-2x4}"
B_PGBIN="$(pg_config --bindir 2>/dev/null || true)"
[[ -x "$B_PGBIN/initdb" ]] || B_PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
if [[ $(id -u) -eq 0 ]]; then B_AS_PG=(runuser -u postgres --); else B_AS_PG=(); fi

declare -A B_PROCS=()   # name -> pid of what we started
B_OWN_DIR=0
B_PG_STARTED=0
B_COORD_PID=""

b_log() { printf '[%s bench] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
b_die() { b_log "ERROR: $*"; exit 1; }

for _b in drover-coordinator drover-worker drover-bench drover-simworkers drover-test-freeport; do
    [[ -x "$DROVER_BIN/$_b" ]] || b_die "$DROVER_BIN/$_b is missing; build first (make build) or set DROVER_BIN"
done

if [[ -z "${BENCH_DIR:-}" ]]; then
    BENCH_DIR="$(mktemp -d "${TMPDIR:-/tmp}/drover-bench.XXXXXX")"
    B_OWN_DIR=1
fi
mkdir -p "$BENCH_DIR"
chmod 755 "$BENCH_DIR"   # PostgreSQL runs as 'postgres' and must reach it
[[ -p "$BENCH_DIR/.tick" ]] || mkfifo "$BENCH_DIR/.tick"
b_pause() { read -r -t "$1" <>"$BENCH_DIR/.tick" || true; }   # sleep without a process

# The kind of no-op step: the built-in noop once the worker has it.
if [[ "${BENCH_KIND:-auto}" == auto ]]; then
    if grep -qaw noop "$DROVER_BIN/drover-worker"; then BENCH_KIND=noop; else BENCH_KIND=exec; fi
fi

b_now_ms() { local t="${EPOCHREALTIME/,/.}"; awk -v t="$t" 'BEGIN { printf "%.3f", t * 1000 }'; }

# ------------------------------------------------------------- processes ---

b_alive() { [[ -r "/proc/$1/stat" ]] && ! grep -qE '^[0-9]+ \(.*\) [ZX]' "/proc/$1/stat" 2>/dev/null; }

# b_stop NAME: SIGTERM what we started under NAME, up to 10 s, then SIGKILL.
b_stop() {
    local name="$1" pid i
    pid="${B_PROCS[$name]:-}"
    [[ -n "$pid" ]] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do b_alive "$pid" || break; b_pause 0.05; done
    b_alive "$pid" && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
    unset "B_PROCS[$name]"
}

# Workloads run in $(...) subshells, whose B_PROCS the caller never sees;
# every start is therefore also recorded in $BENCH_DIR/pids, and cleanup
# stops the recorded pids that are still ours (cmdline names a drover program).
b_track() { echo "$1" >>"$BENCH_DIR/pids"; }

b_cleanup() {
    local name pid
    if [[ -f "$BENCH_DIR/pids" ]]; then
        while read -r pid; do
            grep -qa "drover-" "/proc/$pid/cmdline" 2>/dev/null || continue
            B_PROCS[tracked-$pid]=$pid
        done <"$BENCH_DIR/pids"
    fi
    for name in "${!B_PROCS[@]}"; do [[ "$name" == worker-* || "$name" == sim ]] && b_stop "$name"; done
    for name in "${!B_PROCS[@]}"; do b_stop "$name"; done
    b_pg_stop
    if [[ $B_OWN_DIR -eq 1 && "${BENCH_KEEP:-0}" != 1 ]]; then rm -rf "$BENCH_DIR"; fi
}

# b_wait SECS WHAT CMD...: polls CMD every 50 ms until it succeeds.
b_wait() {
    local secs="$1" what="$2" end start=$SECONDS
    shift 2
    end=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < end)) || { b_log "gave up after ${secs}s waiting for $what"; b_tail_logs; return 1; }
        # 50 ms at first, then 250 ms: a psql start every 50 ms took ~8% of
        # the CPU during W1 (perf), and the figures come from the database,
        # not from when this loop notices the end.
        if ((SECONDS - start < 2)); then b_pause 0.05; else b_pause 0.25; fi
    done
}

b_tail_logs() {
    local f
    for f in "$BENCH_DIR"/*.log; do [[ -f "$f" ]] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }; done
}

# ------------------------------------------------------------ PostgreSQL ---

# b_pg_start: private PostgreSQL with the peer harness's settings, or the
# server named by BENCH_PG_URL.
b_pg_start() {
    if [[ -n "${BENCH_PG_URL:-}" ]]; then
        B_PG_URL="$BENCH_PG_URL"
        B_PG_HOSTPORT="${B_PG_URL##*@}"
        return 0
    fi
    local port pgdir="$BENCH_DIR/pg"
    port=$("$DROVER_BIN/drover-test-freeport" 1) || b_die "no free port"
    if [[ ${#B_AS_PG[@]} -gt 0 ]]; then install -d -o postgres -g postgres -m 700 "$pgdir"; else install -d -m 700 "$pgdir"; fi
    "${B_AS_PG[@]}" "$B_PGBIN/initdb" -D "$pgdir/data" -U postgres --auth=trust -E UTF8 \
        --locale=C.UTF-8 >"$BENCH_DIR/initdb.log" 2>&1 || b_die "initdb failed (see $BENCH_DIR/initdb.log)"
    # Same as ../shared/bench-peers/lib/servers.sh (pg_init), except port/socket.
    "${B_AS_PG[@]}" tee -a "$pgdir/data/postgresql.conf" >/dev/null <<CONF

# ---- drover bench: the peer harness's settings ----
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$pgdir'
max_connections = 200
shared_buffers = 2GB
effective_cache_size = 8GB
work_mem = 16MB
maintenance_work_mem = 256MB
wal_buffers = 16MB
max_wal_size = 8GB
min_wal_size = 1GB
checkpoint_timeout = 15min
checkpoint_completion_target = 0.9
random_page_cost = 1.1
effective_io_concurrency = 100
jit = off
synchronous_commit = on
fsync = on
full_page_writes = on
autovacuum = on
autovacuum_naptime = 10s
log_min_messages = warning
log_checkpoints = off
logging_collector = off
CONF
    "${B_AS_PG[@]}" "$B_PGBIN/pg_ctl" -D "$pgdir/data" -l "$pgdir/server.log" -w -t 60 start \
        >"$BENCH_DIR/pg_ctl.log" 2>&1 || b_die "PostgreSQL did not start (see $pgdir/server.log)"
    B_PG_STARTED=1
    B_PG_URL="postgres://postgres@127.0.0.1:$port"
    B_PG_HOSTPORT="127.0.0.1:$port"
}

b_pg_stop() {
    [[ $B_PG_STARTED -eq 1 ]] || return 0
    B_PG_STARTED=0
    "${B_AS_PG[@]}" "$B_PGBIN/pg_ctl" -D "$BENCH_DIR/pg/data" -m fast -w -t 60 stop >/dev/null 2>&1 ||
        "${B_AS_PG[@]}" "$B_PGBIN/pg_ctl" -D "$BENCH_DIR/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
}

# b_pg_sync on|off: synchronous_commit for the whole server (reload).
b_pg_sync() {
    psql -X "$B_PG_URL/postgres" -qAt -c "ALTER SYSTEM SET synchronous_commit = '$1'" \
        -c "SELECT pg_reload_conf()" >/dev/null || b_die "cannot set synchronous_commit"
    b_wait 10 "synchronous_commit=$1" b_sql_is postgres "SHOW synchronous_commit" "$1"
}

b_pg_settings() {
    psql -X "$B_PG_URL/postgres" -qAt -F ' = ' -c "SELECT name, current_setting(name) FROM pg_settings WHERE name IN
   ('server_version','shared_buffers','effective_cache_size','work_mem','wal_buffers','max_wal_size','checkpoint_timeout',
    'synchronous_commit','fsync','full_page_writes','wal_level','max_connections','jit','autovacuum') ORDER BY 1"
}

b_sql() { psql -X "$B_PG_URL/${B_DB:-drover_bench}" -v ON_ERROR_STOP=1 -qAt -F ' ' -c "$1"; }
b_sql_is() { local got; got=$(psql -X "$B_PG_URL/$1" -qAt -c "$2" 2>/dev/null) || return 1; [[ "$got" == "$3" ]]; }

# ---------------------------------------------------------------- drover ---

# b_coord_start: a fresh database and a coordinator on free ports.
b_coord_start() {
    b_coord_stop
    B_DB="${B_DB:-drover_bench}"
    psql -X "$B_PG_URL/postgres" -qAt -c "DROP DATABASE IF EXISTS $B_DB" -c "CREATE DATABASE $B_DB" \
        >/dev/null || b_die "cannot re-create database $B_DB"
    local ports metrics
    mapfile -t ports < <("$DROVER_BIN/drover-test-freeport" 3)
    B_CLIENT_EP="tcp://127.0.0.1:${ports[0]}"
    B_WORKER_EP="tcp://127.0.0.1:${ports[1]}"
    B_METRICS_EP="" metrics=""
    if [[ -n "${BENCH_METRICS_DIR:-}" ]]; then
        B_METRICS_EP="127.0.0.1:${ports[2]}"
        metrics="  metrics_listen = \"$B_METRICS_EP\";"
    fi
    local host="${B_PG_HOSTPORT%%:*}" port="${B_PG_HOSTPORT##*:}"
    cat >"$BENCH_DIR/drover.cfg" <<EOF
# written by bench/lib.sh
coordinator = {
  client_endpoint = "$B_CLIENT_EP";
  worker_endpoint = "$B_WORKER_EP";
  database = "host=$host port=$port dbname=$B_DB user=postgres";
  # Loopback only, like the peers (none of which encrypts): the figures
  # measure orchestration, not CurveZMQ. See docs/benchmarks.md.
  insecure = true;
  client_rate = 1000000;
$metrics
${BENCH_COORD_EXTRA:-}
};
worker = { coordinator = "$B_WORKER_EP"; insecure = true; };
cli = { coordinator = "$B_CLIENT_EP"; timeout = 5; insecure = true; };
EOF
    "$DROVER_BIN/drover-coordinator" --config "$BENCH_DIR/drover.cfg" </dev/null \
        >>"$BENCH_DIR/coordinator.log" 2>&1 &
    B_PROCS[coordinator]=$!
    B_COORD_PID=$!
    b_track $!
    b_wait 30 "the coordinator to answer" "$DROVER_BIN/drover" --coordinator "$B_CLIENT_EP" --timeout 1 info ||
        b_die "the coordinator did not start"
}

b_coord_stop() {
    b_workers_stop
    # BENCH_METRICS_DIR: the coordinator's histograms (loop iteration,
    # commit, hand-off, dispatch) of each workload, one file per coordinator.
    if [[ -n "${B_METRICS_EP:-}" && -n "${B_COORD_PID:-}" ]]; then
        mkdir -p "$BENCH_METRICS_DIR"
        curl -sf --max-time 5 "http://$B_METRICS_EP/metrics" \
            >"$BENCH_METRICS_DIR/metrics-$(date +%s%N).txt" || b_log "cannot read the coordinator's metrics"
    fi
    b_stop coordinator
    B_COORD_PID=""
}

# b_workers_start [LAYOUT]: LAYOUT = WxS (W workers of S slots); waits
# until they are registered.
b_workers_start() {
    local layout="${1:-$BENCH_LAYOUT}" nw ns i
    nw="${layout%x*}"
    ns="${layout#*x}"
    for ((i = 1; i <= nw; i++)); do
        "$DROVER_BIN/drover-worker" --config "$BENCH_DIR/drover.cfg" --name "bench-$i" --slots "$ns" \
            --prefetch "${BENCH_PREFETCH:-32}" </dev/null >>"$BENCH_DIR/worker-$i.log" 2>&1 &
        B_PROCS[worker-$i]=$!
        b_track $!
    done
    for ((i = 1; i <= nw; i++)); do
        b_wait 30 "worker bench-$i to register" grep -q "registered with" "$BENCH_DIR/worker-$i.log" ||
            b_die "workers did not register"
    done
}

b_workers_stop() {
    local name
    for name in "${!B_PROCS[@]}"; do [[ "$name" == worker-* || "$name" == sim ]] && b_stop "$name"; done
    return 0
}

b_submit() { "$DROVER_BIN/drover-bench" -c "$B_CLIENT_EP" submit --kind "$BENCH_KIND" "$@"; }

# b_wait_runs_done: until no run is 'running' (a bound, not a speed claim).
b_wait_runs_done() {
    b_wait "$BENCH_TIMEOUT" "every run to finish" b_sql_is "$B_DB" \
        "select count(*) from drover.runs where state = 'running'" 0 || b_die "runs did not finish"
    local bad
    bad=$(b_sql "select count(*) from drover.tasks where state <> 'succeeded'")
    [[ "$bad" == 0 ]] || b_die "$bad tasks did not succeed"
}

b_field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }

# ------------------------------------------------------------- workloads ---
# Each prints one line of key=value figures on stdout (times in ms unless
# the name says otherwise) and leaves the cluster with no worker running.

# W1 MODE: MODE = wf (2 workflows of 10,000 independent steps; a workflow
# holds at most 10,000) or runs (N single-step runs). N = ${W1_N:-20000}.
# Submitted with no worker connected, then workers start.
bench_w1() {
    local mode="$1" n="${W1_N:-20000}" out
    b_coord_start
    if [[ "$mode" == wf ]]; then
        local per=$((n < 10000 ? n : 10000))
        out=$(b_submit --shape indep --steps "$per" --runs $(((n + per - 1) / per)) --window 2) || b_die "W1 submit failed"
    else
        out=$(b_submit --shape indep --steps 1 --runs "$n" --window 256) || b_die "W1 submit failed"
    fi
    local sub_s
    sub_s=$(b_field submit_s "$out")
    b_workers_start
    b_wait_runs_done
    b_workers_stop
    b_sql "select count(*),
                  extract(epoch from min(started_at)) * 1000, extract(epoch from max(finished_at)) * 1000
           from drover.tasks" | {
        read -r cnt first last
        awk -v c="$cnt" -v f="$first" -v l="$last" -v s="$sub_s" 'BEGIN {
            printf "n=%d enqueue_s=%.6f first_start_ms=%.3f last_end_ms=%.3f submit_per_s=%.0f throughput_per_s=%.0f\n",
                   c, s, f, l, c / s, c / ((l - f) / 1000) }'
    }
    b_coord_stop
}

# W2: a chain of ${W2_STEPS:-200} steps; prints the transitions (ms) too.
bench_w2() {
    local steps="${W2_STEPS:-200}" out
    b_coord_start
    b_workers_start
    out=$(b_submit --shape chain --steps "$steps") || b_die "W2 submit failed"
    b_wait_runs_done
    b_workers_stop
    local tr
    tr=$(b_sql "select string_agg(round(d::numeric, 4)::text, ',' order by i) from (
             select idx as i, extract(epoch from started_at - lag(finished_at) over (order by idx)) * 1000 as d
             from drover.tasks) x where d is not null")
    local last
    last=$(b_sql "select extract(epoch from max(finished_at)) * 1000 from drover.tasks")
    echo "steps=$steps t_submit_ms=$(b_field t_submit_ms "$out") last_end_ms=$last transitions_ms=$tr"
    b_coord_stop
}

# W3: 1 root -> ${W3_CHILDREN:-1000} children -> 1 join.
bench_w3() {
    local ch="${W3_CHILDREN:-1000}" out
    b_coord_start
    b_workers_start
    out=$(b_submit --shape fan --steps "$ch") || b_die "W3 submit failed"
    b_wait_runs_done
    b_workers_stop
    local r
    r=$(b_sql "select extract(epoch from (select started_at from drover.tasks where name = 'root')) * 1000,
                      extract(epoch from (select finished_at from drover.tasks where name = 'join')) * 1000,
                      (select count(*) from drover.tasks where name like 'c%' and state = 'succeeded')")
    local rs je cr t0
    read -r rs je cr <<<"$r"
    t0=$(b_field t_submit_ms "$out")
    echo "children=$ch children_run=$cr t_submit_ms=$t0 root_start_ms=$rs join_end_ms=$je" \
        "wall_ms=$(awk -v a="$je" -v b="$t0" 'BEGIN { printf "%.3f", a - b }')"
    b_coord_stop
}

# b_latency SAMPLES GAP_MS: one run at a time against the running cluster;
# prints the comma-separated latencies (ms): tasks.started_at - client t0.
b_latency() {
    local lines
    lines=$("$DROVER_BIN/drover-bench" -c "$B_CLIENT_EP" latency --kind "$BENCH_KIND" \
        --samples "$1" --gap-ms "$2") || b_die "latency probe failed"
    local values
    values=$(awk '{ printf "%s(%s,%s)", sep, $1, $2; sep = "," }' <<<"$lines")
    b_sql "select string_agg(round(((extract(epoch from t.started_at) * 1e6 - v.t0) / 1000)::numeric, 4)::text,
                             ',' order by v.run_id)
           from (values $values) v(run_id, t0) join drover.tasks t on t.run_id = v.run_id"
}

# W4: ${W4_SAMPLES:-200} samples, ${W4_GAP_MS:-20} ms apart, idle cluster.
bench_w4() {
    b_coord_start
    b_workers_start
    local lat
    lat=$(b_latency "${W4_SAMPLES:-200}" "${W4_GAP_MS:-20}") || b_die "W4 latency probe failed"
    echo "samples=${W4_SAMPLES:-200} latencies_ms=$lat"
    b_workers_stop
    b_coord_stop
}

# S1 BACKLOG: BACKLOG no-op tasks waiting (runs of up to 10,000 steps,
# submitted with no worker); then workers start. The per-task dispatch cost
# is the spacing of tasks.started_at: after a warm-up of 100 tasks, three
# windows of K=${S1_K:-250} consecutive starts; prints each window's
# microseconds per task (the caller takes the median). K is the same at
# every size so the 1k figure (1,000 waiting) is comparable with 1M.
bench_s1() {
    local backlog="$1" k="${S1_K:-250}" per runs out
    per=$((backlog < 10000 ? backlog : 10000))
    runs=$(((backlog + per - 1) / per))
    b_coord_start
    b_log "S1: submitting $backlog tasks ($runs runs of $per) with no worker connected"
    out=$(b_submit --shape indep --steps "$per" --runs "$runs" --window 2 --progress) || b_die "S1 submit failed"
    b_log "S1: backlog of $backlog submitted in $(b_field submit_s "$out") s"
    b_workers_start
    local need=$((100 + 3 * k + 1))
    b_wait "$BENCH_TIMEOUT" "$need tasks done" b_sql_is "$B_DB" \
        "select count(*) >= $need from drover.tasks where state = 'succeeded'" t || b_die "S1 stalled"
    b_workers_stop
    local w
    w=$(b_sql "with s as (select started_at, row_number() over (order by started_at) - 1 as i
                            from drover.tasks where started_at is not null)
               select string_agg(round((extract(epoch from b.started_at - a.started_at) * 1e6 / $k)::numeric, 2)::text,
                                 ',' order by a.i)
               from s a join s b on b.i = a.i + $k where a.i in (100, 100 + $k, 100 + 2 * $k)")
    echo "backlog=$backlog submit_s=$(b_field submit_s "$out") us_per_task=$w"
    b_coord_stop
}

# b_cpu_ticks PID: utime + stime of PID in clock ticks.
b_cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

# S2: ${S2_WORKERS:-1000} simulated workers; coordinator CPU share over
# ${S2_SECS:-20} s idle, then ${S2_SAMPLES:-100} submit-to-start latencies.
bench_s2() {
    local nw="${S2_WORKERS:-1000}" secs="${S2_SECS:-20}"
    b_coord_start
    ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
    "$DROVER_BIN/drover-simworkers" -c "$B_WORKER_EP" -n "$nw" >"$BENCH_DIR/sim.out" 2>"$BENCH_DIR/sim.log" &
    B_PROCS[sim]=$!
    b_track $!
    b_wait 120 "$nw simulated workers to register" grep -q "^registered $nw" "$BENCH_DIR/sim.out" ||
        b_die "simulated workers did not register"
    b_pause 2   # let the registration burst settle before the idle window
    local hz t0 c0 t1 c1
    hz=$(getconf CLK_TCK)
    c0=$(b_cpu_ticks "$B_COORD_PID")
    t0=$EPOCHREALTIME
    b_pause "$secs"
    c1=$(b_cpu_ticks "$B_COORD_PID")
    t1=$EPOCHREALTIME
    local cpu
    cpu=$(awk -v a="$c0" -v b="$c1" -v t0="${t0/,/.}" -v t1="${t1/,/.}" -v hz="$hz" \
        'BEGIN { printf "%.2f", 100 * (b - a) / hz / (t1 - t0) }')
    local lat
    lat=$(b_latency "${S2_SAMPLES:-100}" 20) || b_die "S2 latency probe failed"
    b_stop sim
    echo "workers=$nw idle_cpu_pct=$cpu latencies_ms=$lat"
    b_coord_stop
}

# ----------------------------------------------------------------- stats ---

# b_pct "v1,v2,..." P: linear-interpolated percentile (as lib/aggregate.py).
b_pct() {
    tr ',' '\n' <<<"$1" | sort -g | awk -v p="$2" '{ v[NR] = $1 } END {
        if (NR == 0) { print "nan"; exit }
        r = (NR - 1) * p / 100; lo = int(r); f = r - lo
        x = v[lo + 1]; if (lo + 2 <= NR) x += f * (v[lo + 2] - v[lo + 1]); printf "%.3f\n", x }'
}
b_mean() { tr ',' '\n' <<<"$1" | awk '{ s += $1 } END { printf "%.3f\n", NR ? s / NR : 0 }'; }
b_median() { b_pct "$(tr ' ' ',' <<<"$*")" 50; }
