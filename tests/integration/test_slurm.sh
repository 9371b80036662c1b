#!/usr/bin/env bash
# Workers under Slurm (deploy/slurm/drover-worker.sbatch): a private
# single-node Slurm (munged, slurmctld, slurmd on loopback, as root) runs
# the sbatch script; the worker it starts offers the allocation's shape
# (slots from the job's CPUs, memory from --mem, labels naming the job and
# partition), runs the steps that ask for the `slurm` label, and leaves
# when the allocation ends (scancel: Slurm's SIGTERM to the batch step).
#
# Needs root and Debian's slurm-wlm and munge (make deps installs them);
# skipped (77) otherwise.
source "$(dirname "$0")/lib.sh"

skip() { log "SKIP: $*"; trap - EXIT; rm -rf "$T_DIR"; kill "$T_WATCHDOG" 2>/dev/null; exit 77; }
[[ $(id -u) -eq 0 ]] || skip "a private Slurm needs root (SlurmdUser=root)"
for b in /usr/sbin/slurmctld /usr/sbin/slurmd /usr/sbin/munged /usr/sbin/mungekey; do
    [[ -x $b ]] || skip "$b is missing (apt-get install slurm-wlm munge)"
done
getent passwd munge >/dev/null || skip "no munge user"

S="$T_DIR/slurm"
HOST=$(hostname -s 2>/dev/null || hostname)
mapfile -t sports < <(freeport 2)
mkdir -p "$S/etc" "$S/state" "$S/spool" "$S/munge"
chown munge:munge "$S/munge"
chmod 711 "$S/munge"
export SLURM_CONF="$S/etc/slurm.conf"
cat >"$SLURM_CONF" <<CONF
ClusterName=drovertest
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=${sports[0]}
SlurmdPort=${sports[1]}
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$S/munge/munge.socket.2
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$T_DIR/slurmctld.log
SlurmdLogFile=$T_DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
KillWait=30
MinJobAge=2
ReturnToService=2
SlurmdParameters=config_overrides
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=2 RealMemory=2000 State=UNKNOWN
PartitionName=gpu-free Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF

runuser -u munge -- /usr/sbin/mungekey -c -k "$S/munge/munge.key" || fail "mungekey failed"
setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged -F -S "$S/munge/munge.socket.2" --key-file="$S/munge/munge.key" \
    --pid-file="$S/munge/munged.pid" --log-file="$S/munge/munged.log" --seed-file="$S/munge/munged.seed" \
    >"$T_DIR/munged.log" 2>&1 &
T_PROCS[slurm-munged]=$!
wait_for "munged's socket" 20 test -S "$S/munge/munge.socket.2"
/usr/sbin/slurmctld -D -i -f "$SLURM_CONF" >"$T_DIR/slurmctld.out" 2>&1 &
T_PROCS[slurm-ctld]=$!
/usr/sbin/slurmd -D -f "$SLURM_CONF" -N "$HOST" >"$T_DIR/slurmd.out" 2>&1 &
T_PROCS[slurm-d]=$!
node_idle() { sinfo -h -o %T | grep -q '^idle'; }
wait_for "the Slurm node is idle" 60 node_idle
# Anything of Slurm's left at exit: stop its job steps by their cwd.
slurm_cleanup() {
    scancel --full --quiet -u root 2>/dev/null || true
    local p
    for p in /proc/[0-9]*; do
        [[ "$(cat "$p/comm" 2>/dev/null)" == slurmstepd ]] || continue
        [[ "$(readlink "$p/cwd" 2>/dev/null)" == "$T_DIR"* ]] && kill -KILL "${p#/proc/}" 2>/dev/null
    done
    # Slurm's daemons are not ours to judge by their exit status.
    local d
    for d in slurm-d slurm-ctld slurm-munged; do
        [[ -n "${T_PROCS[$d]:-}" ]] && { stop_pid "$d" "${T_PROCS[$d]}" || true; }
        unset "T_PROCS[$d]"
    done
    return 0
}
T_CLEANUP_HOOKS+=("slurm_cleanup")

pg_start
coord_start
worker_key_allow

# The worker, as a user would start it: sbatch the script with a shape.
cd "$T_DIR"
job=$(DROVER_WORKER="$DROVER_BIN/drover-worker" sbatch --parsable --cpus-per-task=2 --mem=600 \
    --output="$T_DIR/slurm-worker.log" "$T_REPO/deploy/slurm/drover-worker.sbatch") ||
    fail "sbatch failed"
log "worker job $job"
name="slurm-$job-$HOST"
listed() { drover workers --json | jq -e --arg n "$1" '.[] | select(.name == $n)' >/dev/null; }
wait_for "the Slurm worker $name registers" 60 listed "$name"
w=$(drover workers --json | jq -c --arg n "$name" '.[] | select(.name == $n)')
assert_eq 2 "$(jq -r .slots <<<"$w")" "slots from the job's CPUs"
for l in slurm "slurm-job-$job" slurm-partition-gpu-free; do
    jq -e --arg l "$l" '.labels | index($l)' <<<"$w" >/dev/null || fail "label $l missing: $w"
done
grep -q -- "--memory 600M" "$T_DIR/slurm-worker.log" || fail "memory not taken from --mem: $(cat "$T_DIR/slurm-worker.log")"

# Steps that ask for the label land there and succeed.
cat >"$T_DIR/onslurm.cfg" <<'CFG'
workflow = "onslurm";
steps = (
  { name = "a"; kind = "exec"; argv = ["/bin/sh", "-c", "echo on $SLURM_JOB_ID"]; resources = { labels = ["slurm"]; }; },
  { name = "b"; kind = "exec"; after = ["a"]; argv = ["/bin/true"]; resources = { labels = ["slurm"]; }; }
);
CFG
run=$(submit "$T_DIR/onslurm.cfg")
assert_eq succeeded "$(wait_run "$run" 60)" "run on the Slurm worker"
assert_eq "$name" "$(task_field "$run" b worker)" "the step's worker"

# The allocation ends: the worker leaves, Slurm's job ends with it.
scancel "$job" || fail "scancel $job"
job_gone() { [[ -z "$(squeue -h -j "$job" -o %i 2>/dev/null)" ]]; }
wait_for "job $job ends" 60 job_gone
worker_gone() { ! listed "$name"; }
wait_for "the coordinator no longer lists $name" 30 worker_gone
grep -qE 'draining|stopping|Terminated' "$T_DIR/slurm-worker.log" ||
    fail "the worker did not stop on Slurm's SIGTERM: $(tail -5 "$T_DIR/slurm-worker.log")"
# A worker told to give an idle allocation back leaves by itself.
job2=$(DROVER_WORKER="$DROVER_BIN/drover-worker" DROVER_IDLE_EXIT=2s sbatch --parsable \
    --cpus-per-task=1 --output="$T_DIR/slurm-idle.log" "$T_REPO/deploy/slurm/drover-worker.sbatch") ||
    fail "sbatch (idle) failed"
name2="slurm-$job2-$HOST"
wait_for "the idle worker $name2 registers" 60 listed "$name2"
job2_gone() { [[ -z "$(squeue -h -j "$job2" -o %i 2>/dev/null)" ]]; }
wait_for "the idle worker's job ends by itself" 60 job2_gone
grep -q 'worker.idle_exit' "$T_DIR/slurm-idle.log" || fail "no idle exit in the log: $(tail -5 "$T_DIR/slurm-idle.log")"
log "Slurm worker registered with the allocation's shape, ran run $run, left with its allocation; an idle one gave its allocation back"
