#!/bin/sh
# bench/train/roofline.sh — the built-in trainers against the roofline
# (issue 16): per trainer and shape, the epoch's sgemm-bound and
# bandwidth-bound times, the achieved epoch time and the fraction, from
# drover-bench-roofline (see its header for what each figure measures).
# Prints a Markdown table. Not a test: figures depend on the machine's load.
# Times are the benchmark thread's CPU time (see roofline.c), the epoch's
# wall time beside it.
#
#   bench/train/roofline.sh [ROUNDS]     (default 3)
# Env:
#   BUILD       build folder (default build: the RelWithDebInfo build that
#               drover-task ships from)
#   DATA        data folder (default /tmp/drover-bench-train, shared with run.sh)
#   RUNS        rounds inside each process (default 3), EPOCHS per fit (5)
#   BATCHES     batch sizes (default "256", the bench's shape)
#   BEFORE_REV  a git revision (e.g. main): builds drover_ml there, links this
#               roofline.c against it (-DROOFLINE_BEFORE), and alternates
#               before/after processes ROUNDS times; the table gets before
#               columns. Medians over the ROUNDS processes of each side.
# One BLAS thread (OPENBLAS_NUM_THREADS=1): the primary figure.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
DATA=${DATA:-/tmp/drover-bench-train}
ROUNDS=${1:-3}
RUNS=${RUNS:-3}
EPOCHS=${EPOCHS:-5}
BATCHES=${BATCHES:-256}
PY=/usr/bin/python3
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

cmake -S "$ROOT" -B "$BUILD" >/dev/null
cmake --build "$BUILD" --target drover-bench-train drover-bench-roofline -j2 >/dev/null
AFTER=$BUILD/bin/drover-bench-roofline
mkdir -p "$DATA"
[ -f "$DATA/linear.bin" ] && [ -f "$DATA/nonlinear.bin" ] || "$BUILD/bin/drover-bench-train" gen "$DATA"

TMP=$(mktemp -d)
cleanup() {
    [ -d "$TMP/src" ] && git -C "$ROOT" worktree remove --force "$TMP/src" >/dev/null 2>&1
    rm -rf "$TMP"
}
trap cleanup EXIT
BEFORE=
if [ -n "${BEFORE_REV:-}" ]; then
    git -C "$ROOT" worktree add --detach "$TMP/src" "$BEFORE_REV" >/dev/null 2>&1
    cmake -S "$TMP/src" -B "$TMP/build" >/dev/null
    cmake --build "$TMP/build" --target drover_ml -j2 >/dev/null
    libs=
    for l in drover_ml drover_mlio drover_common; do
        libs="$libs $(find "$TMP/build" -name "lib$l.a" | head -1)"
    done
    BEFORE=$TMP/roofline-before
    # shellcheck disable=SC2086 # $libs is a list of paths
    cc -O2 -D_GNU_SOURCE -DROOFLINE_BEFORE -I"$TMP/src/ml" -I"$TMP/src/common" \
        $(pkg-config --cflags openblas) "$ROOT/bench/train/roofline.c" $libs \
        $(pkg-config --libs openblas jansson) -lm -ldl -lpthread -o "$BEFORE"
fi

OUT=$TMP/out.tsv
one() { # side binary args...
    side=$1
    shift
    printf '%s\t%s\n' "$side" "$("$@" --runs "$RUNS" --epochs "$EPOCHS")" >>"$OUT"
}
i=0
while [ $i -lt "$ROUNDS" ]; do
    for b in $BATCHES; do
        for bin in $BEFORE "$AFTER"; do
            side=after
            [ "$bin" = "$AFTER" ] || side=before
            one $side "$bin" "$DATA/linear.bin" softmax --batch "$b" --lr 0.1
            one $side "$bin" "$DATA/linear.bin" linear --batch "$b" --lr 0.01
            one $side "$bin" "$DATA/nonlinear.bin" mlp --batch "$b" --hidden 128 --adam --lr 0.002
        done
    done
    i=$((i + 1))
done

$PY - "$OUT" "$ROUNDS" <<'PYEOF'
import json, statistics, sys
runs = {}
order = []
for line in open(sys.argv[1]):
    side, js = line.rstrip("\n").split("\t", 1)
    r = json.loads(js)
    key = (r["trainer"], r["optimizer"], r["batch"])
    if key not in order:
        order.append(key)
    runs.setdefault((side, key), []).append(r)
def med(side, key, f):
    return statistics.median(r[f] for r in runs[(side, key)])
before = any(s == "before" for s, _ in runs)
head = ("| trainer | batch | GFLOP/epoch | MB/epoch | sgemm GFLOP/s | stream GB/s | sgemm-bound ms"
        " | bandwidth-bound ms | shuffled gather ms | achieved ms | fraction | achieved wall ms |")
sep = "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
if before:
    head += " before: achieved ms | before: fraction |"
    sep += "---:|---:|"
print(head)
print(sep)
for key in order:
    g = lambda f: med("after", key, f)
    row = "| %s (%s) | %d | %.3f | %.1f | %.1f | %.2f | %.1f | %.1f | %.1f | %.1f | **%.0f%%** | %.1f |" % (
        key[0], key[1], key[2], g("flops_epoch") / 1e9, g("bytes_epoch") / 1e6, g("sgemm_gflops"),
        g("stream_gbs"), g("t_sgemm_ms"), g("t_stream_ms"), g("t_gather_ms"), g("t_epoch_ms"),
        100 * g("fraction"), g("wall_epoch_ms"))
    if before:
        row += " %.1f | %.0f%% |" % (med("before", key, "t_epoch_ms"), 100 * med("before", key, "fraction"))
    print(row)
print()
print("Medians of %s processes per side (each the median of its own rounds), "
      "OPENBLAS_NUM_THREADS=1; times are the thread's CPU time except the wall column." % sys.argv[2])
PYEOF
