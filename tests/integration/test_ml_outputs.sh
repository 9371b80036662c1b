#!/usr/bin/env bash
# The fd 3 output channel of an ordinary exec step: metric lines reach
# drover.task_metrics in order with seq from 0; a line that is not JSON,
# one of the wrong shape and one over 1 MiB are dropped and counted by the
# worker, which keeps running; a last line without its newline still counts.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ml_lib.sh"

pg_start
coord_start
worker_start w1 1

cat >"$T_DIR/out.cfg" <<'CFG'
workflow = "fd3";
steps = (
  { name = "talk"; kind = "exec"; command = "test \"$DROVER_OUTPUT_FD\" = 3 && printf '{\"metric\":{\"step\":1}}\nnot json\n{\"other\":{}}\n' >&3 && head -c 1200000 /dev/zero | tr '\\0' x >&3 && printf '\n{\"metric\":{\"step\":2}}\n{\"output\":{\"a\":1}}' >&3"; },
  { name = "after"; kind = "exec"; after = ["talk"]; command = "true"; }
);
CFG
run=$(submit "$T_DIR/out.cfg")
assert_eq succeeded "$(wait_run "$run" 60)" "state of the run whose step wrote on fd 3"
assert_eq "0:1,1:2" "$(sql "select string_agg(m.seq || ':' || (m.data->>'step'), ',' order by m.seq)
                           from drover.task_metrics m join drover.tasks t on t.id = m.task_id
                           where t.run_id = $run and t.name = 'talk'")" "metrics seq:step"
# Bad lines are counted, not logged one by one: one warning, then the total.
assert_eq 1 "$(grep -c 'ignored an output line' "$T_DIR/worker-w1.log")" \
    "warnings for the output lines the worker dropped (not JSON, wrong shape, oversized)"
grep -q "ignored 3 output lines in all" "$T_DIR/worker-w1.log" ||
    fail "the worker does not give the total of dropped output lines: $(grep ignored "$T_DIR/worker-w1.log")"
pid_alive "$(worker_pid w1)" || fail "the worker died"

# Metrics are capped per task attempt (docs/security.md): 10,050 small
# ones keep 10,000; 300 of 60 KB each (18 MB) keep what fits in 16 MiB
# (about 279).
# The rest are dropped and counted in dropped_messages.
cat >"$T_DIR/many.cfg" <<'CFG'
workflow = "metric-caps";
steps = (
  { name = "many"; kind = "exec"; command = "awk 'BEGIN { for (i = 0; i < 10050; i++) printf \"{\\\"metric\\\":{\\\"step\\\":%d}}\\n\", i }' >&3"; },
  { name = "fat"; kind = "exec"; command = "p=$(head -c 60000 /dev/zero | tr '\\0' x); for i in $(seq 0 299); do printf '{\"metric\":{\"step\":%d,\"pad\":\"%s\"}}\\n' $i $p; done >&3"; }
);
CFG
dropped0=$(drover info --json | jq -r '.dropped_messages')
run=$(submit "$T_DIR/many.cfg")
assert_eq succeeded "$(wait_run "$run" 90)" "state of the run whose steps wrote too many metrics"
metrics_of() {
    sql "select count(*) from drover.task_metrics m join drover.tasks t on t.id = m.task_id
         where t.run_id = $run and t.name = '$1'"
}
wait_for "the metrics are stored" 30 sql_is "select count(*) from drover.task_metrics m join drover.tasks t on t.id = m.task_id where t.run_id = $run and t.name = 'many'" 10000
fat=$(metrics_of fat)
((fat >= 250 && fat < 300)) || fail "metrics of 60 KB kept for one attempt: $fat (16 MiB: about 279)"
dropped1=$(drover info --json | jq -r '.dropped_messages')
((dropped1 - dropped0 >= 51)) || fail "metrics over the caps were not counted as dropped ($dropped0 -> $dropped1)"
log "ok (metric caps)"
