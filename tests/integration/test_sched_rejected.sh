#!/usr/bin/env bash
# A gate that says no is a verdict, not a failure (docs/scheduling.md,
# "Outcomes"):
#   1. evaluate with a gate that cannot pass (min accuracy 1.5) and
#      retries = 2: the run ends `rejected`, the gated step failed on its
#      first attempt and was not retried (attempt 1, no retry_wait), the
#      step after it is skipped, and `drover wait` exits 1;
#   2. the same gate next to a step that really fails: the run is `failed`
#      (the system broke, which outranks the verdict).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ml_lib.sh"

pg_start
coord_start
worker_start w1 2 --artifact-dir "$T_DIR/artifacts"

mkdir -p "$T_DIR/data"
gen_data "$T_DIR/data/train.csv" 300 1
gen_data "$T_DIR/data/test.csv" 150 2

gated() {
    cat <<CFG
workflow = "$1";
steps = (
  { name = "train"; kind = "train"; dataset = "data/train.csv"; label = "damage";
    model = "gated"; epochs = 2; learning_rate = 0.05; batch_size = 32; gpu = "never"; },
  { name = "evaluate"; kind = "evaluate"; after = ["train"]; dataset = "data/test.csv";
    model = "@train"; retries = 2; retry_delay = "100ms"; gates = { min = { accuracy = 1.5; }; }; },
  { name = "promote"; kind = "exec"; after = ["evaluate"]; command = "touch $T_DIR/promoted"; },
  { name = "notify"; kind = "exec"; after = ["promote"]; command = "true"; }$2
);
CFG
}

# ---------------------------------------------------------- 1. rejected ---
gated gate "" >"$T_DIR/gate.cfg"
run=$(submit "$T_DIR/gate.cfg")
assert_eq rejected "$(wait_run "$run" 90)" "state of a run whose gate said no"
assert_eq "failed|1|1" "$(task_field "$run" evaluate "state || '|' || attempt || '|' || failures")" \
    "state|attempt|failures of the gated evaluate (retries = 2)"
assert_eq 0 "$(sql "select count(*) from drover.events e join drover.tasks t on t.id = e.task_id
                    where t.run_id = $run and t.name = 'evaluate' and e.to_state = 'retry_wait'")" \
    "retry_wait transitions of the gated evaluate"
assert_eq "skipped|skipped" "$(task_field "$run" promote state)|$(task_field "$run" notify state)" \
    "promote|notify after the rejection"
[[ ! -e "$T_DIR/promoted" ]] || fail "promote ran after a rejected gate"
assert_eq f "$(sql "select passed from drover.step_reports where run_id = $run and step = 'evaluate'")" \
    "stored evaluation report"
assert_eq 1 "$(sql "select count(*) from drover.model_evaluations where run_id = $run and not passed")" \
    "failed evaluations recorded (one: no retry)"
rejected_run=$run
assert_eq rejected "$(sql "select state from drover.run_status where run_id = $run")" "state in drover.run_status"

# ----------------------------------------------- 2. rejected and broken ---
gated both ',
  { name = "broken"; kind = "exec"; command = "exit 3"; }' >"$T_DIR/both.cfg"
run=$(submit "$T_DIR/both.cfg")
assert_eq failed "$(wait_run "$run" 90)" "state of a run with a rejection and a real failure"
assert_eq "failed|1" "$(task_field "$run" evaluate "state || '|' || attempt")" "gated evaluate in the failed run"
assert_eq "failed|3" "$(task_field "$run" broken "state || '|' || exit_code")" "the broken step"

# Last, as it is about the CLI: `drover wait` on the rejected run ends at
# once with status 1 (124 = still following it after 20 s).
rc=0
timeout 20 drover wait "$rejected_run" >"$T_DIR/wait.out" 2>&1 </dev/null || rc=$?
assert_eq 1 "$rc" "exit status of drover wait on a rejected run"
