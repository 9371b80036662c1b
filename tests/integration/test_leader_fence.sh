#!/usr/bin/env bash
# A fenced leader (issue 10, observation 3). Two coordinators on one
# database; the active one is paused with SIGSTOP (its database session,
# and before migration 008 its advisory lock, stay alive):
#   - the standby takes over once the leader lease expires (failover time
#     printed, not asserted);
#   - a schedule due time that falls in the failover window is fired, once,
#     by the new leader;
#   - the paused leader, resumed with a worker's result waiting for it,
#     writes nothing (the result is not applied) and exits, saying it was
#     fenced.
source "$(dirname "$0")/lib.sh"

D0=$((($(date +%s) / 300 + 3) * 300))
clock_init $((D0 - 30)) $((D0 + 1))
clock_set $((D0 - 30))
T_COORD_EXTRA='  leader_lease = "2s";'

pg_start
coord_start
clock_witness
A_EP=$COORD_CLIENT_EP
cat >"$T_DIR/every5.cfg" <<'CFG'
workflow = "every5";
schedule = { cron = "*/5 * * * *"; timezone = "UTC"; max_active = 10; };
steps = ( { name = "s"; kind = "exec"; argv = ["/bin/true"]; } );
CFG
drover submit "$T_DIR/every5.cfg" >/dev/null || fail "registering the schedule exited $?"

worker_start w1 1
run=$(submit "$(wf fence_hold)")
wait_for "hold running on w1" 20 sql_is \
    "select state from drover.tasks where run_id = $run and name = 'hold'" running
task=$(sql "select id from drover.tasks where run_id = $run and name = 'hold'")

# standby B: own ports, same database, keys and clock.
mapfile -t p < <(freeport 2)
sed -e "s|client_endpoint = \"$COORD_CLIENT_EP\"|client_endpoint = \"tcp://127.0.0.1:${p[0]}\"|" \
    -e "s|worker_endpoint = \"$COORD_WORKER_EP\"|worker_endpoint = \"tcp://127.0.0.1:${p[1]}\"|" \
    "$T_CFG" >"$T_DIR/b.cfg"
drover-coordinator --config "$T_DIR/b.cfg" </dev/null >>"$T_DIR/coordinator-b.log" 2>&1 &
T_PROCS[coordinator-b]=$!
B_EP="tcp://127.0.0.1:${p[0]}"
wait_for "coordinator-b stands by" 20 grep -q "standing by" "$T_DIR/coordinator-b.log"

a=$(coord_pid)
log "SIGSTOP the active coordinator (pid $a)"
t0=$(_now)
kill -STOP "$a"
clock_set $((D0 + 1)) # a due time inside the failover window
export DROVER_COORDINATOR=$B_EP
wait_for "coordinator-b serves clients" 30 drover info --timeout 1
t1=$(_now)
log "failover: $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s from SIGSTOP to the standby answering (lease 2s)"
grep -q "taken over from" "$T_DIR/coordinator-b.log" || fail "coordinator-b does not say it took the lease over"
wait_for "the due time inside the failover window fired" 20 sql_is \
    "select count(*) from drover.runs where schedule = 'every5' and extract(epoch from due_at)::bigint = $D0" 1

# The step ends while A is paused: w1 (connected to A) sends its result to A.
touch "$T_DIR/fence-release"
wait_for "w1 reports the step finished" 20 grep -q "task $task attempt 1 finished" "$T_DIR/worker-w1.log"
log "SIGCONT the paused coordinator"
kill -CONT "$a"
wait_for "the fenced coordinator exits" 20 pid_gone "$a"
wait "$a" 2>/dev/null && rc=0 || rc=$?
unset 'T_PROCS[coordinator]'
[[ $rc -ne 0 ]] || fail "the fenced coordinator exited 0"
grep -q "fenced" "$T_DIR/coordinator.log" || fail "the fenced coordinator's log does not say it was fenced"
assert_eq 0 "$(sql "select count(*) from drover.events where task_id = $task and attempt = 1 and to_state = 'succeeded'")" \
    "successes recorded for the attempt whose result reached only the fenced coordinator"
assert_eq 1 "$(sql "select count(*) from drover.runs where schedule = 'every5' and extract(epoch from due_at)::bigint = $D0")" \
    "runs for the due time in the failover window"
drover info --timeout 2 >/dev/null || fail "coordinator-b stopped answering"
# The fence itself: a session writing with a stale epoch is refused in the
# same transaction (events: every transition writes one); one without
# drover.epoch (a person with psql) is not.
out=$(psql -X -h 127.0.0.1 -p "$PG_PORT" -U postgres -d drover -v ON_ERROR_STOP=1 -Atqc \
    "SET drover.epoch = '1'; INSERT INTO drover.events (run_id, kind, detail) VALUES ($run, 'test', 'stale epoch')" 2>&1) &&
    fail "a write with the stale epoch 1 was accepted"
[[ "$out" == *"drover: fenced"* ]] || fail "a write with a stale epoch failed for another reason: $out"
sql "INSERT INTO drover.events (run_id, kind, detail) VALUES ($run, 'test', 'no epoch')" ||
    fail "a write without drover.epoch was refused"
