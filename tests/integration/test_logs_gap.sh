#!/usr/bin/env bash
# A stream with bytes missing in the middle (a chunk that never reached the
# coordinator) reads as what it is once its attempt has ended: the bytes
# before, one marker line saying how many bytes are missing, the bytes
# after — never a stream that silently stops at the gap. While the attempt
# runs, a reader waits at the gap instead (the bytes may still come).
source "$(dirname "$0")/lib.sh"

# One line per stored chunk: each is printed only once the one before is
# stored, so the three rows are the three lines.
cat >"$T_DIR/gap.cfg" <<CFG
workflow = "gap";
steps = (
  { name = "talk"; kind = "exec";
    argv = ["/bin/sh", "-c",
            "echo first; while [ ! -e $T_DIR/go.1 ]; do sleep 0.05; done;
             echo second; while [ ! -e $T_DIR/go.2 ]; do sleep 0.05; done;
             echo third; while [ ! -e $T_DIR/go.3 ]; do sleep 0.05; done"]; }
);
CFG
rows() { sql "select count(*) from drover.task_logs l join drover.tasks t on t.id = l.task_id
              where t.run_id = $run and l.stream = 1"; }

pg_start
coord_start
worker_start w1 1
run=$(submit "$T_DIR/gap.cfg")
wait_for "line 1 stored" 20 sql_is "select count(*) >= 1 from drover.task_logs" t
touch "$T_DIR/go.1"
wait_for "line 2 stored" 20 sql_is "select count(*) >= 2 from drover.task_logs" t
touch "$T_DIR/go.2"
wait_for "line 3 stored" 20 sql_is "select count(*) >= 3 from drover.task_logs" t
assert_eq 3 "$(rows)" "stored chunks of stdout"

# The middle chunk goes missing while the step still runs: a reader stops
# at the gap, it does not skip it.
sql "delete from drover.task_logs where offset_bytes = 6" >/dev/null
assert_eq 2 "$(rows)" "stored chunks after the delete"
assert_eq "first" "$(drover logs "$run" talk)" "what a reader gets while the attempt runs"

touch "$T_DIR/go.3"
assert_eq succeeded "$(wait_run "$run")" "the run"
want=$(printf 'first\n\n[drover: 7 bytes of this output never reached the coordinator]\nthird')
assert_eq "$want" "$(drover logs "$run" talk)" "what a reader gets once the attempt ended"
assert_eq "$want" "$(timeout 30 drover logs "$run" talk --follow)" "the same with --follow (which then ends)"
log "ok"
