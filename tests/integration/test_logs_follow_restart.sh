#!/usr/bin/env bash
# `drover logs --follow` across a coordinator restart (issue 10,
# observation 6): the coordinator is killed -9 and restarted while a step
# prints; the follower rides through and prints every line exactly once,
# in order, then exits 0 when the step ends.
source "$(dirname "$0")/lib.sh"

pg_start
coord_start
worker_start w1 1
run=$(submit "$(wf lines)")
drover logs "$run" count --follow >"$T_DIR/follow.out" 2>"$T_DIR/follow.err" &
follower=$!
t_track_pid "$follower"
wait_for "the follower printed 3 lines" 20 grep -q "^line 3$" "$T_DIR/follow.out"
coord_kill9
coord_start
wait "$follower" && rc=0 || rc=$?
assert_eq 0 "$rc" "exit status of drover logs --follow across the restart ($(cat "$T_DIR/follow.err"))"
assert_eq "$(seq 1 15 | sed 's/^/line /')" "$(cat "$T_DIR/follow.out")" "lines printed by the follower"
