#!/usr/bin/env bash
# One fate for gang steps (docs/distributed.md, "Failures"), on four local
# workers of one slot each:
#  - a coordinator restart keeps a running gang running;
#  - a worker that reports success for a gang member it does not hold is
#    ignored (a stale result, recorded), the gang keeps running;
#  - SIGKILL of one member's worker: the other members are stopped within
#    the lost-worker timeout and the gang reruns as a unit and finishes;
#  - a member that times out takes the gang with it, also the members that
#    already exited 0 (they wait for the gang, then run again);
#  - `drover cancel` of a running gang leaves no member process anywhere.
source "$(dirname "$0")/lib.sh"

pg_start
coord_start
GP=$((20000 + (RANDOM % 800) * 10))
for i in 1 2 3 4; do
    worker_start "w$i" 1 --gang-ports "$((GP + i * 10))-$((GP + i * 10 + 9))"
done

gang_wf() { # gang_wf MODE OUT [EXTRA]: the gang workflow writing into T_DIR/OUT
    mkdir -p "$T_DIR/$2/work"
    sed -e "s|@DIR@|$T_DIR/$2|g" -e "s|@SRC@|$T_REPO/tests/integration|g" -e "s|@MODE@|$1|g" \
        -e "s|@EXTRA@|${3:-}|g" "$T_WF/gang.cfg" >"$T_DIR/$2.cfg"
    echo "$T_DIR/$2.cfg"
}
all_met() { # all_met OUT ATTEMPT: every member completed the rendezvous
    local r
    for r in 0 1 2; do [[ -e "$T_DIR/$1/rendezvous.$r.$2" ]] || return 1; done
}
pids_of() { awk -v a="$2" '$3 == a { print $1 }' "$T_DIR/$1/pids"; }

# --- a running gang, attempt 1 hangs after its rendezvous ----------------
run=$(submit "$(gang_wf hang-once a)")
wait_for "attempt 1 of every member met at the rendezvous" 30 all_met a 1
mapfile -t pids1 < <(pids_of a 1)
t_track_pid "${pids1[@]}"
assert_eq 3 "${#pids1[@]}" "member processes of attempt 1"

# --- a coordinator restart keeps the running gang (stored per member) -----
coord_kill9
coord_start
wait_for "the four workers registered again" 30 bash -c \
    "[[ \$(grep -c 'registered from' '$T_DIR/coordinator.log') -ge 8 ]]"
for r in 0 1 2; do
    assert_eq running "$(task_field "$run" "ddp[$r]" state)" "ddp[$r] after a coordinator restart"
    assert_eq 1 "$(task_field "$run" "ddp[$r]" attempt)" "attempt of ddp[$r] after a restart"
done
for p in "${pids1[@]}"; do pid_alive "$p" || fail "member $p died with the coordinator restart"; done

# --- a hostile peer claims success for a member it does not hold ----------
t1=$(sql "select id from drover.tasks where run_id = $run and name = 'ddp[1]'")
drover-test-zmqpoke -q --proto worker --key "$T_KEYS/worker" --server-key "$T_KEYS/coordinator.pub" \
    --linger 500 \
    --msg '{"register":{"name":"liar","host":"x","slots":1,"kinds":["noop"],"session":7}}' --await 5000 \
    --msg '{"result":{"lease":{"task_id":'"$t1"',"attempt":1},"outcome":"OUTCOME_EXITED","exit_code":0}}' \
    --await 3000 "$COORD_WORKER_EP" >"$T_DIR/liar.out" 2>&1 || true
wait_for "the forged result is recorded as stale" 20 sql_is \
    "select count(*) > 0 from drover.events where task_id = $t1 and kind = 'stale_result' and worker = 'liar'" t
assert_eq running "$(task_field "$run" 'ddp[1]' state)" "ddp[1] after a forged success"
assert_eq 0 "$(sql "select count(*) from drover.tasks where run_id = $run and state = 'succeeded'")" \
    "steps succeeded after a forged success"

# --- SIGKILL the worker of rank 1 -----------------------------------------
victim=$(task_field "$run" 'ddp[1]' worker)
log "killing worker $victim (pid $(worker_pid "$victim"))"
kill -KILL "$(worker_pid "$victim")"
worker_forget "$victim"
for p in "${pids1[@]}"; do
    wait_for "attempt 1 member $p stopped" 15 pid_gone "$p"
done
assert_eq succeeded "$(wait_run "$run" 60)" "gang run after a member's worker died"
for r in 0 1 2; do
    assert_eq 2 "$(task_field "$run" "ddp[$r]" attempt)" "attempt of ddp[$r] (the gang's)"
    w=$(task_field "$run" "ddp[$r]" worker)
    [[ "$w" != "$victim" ]] || fail "ddp[$r] finished on the dead worker $victim"
done
assert_eq 1 "$(task_field "$run" 'ddp[1]' lost)" "lost attempts of ddp[1]"
assert_eq 0 "$(task_field "$run" 'ddp[0]' failures)" "failures of ddp[0] (a loss is not a failure)"

# --- a member times out: the members that already exited 0 run again -----
run3=$(submit "$(gang_wf slow-rank2-once c 'timeout = "3s";')")
assert_eq succeeded "$(wait_run "$run3" 60)" "gang run whose rank 2 timed out once"
for r in 0 1; do
    assert_eq 1 "$(sql "select count(*) from drover.events e join drover.tasks t on t.id = e.task_id
                        where t.run_id = $run3 and t.name = 'ddp[$r]' and e.kind = 'gang_member_done'
                        and e.attempt = 1")" "ddp[$r] exited 0 in attempt 1 and waited for the gang"
done
for r in 0 1 2; do
    assert_eq 2 "$(task_field "$run3" "ddp[$r]" attempt)" "attempt of ddp[$r] after the timeout"
    assert_eq 1 "$(task_field "$run3" "ddp[$r]" failures)" "failures of ddp[$r] after the timeout"
done
assert_eq 1 "$(sql "select count(*) from drover.events e join drover.tasks t on t.id = e.task_id
                    where t.run_id = $run3 and t.name = 'ddp[0]' and e.to_state = 'retry_wait'
                    and e.detail like 'gang member ddp[2]: timed out%'")" "why ddp[0] was retried"

# --- cancel a running gang: no member process survives --------------------
run2=$(submit "$(gang_wf hang b)")
wait_for "every member of the second gang met" 30 all_met b 1
mapfile -t pids2 < <(pids_of b 1)
t_track_pid "${pids2[@]}"
drover cancel "$run2" >/dev/null || fail "drover cancel exited $?"
for p in "${pids2[@]}"; do
    wait_for "member $p of the cancelled gang gone" 15 pid_gone "$p"
done
wait_for "no gang member process of the cancelled run" 15 bash -c "! pgrep -f 'gang_member[.]py $T_DIR/b '"
assert_eq cancelled "$(run_state "$run2")" "state of the cancelled gang run"
log "ok"
