#!/usr/bin/env bash
# Priorities and fairness on one worker with one slot (no prefetch), so
# every placement is a choice between waiting steps:
#   1. a high-priority run submitted while a low-priority run of the same
#      queue still has many ready steps goes first: no low step is assigned
#      between the high run's submission and the last high step's
#      assignment, and every high step starts before those low steps;
#   2. two queues: B's few steps, submitted after A's many, start before A
#      is done (B is not starved by A's backlog).
# Order is read from drover.events (first assignment of each task) and
# drover.tasks.started_at, never from timing.
source "$(dirname "$0")/lib.sh"

pg_start
coord_start
worker_start w1 1 --prefetch 0

# pwf FILE NAME QUEUE PRIORITY N [SECS]: N independent steps of SECS (0.2) s.
pwf() {
    {
        echo "workflow = \"$2\"; queue = \"$3\"; priority = $4;"
        echo 'steps = ('
        local i
        for ((i = 1; i <= $5; i++)); do
            echo "  { name = \"s$i\"; kind = \"exec\"; command = \"sleep ${6:-0.2}\"; }$([[ $i -lt $5 ]] && echo ,)"
        done
        echo ');'
    } >"$1"
}
# first_assigned RUN: "step epoch" of each task's first assignment, in order.
assigned_at() {
    sql "select t.name || ' ' || extract(epoch from min(e.at)) from drover.events e
         join drover.tasks t on t.id = e.task_id
         where e.run_id = $1 and e.kind = 'task_state' and e.to_state = 'assigned'
         group by t.name order by min(e.at)"
}
first_running() {
    sql_is "select count(*) > 0 from drover.tasks where run_id = $1 and state in ('running', 'succeeded')" t
}

# ---------------------------------------------------------- 1. priority ---
drover queue create qa >/dev/null || fail "drover queue create qa exited $?"
drover queue create qb >/dev/null || fail "drover queue create qb exited $?"
pwf "$T_DIR/low.cfg" low qa 0 8
pwf "$T_DIR/high.cfg" high qa 10 3
low=$(submit "$T_DIR/low.cfg")
wait_for "a low step running" 30 first_running "$low"
high=$(submit "$T_DIR/high.cfg")
assert_eq succeeded "$(wait_run "$high" 60)" "state of the high-priority run"
assert_eq succeeded "$(wait_run "$low" 60)" "state of the low-priority run"

sub=$(sql "select extract(epoch from submitted_at) from drover.runs where id = $high")
last_high=$(sql "select max(f) from (select min(e.at) f from drover.events e
                 where e.run_id = $high and e.kind = 'task_state' and e.to_state = 'assigned'
                 group by e.task_id) x")
# Low steps first assigned after the high run existed.
late_low=$(sql "select count(*) from (select min(e.at) f from drover.events e
                where e.run_id = $low and e.kind = 'task_state' and e.to_state = 'assigned'
                group by e.task_id) x where extract(epoch from f) > $sub")
log "low steps still waiting when the high run came: $late_low"
log "order: $(sql "select string_agg(r.workflow || ':' || t.name, ' ' order by t.started_at)
                    from drover.tasks t join drover.runs r on r.id = t.run_id where r.id in ($low, $high)")"
assert_ge "$late_low" 4 "low steps still waiting when the high run was submitted"
assert_eq 0 "$(sql "select count(*) from (select min(e.at) f from drover.events e
                    where e.run_id = $low and e.kind = 'task_state' and e.to_state = 'assigned'
                    group by e.task_id) x
                    where extract(epoch from f) > $sub and f < '$last_high'::timestamptz")" \
    "low steps assigned after the high run's submission and before its last step"
# started_at agrees: every high step started before every late low step.
assert_eq t "$(sql "select (select max(started_at) from drover.tasks where run_id = $high)
                         < (select min(t.started_at) from drover.tasks t
                            where t.run_id = $low and t.started_at > (select submitted_at from drover.runs where id = $high)
                              and t.id not in (select e.task_id from drover.events e
                                               where e.run_id = $low and e.to_state = 'assigned'
                                                 and e.at < (select submitted_at from drover.runs where id = $high)))")" \
    "high steps started before the low steps that were still waiting"

# -------------------------------------------------------- 2. starvation ---
# A's backlog is long so that "B finished while A still had 4 steps
# waiting" holds even when B wins only some of the turns (see the note at
# the end).
pwf "$T_DIR/a.cfg" many qa 0 30 0.1
pwf "$T_DIR/b.cfg" few qb 0 2 0.1
a=$(submit "$T_DIR/a.cfg")
wait_for "an A step running" 30 first_running "$a"
b=$(submit "$T_DIR/b.cfg")
assert_eq succeeded "$(wait_run "$b" 60)" "state of B"
# B finished while A still had steps waiting.
a_left=$(sql "select count(*) from drover.tasks where run_id = $a and state in ('ready', 'pending')")
assert_eq succeeded "$(wait_run "$a" 60)" "state of A"
order=$(sql "select string_agg(r.queue, ' ' order by t.started_at) from drover.tasks t
             join drover.runs r on r.id = t.run_id where r.id in ($a, $b)")
log "start order by queue: $order"
log "A steps still waiting when B had finished: $a_left"
assert_eq t "$(sql "select (select min(started_at) from drover.tasks where run_id = $b)
                         < (select max(started_at) from drover.tasks where run_id = $a)")" \
    "B's first step started before A's last"
assert_ge "$a_left" 4 "A steps still waiting when B had finished (B not starved)"
# Note: strict turns would put B's two steps within the first four
# placements after its submission; the dispatcher's round-robin pointer
# advances on every dispatch call rather than per placement, so B gets
# roughly one placement in three (see the log line above). Not asserted:
# it is a fairness weakness, not starvation.
