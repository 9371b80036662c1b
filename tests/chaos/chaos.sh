#!/usr/bin/env bash
# The chaos suite (issue 10): a real cluster on this machine — PostgreSQL,
# two coordinators on the same endpoints (one active, one standing by for
# the leader lease), four workers — runs random DAGs while it is hurt at
# random, then a verifier checks what happened from the steps' side-effect
# stamps and drover.events (tests/chaos/verify.py): 0 lost, 0 re-run after
# a recorded success, dependency order kept, every run terminal, and no
# process of any step left behind.
#
# Hurts, one every CHAOS_PERIOD seconds (default 2), chosen at random:
#   kill -9 of a worker (restarted at once under the same name: its
#   predecessor's leftovers are ended by containment), SIGSTOP of a worker
#   for 2-4 s (declared dead meanwhile; its late results are fenced off),
#   kill -9 of the active coordinator, kill -9 of the standby, SIGSTOP of the
#   active coordinator for 3-5 s (the standby takes the lease over; the
#   resumed one is fenced and exits), a PostgreSQL restart or crash
#   (immediate shutdown: unflushed WAL lost; down 1-3 s),
#   and with hosts on network namespaces a partition: a worker's host cut
#   off the network for 2-5 s, then healed.
# A supervisor restarts whatever died, like systemd would.
#
# Some DAGs carry a memory hog: a step asking for 100M that allocates
# 600 MB; the verifier checks it failed, reported as killed for memory
# (worker/contain.c: the cgroup's OOM kill, or RLIMIT_AS without a memory
# controller).
#
#   CHAOS_MINUTES=N   how long the hurting goes on (default 1)
#   CHAOS_SEED=S      the random seed (printed; default random)
#   CHAOS_OUT=FILE    also write the verifier's figures there (JSON)
#   CHAOS_NETNS=auto  1: PostgreSQL and the coordinators on one host, each
#                     worker on its own, on network namespaces
#                     (tests/netns/README.md), partitions among the hurts;
#                     0: everything on loopback, no partitions; auto (the
#                     default): 1 where namespaces can be made (root).
#
# Run it with `make chaos` (CHAOS_MINUTES=10 make chaos for a long round).
CHAOS_MINUTES="${CHAOS_MINUTES:-1}"
CHAOS_PERIOD="${CHAOS_PERIOD:-2}"
export DROVER_TEST_LIMIT=$((CHAOS_MINUTES * 60 + 400))
CHAOS_NETNS="${CHAOS_NETNS:-auto}"
if [[ "$CHAOS_NETNS" == auto ]]; then
    if [[ $(id -u) -eq 0 ]] && command -v ip >/dev/null && command -v nsenter >/dev/null &&
        unshare --net true 2>/dev/null; then
        CHAOS_NETNS=1
    else
        echo "chaos: no network namespaces here (not root, or no ip/nsenter): no partitions" >&2
        CHAOS_NETNS=0
    fi
fi
if [[ "$CHAOS_NETNS" == 1 ]]; then
    source "$(dirname "$0")/../netns/lib.sh"
else
    source "$(dirname "$0")/../integration/lib.sh"
fi
SEED="${CHAOS_SEED:-$((RANDOM * 32768 + RANDOM))}"
RANDOM=$((SEED % 32768))
log "chaos: $CHAOS_MINUTES minute(s), seed $SEED, $([[ $CHAOS_NETNS == 1 ]] && echo "hosts on network namespaces, partitions" || echo "loopback, no partitions")"

# Short timers keep each hurt's consequences inside the round; max_lost is
# high because killing workers this often is the test, not a bad step.
T_COORD_EXTRA='  leader_lease = "2s";
  max_lost = 1000;'
STAMPS="$T_DIR/stamps"
ACKED="$T_DIR/acked"
mkdir -p "$STAMPS"
: >"$ACKED"
cat >"$T_DIR/step.sh" <<'EOF'
#!/bin/sh
# step.sh STAMPS SECONDS: stamps its start and end (run, step, attempt).
d="$1/$DROVER_RUN_ID"
mkdir -p "$d"
date +%s.%N >"$d/$DROVER_STEP.$DROVER_ATTEMPT.start"
sleep "$2"
date +%s.%N >"$d/$DROVER_STEP.$DROVER_ATTEMPT.end"
EOF

declare -A N=()  # hurts by kind
declare -A STOPPED=() # pid -> monotonic second to SIGCONT it
declare -A CUT=()     # worker host -> monotonic second to heal it
PG_DOWN_UNTIL=0
WORKERS=(w1 w2 w3 w4)
STOPS="$T_DIR/coordinator-stops" # "kill|stop epoch-seconds pid" per hurt of the active coordinator
: >"$STOPS"
# Whatever ends the round (a failure included), frozen processes must be
# resumed before the cleanup asks them to stop.
_chaos_resume() {
    local pid
    for pid in "${!STOPPED[@]}"; do kill -CONT "$pid" 2>/dev/null || true; done
    return 0
}
T_CLEANUP_HOOKS+=("_chaos_resume")

[[ "$CHAOS_NETNS" == 1 ]] && netns_cluster ${#WORKERS[@]}
pg_start
coord_start
start_coord2() {
    t_pfx coordinator2
    "${T_PFX[@]}" drover-coordinator --config "$T_CFG" </dev/null >>"$T_DIR/coordinator2.log" 2>&1 &
    T_PROCS[coordinator2]=$!
}
start_coord2
for w in "${WORKERS[@]}"; do worker_start "$w" 2; done

# The coordinator process holding the lease: its pid from drover.leader.
active_pid() {
    local h
    h=$(sql "select holder from drover.leader" 2>/dev/null) || return 1
    h=${h##*:}
    [[ "$h" =~ ^[0-9]+$ ]] && echo "$h"
}
standby_pid() {
    local a p
    a=$(active_pid) || return 1
    for p in "${T_PROCS[coordinator]:-}" "${T_PROCS[coordinator2]:-}"; do
        [[ -n "$p" && "$p" != "$a" ]] && pid_alive "$p" && { echo "$p"; return 0; }
    done
    return 1
}

# reap_dead: forget daemons that exited, so supervise starts them again.
supervise() {
    local name pid w now=$SECONDS
    for pid in "${!STOPPED[@]}"; do
        if ((now >= STOPPED[$pid])); then
            kill -CONT "$pid" 2>/dev/null || true
            unset "STOPPED[$pid]"
        fi
    done
    for w in "${!CUT[@]}"; do
        if ((now >= CUT[$w])); then
            netns_heal "$w" 2>/dev/null
            unset "CUT[$w]"
        fi
    done
    if ((PG_DOWN_UNTIL > 0 && now >= PG_DOWN_UNTIL)); then
        pg_resume
        PG_DOWN_UNTIL=0
    fi
    for name in coordinator coordinator2 "${WORKERS[@]/#/worker-}"; do
        pid="${T_PROCS[$name]:-}"
        if [[ -n "$pid" ]] && ! pid_alive "$pid"; then
            { wait "$pid"; } 2>/dev/null || true
            unset "T_PROCS[$name]"
            pid=""
        fi
        [[ -n "$pid" ]] && continue
        case "$name" in
        coordinator) coord_start --no-wait >/dev/null 2>&1 ;;
        coordinator2) start_coord2 ;;
        worker-*) worker_start --no-wait "${name#worker-}" 2 >/dev/null 2>&1 ;;
        esac
    done
    return 0
}

# A random DAG of 3..8 steps; each depends on each earlier one with
# probability 1/3 and sleeps 0.2..1.9 s.
RUNS_SUBMITTED=0
SUBMITS_NOT_ACKED=0
submit_dag() {
    local n=$((3 + RANDOM % 6)) i j after cfg="$T_DIR/dag.cfg"
    {
        echo "workflow = \"chaos-$RUNS_SUBMITTED\";"
        echo "steps = ("
        for ((i = 1; i <= n; i++)); do
            after=""
            for ((j = 1; j < i; j++)); do
                ((RANDOM % 3 == 0)) && after+="${after:+, }\"s$j\""
            done
            printf '  { name = "s%d"; kind = "exec"; retries = 1; retry_delay = "200ms"; after = [%s];\n' "$i" "$after"
            printf '    argv = ["/bin/sh", "%s", "%s", "%d.%d"]; }%s\n' "$T_DIR/step.sh" "$STAMPS" \
                $((RANDOM % 2)) $((2 + RANDOM % 8)) "$([[ $i -lt $n ]] && echo ,)"
        done
        echo ");"
    } >"$cfg"
    # One DAG in eight also carries a memory hog (no step depends on it;
    # its run fails, as it should).
    if ((RANDOM % 8 == 0)); then
        sed -i '$d' "$cfg"
        printf '  ,{ name = "hog"; kind = "exec"; retries = 0; resources = { memory = "100M"; };\n' >>"$cfg"
        printf '    argv = ["/usr/bin/python3", "-c", "b = bytearray(600 * 1024 * 1024); b[::4096] = b\x27x\x27 * len(b[::4096])"]; }\n);\n' >>"$cfg"
    fi
    RUNS_SUBMITTED=$((RUNS_SUBMITTED + 1))
    local id
    # A submit the coordinator did not acknowledge (down, fenced, database
    # away) may or may not have happened; only acknowledged ids must exist.
    if id=$(drover submit --timeout 3 "$cfg" 2>>"$T_DIR/submit.err") && [[ "$id" =~ ^[0-9]+$ ]]; then
        echo "$id" >>"$ACKED"
    else
        SUBMITS_NOT_ACKED=$((SUBMITS_NOT_ACKED + 1))
    fi
}

active_runs() { sql "select count(*) from drover.runs where state = 'running'" 2>/dev/null || echo 99; }

# pg_crash: PostgreSQL killed as by a crash (immediate shutdown: no
# checkpoint, WAL not yet written is lost, as the commits the coordinator
# makes without waiting for the flush, store.c s_started_only); pg_resume
# starts it again, through crash recovery.
pg_crash() {
    [[ $PG_STARTED -eq 1 ]] || return 0
    PG_STARTED=0
    "${T_AS_PG[@]}" "$T_PGBIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
}

hurt() {
    local r=$((RANDOM % (CHAOS_NETNS == 1 ? 110 : 100))) w pid
    w=${WORKERS[$((RANDOM % ${#WORKERS[@]}))]}
    if ((r < 28)); then
        pid="${T_PROCS[worker-$w]:-}"
        [[ -n "$pid" ]] || return 0
        kill -KILL "$pid" 2>/dev/null && N[kill_worker]=$((${N[kill_worker]:-0} + 1))
    elif ((r < 43)); then
        pid="${T_PROCS[worker-$w]:-}"
        [[ -n "$pid" && -z "${STOPPED[$pid]:-}" ]] || return 0
        kill -STOP "$pid" 2>/dev/null && STOPPED[$pid]=$((SECONDS + 2 + RANDOM % 3)) &&
            N[stop_worker]=$((${N[stop_worker]:-0} + 1))
    elif ((r < 58)); then
        pid=$(active_pid) || return 0
        [[ -z "${STOPPED[$pid]:-}" ]] || return 0
        kill -KILL "$pid" 2>/dev/null && echo "kill $(_now) $pid" >>"$STOPS" &&
            N[kill_active_coordinator]=$((${N[kill_active_coordinator]:-0} + 1))
    elif ((r < 68)); then
        pid=$(standby_pid) || return 0
        kill -KILL "$pid" 2>/dev/null && N[kill_standby_coordinator]=$((${N[kill_standby_coordinator]:-0} + 1))
    elif ((r < 80)); then
        pid=$(active_pid) || return 0
        [[ -z "${STOPPED[$pid]:-}" ]] || return 0
        kill -STOP "$pid" 2>/dev/null && STOPPED[$pid]=$((SECONDS + 3 + RANDOM % 3)) &&
            echo "stop $(_now) $pid" >>"$STOPS" &&
            N[stop_active_coordinator]=$((${N[stop_active_coordinator]:-0} + 1))
    elif ((r < 90)); then
        ((PG_DOWN_UNTIL == 0)) || return 0
        PG_DOWN_UNTIL=$((SECONDS + 1 + RANDOM % 3))
        if ((RANDOM % 2)); then
            pg_stop
            N[pg_restart]=$((${N[pg_restart]:-0} + 1))
        else
            pg_crash
            N[pg_crash]=$((${N[pg_crash]:-0} + 1))
        fi
    elif ((r >= 90)) && [[ "$CHAOS_NETNS" == 1 && -z "${CUT[$w]:-}" ]]; then
        netns_cut "$w" 2>/dev/null
        CUT[$w]=$((SECONDS + 2 + RANDOM % 4))
        N[partition]=$((${N[partition]:-0} + 1))
    fi
    return 0 # a target already gone is no error (errexit is on)
}

end=$((SECONDS + CHAOS_MINUTES * 60))
next_hurt=$((SECONDS + CHAOS_PERIOD))
while ((SECONDS < end)); do
    supervise
    if ((PG_DOWN_UNTIL == 0)) && (($(active_runs) < 6)); then
        submit_dag
    fi
    if ((SECONDS >= next_hurt)); then
        hurt
        next_hurt=$((SECONDS + CHAOS_PERIOD))
    fi
    read -r -t 0.3 <>"$T_DIR/.tick" 2>/dev/null || mkfifo "$T_DIR/.tick" 2>/dev/null || true
done
log "chaos over; letting every run finish"
for pid in "${!STOPPED[@]}"; do STOPPED[$pid]=0; done
for w in "${!CUT[@]}"; do CUT[$w]=0; done
PG_DOWN_UNTIL=$((PG_DOWN_UNTIL > 0 ? 1 : 0))
settled() {
    supervise
    [[ "$(sql "select count(*) from drover.runs where state = 'running'" 2>/dev/null)" == 0 ]]
}
wait_for "every run terminal" 300 settled

# Orphans: every run is over, so no step process may be left anywhere.
orphans=$(pgrep -fc -- "$T_DIR/step.sh" || true)

hurts=$(for k in "${!N[@]}"; do echo "\"$k\": ${N[$k]}"; done | paste -sd, -)
on_db_host() { if [[ "$CHAOS_NETNS" == 1 ]]; then netns_exec c "$@"; else "$@"; fi; }
figures=$(on_db_host python3 "$(dirname "$0")/verify.py" \
    "host=$T_HOST port=$PG_PORT dbname=drover user=postgres" "$STAMPS" "$ACKED") && vrc=0 || vrc=$?
# Takeover times: a hurt of the active coordinator -> the other one's
# "leader lease taken over" line (lease "2s" here: failover.sh measures the
# default lease).
takeovers=$(python3 "$(dirname "$0")/takeovers.py" "$STOPS" "$T_DIR"/coordinator.log "$T_DIR"/coordinator2.log)
result=$(jq -n --argjson v "$figures" --argjson hurts "{${hurts}}" --arg seed "$SEED" \
    --argjson minutes "$CHAOS_MINUTES" --argjson orphans "${orphans:-0}" \
    --argjson notacked "$SUBMITS_NOT_ACKED" --argjson takeovers "$takeovers" \
    --argjson netns "$([[ $CHAOS_NETNS == 1 ]] && echo true || echo false)" \
    '$v + {seed: $seed, minutes: $minutes, hurts: $hurts, orphans_left: $orphans,
           submits_not_acknowledged: $notacked, takeovers: $takeovers, netns: $netns}')
echo "$result"
[[ -n "${CHAOS_OUT:-}" ]] && echo "$result" >"$CHAOS_OUT"
[[ "${orphans:-0}" == 0 ]] || fail "$orphans step processes left behind after every run ended"
[[ $vrc -eq 0 ]] || fail "the verifier found violations (seed $SEED)"
log "chaos verdict: 0 lost, 0 re-run after success, order kept, every run terminal, no orphans, memory hogs reported as killed for memory"
