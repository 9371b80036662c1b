#!/usr/bin/env bash
# Reservations, backfill, strict order and packing (docs/scheduling.md,
# "How placement decides"; issue 13 observations 1, 4 and 5). Every step
# holds its slot until the test creates its go file, so each placement is
# a choice made while the test watches; order is read from drover.events
# (event ids), never from timing.
#   1. a 4-slot priority-100 step behind a stream of 1-slot priority-0 steps
#      reserves the worker (a `reserved` event); a freed slot is not given
#      to a waiting 1-slot step whose time limit (the 1 h default) ends after
#      the reservation, but is given to one with a 30 s timeout (backfill,
#      said in its assignment event and by `why`); the big step starts as
#      soon as the running steps end, before the waiting 1-slot steps;
#   2. a step that differs only by `memory = "256M"` and became ready before
#      a later run's steps starts before all of them;
#   3. two 1-GPU steps go to the 2-GPU worker, so a 4-GPU step starts at
#      once on the 4-GPU worker; CPU steps never land on a worker with
#      reserve_for = "gpu", and `why` says so;
#   4. reserve_for naming neither "gpu" nor one of the worker's labels:
#      drover-worker refuses to start (exit 2), and the coordinator refuses
#      a hand-made Register carrying it (RegisterReply accepted = false);
#   5. `why` with combined constraints names each unmet one per worker
#      (issue 13 obs 3: 4 GPUs + label a10 while the 2-GPU a10 worker is
#      connected; label + memory; label + cpus; two labels);
#   6. a queue's time limit (`drover queue time-limit`) is what a step
#      without a timeout is planned to run: the reservation behind it.
source "$(dirname "$0")/lib.sh"

pg_start
coord_start

gate_init
# ev RUN STEP KIND [TO]: id of the first such event of the step ("" none).
ev() {
    sql "select coalesce(min(e.id)::text, '') from drover.events e join drover.tasks t on t.id = e.task_id
         where t.run_id = $1 and t.name = '$2' and e.kind = '$3'
         $([[ -n "${4:-}" ]] && echo "and e.to_state = '$4'")"
}

# ------------------------------------------ 1. reservation and backfill ---
worker_start w4 4 --memory 8G
{
    echo 'workflow = "stream"; priority = 0;'
    echo 'steps = ('
    for i in 1 2 3 4 5 6 7 8; do echo "  { name = \"s$i\"; kind = \"exec\"; $(gate_cmd "s$i") },"; done
    echo "  { name = \"quick\"; kind = \"exec\"; timeout = 30; $(gate_cmd quick) }"
    echo ');'
} >"$T_DIR/stream.cfg"
cat >"$T_DIR/big.cfg" <<CFG
workflow = "big"; priority = 100;
steps = ( { name = "big"; kind = "exec"; $(gate_cmd big) resources = { cpus = 4; }; } );
CFG
stream=$(submit "$T_DIR/stream.cfg")
wait_for "s1..s4 running" 30 sql_is "select count(*) from drover.tasks where run_id = $stream
                                       and state = 'running'" 4
big=$(submit "$T_DIR/big.cfg")
wait_for "big reserves w4" 30 sql_is "select count(*) from drover.events e join drover.tasks t on
    t.id = e.task_id where t.run_id = $big and e.kind = 'reserved' and e.worker = 'w4'" 1
why_big=$(drover why "$big" big)
log "why big: $why_big"
[[ "$why_big" == "first in line: w4 is reserved for it; it fits there in "*"s at the latest (running steps' time limits). Workers:
  w4: 0 of 4 cpus free" ]] || fail "why big: $why_big"
# s1 ends: its slot goes to quick (30 s limit: done before the reservation),
# not to s5 (no timeout: the 1 h default runs past it).
gate_open s1
wait_for "quick backfilled" 30 task_state_is "$stream" quick running
assert_eq "backfill: ahead of run $big step big" \
    "$(sql "select e.detail from drover.events e join drover.tasks t on t.id = e.task_id
            where t.run_id = $stream and t.name = 'quick' and e.to_state = 'assigned'")" \
    "detail of quick's assignment"
drover why "$stream" quick | grep -q "started by backfill, ahead of big" ||
    fail "why quick: $(drover why "$stream" quick)"
why_s5=$(drover why "$stream" s5)
log "why s5: $why_s5"
log "why quick: $(drover why "$stream" quick)"
[[ "$why_s5" == "waits behind big (older or higher priority), which has w4 reserved"* ]] ||
    fail "why s5: $why_s5"
gate_open s2 quick
wait_for "s2 and quick done" 30 sql_is "select count(*) from drover.tasks where run_id = $stream
                                         and name in ('s2', 'quick') and state = 'succeeded'" 2
# Two slots free now: s5 fits, and is held for big.
wait_for "why s5 held" 10 sh -c "drover why $stream s5 | grep -q 'w4: fits, but held for big (reserved, starts in'"
gate_open s3 s4
wait_for "big running" 30 task_state_is "$big" big running
# Nothing but quick started between big's reservation and its start.
reserved=$(ev "$big" big reserved)
started=$(ev "$big" big task_state assigned)
assert_eq "quick" "$(sql "select coalesce(string_agg(t.name, ' '), '') from drover.events e
    join drover.tasks t on t.id = e.task_id where e.kind = 'task_state' and e.to_state = 'assigned'
    and e.id > $reserved and e.id < $started")" "steps started while big held its reservation"
gate_open big s5 s6 s7 s8
assert_eq succeeded "$(wait_run "$big")" "state of big"
assert_eq succeeded "$(wait_run "$stream")" "state of stream"
for s in s5 s6 s7 s8; do
    [[ $(ev "$stream" "$s" task_state assigned) -gt $started ]] || fail "$s started before big"
done

# --------------------------------------- 2. oldest first across shapes ---
cat >"$T_DIR/block.cfg" <<CFG
workflow = "block"; priority = 5;
steps = ( { name = "b"; kind = "exec"; $(gate_cmd b) resources = { cpus = 4; }; } );
CFG
cat >"$T_DIR/old.cfg" <<CFG
workflow = "old";
steps = ( { name = "m"; kind = "exec"; $(gate_cmd m) resources = { memory = "256M"; }; } );
CFG
{
    echo 'workflow = "new";'
    echo 'steps = ('
    for i in $(seq 1 20); do echo "  { name = \"n$i\"; kind = \"exec\"; $(gate_cmd "n$i") }$([[ $i -lt 20 ]] && echo ,)"; done
    echo ');'
} >"$T_DIR/new.cfg"
block=$(submit "$T_DIR/block.cfg")
wait_for "block running" 30 task_state_is "$block" b running
old=$(submit "$T_DIR/old.cfg")
wait_for "m ready" 30 task_state_is "$old" m ready
new=$(submit "$T_DIR/new.cfg")
wait_for "new's steps ready" 30 sql_is "select count(*) from drover.tasks where run_id = $new
                                         and state = 'ready'" 20
gate_open b
wait_for "m running" 30 task_state_is "$old" m running
m_at=$(ev "$old" m task_state assigned)
for i in $(seq 1 20); do
    a=$(ev "$new" "n$i" task_state assigned)
    [[ -z "$a" || $a -gt $m_at ]] || fail "n$i started before the older m"
done
gate_open m $(seq -f 'n%g' 1 20)
assert_eq succeeded "$(wait_run "$new")" "state of new"
assert_eq succeeded "$(wait_run "$old")" "state of old"
stop_pid w4 "$(worker_pid w4)" || true
worker_forget w4

# ------------------------------------------- 3. best fit and reserve_for ---
worker_start g4 8 --gpus 4 --reserve-for gpu
worker_start g2 8 --gpus 2
cat >"$T_DIR/gpu.cfg" <<CFG
workflow = "gpu";
steps = (
  { name = "one"; kind = "exec"; $(gate_cmd one) resources = { gpus = 1; }; },
  { name = "two"; kind = "exec"; $(gate_cmd two) resources = { gpus = 1; }; },
  { name = "four"; kind = "exec"; after = ["one", "two"]; $(gate_cmd four) resources = { gpus = 4; }; }
);
CFG
{
    echo 'workflow = "cpu";'
    echo 'steps = ('
    for i in $(seq 1 7); do echo "  { name = \"c$i\"; kind = \"exec\"; $(gate_cmd "c$i") },"; done
    echo "  { name = \"c8\"; kind = \"exec\"; $(gate_cmd c8) }"
    echo ');'
} >"$T_DIR/cpu.cfg"
gpu=$(submit "$T_DIR/gpu.cfg")
wait_for "one and two running" 30 sql_is "select count(*) from drover.tasks where run_id = $gpu
                                           and state = 'running'" 2
assert_eq "g2 g2" "$(sql "select string_agg(worker, ' ') from drover.tasks where run_id = $gpu
                          and name in ('one', 'two')")" "workers of the 1-GPU steps"
# A 4-GPU step submitted now starts at once on g4, whose GPUs stayed whole.
cat >"$T_DIR/four.cfg" <<CFG
workflow = "four";
steps = ( { name = "f"; kind = "exec"; $(gate_cmd f) resources = { gpus = 4; }; } );
CFG
four=$(submit "$T_DIR/four.cfg")
wait_for "f running" 30 task_state_is "$four" f running
assert_eq g4 "$(task_field "$four" f worker)" "worker of the 4-GPU step"
# CPU steps: g2 has 6 free slots, g4 (kept for GPU steps) 7; c7 and c8 wait.
cpu=$(submit "$T_DIR/cpu.cfg")
wait_for "6 CPU steps running" 30 sql_is "select count(*) from drover.tasks where run_id = $cpu
                                           and state = 'running'" 6
wait_for "why c7" 10 sh -c "drover why $cpu c7 | grep -q 'g4: kept for GPU steps'"
log "why c7: $(drover why "$cpu" c7)"
gate_open one two f $(seq -f 'c%g' 1 8) four
assert_eq succeeded "$(wait_run "$cpu")" "state of cpu"
assert_eq succeeded "$(wait_run "$gpu")" "state of gpu"
assert_eq succeeded "$(wait_run "$four")" "state of four"
assert_eq "" "$(sql "select coalesce(string_agg(name, ' '), '') from drover.tasks where run_id = $cpu
                     and worker = 'g4'")" "CPU steps on the GPU-only worker"

# ------------------------------------------------ 4. a bad reserve_for ---
rc=0
drover-worker --config "$T_CFG" --coordinator "$COORD_WORKER_EP" --name bad --reserve-for a100 \
    >"$T_DIR/bad.out" 2>&1 </dev/null || rc=$?
assert_eq 2 "$rc" "exit status of drover-worker --reserve-for a label it lacks"
grep -q "reserve_for 'a100' is neither" "$T_DIR/bad.out" || fail "drover-worker said: $(cat "$T_DIR/bad.out")"
drover-test-zmqpoke -q --proto worker --key "$T_KEYS/worker" --server-key "$T_KEYS/coordinator.pub" \
    --linger 500 --msg '{"register":{"name":"rogue","host":"x","slots":4,"kinds":["exec"],"labels":["x"],"reserve_for":"a100","session":7}}' \
    --await 5000 "$COORD_WORKER_EP" >"$T_DIR/rogue.out" 2>&1 || fail "zmqpoke (rogue) exited $?: $(cat "$T_DIR/rogue.out")"
jq -e '.register_reply.accepted == false and (.register_reply.reason | test("reserve_for must be"))' \
    "$T_DIR/rogue.out" >/dev/null || fail "reply to a Register with a bad reserve_for: $(cat "$T_DIR/rogue.out")"
drover workers | grep -q '^rogue ' && fail "a worker with a bad reserve_for was registered"

# -------------------------------------------- 5. combined constraints ---
gate_open one two f four
worker_start a10 2 --gpus 2 --memory 4G --label a10
cat >"$T_DIR/combo.cfg" <<CFG
workflow = "combo";
steps = (
  { name = "g"; kind = "exec"; command = "true"; resources = { gpus = 4; labels = ["a10"]; }; },
  { name = "m"; kind = "exec"; command = "true"; resources = { memory = "8G"; labels = ["a10"]; }; },
  { name = "c"; kind = "exec"; command = "true"; resources = { cpus = 4; labels = ["a10"]; }; },
  { name = "l"; kind = "exec"; command = "true"; resources = { labels = ["a10", "fast"]; }; }
);
CFG
combo=$(submit "$T_DIR/combo.cfg")
line() { drover why "$combo" "$1" | grep "^  $2: " || true; }
wait_for "why g" 10 sh -c "drover why $combo g | grep -q '^  a10: '"
assert_eq "  a10: labels ok, 2 of 4 GPUs" "$(line g a10)" "why g on a10"
assert_eq "  g2: lacks label a10, 2 of 4 GPUs" "$(line g g2)" "why g on g2"
assert_eq "  a10: labels ok, 4.0G of 8.0G memory" "$(line m a10)" "why m on a10"
assert_eq "  a10: labels ok, 2 of 4 cpus" "$(line c a10)" "why c on a10"
assert_eq "  a10: lacks label fast" "$(line l a10)" "why l on a10"
assert_eq "  g4: lacks label a10+fast, kept for GPU steps" "$(line l g4)" "why l on g4"
drover why "$combo" g | head -1 | grep -q "^no connected worker can ever run it" ||
    fail "why g: $(drover why "$combo" g)"
drover cancel "$combo" >/dev/null || fail "drover cancel exited $?"

# ------------------------------------------------ 6. a queue's time limit ---
drover queue create short >/dev/null || fail "drover queue create exited $?"
assert_eq "queue short: running, no limit, time limit of steps without a timeout 600s" \
    "$(drover queue time-limit short 10m)" "drover queue time-limit short 10m"
assert_eq 600 "$(drover --json queue list | jq '.[] | select(.name == "short") | .time_limit_s')" \
    "time_limit_s of short"
cat >"$T_DIR/short.cfg" <<CFG
workflow = "short"; queue = "short";
steps = (
  { name = "first"; kind = "exec"; $(gate_cmd first) resources = { cpus = 2; labels = ["a10"]; }; },
  { name = "second"; kind = "exec"; $(gate_cmd second) resources = { cpus = 2; labels = ["a10"]; }; }
);
CFG
short=$(submit "$T_DIR/short.cfg")
wait_for "first running" 30 task_state_is "$short" first running
# second is first in line behind a step planned to run 600 s (not 3600 s).
why_second() {
    local n
    n=$(drover why "$short" second | sed -n 's/^first in line: a10 is reserved for it; it fits there in \([0-9]*\)s at the latest.*/\1/p')
    [[ -n "$n" && $n -ge 500 && $n -le 600 ]]
}
wait_for "why second" 10 why_second
gate_open first second
assert_eq succeeded "$(wait_run "$short")" "state of short"
log "ok"
