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
