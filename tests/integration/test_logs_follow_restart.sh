#!/usr/bin/env bash
# `drover logs --follow` across a coordinator restart (issue 10,
# observation 6): the coordinator is killed -9 while a step prints, and the
# step prints more while it is down; the follower rides through and prints
# every line exactly once, in order, then exits 0 when the step ends.
#
# The lines printed during the outage reach the worker, which sends them to
# a coordinator that is gone or does not know its session yet (it drops
# them); they arrive because the worker sends its newest output again once
# it has registered anew (worker.c, s_resend_tails). Without that they were
# lost, and the reader saw a gap. The step first prints ~340 KiB, so the
# output the worker keeps (256 KiB, a ring) has wrapped when it is sent
# again, and the lines come out of it in order or the comparison fails.
source "$(dirname "$0")/lib.sh"

cat >"$T_DIR/lines.cfg" <<CFG
workflow = "lines";
steps = (
  { name = "count"; kind = "exec";
    argv = ["/bin/sh", "-c",
            "seq 1 60000; for i in 1 2 3; do echo line \$i; done;
             while [ ! -e $T_DIR/go.a ]; do sleep 0.05; done;
             for i in 4 5 6; do echo line \$i; done; touch $T_DIR/printed6;
             while [ ! -e $T_DIR/go.b ]; do sleep 0.05; done;
             for i in 7 8 9; do echo line \$i; done"]; }
);
CFG

pg_start
coord_start
worker_start w1 1
run=$(submit "$T_DIR/lines.cfg")
drover logs "$run" count --follow >"$T_DIR/follow.out" 2>"$T_DIR/follow.err" &
follower=$!
t_track_pid "$follower"
wait_for "the follower printed 3 lines" 20 grep -q "^line 3$" "$T_DIR/follow.out"
coord_kill9
touch "$T_DIR/go.a"
wait_for "the step printed lines 4-6 with the coordinator down" 20 test -e "$T_DIR/printed6"
coord_start
registered_twice() { [[ $(grep -c "registered with" "$T_DIR/worker-w1.log") -ge 2 ]]; }
wait_for "the worker registered with the new coordinator" 30 registered_twice
touch "$T_DIR/go.b"
wait "$follower" && rc=0 || rc=$?
assert_eq 0 "$rc" "exit status of drover logs --follow across the restart ($(cat "$T_DIR/follow.err"))"
want=$(seq 1 60000; seq 1 9 | sed 's/^/line /')
[[ "$want" == "$(cat "$T_DIR/follow.out")" ]] ||
    fail "lines printed by the follower differ from the step's: $(diff <(echo "$want") "$T_DIR/follow.out" | head -20)"
assert_eq succeeded "$(wait_run "$run")" "the run"
# What was sent again and already stored is not stored twice: the new
# coordinator read where the attempt's stored output ended.
assert_eq "$(printf '%s\n' "$want" | wc -c)" \
    "$(sql "select sum(length(data)) from drover.task_logs where stream = 1")" "stdout bytes stored"
log "ok"
