#!/usr/bin/env bash
# drover hold / release (docs/scheduling.md "Hold and release"):
#   1. a held ready step is not placed although a slot is free, and `why`
#      says it is held; a held pending step stays unplaced when it becomes
#      ready; running steps run on;
#   2. the hold survives a coordinator crash (stored, migration 018);
#   3. release lets both start; `held`/`released` events name the key;
#   4. refusals: a step the run does not have (exit 2), a step that has
#      already started (conflict), a finished run, another submitter's key
#      (a hand-made HoldRequest, not the CLI).
source "$(dirname "$0")/lib.sh"

pg_start
coord_start

gate_init

cat >"$T_DIR/h.cfg" <<CFG
workflow = "h";
steps = (
  { name = "a"; kind = "exec"; $(gate_cmd a) },
  { name = "b"; kind = "exec"; after = ["a"]; $(gate_cmd b) },
  { name = "c"; kind = "exec"; $(gate_cmd c) }
);
CFG
# No worker yet: nothing can start before the holds.
run=$(submit "$T_DIR/h.cfg")
assert_eq "held 1 step of run $run" "$(drover hold "$run" c)" "drover hold RUN c"
assert_eq "held 1 step of run $run" "$(drover hold "$run" b)" "drover hold RUN b (pending)"
worker_start w 4
wait_for "a running" 30 task_state_is "$run" a running
assert_eq "c is held (drover release $run c)" "$(drover why "$run" c)" "why c"
assert_eq ready "$(task_field "$run" c state)" "state of the held c beside free slots"
# a ends: b becomes ready and stays unplaced (held).
gate_open a
wait_for "b ready" 30 task_state_is "$run" b ready
assert_eq "b is held (drover release $run b)" "$(drover why "$run" b)" "why b"

# Another submitter may not hold or release it, whatever its client sends.
K="$T_DIR/k"
mkdir -m 700 "$K"
drover keygen --out "$K/other" >/dev/null || fail "keygen exited $?"
drover keys allow client "$K/other.pub" --role submitter >/dev/null || fail "allow other exited $?"
drover-test-zmqpoke -q --proto client --key "$K/other" --server-key "$T_KEYS/coordinator.pub" \
    --linger 500 --msg '{"request_id":7,"hold":{"run_id":'"$run"',"step":"","release":true}}' \
    --await 5000 "$COORD_CLIENT_EP" >"$T_DIR/other.out" 2>&1 || fail "zmqpoke exited $?: $(cat "$T_DIR/other.out")"
jq -e '.error == "ERROR_FORBIDDEN" and (.message | test("may release only its own runs"))' \
    "$T_DIR/other.out" >/dev/null || fail "another key's release: $(cat "$T_DIR/other.out")"
assert_eq ready "$(task_field "$run" c state)" "state of c after another key's release"

# ------------------------------------------------- 2. across a crash ---
coord_kill9
coord_start
wait_for "w back" 30 sh -c "drover workers | grep -q '^w '"
assert_eq "c is held (drover release $run c)" "$(drover why "$run" c)" "why c after a coordinator crash"
assert_eq "true true" "$(sql "select string_agg(held::text, ' ' order by name) from drover.tasks
                        where run_id = $run and name in ('b', 'c')")" "held flags in drover.tasks"

# ---------------------------------------------------------- 3. release ---
# A step that has started: the hold has nothing to stop.
rc=0
drover hold "$run" a >"$T_DIR/hold-a.out" 2>&1 || rc=$?
[[ $rc -ne 0 ]] || fail "drover hold of a finished step exited 0"
grep -q "has already started" "$T_DIR/hold-a.out" || fail "hold a: $(cat "$T_DIR/hold-a.out")"
rc=0
drover hold "$run" nosuch >"$T_DIR/hold-n.out" 2>&1 || rc=$?
assert_eq 2 "$rc" "exit status of drover hold RUN nosuch"
assert_eq "released 2 steps of run $run (started steps are not affected: they run on)" \
    "$(drover release "$run")" "drover release RUN"
wait_for "b and c running" 30 sql_is "select count(*) from drover.tasks where run_id = $run
                                       and name in ('b', 'c') and state = 'running'" 2
gate_open b c
assert_eq succeeded "$(wait_run "$run")" "state of the run"
assert_eq "held held released released" "$(sql "select string_agg(kind, ' ' order by id) from drover.events
    where run_id = $run and kind in ('held', 'released')")" "hold events"
sql "select detail from drover.events where run_id = $run and kind = 'held'" | grep -q "^held by " ||
    fail "held events do not name who: $(sql "select detail from drover.events where run_id = $run and kind = 'held'")"
rc=0
drover hold "$run" >"$T_DIR/hold-done.out" 2>&1 || rc=$?
[[ $rc -ne 0 ]] || fail "drover hold of a finished run exited 0"
grep -q "nothing to hold" "$T_DIR/hold-done.out" || fail "hold of a finished run: $(cat "$T_DIR/hold-done.out")"
log "ok"
