#!/usr/bin/env bash
# drover rerun (issue 13): a run where train succeeds, check fails (on
# purpose), ev (evaluate model "@train", after check) is skipped and side
# (independent) succeeds.
#   1. rerun --failed: a new run where train and side are reused (stored
#      succeeded with reused_from, not executed again: no new model version,
#      side's counter unchanged) and check and ev run; ev evaluates the model
#      version the first run's train registered; the run succeeds;
#   2. rerun RUN STEP: the named step and what comes after it run again,
#      the rest (reused from the reuse, back to the task that ran) is reused;
#   3. rerun without options runs every step again;
#   4. refusals: a run still running, an unknown step, nothing to run, a run
#      that does not exist, and (a hand-made request) another submitter's run.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ml_lib.sh"

pg_start
coord_start
worker_start w1 2 --artifact-dir "$T_DIR/artifacts"
mkdir -p "$T_DIR/data"
gen_data "$T_DIR/data/train.csv" 300 1
gen_data "$T_DIR/data/test.csv" 150 2

cat >"$T_DIR/p.cfg" <<CFG
workflow = "pipe";
steps = (
  { name = "train"; kind = "train"; dataset = "data/train.csv"; label = "damage"; model = "rr";
    trainer = "softmax"; epochs = 1; batch_size = 32; val_split = 0.2; seed = 7; gpu = "never"; },
  { name = "check"; kind = "exec"; after = ["train"]; argv = ["/bin/sh", "-c", "test -e $T_DIR/ok"]; },
  { name = "ev"; kind = "evaluate"; after = ["check"]; dataset = "data/test.csv"; label = "damage";
    model = "@train"; },
  { name = "side"; kind = "exec"; argv = ["/bin/sh", "-c", "echo x >> $T_DIR/side.count"]; }
);
CFG
states() { sql "select string_agg(name || ':' || state, ' ' order by name) from drover.tasks where run_id = $1"; }
reused() { sql "select string_agg(t.name || '<' || o.run_id, ' ' order by t.name) from drover.tasks t
                join drover.tasks o on o.id = t.reused_from where t.run_id = $1"; }

r1=$(submit "$T_DIR/p.cfg")
assert_eq failed "$(wait_run "$r1" 90)" "state of run $r1"
assert_eq "check:failed ev:skipped side:succeeded train:succeeded" "$(states "$r1")" "steps of run $r1"
assert_eq 1 "$(sql "select count(*) from drover.model_versions where name = 'rr'")" "model versions after run $r1"

# ------------------------------------------------------- 1. --failed ---
touch "$T_DIR/ok"
r2=$(drover rerun "$r1" --failed 2>"$T_DIR/rerun.err") || fail "drover rerun --failed exited $?: $(cat "$T_DIR/rerun.err")"
grep -q "run $r2 reruns run $r1: 2 steps again, 2 reused (check, ev)" "$T_DIR/rerun.err" ||
    fail "rerun said: $(cat "$T_DIR/rerun.err")"
assert_eq succeeded "$(wait_run "$r2" 90)" "state of the rerun $r2"
assert_eq "side<$r1 train<$r1" "$(reused "$r2")" "steps of run $r2 reused from run $r1"
assert_eq "check:succeeded ev:succeeded side:succeeded train:succeeded" "$(states "$r2")" "steps of run $r2"
assert_eq 1 "$(wc -l <"$T_DIR/side.count")" "times side ran"
assert_eq 1 "$(sql "select count(*) from drover.model_versions where name = 'rr'")" "model versions after run $r2"
assert_eq "rr|1" "$(sql "select e.name || '|' || e.version from drover.model_evaluations e
                         join drover.tasks t on t.id = e.task_id where t.run_id = $r2")" \
    "the version ev of run $r2 evaluated (run $r1's)"
assert_eq "0" "$(sql "select count(*) from drover.tasks where run_id = $r2 and name in ('train', 'side')
                      and attempt > 0")" "attempts of the reused steps"

# ------------------------------------------------------- 2. a step ---
r3=$(drover rerun "$r2" ev 2>/dev/null) || fail "drover rerun $r2 ev exited $?"
assert_eq succeeded "$(wait_run "$r3" 90)" "state of the rerun $r3"
# train and side go back to the task that ran them (run 1), check to run 2.
assert_eq "check<$r2 side<$r1 train<$r1" "$(reused "$r3")" "steps of run $r3 reused"

# ------------------------------------------------------- 3. everything ---
r4=$(drover rerun "$r1" 2>/dev/null) || fail "drover rerun $r1 exited $?"
assert_eq succeeded "$(wait_run "$r4" 90)" "state of the rerun $r4"
assert_eq "" "$(reused "$r4")" "steps of run $r4 reused"
assert_eq 2 "$(sql "select count(*) from drover.model_versions where name = 'rr'")" "model versions after run $r4"
assert_eq 2 "$(wc -l <"$T_DIR/side.count")" "times side ran"

# ------------------------------------------------------- 4. refusals ---
out=$(drover rerun "$r4" --failed 2>&1) && fail "rerun with nothing failed: $out"
[[ "$out" == *"nothing to run again"* ]] || fail "rerun --failed of a good run said: $out"
out=$(drover rerun "$r1" nosuch 2>&1) && fail "rerun of an unknown step: $out"
[[ "$out" == *"has no step 'nosuch'"* ]] || fail "rerun nosuch said: $out"
out=$(drover rerun 999999 2>&1) && fail "rerun of no run: $out"
[[ "$out" == *"no run 999999"* ]] || fail "rerun 999999 said: $out"
rm -f "$T_DIR/ok"
cat >"$T_DIR/hold.cfg" <<CFG
workflow = "hold";
steps = ( { name = "h"; kind = "exec"; argv = ["/bin/sh", "-c", "while [ ! -e $T_DIR/go ]; do sleep 0.05; done"]; } );
CFG
rh=$(submit "$T_DIR/hold.cfg")
out=$(drover rerun "$rh" 2>&1) && fail "rerun of a running run: $out"
[[ "$out" == *"still running"* ]] || fail "rerun of a running run said: $out"
touch "$T_DIR/go"
assert_eq succeeded "$(wait_run "$rh")" "state of run $rh"
# Another submitter's run, by hand: refused by the coordinator.
drover keygen --out "$T_KEYS/sub2" >/dev/null || fail "keygen exited $?"
drover keys allow client "$T_KEYS/sub2.pub" --role submitter >/dev/null || fail "allow sub2 exited $?"
drover-test-zmqpoke -q --proto client --key "$T_KEYS/sub2" --server-key "$T_KEYS/coordinator.pub" \
    --msg '{"request_id":4,"rerun":{"run_id":'"$r1"',"failed":true}}' \
    --await 5000 "$COORD_CLIENT_EP" >"$T_DIR/raw.out" || fail "zmqpoke rerun exited $?"
jq -e '.error == "ERROR_FORBIDDEN" and (.message | test("may rerun only its own runs"))' "$T_DIR/raw.out" \
    >/dev/null || fail "another key's rerun: $(cat "$T_DIR/raw.out")"
assert_eq 5 "$(sql "select count(*) from drover.runs")" "runs after the refusals"
log "ok"
