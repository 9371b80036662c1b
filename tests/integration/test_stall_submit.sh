#!/usr/bin/env bash
# A large submit is stored beside the loop (issue 9, observation 3;
# coordinator/bulk.h; docs/security.md): spoken directly on the client
# protocol (drover-test-zmqpoke), a workflow of more than 1,000 steps and
# dependencies
#   1. is answered with its run id once durable, and runs to the end;
#   2. broken (one bad step among 7,001: a frame over 256 KiB, decoded and
#      checked by the bulk thread) is refused with the CLI's message and
#      writes nothing;
#   3. while its insert waits (a person holds a lock on drover.task_deps),
#      the coordinator keeps answering, the half-written run is invisible,
#      and a coordinator killed (SIGKILL) then leaves no trace of it after a
#      restart, and the client got no success;
#   4. two at once are stored at once (BULK_THREADS): both wait on that
#      lock together, and once it is gone both are answered, each with its
#      own whole run.
source "$(dirname "$0")/lib.sh"

pg_start
coord_start
worker_start w1 4

cpoke() { admin_poke "$@"; }
# fan ID WORKFLOW N [BAD]: a submit of step s0 and N steps after it (N
# dependencies); BAD: the last step's spec has an unknown key.
fan() {
    jq -n --argjson id "$1" --arg wf "$2" --argjson n "$3" --arg bad "${4:-}" \
        '{request_id: $id, submit: {workflow: $wf, steps: ([{name: "s0", kind: "exec",
          spec_json: "{\"argv\":[\"/bin/true\"]}"}] + [range(1; $n + 1) as $i |
          {name: "s\($i)", kind: "exec", after: ["s0"],
           spec_json: (if $bad != "" and $i == $n then "{\"argv\":[\"/bin/true\"],\"bogus\":1}"
                       else "{\"argv\":[\"/bin/true\"]}" end)}])}}'
}

# 1. 501 steps and 500 dependencies: over the inline limit of 1,000.
fan 1 wide 500 >"$T_DIR/wide.json"
cpoke --msg "@$T_DIR/wide.json" --await 30000 >"$T_DIR/wide.out" || fail "no answer to a large submit"
run=$(jq -r 'select(.error == "ERROR_NONE") | .run_id' "$T_DIR/wide.out")
[[ "$run" =~ ^[0-9]+$ ]] || fail "large submit: $(cut -c1-300 "$T_DIR/wide.out")"
assert_eq "501 500" "$(sql "select (select count(*) from drover.tasks where run_id = $run), \
    (select count(*) from drover.task_deps d join drover.tasks t on t.id = d.task_id where t.run_id = $run)" | tr '|' ' ')" \
    "tasks and dependencies stored when the submit was answered"
grep -q "run $run (501 steps) stored beside the loop" "$T_DIR/coordinator.log" ||
    fail "the large submit was not stored beside the loop"
assert_eq succeeded "$(wait_run "$run" 90)" "state of the large run"

# 2. A rule broken in the last of 7,001 steps: the thread's check refuses it.
runs_before=$(sql "select count(*) from drover.runs")
fan 2 broken 7000 bad >"$T_DIR/broken.json"
cpoke --msg "@$T_DIR/broken.json" --await 30000 >"$T_DIR/broken.out" || fail "no answer to a broken large submit"
jq -e '.error == "ERROR_BAD_REQUEST" and (.message | test("step .s7000.: unknown key .bogus."))' \
    "$T_DIR/broken.out" >/dev/null || fail "broken large submit: $(cut -c1-300 "$T_DIR/broken.out")"
assert_eq "$runs_before" "$(sql "select count(*) from drover.runs")" "runs after a refused large submit"

# 3. Killed mid-insert. The lock makes the insert wait inside its
# transaction (runs and tasks written, dependencies not yet).
sql "begin; lock table drover.task_deps in access exclusive mode; select pg_sleep(60); commit" \
    >/dev/null 2>&1 &
locker=$!
T_EXTRA_PIDS+=("$locker")
wait_for "the lock is held" 10 sql_is "select count(*) from pg_locks where relation = 'drover.task_deps'::regclass \
    and mode = 'AccessExclusiveLock' and granted" 1
fan 3 crash 7000 >"$T_DIR/crash.json"
cpoke --msg "@$T_DIR/crash.json" --await 20000 >"$T_DIR/crash.out" 2>&1 &
poker=$!
T_EXTRA_PIDS+=("$poker")
wait_for "the insert waits on the lock" 20 sql_is "select count(*) > 0 from pg_locks where \
    relation = 'drover.task_deps'::regclass and not granted" t
drover info --timeout 5 >/dev/null || fail "the coordinator did not answer while a large submit was being stored"
assert_eq 0 "$(sql "select count(*) from drover.runs where workflow = 'crash'")" \
    "runs visible while their insert is uncommitted"
coord_kill9
# Release the lock: the orphaned session finishes its statement, finds its
# client gone and rolls back.
sql "select pg_terminate_backend(pid) from pg_locks where relation = 'drover.task_deps'::regclass \
    and mode = 'AccessExclusiveLock' and granted" >/dev/null
wait_for "the killed coordinator's insert is over" 30 sql_is "select count(*) from pg_stat_activity \
    where query like '%INSERT INTO drover.runs%' and pid <> pg_backend_pid()" 0
wait "$poker" 2>/dev/null || true
if grep -q '"run_id"' "$T_DIR/crash.out"; then
    fail "the client of a killed submit got a run id: $(cut -c1-300 "$T_DIR/crash.out")"
fi
coord_start
assert_eq "0 0" "$(sql "select (select count(*) from drover.runs where workflow = 'crash'), \
    (select count(*) from drover.tasks t where not exists (select 1 from drover.runs r where r.id = t.run_id))" | tr '|' ' ')" \
    "rows left by a submit killed mid-insert (runs, orphan tasks)"
# And the same submit, sent again, goes through.
cpoke --msg "@$T_DIR/crash.json" --await 30000 >"$T_DIR/again.out" || fail "no answer to the submit sent again"
jq -e '.error == "ERROR_NONE" and .run_id > 0' "$T_DIR/again.out" >/dev/null ||
    fail "submit sent again: $(cut -c1-300 "$T_DIR/again.out")"

# 4. Two large submits at once, from two clients, while the lock is held.
sql "begin; lock table drover.task_deps in access exclusive mode; select pg_sleep(60); commit" \
    >/dev/null 2>&1 &
T_EXTRA_PIDS+=("$!")
wait_for "the lock is held again" 10 sql_is "select count(*) from pg_locks where relation = \
    'drover.task_deps'::regclass and mode = 'AccessExclusiveLock' and granted" 1
pokers=()
for k in 1 2; do
    fan $((40 + k)) "twin$k" 7000 >"$T_DIR/twin$k.json"
    cpoke --msg "@$T_DIR/twin$k.json" --await 60000 >"$T_DIR/twin$k.out" 2>&1 &
    pokers+=("$!")
    T_EXTRA_PIDS+=("$!")
done
wait_for "both inserts wait on the lock at once" 30 sql_is "select count(*) from pg_locks where \
    relation = 'drover.task_deps'::regclass and not granted" 2
sql "select pg_terminate_backend(pid) from pg_locks where relation = 'drover.task_deps'::regclass \
    and mode = 'AccessExclusiveLock' and granted" >/dev/null
for k in 1 2; do
    wait "${pokers[k - 1]}" || fail "no answer to large submit twin$k"
    r=$(jq -r 'select(.error == "ERROR_NONE") | .run_id' "$T_DIR/twin$k.out")
    [[ "$r" =~ ^[0-9]+$ ]] || fail "large submit twin$k: $(cut -c1-300 "$T_DIR/twin$k.out")"
    assert_eq "twin$k 7001 7000" "$(sql "select r.workflow, (select count(*) from drover.tasks where run_id = r.id), \
        (select count(*) from drover.task_deps d join drover.tasks t on t.id = d.task_id where t.run_id = r.id) \
        from drover.runs r where r.id = $r" | tr '|' ' ')" "run of twin$k as answered"
done
log "ok"
