#!/usr/bin/env bash
# bench/w3_phases.sh — where W3's time goes (one fan: root -> 1,000
# children -> join, a fresh coordinator and 2 x 4 workers per fan): for
# each fan, ms after the client sent the submit until the reply, the root's
# assignment (events), its start and end, the first child's start, the
# last child's end and the join's end (the tasks' worker clock; one host,
# one clock). ROUNDS fans (default 4); DROVER_BIN picks the build.
# docs/benchmarks.md "W3's submit, and room for the tasks' updates" used it.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"
trap 'b_cleanup' EXIT
trap 'exit 130' INT TERM
b_pg_start
echo "reply root_assigned root_start root_end first_child last_child_end join_end (ms after the submit)"
for ((i = 1; i <= ${ROUNDS:-4}; i++)); do
    b_coord_start
    b_workers_start
    out=$(b_submit --shape fan --steps "${W3_CHILDREN:-1000}") || b_die "submit failed"
    b_wait_runs_done
    b_workers_stop
    t0=$(b_field t_submit_ms "$out")
    reply=$(awk -v s="$(b_field submit_s "$out")" 'BEGIN { printf "%.1f", s * 1000 }')
    ms() { echo "round((extract(epoch from ($1)) * 1000 - $t0)::numeric, 1)"; }
    echo "$reply $(b_sql "select $(ms "(select min(e.at) from drover.events e join drover.tasks t on t.id = e.task_id
                                         where t.name = 'root' and e.to_state = 'assigned')"),
                     $(ms "(select started_at from drover.tasks where name = 'root')"),
                     $(ms "(select finished_at from drover.tasks where name = 'root')"),
                     $(ms "(select min(started_at) from drover.tasks where name like 'c%')"),
                     $(ms "(select max(finished_at) from drover.tasks where name like 'c%')"),
                     $(ms "(select finished_at from drover.tasks where name = 'join')")")"
    b_coord_stop
done
