#!/usr/bin/env bash
# Gang steps (docs/distributed.md), on three local workers of one slot each:
#  - a 3-member gang never starts partially while single steps contend: it
#    holds the workers it could use for at most gang_reserve_max, lets them
#    go (the single steps run), and starts all three members at once when a
#    third worker frees;
#  - the members see one consistent rendezvous (RANK 0..2, the same
#    WORLD_SIZE, MASTER_ADDR, MASTER_PORT, DROVER_GANG_HOSTS, the hostfile)
#    and use it: rank 0 listens on MASTER_PORT, the others connect;
#  - one fate: a member that fails stops the others and the gang is retried
#    as a unit (attempt numbers per gang);
#  - a built-in kind's members (drover-task) get the same variables and
#    hostfile;
#  - spread = false packs members on one worker (LOCAL_RANK 0..2);
#  - a gang no registered worker set can hold is refused at submit, and
#    `drover why` explains a waiting gang.
source "$(dirname "$0")/lib.sh"

T_COORD_EXTRA='  gang_reserve_max = "2s";'
pg_start
coord_start
gate_init
# A range of gang ports per worker (they share one host here).
GP=$((20000 + (RANDOM % 800) * 10))
for i in 1 2 3; do
    worker_start "w$i" 1 --gang-ports "$((GP + i * 10))-$((GP + i * 10 + 9))"
done
mkdir -p "$T_DIR/work"

gang_wf() { # gang_wf MODE [EXTRA]: the gang workflow with its member script, mode, keys
    sed -e "s|@DIR@|$T_DIR|g" -e "s|@SRC@|$T_REPO/tests/integration|g" -e "s|@MODE@|$1|g" \
        -e "s|@EXTRA@|${2:-}|g" "$T_WF/gang.cfg" >"$T_DIR/gang-$1.cfg"
    echo "$T_DIR/gang-$1.cfg"
}
members_not_ready() {
    sql "select count(*) from drover.tasks where run_id = $1 and name like 'ddp[%' and state <> 'ready'"
}

# --- 1. refused at submit: 4 members on 3 workers can never start --------
cp "$(gang_wf ok)" "$T_DIR/gang4.cfg"
sed -i 's/nodes = 3;/nodes = 4;/' "$T_DIR/gang4.cfg"
if out=$(drover submit "$T_DIR/gang4.cfg" 2>&1); then
    fail "a 4-member gang on 3 one-slot workers was accepted: $out"
fi
[[ "$out" == *"gang of 4 members"* ]] || fail "refusal does not explain the gang: $out"
log "refused at submit: $out"

# --- 2. contention: a blocker holds one worker ---------------------------
cat >"$T_DIR/block.cfg" <<EOF2
workflow = "block";
steps = ({ name = "block"; kind = "exec"; $(gate_cmd block) });
EOF2
blk=$(submit "$T_DIR/block.cfg")
wait_for "blocker running" 20 task_state_is "$blk" block running

gang=$(submit "$(gang_wf ok)")
wait_for "the gang holds the two free workers" 20 sql_is \
    "select count(*) > 0 from drover.events where run_id = $gang and kind = 'gang_hold'" t
why=$(drover why "$gang" ddp)
log "why: $why"
[[ "$why" == *"2 of 3 members placeable"* ]] || fail "drover why of the waiting gang: $why"
assert_eq 0 "$(members_not_ready "$gang")" "gang members started while only 2 workers were free"

# Single steps contend: they wait while the gang holds, then run when it
# lets go (never half the cluster idle for ever).
cat >"$T_DIR/singles.cfg" <<'EOF2'
workflow = "singles";
steps = (
  { name = "s1"; kind = "exec"; command = "true"; },
  { name = "s2"; kind = "exec"; command = "true"; },
  { name = "s3"; kind = "exec"; command = "true"; },
  { name = "s4"; kind = "exec"; command = "true"; }
);
EOF2
sgl=$(submit "$T_DIR/singles.cfg")
assert_eq succeeded "$(wait_run "$sgl" 40)" "single steps beside a waiting gang"
assert_eq t "$(sql "select count(*) > 0 from drover.events where run_id = $gang and kind = 'gang_release'")" \
    "the gang released its hold after gang_reserve_max"
assert_eq 0 "$(members_not_ready "$gang")" "gang members started while the blocker ran"

# The third worker frees: the whole gang starts, rendezvous, succeeds.
gate_open block
assert_eq succeeded "$(wait_run "$blk" 20)" "blocker"
assert_eq succeeded "$(wait_run "$gang" 60)" "gang run"
blk_end=$(sql "select extract(epoch from finished_at) from drover.tasks where run_id = $blk")
first=$(sql "select extract(epoch from min(e.at)) from drover.events e join drover.tasks t on t.id = e.task_id
             where t.run_id = $gang and t.name like 'ddp[%' and e.to_state = 'assigned'")
awk -v a="$first" -v b="$blk_end" 'BEGIN { exit !(a >= b) }' ||
    fail "a gang member was assigned at $first, before the blocker ended at $blk_end"
# All or nothing: every attempt was assigned to all three members.
partial=$(sql "select count(*) from (select e.attempt, count(*) n from drover.events e
               join drover.tasks t on t.id = e.task_id where t.run_id = $gang and t.name like 'ddp[%'
               and e.to_state = 'assigned' group by e.attempt) x where n <> 3")
assert_eq 0 "$partial" "attempts assigned to fewer than all members"
assert_eq 3 "$(sql "select count(distinct worker) from drover.tasks where run_id = $gang and name like 'ddp[%'")" \
    "distinct workers of the members (spread)"
assert_eq succeeded "$(task_field "$gang" after state)" "the step after the gang"

# --- 3. one consistent, usable rendezvous ---------------------------------
for r in 0 1 2; do
    [[ -s "$T_DIR/member.$r.1" ]] || fail "member $r wrote no environment"
    [[ -e "$T_DIR/rendezvous.$r.1" ]] || fail "member $r did not complete the rendezvous"
done
val() { sed -n "s/^$2=//p" "$T_DIR/member.$1.1"; }
ranks=$(for r in 0 1 2; do val "$r" RANK; done | sort | tr '\n' ' ')
assert_eq "0 1 2 " "$ranks" "RANKs of the members"
for k in WORLD_SIZE MASTER_ADDR MASTER_PORT DROVER_GANG_ID DROVER_GANG_HOSTS DROVER_GANG_PORTS HOSTFILE; do
    v0=$(val 0 "$k")
    [[ -n "$v0" ]] || fail "member 0 has no $k"
    for r in 1 2; do assert_eq "$v0" "$(val "$r" "$k")" "$k of member $r"; done
done
assert_eq 3 "$(val 0 WORLD_SIZE)" WORLD_SIZE
assert_eq 127.0.0.1 "$(val 0 MASTER_ADDR)" MASTER_ADDR
assert_eq "127.0.0.1,127.0.0.1,127.0.0.1" "$(val 0 DROVER_GANG_HOSTS)" DROVER_GANG_HOSTS
assert_eq "127.0.0.1 slots=3;" "$(val 0 HOSTFILE)" "hostfile"
assert_eq "$(val 0 MASTER_PORT)" "$(val 0 DROVER_GANG_PORTS | cut -d, -f1)" "MASTER_PORT is rank 0's port"
for r in 0 1 2; do
    assert_eq 0 "$(val "$r" LOCAL_RANK)" "LOCAL_RANK of member $r"
    assert_eq 1 "$(val "$r" LOCAL_WORLD_SIZE)" "LOCAL_WORLD_SIZE of member $r"
done
w0=$(task_field "$gang" 'ddp[0]' worker)
lo=$((GP + ${w0#w} * 10))
p=$(val 0 MASTER_PORT)
((p >= lo && p <= lo + 9)) || fail "MASTER_PORT $p is not in rank 0's worker ($w0) range $lo-$((lo + 9))"
assert_eq "$gang.ddp.1" "$(val 0 DROVER_GANG_ID)" DROVER_GANG_ID
status=$(drover status "$gang")
[[ "$status" == *"ddp[0]"* && "$status" == *"ddp[2]"* ]] || fail "drover status lacks the ranks: $status"
drover logs "$gang" 'ddp[1]' >/dev/null || fail "drover logs of a member exited $?"

if out=$(drover rerun "$gang" 2>&1); then fail "drover rerun of a gang run was accepted: $out"; fi
[[ "$out" == *"does not rerun gangs"* ]] || fail "rerun refusal: $out"

# --- 4. one fate: rank 1 fails its first attempt --------------------------
rm -f "$T_DIR"/member.* "$T_DIR"/rendezvous.* "$T_DIR/pids"
run=$(submit "$(gang_wf fail-once)")
assert_eq succeeded "$(wait_run "$run" 60)" "gang run with a failing member"
for r in 0 1 2; do
    assert_eq 2 "$(task_field "$run" "ddp[$r]" attempt)" "attempt of ddp[$r] (the gang's)"
    assert_eq 1 "$(task_field "$run" "ddp[$r]" failures)" "failures of ddp[$r]"
    [[ -e "$T_DIR/rendezvous.$r.2" ]] || fail "member $r did not rendezvous in attempt 2"
done
assert_eq 0 "$(sql "select count(*) from drover.events e join drover.tasks t on t.id = e.task_id
                    where t.run_id = $run and t.name like 'ddp[%' and e.to_state = 'succeeded' and e.attempt = 1")" \
    "members that succeeded in the failed attempt"
while read -r pid _ att; do
    [[ "$att" == 1 ]] && wait_for "attempt 1 member $pid gone" 15 pid_gone "$pid"
done <"$T_DIR/pids"

# --- 5. spread = false packs the members on one worker with room ---------
worker_start big 3 --label big --gang-ports "$((GP + 50))-$((GP + 59))"
rm -f "$T_DIR"/member.* "$T_DIR"/rendezvous.*
run=$(submit "$(gang_wf ok 'spread = false; resources = { labels = [\"big\"]; };')")
assert_eq succeeded "$(wait_run "$run" 60)" "packed gang run"
assert_eq big "$(sql "select string_agg(distinct worker, ',') from drover.tasks where run_id = $run and name like 'ddp[%'")" \
    "workers of the packed members"
locals=$(for r in 0 1 2; do val "$r" LOCAL_RANK; done | tr '\n' ' ')
assert_eq "0 1 2 " "$locals" "LOCAL_RANKs of members packed on one worker (rank order)"
for r in 0 1 2; do assert_eq 3 "$(val "$r" LOCAL_WORLD_SIZE)" "LOCAL_WORLD_SIZE of member $r"; done
assert_eq "127.0.0.1 slots=3;" "$(val 0 HOSTFILE)" "hostfile of the packed gang"
assert_eq 3 "$(val 0 DROVER_GANG_PORTS | tr ',' '\n' | sort -u | wc -l | tr -d ' ')" \
    "distinct ports of three members on one worker"

# --- 6. a built-in kind's members get the same rendezvous -----------------
# Two workers whose drover-task (the built-in kinds' runner, found next to
# drover-worker) is a stand-in that records what it was started with.
mkdir -p "$T_DIR/fakebin" "$T_DIR/bwork"
cp "$(command -v drover-worker)" "$T_DIR/fakebin/"
cat >"$T_DIR/fakebin/drover-task" <<EOF2
#!/bin/sh
env | grep -E '^(RANK|WORLD_SIZE|LOCAL_RANK|LOCAL_WORLD_SIZE|MASTER_ADDR|MASTER_PORT|DROVER_GANG_[A-Z]+|DROVER_STEP)=' |
    sort >"$T_DIR/builtin.\$RANK.tmp"
echo "kind=\$1 hostfile=\$(cat hostfile)" >>"$T_DIR/builtin.\$RANK.tmp"
mv "$T_DIR/builtin.\$RANK.tmp" "$T_DIR/builtin.\$RANK"
EOF2
chmod +x "$T_DIR/fakebin/drover-task"
for b in b1 b2; do
    PATH="$T_DIR/fakebin:$PATH" worker_start "$b" 1 --label builtin --work-dir "$T_DIR/bwork" \
        --gang-ports "$((GP + ${b#b} * 10 + 60))-$((GP + ${b#b} * 10 + 69))"
done
cat >"$T_DIR/builtin.cfg" <<'EOF2'
workflow = "gang-builtin";
steps = ({ name = "v"; kind = "validate"; dataset = "/nonexistent.csv"; label = "y"; nodes = 2;
           checks = { min_rows = 1; };
           resources = { labels = ["builtin"]; }; });
EOF2
run=$(submit "$T_DIR/builtin.cfg")
assert_eq succeeded "$(wait_run "$run" 30)" "built-in gang run"
for r in 0 1; do
    b=$(cat "$T_DIR/builtin.$r")
    [[ "$b" == *$'\n'"RANK=$r"$'\n'* && "$b" == *"WORLD_SIZE=2"* && "$b" == *"DROVER_STEP=v[$r]"* &&
        "$b" == *"MASTER_ADDR=127.0.0.1"* && "$b" == *"kind=validate hostfile=127.0.0.1 slots=2"* ]] ||
        fail "built-in member $r got: $b"
done
assert_eq "$(grep '^MASTER_PORT=' "$T_DIR/builtin.0")" "$(grep '^MASTER_PORT=' "$T_DIR/builtin.1")" \
    "MASTER_PORT of the built-in members"
log "ok"
