#!/usr/bin/env bash
# The built-in trainer, data-parallel (docs/distributed.md): the claims MLP
# trained by one process and by a gang of 2 members (each started on its
# own with the contract's environment). The 2-rank model's test accuracy is
# within 0.5 points of the single-process one; only rank 0 reports a model,
# with both ranks' dataset hashes in its lineage; a gang killed after a
# checkpoint resumes from it on every rank and ends with the very model an
# uninterrupted gang trains; a rank whose data differ fails the gang.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/dp_lib.sh"

D="$T_DIR/data"
drover-gen-claims --out "$D" --train 6000 --test 2000 > /dev/null
ART="$T_DIR/art"
spec() { # spec EPOCHS DATASET
    printf '{"dataset":"%s","label":"damage","model":"claims-damage","trainer":"mlp","hidden":[64],' "$2"
    printf '"optimizer":"adam","learning_rate":0.003,"l2":0.0001,"epochs":%d,"batch_size":256,' "$1"
    printf '"val_split":0.1,"seed":42,"gpu":"never","checkpoint_every":"epoch"}'
}
# accuracy MODEL_ARTIFACT: percent of test rows predicted right.
accuracy() {
    local f="$ART/sha256/${1:0:2}/${1:2}"
    drover-task predict "$f" "$D/test.csv" | tail -n +2 | cut -d, -f3 |
        paste -d, - <(tail -n +2 "$D/test.csv" | awk -F, '{print $NF}') |
        awk -F, '{n++; if ($1 == $2) ok++} END {printf "%.2f\n", 100 * ok / n}'
}
artifact() { grep -o '"artifact":"[0-9a-f]*"' "$1" | head -1 | cut -d'"' -f4; }

mkdir -p "$T_DIR/single"
(cd "$T_DIR/single" && DROVER_ARTIFACTS=$ART DROVER_RUN_ID=1 DROVER_STEP=train \
    DROVER_SPEC="$(spec 8 "$D/train.csv")" drover-task train > out 2>&1) ||
    fail "single-process train: $(tail -5 "$T_DIR/single/out")"
single=$(artifact "$T_DIR/single/out")

export DROVER_ARTIFACTS=$ART DROVER_STEP=train
DROVER_RUN_ID=2 DROVER_SPEC="$(spec 8 "$D/train.csv")" \
    dp_start dp.1.1 2 "$(drover-test-freeport)" 2 drover-task train
dp_wait dp.1.1 2 100
for r in 0 1; do
    assert_eq 0 "$(dp_rc dp.1.1 $r)" "data-parallel rank $r ($(tail -5 "$T_DIR/dp.1.1/r$r/out"))"
done
dp=$(artifact "$T_DIR/dp.1.1/r0/out")
[[ -n "$dp" ]] || fail "rank 0 reported no model"
! grep -q '"output"' "$T_DIR/dp.1.1/r1/out" || fail "rank 1 reported a model too"
! grep -q '"metric"' "$T_DIR/dp.1.1/r1/out" || fail "rank 1 reported metrics"
grep -q '"ranks":2' "$T_DIR/dp.1.1/r0/out" || fail "the model's params do not say 2 ranks"
sha=$(sha256sum "$D/train.csv" | cut -d' ' -f1)
n=$(grep '"output"' "$T_DIR/dp.1.1/r0/out" | jq "[.output.datasets[] | select(.sha256 == \"$sha\")] | length")
assert_eq 2 "$n" "lineage entries (one per rank) with the dataset's sha256"
a1=$(accuracy "$single")
a2=$(accuracy "$dp")
echo "test accuracy: single process $a1%, 2 ranks $a2%"
awk -v a="$a1" -v b="$a2" 'BEGIN {d = a - b; if (d < 0) d = -d; exit !(d <= 0.5)}' ||
    fail "2-rank accuracy $a2% is not within 0.5 points of $a1%"

# Resume: an uninterrupted 2-rank gang of 6 epochs, then one killed after
# its epoch-2 checkpoint and restarted: the same model.
DROVER_RUN_ID=3 DROVER_SPEC="$(spec 6 "$D/train.csv")" \
    dp_start whole.1.1 2 "$(drover-test-freeport)" 2 drover-task train
dp_wait whole.1.1 2 100
assert_eq 0 "$(dp_rc whole.1.1 0)" "uninterrupted gang ($(tail -3 "$T_DIR/whole.1.1/r0/out"))"
whole=$(artifact "$T_DIR/whole.1.1/r0/out")
DROVER_RUN_ID=4 DROVER_SPEC="$(spec 6 "$D/train.csv")" \
    dp_start cut.4.1 2 "$(drover-test-freeport)" 2 drover-task train
wait_for "rank 0 to print epoch 2" 60 grep -q "^epoch 2/" "$T_DIR/cut.4.1/r0/out"
for r in 0 1; do kill -KILL -- "-${DP_PIDS[r]}" 2> /dev/null || true; done
dp_wait cut.4.1 2 30
if grep -q '"output"' "$T_DIR/cut.4.1/r0/out"; then
    echo "note: the gang finished before it was killed; resume not exercised"
else
    [[ -f "$ART/checkpoints/run-4-train.ckpt" ]] || fail "no checkpoint after epoch 2"
    DROVER_RUN_ID=4 DROVER_SPEC="$(spec 6 "$D/train.csv")" \
        dp_start cut.4.2 2 "$(drover-test-freeport)" 2 drover-task train
    dp_wait cut.4.2 2 100
    for r in 0 1; do
        assert_eq 0 "$(dp_rc cut.4.2 $r)" "resumed rank $r ($(tail -3 "$T_DIR/cut.4.2/r$r/out"))"
        grep -q "^resuming from epoch" "$T_DIR/cut.4.2/r$r/out" || fail "rank $r did not resume"
    done
    assert_eq "$whole" "$(artifact "$T_DIR/cut.4.2/r0/out")" "resumed gang's model"
    echo "ok: a killed gang resumed from rank 0's checkpoint on every rank"
fi

# A member dies mid-training (its process group killed, as a worker stops a
# member): nothing of its tree survives (the MPI process, in a group of its
# own, dies with its mpirun), and the other rank gives up at the deadline
# instead of waiting in the allreduce forever.
gang_procs() { grep -lsa "DROVER_GANG_ID=$1" /proc/[0-9]*/environ | cut -d/ -f3 | sort -u; }
DROVER_RUN_ID=6 DROVER_SPEC="$(spec 5000 "$D/train.csv")" DROVER_GANG_TIMEOUT=5 \
    dp_start kill.6.1 2 "$(drover-test-freeport)" 2 env DROVER_GANG_TIMEOUT=5 drover-task train
wait_for "rank 0 to print epoch 2" 60 grep -q "^epoch 2/" "$T_DIR/kill.6.1/r0/out"
kill -KILL -- "-${DP_PIDS[1]}"
dp_wait kill.6.1 2 60
[[ "$(dp_rc kill.6.1 0)" != 0 ]] || fail "rank 0 finished without rank 1"
grep -q "deadline (DROVER_GANG_TIMEOUT) passed while" "$T_DIR/kill.6.1/r0/out" ||
    fail "rank 0 did not say why it stopped: $(tail -5 "$T_DIR/kill.6.1/r0/out")"
wait_for "no process of the killed gang left" 30 test -z "$(gang_procs kill.6.1)"
echo "ok: a dead member stops the other at the deadline, no process left"

# Different data on rank 1: every rank refuses.
cp "$D/train.csv" "$T_DIR/other.csv"
sed -i '2d' "$T_DIR/other.csv"
port=$(drover-test-freeport)
DROVER_RUN_ID=5 DROVER_SPEC="$(spec 2 "$D/train.csv")" dp_start diff.5.1 1 "$port" 2 drover-task train
p0=${DP_PIDS[0]}
(cd "$T_DIR" && mkdir -p diff.5.1/r1 && cd diff.5.1/r1 && RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 \
    MASTER_PORT=$port DROVER_GANG_ID=diff.5.1 DROVER_RUN_ID=5 \
    DROVER_SPEC="$(spec 2 "$T_DIR/other.csv")" exec setsid drover-task train > out 2>&1) &
DP_PIDS=("$p0" $!)
t_track_pid "${DP_PIDS[1]}"
dp_wait diff.5.1 2 100
for r in 0 1; do
    [[ "$(dp_rc diff.5.1 $r)" != 0 ]] || fail "rank $r trained on different data"
    grep -q "every rank must read the same data" "$T_DIR/diff.5.1/r$r/out" ||
        fail "rank $r did not say why: $(tail -3 "$T_DIR/diff.5.1/r$r/out")"
done
echo "PASS: test_dp_train"
