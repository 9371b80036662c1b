#!/usr/bin/env bash
# kill -9 the coordinator in the middle of a chain, start it again: the run
# completes, nothing is lost and no step runs twice under one attempt.
source "$(dirname "$0")/lib.sh"

pg_start
coord_start
worker_start w1 2

run=$(submit "$(wf chain)")
wait_for "step s2 running" 30 sql_is \
    "select state from drover.tasks where run_id = $run and name = 's2'" running
log "kill -9 coordinator pid $(coord_pid)"
coord_kill9
coord_start

assert_eq succeeded "$(wait_run "$run" 60)" "run state after a coordinator crash"
assert_eq "6|6" "$(sql "select count(*), count(*) filter (where state = 'succeeded')
                       from drover.tasks where run_id = $run")" "tasks | succeeded tasks"
assert_eq 6 "$(sql "select tasks_total from drover.runs where id = $run")" "tasks_total"
assert_eq 0 "$(sql "select count(*) from (select task_id from drover.events
                    where run_id = $run and kind = 'task_state' and to_state = 'succeeded'
                    group by task_id having count(*) <> 1) x")" "tasks without exactly one succeeded event"
dups=$(sort "$T_DIR/chain.out" | uniq -d)
[[ -z "$dups" ]] || fail "a step ran twice under the same attempt: $dups"
for s in s1 s2 s3 s4 s5 s6; do
    grep -q "^$s " "$T_DIR/chain.out" || fail "step $s never ran"
    n=$(grep -c "^$s " "$T_DIR/chain.out")
    att=$(task_field "$run" "$s" attempt)
    [[ $n -le $att ]] || fail "step $s ran $n times but only $att attempts are recorded"
done
drover status "$run" >/dev/null || fail "drover status after restart exited $?"
