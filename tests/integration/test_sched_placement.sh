#!/usr/bin/env bash
# Resource-aware placement (docs/scheduling.md, "Resources and placement").
# GPUs are only indices here (--gpus N needs no real GPU):
#   1. two 1-GPU steps on a 2-GPU worker hold different indices, each sees
#      exactly its own in CUDA_VISIBLE_DEVICES (the worker's own value does
#      not leak), a step without GPUs sees it set and empty, and a third
#      1-GPU step waits for a GPU although a slot is free;
#   2. a burst of 1-GPU steps never double-books an index: every step claims
#      its indices with mkdir (atomic) while it runs, and drover.tasks is
#      sampled for two busy tasks holding one index;
#   3. 2-GPU steps land only on the 2-GPU worker, even when a 1-GPU worker
#      has more free slots;
#   4. steps that fit no connected worker wait with the reason in
#      `drover why` (GPUs, memory, label) and start when a worker that fits
#      connects.
source "$(dirname "$0")/lib.sh"

pg_start
coord_start

# step.sh DIR TAG [HOLD]: records what the task saw (CUDA_VISIBLE_DEVICES,
# the worker's T_HOST), claims its GPU indices on that host, holds until
# DIR/HOLD exists (or 0.2 s), then releases the indices before exiting, so
# the claim ends before the worker can report the result.
cat >"$T_DIR/step.sh" <<'SH'
dir=$1; tag=$2; hold=${3:-}
if [ "${CUDA_VISIBLE_DEVICES+set}" = set ]; then cvd="set:$CUDA_VISIBLE_DEVICES"; else cvd=unset; fi
echo "$cvd" >"$dir/cvd.$tag"
echo "${T_HOST:-?}" >"$dir/host.$tag"
locks=""
for g in $(echo "${CUDA_VISIBLE_DEVICES:-}" | tr ',' ' '); do
    if mkdir "$dir/lock.$T_HOST.$g" 2>/dev/null; then
        locks="$locks $dir/lock.$T_HOST.$g"
    else
        echo "$tag on $T_HOST: gpu $g already held" >>"$dir/doublebooked"
    fi
done
if [ -n "$hold" ]; then
    while [ ! -e "$dir/$hold" ]; do sleep 0.05; done
else
    sleep 0.2
fi
for l in $locks; do rmdir "$l"; done
SH
step() { echo "command = \"sh $T_DIR/step.sh $T_DIR $1 ${2:-}\";"; }

# The worker's own CUDA_VISIBLE_DEVICES must never reach a task.
T_HOST=wg2 CUDA_VISIBLE_DEVICES=7 worker_start wg2 4 --gpus 2 --memory 8G

why() { drover why "$1" "$2"; }
why_is() { [[ "$(why "$1" "$2")" == "$3" ]]; }
why_starts() { [[ "$(why "$1" "$2")" == "$3"* ]]; }
why_has() { [[ "$(why "$1" "$2")" == *"$3"* ]]; }
gpus_of() { sql "select coalesce(array_to_string(gpus_assigned, ','), '') from drover.tasks
                 where run_id = $1 and name = '$2'"; }

# ------------------------------------------- 1. two 1-GPU steps, one worker ---
cat >"$T_DIR/pair.cfg" <<CFG
workflow = "gpu-pair";
steps = (
  { name = "a"; kind = "exec"; $(step a go1) resources = { gpus = 1; }; },
  { name = "b"; kind = "exec"; $(step b go1) resources = { gpus = 1; }; },
  { name = "c"; kind = "exec"; $(step c go1) },
  { name = "d"; kind = "exec"; $(step d) resources = { gpus = 1; }; }
);
CFG
run=$(submit "$T_DIR/pair.cfg")
busy() { sql_is "select count(*) from drover.tasks where run_id = $run and state = 'running'
                 and name in ('a', 'b', 'c')" 3; }
wait_for "a, b and c running on wg2" 30 busy
wait_for "a, b and c wrote what they saw" 30 test -s "$T_DIR/cvd.a" -a -s "$T_DIR/cvd.b" -a -s "$T_DIR/cvd.c"
# Which of a and b started first is not fixed; which indices they hold is.
[[ $(task_field "$run" a state) == running && $(task_field "$run" b state) == running ]] ||
    fail "a and b are not both running"
assert_eq "0,1" "$(printf '%s\n' "$(gpus_of "$run" a)" "$(gpus_of "$run" b)" | sort | paste -sd,)" \
    "gpus_assigned of a and b together"
assert_eq "set:$(gpus_of "$run" a)" "$(cat "$T_DIR/cvd.a")" "CUDA_VISIBLE_DEVICES seen by a"
assert_eq "set:$(gpus_of "$run" b)" "$(cat "$T_DIR/cvd.b")" "CUDA_VISIBLE_DEVICES seen by b"
assert_eq "set:" "$(cat "$T_DIR/cvd.c")" "CUDA_VISIBLE_DEVICES seen by c (no GPUs: set and empty)"
assert_eq "" "$(gpus_of "$run" c)" "gpus_assigned of c"
# A slot is free (4 slots, 3 busy) but both GPUs are taken: d waits.
# d is first in line: wg2 is reserved for it (the running steps have no
# timeout, so the default limit of 1 h bounds when it fits).
why_d() {
    local w
    w=$(why "$run" d)
    [[ "$w" == "first in line: wg2 is reserved for it; it fits there in "*"s at the latest (running steps' time limits). Workers:
  wg2: 0 of 1 GPUs free" ]]
}
wait_for "why d waits" 10 why_d
assert_eq ready "$(task_field "$run" d state)" "state of d while both GPUs are held"
# `drover workers` shows what is booked: both GPUs of wg2, its 8G offered.
assert_eq "2 2 8589934592" "$(drover workers --json | jq -r '.[] | select(.name == "wg2") |
    "\(.gpus_used) \(.gpus) \(.memory_bytes)"')" "GPUs used, GPUs and memory of wg2"
drover workers | grep -E '^wg2 .* 2/2 ' >/dev/null || fail "drover workers: $(drover workers)"
# A step the run does not have: an error (exit 2), not an answer.
drover why "$run" nosuch >"$T_DIR/why-nosuch.out" 2>&1 && fail "why of a step that does not exist exited 0"
grep -q "has no step 'nosuch'" "$T_DIR/why-nosuch.out" || fail "why nosuch: $(cat "$T_DIR/why-nosuch.out")"
touch "$T_DIR/go1"
assert_eq succeeded "$(wait_run "$run")" "state of gpu-pair"
[[ "$(cat "$T_DIR/cvd.d")" =~ ^set:[01]$ ]] || fail "d saw CUDA_VISIBLE_DEVICES '$(cat "$T_DIR/cvd.d")'"

# ---------------------------------------------- 2. never double-booked ---
{
    echo 'workflow = "gpu-burst";'
    echo 'steps = ('
    for i in 1 2 3 4 5 6 7 8; do
        echo "  { name = \"g$i\"; kind = \"exec\"; $(step "g$i") resources = { gpus = 1; }; },"
    done
    echo "  { name = \"h\"; kind = \"exec\"; $(step h) resources = { gpus = 2; }; }"
    echo ');'
} >"$T_DIR/burst.cfg"
run=$(submit "$T_DIR/burst.cfg")
# Samples: no (worker, index) held by two assigned/running tasks, and never
# more than 2 GPU steps busy on wg2. A bad sample is recorded, not fatal
# here, so the report names it.
sample() {
    local v
    v=$(sql "select count(*) from (select t.worker, g from drover.tasks t, unnest(t.gpus_assigned) g
             where t.state in ('assigned', 'running') group by t.worker, g having count(*) > 1) x")
    [[ "$v" == 0 ]] || echo "double-booked index in drover.tasks ($v)" >>"$T_DIR/violations"
    v=$(sql "select count(*) from drover.tasks where run_id = $run and state in ('assigned', 'running')")
    [[ "$v" -le 2 ]] || echo "$v GPU steps busy at once on a 2-GPU worker" >>"$T_DIR/violations"
    [[ "$(run_state "$run")" != running ]]
}
wait_for "gpu-burst finishes (sampling drover.tasks)" 60 sample
assert_eq succeeded "$(run_state "$run")" "state of gpu-burst"
[[ ! -e "$T_DIR/violations" ]] || fail "while gpu-burst ran: $(sort -u "$T_DIR/violations")"
[[ ! -e "$T_DIR/doublebooked" ]] || fail "tasks found their GPU taken: $(cat "$T_DIR/doublebooked")"
assert_eq "set:0,1" "$(cat "$T_DIR/cvd.h")" "CUDA_VISIBLE_DEVICES of the 2-GPU step h"
# Every attempt records the indices it held: compare with what each task saw.
for i in 1 2 3 4 5 6 7 8; do
    [[ "$(cat "$T_DIR/cvd.g$i")" =~ ^set:[01]$ ]] || fail "g$i saw '$(cat "$T_DIR/cvd.g$i")'"
done

# ------------------------------------- 3. a 2-GPU step never on 1 GPU ---
# wg1 has more free slots, so a placement that ignored GPUs would pick it.
T_HOST=wg1 worker_start wg1 8 --gpus 1 --memory 8G
{
    echo 'workflow = "gpu-two";'
    echo 'steps = ('
    for i in 1 2 3 4; do
        echo "  { name = \"t$i\"; kind = \"exec\"; $(step "t$i") resources = { gpus = 2; }; },"
    done
    echo "  { name = \"one\"; kind = \"exec\"; $(step one go3) resources = { gpus = 1; }; }"
    echo ');'
} >"$T_DIR/two.cfg"
run=$(submit "$T_DIR/two.cfg")
wait_for "t1..t4 done" 60 sql_is "select count(*) from drover.tasks where run_id = $run
                                   and name like 't_' and state = 'succeeded'" 4
assert_eq "wg2 wg2 wg2 wg2" "$(sql "select string_agg(worker, ' ' order by name) from drover.tasks
                                    where run_id = $run and name like 't_'")" "workers of the 2-GPU steps"
for i in 1 2 3 4; do
    assert_eq "set:0,1|wg2" "$(cat "$T_DIR/cvd.t$i")|$(cat "$T_DIR/host.t$i")" "what t$i saw"
done
touch "$T_DIR/go3"
assert_eq succeeded "$(wait_run "$run")" "state of gpu-two"

# ------------------------------------------------- 4. waiting, then fit ---
cat >"$T_DIR/big.cfg" <<CFG
workflow = "gpu-big";
steps = (
  { name = "four"; kind = "exec"; $(step four go4) resources = { gpus = 4; }; },
  { name = "mem"; kind = "exec"; $(step mem) resources = { memory = "12G"; }; },
  { name = "lab"; kind = "exec"; $(step lab) resources = { labels = ["a100"]; }; }
);
CFG
run=$(submit "$T_DIR/big.cfg")
never="no connected worker can ever run it. Workers:"
wait_for "why four waits" 10 why_is "$run" four "$never
  wg1: 1 of 4 GPUs
  wg2: 2 of 4 GPUs"
wait_for "why mem waits" 10 why_is "$run" mem "$never
  wg1: 8.0G of 12.0G memory
  wg2: 8.0G of 12.0G memory"
wait_for "why lab waits" 10 why_is "$run" lab "$never
  wg1: lacks label a100
  wg2: lacks label a100"
assert_eq "ready ready ready" "$(sql "select string_agg(state, ' ' order by name) from drover.tasks
                                      where run_id = $run")" "states of steps that fit no worker"
json=$(drover --json why "$run" four)
assert_eq "$run|four|$never
  wg1: 1 of 4 GPUs
  wg2: 2 of 4 GPUs" \
    "$(jq -r '"\(.run_id)|\(.step)|\(.reason)"' <<<"$json")" "drover --json why"

T_HOST=wg4 worker_start wg4 2 --gpus 4 --memory 16G
wait_for "mem done" 30 sql_is "select state from drover.tasks where run_id = $run and name = 'mem'" succeeded
wait_for "four running" 30 sql_is "select state from drover.tasks where run_id = $run and name = 'four'" running
wait_for "four wrote what it saw" 30 test -s "$T_DIR/cvd.four"
assert_eq "0,1,2,3" "$(gpus_of "$run" four)" "gpus_assigned of the running 4-GPU step"
touch "$T_DIR/go4"
wait_for "four done" 30 sql_is "select state from drover.tasks where run_id = $run and name = 'four'" succeeded
assert_eq "wg4" "$(task_field "$run" four worker)" "worker of the 4-GPU step"
assert_eq "set:0,1,2,3" "$(cat "$T_DIR/cvd.four")" "CUDA_VISIBLE_DEVICES of the 4-GPU step"
assert_eq "wg4" "$(task_field "$run" mem worker)" "worker of the 12G step"
assert_eq "set:" "$(cat "$T_DIR/cvd.mem")" "CUDA_VISIBLE_DEVICES of the 12G step"
assert_eq ready "$(task_field "$run" lab state)" "state of lab before an a100 worker connects"
wait_for "why lab still waits" 10 why_has "$run" lab "  wg4: lacks label a100"

T_HOST=wl worker_start wl 1 --label a100 --label other
assert_eq succeeded "$(wait_run "$run")" "state of gpu-big"
assert_eq "wl" "$(task_field "$run" lab worker)" "worker of the a100 step"
# Nothing else ever went to the labelled worker by chance: only lab ran there.
assert_eq "lab" "$(sql "select string_agg(name, ' ') from drover.tasks where worker = 'wl'")" \
    "steps that ran on wl"
[[ ! -e "$T_DIR/doublebooked" ]] || fail "tasks found their GPU taken: $(cat "$T_DIR/doublebooked")"
