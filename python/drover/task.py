"""drover.task -- metrics and results from inside an exec step (stdlib only).

    import drover.task as task
    for epoch in range(1, 11):
        loss, acc = train_one_epoch()
        task.log_metric(epoch=epoch, train_loss=loss, val_accuracy=acc)
    task.report({"accuracy": acc, "rows": n}, passed=acc > 0.8)

The line protocol underneath (docs/python.md). The worker gives every task
a pipe on the file descriptor named by $DROVER_OUTPUT_FD (3) and reads JSON
lines from it, one object per line, at most 1 MiB each (worker/task.c):

  {"metric": {...}}   one progress record, e.g. an epoch; stored in
                      drover.task_metrics (seq 0, 1, ... per attempt) and
                      shown by `drover metrics RUN STEP`. The keys epoch,
                      train_loss, val_loss, train_accuracy, val_accuracy,
                      rmse, val_rmse and seconds fill the CLI's table; any
                      other key is kept and shown by --json.
  {"output": {...}}   the step's outputs, sent with its result; the LAST
                      such line wins, so this module always writes the whole
                      object. Today the coordinator takes from an exec step
                      "report" (an object with a boolean "passed"; stored in
                      drover.reports, shown by `drover report RUN STEP`) and
                      "datasets" (the files it read: [{"path", "format":
                      "csv"|"binary", "sha256", "rows", "cols", "role"}];
                      stored in drover.datasets and drover.task_datasets,
                      the lineage the built-in kinds record too).

Any other line is counted and dropped by the worker. When the worker's
queue of unsent metrics is full (256), it stops reading and a write here
blocks until it catches up: metrics are never lost, the step slows down.

  {"register_model": {...}}  a model version to register once the step
                      exits 0 (register_model(); docs/python.md): the
                      worker stores the file and hashes the datasets, the
                      coordinator verifies and registers it.

Outside a worker ($DROVER_OUTPUT_FD unset, e.g. running the script by hand)
every line goes to stderr prefixed "drover.task: ", so nothing is lost from
sight and the script runs unchanged. If $DROVER_OUTPUT_FD is set but the fd
is not open (a parent process closed it: subprocess does that unless given
pass_fds=(3,)), a warning is printed once and lines go to stderr too.

Values must be JSON-serialisable; numpy scalars and arrays are converted
(.item() / .tolist()), NaN and infinities become null. Thread-safe.
"""

import csv
import hashlib
import json
import math
import os
import struct
import sys
import threading

__all__ = ["log_metric", "report", "dataset", "register_model", "NotSupportedYet", "run_id",
           "step", "attempt", "connected"]  # NotSupportedYet: kept for callers that catch it

MAX_LINE = 1024 * 1024   # TASK_LINE_MAX in worker/task.h
_PREFIX = "drover.task: "

_lock = threading.Lock()
_fd = None               # the channel's fd, or -1 for stderr; None = not decided yet
_outputs = {}


class NotSupportedYet(NotImplementedError):
    """A documented protocol line that the coordinator cannot take yet."""


def _open_channel():
    global _fd
    v = os.environ.get("DROVER_OUTPUT_FD")
    if not v:
        _fd = -1
        return
    try:
        fd = int(v)
        os.fstat(fd)
        _fd = fd
    except (ValueError, OSError) as e:
        sys.stderr.write("%sDROVER_OUTPUT_FD=%s is not an open file descriptor (%s); metrics and "
                         "outputs go to stderr instead (a parent process may have closed it: "
                         "subprocess needs pass_fds=(%s,))\n" % (_PREFIX, v, e, v))
        _fd = -1


def connected():
    """True when lines go to a drover worker (not to stderr)."""
    if _fd is None:
        with _lock:
            if _fd is None:
                _open_channel()
    return _fd >= 0


def _default(o):
    if hasattr(o, "tolist"):     # numpy arrays and scalars
        return o.tolist()
    if hasattr(o, "item"):
        return o.item()
    raise TypeError("drover.task: %r (%s) is not JSON-serialisable"
                    % (o, type(o).__name__))


def _finite(o):
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    return o


# One encoder for every line: json.dumps with options builds a new one per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False, default=_default)


def _encode(obj):
    try:
        return _ENCODER.encode(obj)
    except ValueError:
        # NaN or infinity somewhere (numpy values included): null them.
        plain = json.loads(json.dumps(obj, default=_default))
        return json.dumps(_finite(plain), separators=(",", ":"), allow_nan=False)


def _emit(obj):
    line = _encode(obj)
    data = (line + "\n").encode("utf-8")
    if len(data) > MAX_LINE:
        raise ValueError("drover.task: a line of %d bytes is over the worker's limit of %d"
                         % (len(data), MAX_LINE))
    with _lock:
        if _fd is None:
            _open_channel()
        if _fd < 0:
            sys.stderr.write(_PREFIX + line + "\n")
            sys.stderr.flush()
            return
        n = os.write(_fd, data)
        if n < len(data):  # a pipe takes lines over PIPE_BUF in pieces
            view = memoryview(data)[n:]
            while view:
                view = view[os.write(_fd, view):]


def log_metric(epoch=None, **values):
    """Logs one progress record: log_metric(epoch=3, train_loss=0.41,
    val_accuracy=0.87). epoch (an int, optional) numbers it in `drover
    metrics`; keys that are not Python names go through a dict:
    log_metric(epoch=1, **{"val/auc": 0.9})."""
    if epoch is None and not values:
        raise ValueError("drover.task.log_metric: nothing to log")
    if epoch is not None:
        if isinstance(epoch, bool) or not isinstance(epoch, int) and not hasattr(epoch, "item"):
            raise TypeError("drover.task.log_metric: epoch must be an int, not %r" % (epoch,))
        values = {"epoch": int(epoch), **values}
    _emit({"metric": values})


def report(data, passed=True):
    """Attaches a report to the step (a dict; stored in drover.reports and
    shown by `drover report RUN STEP`). passed is recorded with it (an
    exec step's exit status still decides whether the step succeeded). A
    later call replaces the report."""
    if not isinstance(data, dict):
        raise TypeError("drover.task.report: expected a dict, not %s" % type(data).__name__)
    rep = dict(data)
    if "passed" in rep and not isinstance(rep["passed"], bool):
        raise TypeError("drover.task.report: 'passed' must be True or False")
    rep.setdefault("passed", bool(passed))
    with _lock:
        _outputs["report"] = rep
        whole = dict(_outputs)
    _emit({"output": whole})


def _describe(path):
    """format, sha256, rows, cols of a data file, as the built-in kinds
    record them: sha256 of the bytes; for drover's binary format rows and
    cols from its header; for CSV the records after the header and every
    column of the header (a label column included: this module cannot know
    which one it is)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        head = f.read(32)
        h.update(head)
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if head[:8] == b"DRVDSET1" and len(head) >= 28:
        rows, = struct.unpack_from("<Q", head, 16)
        cols, = struct.unpack_from("<I", head, 24)
        return "binary", h.hexdigest(), rows, cols
    with open(path, "r", newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.reader(f)
        header = next(reader, [])
        rows = sum(1 for rec in reader if rec)
    return "csv", h.hexdigest(), rows, len(header)


def dataset(path, role="data"):
    """Describes the data file at path (CSV or drover's binary format) that
    this step read, with the given role ("train", "test", "data", ...): its
    sha256, rows and columns go into the step's outputs line. The
    coordinator does not put an exec step's datasets into drover's lineage
    tables (only hashes drover computed itself go there; docs/python.md).
    Reads the whole file once. Returns the record."""
    if not isinstance(role, str) or not role:
        raise TypeError("drover.task.dataset: role must be a non-empty string")
    full = os.path.abspath(path)
    fmt, sha, rows, cols = _describe(full)
    rec = {"path": full, "format": fmt, "sha256": sha, "rows": rows, "cols": cols, "role": role}
    with _lock:
        kept = [d for d in _outputs.get("datasets", []) if d["path"] != full or d["role"] != role]
        _outputs["datasets"] = kept + [rec]
        whole = dict(_outputs)
    _emit({"output": whole})
    return rec


def register_model(name, path, flavour="file", signature=None, metrics=None, datasets=None):
    """Asks for a model version in drover's registry: the file at path (in
    the step's working directory) becomes model `name`'s next version once
    the step exits 0. The worker copies it into the artifact store and
    hashes each dataset (paths the step's argv or env names; CSV files);
    the coordinator checks the artifact and registers it with flavour (e.g.
    "sklearn-pickle", "onnx"; not drover's own softmax/mlp/linear),
    signature (a dict), metrics (a dict of numbers, also what the step's
    gates see) and lineage. A later call replaces the request: one model
    per step. `drover models NAME` lists it; evaluate/score/predict refuse
    a flavour drover cannot read. Writes
    {"register_model": {"name", "path", "flavour", "signature", "metrics",
    "datasets"}}."""
    if not isinstance(name, str) or not name:
        raise TypeError("drover.task.register_model: name must be a non-empty string")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError("drover.task.register_model: path must be a path")
    req = {"name": name, "path": os.fspath(path), "flavour": flavour}
    if signature is not None:
        if not isinstance(signature, dict):
            raise TypeError("drover.task.register_model: signature must be a dict")
        req["signature"] = signature
    if metrics is not None:
        if not isinstance(metrics, dict):
            raise TypeError("drover.task.register_model: metrics must be a dict")
        req["metrics"] = metrics
    if datasets is not None:
        req["datasets"] = [os.fspath(d) for d in datasets]
    _emit({"register_model": req})


def run_id():
    """The run this step belongs to ($DROVER_RUN_ID as an int), or None."""
    v = os.environ.get("DROVER_RUN_ID")
    return int(v) if v and v.isdigit() else None


def step():
    """This step's name ($DROVER_STEP), or None."""
    return os.environ.get("DROVER_STEP") or None


def attempt():
    """This attempt's number, from 1 ($DROVER_ATTEMPT), or None."""
    v = os.environ.get("DROVER_ATTEMPT")
    return int(v) if v and v.isdigit() else None
