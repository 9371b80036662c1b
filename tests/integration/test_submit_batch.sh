#!/usr/bin/env bash
# Submits batched per iteration (issue 16; docs/benchmarks.md, "Speed,
# second round"): requests that arrive together are stored with one
# statement, and each still gets its own answer and its own record.
#   1. one client session pipelines seven submits: four plain ones (one of
#      two steps with a dependency), one to an unknown queue and one with an
#      unknown kind (both refused, each in its own words, writing nothing),
#      and one using ${run.id} (stored on its own, in order);
#   2. every accepted run is stored as a single submit stores it: its tasks,
#      its edge, one run_state and one task_state event per task, and the
#      audit row naming its run; the run ids follow the requests' order;
#   3. a worker then runs them all to success;
#   4. the database refuses a batch (a trigger refuses one crafted submit):
#      the batch is rolled back and its submits are stored one by one, so
#      only the one at fault is refused (in the database's words) and the
#      others are stored and run.
source "$(dirname "$0")/lib.sh"

pg_start
coord_start

step='{\"argv\":[\"/bin/true\"]}'
plain() { # REQUEST_ID WORKFLOW [QUEUE]
    echo '{"request_id":'"$1"',"submit":{"workflow":"'"$2"'","queue":"'"${3:-}"'","steps":[{"name":"a","kind":"exec","spec_json":"'"$step"'"}]}}'
}
two='{"request_id":4,"submit":{"workflow":"b4","steps":[{"name":"a","kind":"exec","spec_json":"'"$step"'"},{"name":"b","kind":"exec","after":["a"],"spec_json":"'"$step"'"}]}}'
badkind='{"request_id":6,"submit":{"workflow":"b6","steps":[{"name":"a","kind":"nosuchkind","spec_json":"{}"}]}}'
runid='{"request_id":7,"submit":{"workflow":"b7","steps":[{"name":"a","kind":"exec","spec_json":"{\"argv\":[\"/bin/echo\",\"${run.id}\"]}"}]}}'
plain8='{"request_id":8,"submit":{"workflow":"b8","steps":[{"name":"a","kind":"exec","spec_json":"'"$step"'"}]}}'

# ------------------------------------------------ 1. seven at once ---
admin_poke --msg "$(plain 1 b1)" --msg "$(plain 2 b2)" --msg "$(plain 3 b3)" --msg "$two" \
    --msg "$(plain 5 b5 nosuchqueue)" --msg "$badkind" --msg "$runid" --msg "$plain8" \
    --drain 5000 >"$T_DIR/replies.out" || fail "zmqpoke exited $?"
assert_eq 8 "$(wc -l <"$T_DIR/replies.out")" "answers to eight submits"
rid() { jq -r "select(.request_id == \"$1\" or .request_id == $1) | .run_id // empty" "$T_DIR/replies.out"; }
err() { jq -r "select(.request_id == \"$1\" or .request_id == $1) | .error // empty" "$T_DIR/replies.out"; }
msg() { jq -r "select(.request_id == \"$1\" or .request_id == $1) | .message // empty" "$T_DIR/replies.out"; }
for r in 1 2 3 4 7 8; do
    [[ "$(rid $r)" =~ ^[1-9][0-9]*$ ]] || fail "request $r: no run id: $(cut -c1-300 "$T_DIR/replies.out")"
done
assert_eq ERROR_BAD_REQUEST "$(err 5)" "the submit to an unknown queue"
[[ "$(msg 5)" == *"unknown queue 'nosuchqueue'"* ]] || fail "unknown queue message: $(msg 5)"
assert_eq ERROR_BAD_REQUEST "$(err 6)" "the submit of an unknown kind"
[[ "$(msg 6)" == *nosuchkind* ]] || fail "unknown kind message: $(msg 6)"

# ----------------------------------------- 2. stored as one by one ---
assert_eq 6 "$(sql "select count(*) from drover.runs")" "runs stored"
assert_eq 0 "$(sql "select count(*) from drover.runs where workflow in ('b5', 'b6')")" "refused runs stored"
r1=$(rid 1) r2=$(rid 2) r3=$(rid 3) r4=$(rid 4) r7=$(rid 7) r8=$(rid 8)
((r1 < r2 && r2 < r3 && r3 < r4 && r4 < r7 && r7 < r8)) ||
    fail "run ids out of request order: $r1 $r2 $r3 $r4 $r7 $r8"
for r in $r1 $r2 $r3 $r4 $r7 $r8; do
    n=$(sql "select tasks_total from drover.runs where id = $r")
    assert_eq "$n" "$(sql "select count(*) from drover.tasks where run_id = $r")" "tasks of run $r"
    assert_eq 1 "$(sql "select count(*) from drover.events where run_id = $r and kind = 'run_state' and to_state = 'running'")" \
        "run_state events of run $r"
    assert_eq "$n" "$(sql "select count(*) from drover.events where run_id = $r and kind = 'task_state'")" \
        "task_state events of run $r"
    assert_eq 1 "$(sql "select count(*) from drover.events where run_id = $r and kind = 'command' and actor = 'admin' and detail like '% as run $r'")" \
        "audit row of run $r"
done
assert_eq 2 "$(sql "select tasks_total from drover.runs where id = $r4")" "steps of the two-step run"
assert_eq "pending ready" "$(sql "select string_agg(state, ' ' order by name desc) from drover.tasks where run_id = $r4")" \
    "states of the two-step run (b waits for a)"
assert_eq 1 "$(sql "select count(*) from drover.task_deps d join drover.tasks c on c.id = d.task_id
                    join drover.tasks p on p.id = d.depends_on
                    where c.run_id = $r4 and c.name = 'b' and p.run_id = $r4 and p.name = 'a'")" "the edge b after a"
assert_eq "[\"/bin/echo\", \"$r7\"]" "$(sql "select spec->'argv' from drover.tasks where run_id = $r7")" \
    '${run.id} substituted in its own run'

# ------------------------------------------------------- 3. they run ---
worker_start w1 2
for r in $r1 $r2 $r3 $r4 $r7 $r8; do
    assert_eq succeeded "$(wait_run "$r")" "run $r"
done

# ------------------------------- 4. a batch the database refuses ---
sql "CREATE FUNCTION public.t_refuse_boom() RETURNS trigger LANGUAGE plpgsql AS
     \$\$ BEGIN IF NEW.workflow = 'boom' THEN RAISE EXCEPTION 'test trigger refuses workflow boom'; END IF;
     RETURN NEW; END \$\$;
     CREATE TRIGGER t_refuse_boom BEFORE INSERT ON drover.runs FOR EACH ROW EXECUTE FUNCTION public.t_refuse_boom()"
runs_before=$(sql "select count(*) from drover.runs")
admin_poke --msg "$(plain 11 c1)" --msg "$(plain 12 boom)" --msg "$(plain 13 c3)" \
    --drain 5000 >"$T_DIR/replies.out" || fail "zmqpoke exited $?"
assert_eq 3 "$(wc -l <"$T_DIR/replies.out")" "answers to three submits"
grep -q "submits was refused by the database .*: submitting them one by one" "$T_DIR/coordinator.log" ||
    fail "the batch with the refused submit did not fall back to one by one"
assert_eq ERROR_INTERNAL "$(err 12)" "the submit the trigger refuses"
[[ "$(msg 12)" == *"test trigger refuses workflow boom"* ]] || fail "refused submit's message: $(msg 12)"
r11=$(rid 11) r13=$(rid 13)
[[ "$r11" =~ ^[1-9][0-9]*$ && "$r13" =~ ^[1-9][0-9]*$ ]] || fail "submits beside the refused one: $(cat "$T_DIR/replies.out")"
assert_eq $((runs_before + 2)) "$(sql "select count(*) from drover.runs")" "runs stored beside the refused one"
assert_eq 0 "$(sql "select count(*) from drover.events where kind = 'command' and detail like 'submit workflow boom %'")" \
    "audit rows of the refused submit"
for r in $r11 $r13; do
    assert_eq 1 "$(sql "select count(*) from drover.events where run_id = $r and kind = 'run_state' and to_state = 'running'")" \
        "run_state events of run $r"
    assert_eq 1 "$(sql "select count(*) from drover.events where run_id = $r and kind = 'command' and detail like '% as run $r'")" \
        "audit row of run $r"
    assert_eq succeeded "$(wait_run "$r")" "run $r"
done
log "ok"
