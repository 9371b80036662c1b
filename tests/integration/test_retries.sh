#!/usr/bin/env bash
# A flaky step is retried with exponential backoff (300 ms, then 600 ms)
# and succeeds on attempt 3; with one retry only it fails the run.
source "$(dirname "$0")/lib.sh"

pg_start
coord_start
worker_start w1 2

run=$(submit "$(wf retries2)")
assert_eq succeeded "$(wait_run "$run")" "run state with retries = 2"
assert_eq "succeeded|3|2" "$(task_field "$run" flaky "state || '|' || attempt || '|' || failures")" \
    "state|attempt|failures of flaky"

# end of attempt k = its transition out of running; start of attempt k+1 =
# its first assigned/running transition.
gap() {
    sql "select extract(epoch from
           (select min(at) from drover.events where run_id = $run and kind = 'task_state'
              and attempt = $2 and to_state in ('assigned', 'running'))
         - (select max(at) from drover.events where run_id = $run and kind = 'task_state'
              and attempt = $1 and from_state = 'running'))"
}
g12=$(gap 1 2)
g23=$(gap 2 3)
log "retry gaps: 1->2 ${g12}s, 2->3 ${g23}s"
[[ -n "$g12" && -n "$g23" ]] || fail "events lack the transitions of attempts 1..3"
# An event's time is the start of the transaction that stores it, which
# follows the failure by up to one loop iteration's flush; the backoff
# counts from the failure itself. So the gap between the events may fall
# short of the backoff by that flush delay (0.2998 s was seen under load):
# allow 20 ms of it, far less than either backoff.
assert_ge "$g12" 0.28 "delay between attempt 1 failing and attempt 2 starting (s)"
assert_ge "$g23" 0.58 "delay between attempt 2 failing and attempt 3 starting (s)"
assert_eq "retry 1 of 2 in 300ms|retry 2 of 2 in 600ms" \
    "$(sql "select string_agg(substring(detail from 'retry [0-9]+ of [0-9]+ in [0-9]+ms'), '|' order by id)
              from drover.events where run_id = $run and kind = 'task_state' and to_state = 'retry_wait'")" \
    "the backoffs the coordinator chose (exponential from retry_delay)"

run=$(submit "$(wf retries1)")
assert_eq failed "$(wait_run "$run")" "run state with retries = 1"
assert_eq "failed|2|1" "$(task_field "$run" flaky "state || '|' || attempt || '|' || coalesce(exit_code::text, 'null')")" \
    "state|attempt|exit_code of flaky with retries = 1"
