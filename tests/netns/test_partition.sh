#!/usr/bin/env bash
# A network partition between hosts (issue 10), on network namespaces:
# PostgreSQL and the coordinator on host c, workers w1..w3 on hosts of their
# own, CurveZMQ over a bridge (tests/netns/README.md). w1 is cut off while
# it runs a step: its lease expires (declared dead), the step runs again on
# another worker and the run succeeds; the step on w1 finishes meanwhile,
# behind the partition. When the partition heals, w1's late result is
# fenced off — recorded as a stale_result event, not as the step's success —
# and no attempt of the step started after its success was recorded.
source "$(dirname "$0")/lib.sh"

netns_cluster 3
pg_start
coord_start
[[ "$COORD_WORKER_EP" == "tcp://${NETNS_ADDR[c]}:"* ]] || fail "worker endpoint $COORD_WORKER_EP is not on host c"
worker_start w1 1

# Each attempt stamps its start and end; attempt 1 waits for a release file.
cat >"$T_DIR/partition.cfg" <<EOF
workflow = "partition";
steps = (
  { name = "s"; kind = "exec"; retries = 0;
    argv = ["/bin/sh", "-c", "d=$T_DIR/stamps; mkdir -p \$d; date +%s.%N >\$d/\$DROVER_ATTEMPT.start; if [ \"\$DROVER_ATTEMPT\" -eq 1 ]; then while [ ! -e $T_DIR/release ]; do sleep 0.05; done; fi; date +%s.%N >\$d/\$DROVER_ATTEMPT.end"]; }
);
EOF
run=$(submit "$T_DIR/partition.cfg")
wait_for "s running on w1" 20 sql_is \
    "select state || ' ' || worker from drover.tasks where run_id = $run and name = 's'" "running w1"
task=$(sql "select id from drover.tasks where run_id = $run and name = 's'")

# The worker talks to the coordinator over the bridge, with CURVE: its
# connection comes from its own address, and the coordinator requires keys.
wport=${COORD_WORKER_EP##*:}
wait_for "w1's connection from ${NETNS_ADDR[w1]} on host c" 10 bash -c \
    "nsenter --net=/run/netns/$NETNS_ID-c -- ss -Htn state established '( sport = :$wport )' | grep -qF ' ${NETNS_ADDR[w1]}:'"
grep -q "secret_key" "$T_CFG" || fail "the test cluster runs without CURVE"

netns_cut w1
wait_for "w1 declared dead behind the partition" 20 sql_is \
    "select state from drover.workers where name = 'w1'" dead
worker_start w2 1
worker_start w3 1
assert_eq succeeded "$(wait_run "$run" 30)" "run after its first worker was cut off"
read -r state attempt worker <<<"$(task_field "$run" s "state || ' ' || attempt || ' ' || worker")"
assert_eq "succeeded 2" "$state $attempt" "state and attempt of s"
[[ "$worker" == w2 || "$worker" == w3 ]] || fail "s succeeded on $worker, expected w2 or w3"

# Attempt 1 finishes on w1 while the partition lasts: its result waits there.
touch "$T_DIR/release"
wait_for "attempt 1 ends on w1, behind the partition" 20 test -e "$T_DIR/stamps/1.end"
assert_eq 0 "$(sql "select count(*) from drover.events where task_id = $task and kind like 'stale%'")" \
    "stale events while w1 is still cut off"

netns_heal w1
wait_for "w1's late result recorded as stale_result" 60 sql_is \
    "select count(*) > 0 from drover.events where task_id = $task and attempt = 1 and kind = 'stale_result'" t
wait_for "w1 back after the partition" 30 sql_is "select state from drover.workers where name = 'w1'" connected

assert_eq "succeeded 2 $worker" "$(task_field "$run" s "state || ' ' || attempt || ' ' || worker")" \
    "s after w1's late result came back"
assert_eq 1 "$(sql "select count(*) from drover.events where task_id = $task and kind = 'task_state' and to_state = 'succeeded'")" \
    "successes recorded for s"
assert_eq succeeded "$(run_state "$run")" "run after the late result"
# No attempt started after the success was recorded (and there were two).
succ_at=$(sql "select extract(epoch from at) from drover.events where task_id = $task and kind = 'task_state' and to_state = 'succeeded'")
assert_eq "1.start 2.start" "$(cd "$T_DIR/stamps" && echo *.start)" "attempts of s that started"
for f in "$T_DIR"/stamps/*.start; do
    awk -v s="$(cat "$f")" -v a="$succ_at" 'BEGIN { exit !(s <= a + 0.001) }' ||
        fail "$(basename "$f") started at $(cat "$f"), after the success was recorded at $succ_at"
done
log "partition: lease expired, re-run on $worker, late result of w1 fenced off (stale_result)"
