# shellcheck shell=bash
# dp_lib.sh — start gang members by hand, the way a worker does (sourced
# after lib.sh): each member is its own process in its own folder, with the
# gang contract's environment (docs/distributed.md) and a hostfile in its
# cwd (test_dp_mpi.sh, test_dp_train.sh, test_dp_ddp.sh); and a local
# cluster for gangs through the scheduler (test_dp_gang*.sh).

# dp_start GANG_ID N PORT SIZE CMD...: starts ranks DP_FIRST..N-1 (DP_FIRST
# default 0) of a gang of SIZE (N < SIZE leaves members missing) in
# $T_DIR/GANG_ID/rR, each in a new session; DP_PIDS[R] is rank R's pid
# (reset unless DP_FIRST > 0). Output in rR/out, exit status in rR/rc.
dp_start() {
    local gid="$1" n="$2" port="$3" size="$4"
    shift 4
    local hosts r
    hosts=$(printf '127.0.0.1%.0s,' $(seq 1 "$size"))
    hosts=${hosts%,}
    local first=${DP_FIRST:-0}
    ((first > 0)) || DP_PIDS=()
    for ((r = first; r < n; r++)); do
        local d="$T_DIR/$gid/r$r"
        mkdir -p "$d"
        printf '127.0.0.1 slots=%d\n' "$size" > "$d/hostfile"
        (cd "$d" && RANK=$r WORLD_SIZE=$size LOCAL_RANK=$r LOCAL_WORLD_SIZE=$size \
            MASTER_ADDR=127.0.0.1 MASTER_PORT=$port DROVER_GANG_ID=$gid \
            DROVER_GANG_HOSTS=$hosts DROVER_GANG_PORTS=$port \
            exec setsid "$@" > out 2>&1 < /dev/null; ) &
        DP_PIDS[r]=$!
        t_track_pid "${DP_PIDS[r]}"
    done
}

# dp_wait GANG_ID N SECS: waits for ranks 0..N-1 (a liveness bound, not a
# speed claim); each rank's exit status goes to rR/rc.
dp_wait() {
    local gid="$1" n="$2" secs="$3" r rc end=$((SECONDS + $3))
    for ((r = 0; r < n; r++)); do
        while kill -0 "${DP_PIDS[r]}" 2> /dev/null && ((SECONDS < end)); do
            sleep 0.1
        done
        kill -0 "${DP_PIDS[r]}" 2> /dev/null && fail "$gid rank $r still running after ${secs}s"
        rc=0
        wait "${DP_PIDS[r]}" || rc=$?
        echo "$rc" > "$T_DIR/$gid/r$r/rc"
    done
}

# dp_rc GANG_ID R: rank R's exit status.
dp_rc() { cat "$T_DIR/$1/r$2/rc"; }

# dp_cluster N [WORKER_ARGS...]: PostgreSQL, a coordinator and N one-slot
# workers w1..wN, each with a gang port range of its own (they share this
# host) and WORKER_ARGS. For the tests that run gangs through the
# scheduler (test_dp_gang*.sh).
dp_cluster() {
    local n="$1" i base=$((21000 + (RANDOM % 800) * 10))
    shift
    pg_start
    coord_start
    for ((i = 1; i <= n; i++)); do
        worker_start "w$i" 1 "$@" --gang-ports "$((base + i * 10))-$((base + i * 10 + 9))"
    done
}
