#!/usr/bin/env python3
"""What drover.task costs per metric line: N log_metric calls (default
100000) into a pipe that `cat` drains into /dev/null, as the worker drains
fd 3. Prints microseconds per line for log_metric, and for its two parts
alone (json.dumps of the same record; os.write of a ready line) as a
baseline. A printed figure, not a test.

    python3 python/tools/bench_task.py [N]
"""

import json
import os
import subprocess
import sys
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

sink = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
fd = sink.stdin.fileno()
os.environ["DROVER_OUTPUT_FD"] = str(fd)
import drover.task as task  # noqa: E402  (after DROVER_OUTPUT_FD is set)


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) / N * 1e6


def metrics():
    for i in range(N):
        task.log_metric(epoch=i, train_loss=0.123456789, val_loss=0.23456789,
                        train_accuracy=0.91, val_accuracy=0.89, seconds=1.25)


def dumps_only():
    for i in range(N):
        json.dumps({"metric": {"epoch": i, "train_loss": 0.123456789, "val_loss": 0.23456789,
                               "train_accuracy": 0.91, "val_accuracy": 0.89, "seconds": 1.25}},
                   separators=(",", ":"), allow_nan=False)


line = (json.dumps({"metric": {"epoch": 1, "train_loss": 0.123456789, "val_loss": 0.23456789,
                               "train_accuracy": 0.91, "val_accuracy": 0.89, "seconds": 1.25}},
                   separators=(",", ":")) + "\n").encode()


def write_only():
    for _ in range(N):
        os.write(fd, line)


assert task.connected()
us = timed(metrics)
print("drover.task.log_metric: %.2f us/line (%d lines, %d bytes each, python %s)"
      % (us, N, len(line), sys.version.split()[0]))
print("  json.dumps alone:     %.2f us/line" % timed(dumps_only))
print("  os.write alone:       %.2f us/line" % timed(write_only))
sink.stdin.close()
sink.wait()
