#!/usr/bin/env bash
# Failover time, measured (docs/reliability.md): SIGSTOP of the active
# coordinator → the standby answering `drover info`, over FAILOVER_TRIES
# tries (default 5) with the default leader lease (coordinator.leader_lease,
# 5 s; FAILOVER_LEASE=2s to try another). Each try pauses the active one,
# times the standby, resumes the paused one (it is fenced and exits) and
# starts a fresh standby for the next try. Prints each time and p50/max.
# A figure, not a test: nothing is asserted about speed.
FAILOVER_TRIES="${FAILOVER_TRIES:-5}"
export DROVER_TEST_LIMIT=$((FAILOVER_TRIES * 30 + 60))
source "$(dirname "$0")/../integration/lib.sh"
[[ -n "${FAILOVER_LEASE:-}" ]] && T_COORD_EXTRA="  leader_lease = \"$FAILOVER_LEASE\";"

pg_start
coord_start

# new_coord NAME: a coordinator on its own ports; sets NEW_EP.
new_coord() {
    local p
    mapfile -t p < <(freeport 2)
    sed -e "s|client_endpoint = \"$COORD_CLIENT_EP\"|client_endpoint = \"tcp://127.0.0.1:${p[0]}\"|" \
        -e "s|worker_endpoint = \"$COORD_WORKER_EP\"|worker_endpoint = \"tcp://127.0.0.1:${p[1]}\"|" \
        "$T_CFG" >"$T_DIR/$1.cfg"
    drover-coordinator --config "$T_DIR/$1.cfg" </dev/null >>"$T_DIR/$1.log" 2>&1 &
    T_PROCS[$1]=$!
    NEW_EP="tcp://127.0.0.1:${p[0]}"
}

active=coordinator
active_ep=$COORD_CLIENT_EP
times=()
for ((i = 1; i <= FAILOVER_TRIES; i++)); do
    new_coord "standby$i"
    standby="standby$i"
    standby_ep=$NEW_EP
    wait_for "$standby stands by" 20 grep -q "standing by" "$T_DIR/$standby.log"
    apid=${T_PROCS[$active]}
    # A random moment within the renewal period (1 s): the time left on the
    # lease at the pause is what varies, so every phase must be sampled.
    read -r -t "0.$((RANDOM % 1000))" <>"$T_DIR/.tick" || true
    t0=$(_now)
    kill -STOP "$apid"
    wait_for "$standby serves" 60 drover info --coordinator "$standby_ep" --timeout 1
    t1=$(_now)
    kill -CONT "$apid"
    wait_for "the paused coordinator is fenced and exits" 30 pid_gone "$apid"
    { wait "$apid"; } 2>/dev/null || true
    unset "T_PROCS[$active]"
    times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')")
    # Of which: until the standby's "taken over" log line (lease expiry and
    # the takeover), the rest being its state load, bind and the CLI's answer.
    tk=$(sed -n 's/^\([^ ]*\)Z .*leader lease taken over from.*/\1/p' "$T_DIR/$standby.log" | head -1)
    tk=$(date -u -d "${tk/T/ }" +%s.%N 2>/dev/null || echo "$t0")
    log "try $i: ${times[-1]} s from SIGSTOP to the standby answering" \
        "(lease taken over after $(awk -v a="$t0" -v b="$tk" 'BEGIN { printf "%.2f", b - a }') s)"
    active=$standby
    active_ep=$standby_ep
done
export DROVER_COORDINATOR=$active_ep
printf '%s\n' "${times[@]}" | sort -n | awk -v lease="${FAILOVER_LEASE:-5s (default)}" '
    { v[NR] = $1 } END {
        p50 = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "failover (SIGSTOP of the active -> standby answering), lease %s, %d tries: p50 %.2f s, max %.2f s\n", lease, NR, p50, v[NR]
    }'
