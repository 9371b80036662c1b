#!/usr/bin/env bash
# The Python side of drover against a real cluster (PostgreSQL, coordinator,
# a worker, CurveZMQ keys):
#   - `drover workflow check` (the CLI verb the Python client submits files
#     through) prints the request as JSON, and file:line + exit 2 for a bad
#     file;
#   - `pip install ./python` works offline, into a private folder;
#   - the installed client (test_python.py) submits a workflow file and a
#     dict, waits with progress, reads runs/status/logs/workers/info/models,
#     promotes, and gets the coordinator's refusals as exceptions (a reader
#     key's submit is Forbidden, ...);
#   - an exec step logs metrics and a report with drover.task (from the
#     source tree via PYTHONPATH); they show in `drover metrics`, `drover
#     report` and drover.task_metrics, and the file it read joins the
#     lineage tables like a built-in step's; a metric of the shell form too;
#   - a file submitted by Python and by `drover submit` becomes the same tasks.
#   - examples/sklearn (when python3-sklearn is installed): a scikit-learn
#     model reporting through drover.task passes its gate; the same with an
#     impossible gate fails.
# Skips (77) without python3-zmq, python3-protobuf or protoc.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ml_lib.sh"

PY_SRC="$T_REPO/python"

# ------------------------------------------------ drover workflow check ---
cat >"$T_DIR/check.cfg" <<'CFG'
workflow = "check-me";
queue = "batch";
priority = 3;
steps = (
  { name = "a"; kind = "exec"; command = "true"; },
  { name = "b"; kind = "exec"; after = ["a"]; argv = ["/bin/echo", "x"]; retries = 2;
    timeout = "5m"; resources = { cpus = 2; memory = "1G"; labels = ["l1"]; }; }
);
CFG
drover workflow check "$T_DIR/check.cfg" >"$T_DIR/check.out" || fail "workflow check exited $?"
grep -q "ok: workflow check-me, 2 steps" "$T_DIR/check.out" || fail "workflow check said: $(cat "$T_DIR/check.out")"
drover workflow check --json "$T_DIR/check.cfg" >"$T_DIR/check.json" || fail "workflow check --json exited $?"
jq -e '.workflow == "check-me" and .queue == "batch" and .priority == 3 and .schedule == null
       and ([.steps[].name] == ["a", "b"])
       and (.steps[1] | .after == ["a"] and .retries == 2 and .timeout_ms == 300000
            and .retry_delay_ms == 1000 and .line == 6
            and .resources == {"cpus": 2, "memory_bytes": 1073741824, "gpus": 0, "labels": ["l1"]}
            and (.spec_json | fromjson) == {"argv": ["/bin/echo", "x"]})' "$T_DIR/check.json" >/dev/null ||
    fail "workflow check --json: $(cat "$T_DIR/check.json")"
printf 'workflow = "w";\nsteps = (\n  { name = "a"; kind = "exec"; after = ["zz"]; command = "true"; }\n);\n' >"$T_DIR/bad.cfg"
rc=0
drover workflow check --json "$T_DIR/bad.cfg" >"$T_DIR/bad.out" 2>&1 || rc=$?
assert_eq 2 "$rc" "exit status of workflow check on a bad file"
grep -q "^$T_DIR/bad.cfg:3: .*zz" "$T_DIR/bad.out" || fail "workflow check on a bad file said: $(cat "$T_DIR/bad.out")"

# ---------------------------------------------------- Python prerequisites ---
PY=""
for c in "${DROVER_PYTHON:-}" /usr/bin/python3 python3; do
    [[ -n "$c" ]] && command -v "$c" >/dev/null 2>&1 || continue
    if "$c" -c 'import zmq, google.protobuf; assert zmq.has("curve")' 2>/dev/null; then
        PY=$(command -v "$c")
        break
    fi
done
if [[ -z "$PY" ]]; then
    echo "SKIP [$T_NAME]: no python3 with python3-zmq (CURVE) and python3-protobuf (apt-get install python3-zmq python3-protobuf)"
    exit 77
fi
if ! command -v protoc >/dev/null 2>&1; then
    echo "SKIP [$T_NAME]: protoc is missing (apt-get install protobuf-compiler)"
    exit 77
fi
log "python: $PY"

# pip install ./python, offline, into a private folder: the client below
# runs from there (its messages generated into the wheel at build time).
"$PY" -m pip install --no-index --no-cache-dir --disable-pip-version-check --target "$T_DIR/site" \
    "$PY_SRC" >"$T_DIR/pip.log" 2>&1 || fail "pip install ./python failed: $(tail -20 "$T_DIR/pip.log")"
[[ -f "$T_DIR/site/drover/_generated/drover_pb2.py" ]] || fail "the wheel carries no generated drover_pb2.py"

# ---------------------------------------------------------- the cluster ---
cd "$T_DIR" # the worker's work and artifact folders default to its cwd
pg_start
coord_start
# examples/sklearn runs $DROVER_PYTHON and writes its pickle to $MODEL_DIR.
export DROVER_PYTHON="$PY" MODEL_DIR="$T_DIR/models"
worker_start w1 2 --artifact-dir "$T_DIR/artifacts"
drover keygen --out "$T_KEYS/reader" >/dev/null || fail "keygen reader exited $?"
drover keys allow client "$T_KEYS/reader.pub" --role reader >/dev/null || fail "allow reader exited $?"

mkdir -p "$T_DIR/data"
gen_data "$T_DIR/data/train.csv" 300 11

# The exec step: drover.task from the source tree (a Debian-style module path).
cat >"$T_DIR/step.py" <<'PYSTEP'
import sys

import drover.task as task

task.dataset(sys.argv[1], role="train")

for epoch in range(1, 4):
    task.log_metric(epoch=epoch, train_loss=1.0 / epoch, val_accuracy=0.5 + 0.1 * epoch,
                    seconds=0.01, note="py")
task.report({"rows": 300, "source": "drover.task"}, passed=True)
print("trained in %s of run %s, attempt %s, channel %s"
      % (task.step(), task.run_id(), task.attempt(), task.connected()))
PYSTEP
cat >"$T_DIR/py.cfg" <<CFG
workflow = "py-file";
steps = (
  { name = "prep"; kind = "exec"; command = "echo prepared"; },
  { name = "train_py"; kind = "exec"; after = ["prep"]; argv = ["$PY", "$T_DIR/step.py", "$T_DIR/data/train.csv"];
    env = { PYTHONPATH = "$PY_SRC"; PYTHONDONTWRITEBYTECODE = "1"; }; },
  { name = "shell"; kind = "exec"; after = ["prep"];
    command = "echo '{\\"metric\\": {\\"epoch\\": 1, \\"train_loss\\": 0.5}}' >&\\"\${DROVER_OUTPUT_FD:-2}\\""; },
  { name = "train"; kind = "train"; after = ["prep"]; dataset = "data/train.csv";
    label = "damage"; model = "pyclaims"; epochs = 2; batch_size = 32; gpu = "never"; }
);
CFG
printf 'workflow = "w";\nsteps = (\n  { name = "a"; kind = "exec"; comand = "true"; }\n);\n' >"$T_DIR/typo.cfg"

env -u DROVER_PB2 PYTHONPATH="$T_DIR/site" DROVER_CLI="$DROVER_BIN/drover" \
    T_DIR="$T_DIR" READER_KEY="$T_KEYS/reader" DEAD_EP="tcp://127.0.0.1:$(freeport)" \
    timeout 90 "$PY" "$T_REPO/tests/integration/test_python.py" >"$T_DIR/py.out" 2>"$T_DIR/py.err" ||
    fail "test_python.py exited $?: $(tail -40 "$T_DIR/py.err")"
cat "$T_DIR/py.err" >&2
run1=$(sed -n 's/^run_file=//p' "$T_DIR/py.out")
[[ "$run1" =~ ^[0-9]+$ ]] || fail "test_python.py printed no run id: $(cat "$T_DIR/py.out")"

# What drover.task wrote reached the database and the CLI.
assert_eq 3 "$(metric_count "$run1" train_py 1)" "metric rows of the drover.task step"
assert_eq '{"epoch": 1, "train_loss": 0.5}' "$(sql "select m.data from drover.task_metrics m join drover.tasks t
    on t.id = m.task_id where t.run_id = $run1 and t.name = 'shell'")" "the metric of the shell form"
drover metrics "$run1" train_py --json >"$T_DIR/metrics.json" || fail "drover metrics exited $?"
jq -e '[.metrics[].data.epoch] == [1, 2, 3] and all(.metrics[].data; .note == "py")' \
    "$T_DIR/metrics.json" >/dev/null || fail "drover metrics: $(cat "$T_DIR/metrics.json")"
drover metrics "$run1" train_py >"$T_DIR/metrics.txt" || fail "drover metrics (text) exited $?"
grep -q "3 epochs reported" "$T_DIR/metrics.txt" || fail "drover metrics (text): $(cat "$T_DIR/metrics.txt")"
drover report "$run1" train_py --json >"$T_DIR/report.json" || fail "drover report exited $?"
jq -e '.. | objects | select(has("source")) | .source == "drover.task" and .rows == 300' \
    "$T_DIR/report.json" >/dev/null || fail "drover report: $(cat "$T_DIR/report.json")"

# Lineage: the built-in train step's dataset is recorded (drover-task hashed
# it); what the exec step claims through drover.task.dataset() is not: the
# coordinator records lineage only from hashes drover computed itself
# (issue 9: a task's claim could name any file).
assert_eq "1 1" "$(sql "select count(*) || ' ' || count(distinct td.sha256) from drover.task_datasets td
                        join drover.tasks t on t.id = td.task_id
                        where t.run_id = $run1 and t.name in ('train', 'train_py') and td.role = 'train'")" \
    "dataset links of the two training steps (the built-in one only)"
assert_eq 0 "$(sql "select count(*) from drover.task_datasets td join drover.tasks t on t.id = td.task_id
            where t.run_id = $run1 and t.name = 'train_py'")" "lineage claimed by the exec step"

# One validator: the same file through `drover submit` makes the same tasks.
run_cli=$(submit "$T_DIR/py.cfg")
assert_eq succeeded "$(wait_run "$run_cli" 60)" "state of the CLI-submitted twin run"
assert_eq 0 "$(sql "select count(*) from (select * from drover.tasks where run_id = $run1) a
                    full join (select * from drover.tasks where run_id = $run_cli) b
                    on a.name = b.name and a.kind = b.kind and a.spec = b.spec and a.retries = b.retries
                       and a.timeout_ms = b.timeout_ms and a.retry_delay_ms = b.retry_delay_ms and a.idx = b.idx
                    where a.id is null or b.id is null")" \
    "tasks that differ between the Python and the CLI submission of one file"
assert_eq 4 "$(sql "select count(*) from drover.tasks where run_id = $run1")" "tasks of the Python-submitted run"

# examples/sklearn, as it is, then on shuffled labels through the same gate.
if "$PY" -c 'import sklearn' 2>/dev/null; then
    run_sk=$(drover submit "$T_REPO/examples/sklearn/pipeline.cfg" --set data="$T_DIR/digits.csv") ||
        fail "submit of examples/sklearn exited $?"
    assert_eq succeeded "$(wait_run "$run_sk" 90)" "state of the examples/sklearn run"
    assert_eq 10 "$(metric_count "$run_sk" train 1)" "epochs the sklearn step reported"
    drover report "$run_sk" train --json >"$T_DIR/sk-report.json" || fail "drover report (sklearn) exited $?"
    jq -e '.passed == true and .report.flavour == "sklearn" and .report.val_accuracy >= 0.9' \
        "$T_DIR/sk-report.json" >/dev/null || fail "sklearn report: $(cat "$T_DIR/sk-report.json")"
    [[ -s "$T_DIR/models/digits-run$run_sk.pkl" ]] || fail "the sklearn step wrote no model file"
    run_bad=$(drover submit "$T_REPO/examples/sklearn/pipeline.cfg" --set shuffle_labels=yes \
                  --set data="$T_DIR/digits.csv") ||
        fail "submit --set shuffle_labels=yes exited $?"
    assert_eq rejected "$(wait_run "$run_bad" 90)" "state of the sklearn run on shuffled labels"
    assert_eq skipped "$(task_field "$run_bad" use state)" "the step after a rejecting gate"
    assert_eq f "$(sql "select passed from drover.reports r join drover.tasks t on t.id = r.task_id
                        where t.run_id = $run_bad and t.name = 'train'")" "the rejecting gate's report"
    [[ "$(task_field "$run_bad" train error)" == *"rejected by its gates: val_accuracy "*" < 0.9"* ]] ||
        fail "the shuffled run's error: $(task_field "$run_bad" train error)"
else
    log "examples/sklearn not run: python3-sklearn is not installed"
fi
