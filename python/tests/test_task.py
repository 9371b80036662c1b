"""Unit tests of drover.task: the lines it writes on the output fd, exactly
as the worker reads them (one JSON object per line), in a child process
with a real pipe on fd 3 as the worker sets it up."""

import json
import os
import subprocess
import sys
import textwrap
import unittest

PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_child(code, fd3=True, env_fd="pipe"):
    """Runs code in a fresh interpreter with the write end of a pipe
    inherited (when fd3) and named by DROVER_OUTPUT_FD (env_fd "pipe"; a
    number names some other fd, None leaves it unset), as the worker does
    with fd 3; returns (lines read from the pipe as JSON, stderr, status)."""
    env = dict(os.environ, PYTHONPATH=PKG)
    env.pop("DROVER_OUTPUT_FD", None)
    r, w = os.pipe()
    if env_fd is not None:
        env["DROVER_OUTPUT_FD"] = str(w) if env_fd == "pipe" else env_fd
    try:
        p = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             pass_fds=(w,) if fd3 else ())
        os.close(w)
        w = -1
        with os.fdopen(r, "rb") as f:
            r = -1
            data = f.read()
        err = p.stderr.read().decode()
        p.stderr.close()
        rc = p.wait()
    finally:
        for fd in (r, w):
            if fd >= 0:
                os.close(fd)
    return [json.loads(l) for l in data.decode().splitlines()], err, rc


class TaskTest(unittest.TestCase):
    def test_metrics_and_report(self):
        lines, err, rc = run_child("""
            import drover.task as t
            assert t.connected()
            t.log_metric(epoch=1, train_loss=0.5, val_accuracy=0.75)
            t.log_metric(epoch=2, **{"val/auc": 0.9})
            t.log_metric(loss=float("nan"), big=float("inf"), ok=[1.0, float("-inf")])
            t.report({"rows": 10})
            t.report({"rows": 11, "note": "again"}, passed=False)
        """)
        self.assertEqual(rc, 0, err)
        self.assertEqual(lines, [
            {"metric": {"epoch": 1, "train_loss": 0.5, "val_accuracy": 0.75}},
            {"metric": {"epoch": 2, "val/auc": 0.9}},
            {"metric": {"loss": None, "big": None, "ok": [1.0, None]}},
            {"output": {"report": {"rows": 10, "passed": True}}},
            {"output": {"report": {"rows": 11, "note": "again", "passed": False}}},
        ])

    def test_datasets_join_the_outputs(self):
        import hashlib
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            csv_path = os.path.join(d, "t.csv")
            with open(csv_path, "w") as f:
                f.write('a,b,"c\nd"\n1,2,3\n4,5,"6\n7"\n\n')
            sha = hashlib.sha256(open(csv_path, "rb").read()).hexdigest()
            lines, err, rc = run_child("""
                import drover.task as t
                t.report({"x": 1})
                t.dataset(%r, role="train")
                t.dataset(%r, role="train")
            """ % (csv_path, csv_path))
        self.assertEqual(rc, 0, err)
        rec = {"path": csv_path, "format": "csv", "sha256": sha, "rows": 2, "cols": 3,
               "role": "train"}
        self.assertEqual(lines[-1], {"output": {"report": {"x": 1, "passed": True},
                                                "datasets": [rec]}})

    def test_numpy_values(self):
        try:
            import numpy  # noqa: F401
        except ImportError:
            self.skipTest("numpy not installed")
        lines, err, rc = run_child("""
            import numpy as np, drover.task as t
            t.log_metric(epoch=np.int64(3), loss=np.float32(0.5), v=np.arange(2), n=np.float64("nan"))
        """)
        self.assertEqual(rc, 0, err)
        self.assertEqual(lines, [{"metric": {"epoch": 3, "loss": 0.5, "v": [0, 1], "n": None}}])

    def test_refusals_write_nothing(self):
        lines, err, rc = run_child("""
            import drover.task as t
            for call, exc in ((lambda: t.register_model("", "model.pkl"), TypeError),
                              (lambda: t.register_model("m", "m.pkl", metrics=[1]), TypeError),
                              (lambda: t.log_metric(), ValueError),
                              (lambda: t.log_metric(epoch="one", x=1), TypeError),
                              (lambda: t.log_metric(x=object()), TypeError),
                              (lambda: t.log_metric(x="y" * (1 << 20)), ValueError),
                              (lambda: t.report([1]), TypeError),
                              (lambda: t.report({"passed": "yes"}), TypeError)):
                try:
                    call()
                except exc as e:
                    print(type(e).__name__, e)
                else:
                    raise SystemExit("no %s" % exc.__name__)
        """)
        self.assertEqual(rc, 0, err)
        self.assertEqual(lines, [])

    def test_register_model_line(self):
        lines, err, rc = run_child("""
            import drover.task as t
            t.register_model("digits", "model.pkl", flavour="sklearn-pickle",
                             signature={"inputs": 64}, metrics={"val_accuracy": 0.9},
                             datasets=["data/train.csv"])
        """)
        self.assertEqual(rc, 0, err)
        self.assertEqual(lines, [{"register_model": {
            "name": "digits", "path": "model.pkl", "flavour": "sklearn-pickle",
            "signature": {"inputs": 64}, "metrics": {"val_accuracy": 0.9},
            "datasets": ["data/train.csv"]}}])

    def test_outside_a_worker_lines_go_to_stderr(self):
        lines, err, rc = run_child("""
            import drover.task as t
            assert not t.connected()
            t.log_metric(epoch=1, loss=0.25)
        """, fd3=False, env_fd=None)
        self.assertEqual(rc, 0, err)
        self.assertEqual(lines, [])
        self.assertIn('drover.task: {"metric":{"epoch":1,"loss":0.25}}', err)

    def test_closed_fd_warns_once_and_falls_back(self):
        lines, err, rc = run_child("""
            import drover.task as t
            t.log_metric(epoch=1, loss=0.25)
            t.log_metric(epoch=2, loss=0.125)
        """, fd3=False, env_fd="97")
        self.assertEqual(rc, 0, err)
        self.assertEqual(err.count("not an open file descriptor"), 1, err)
        self.assertIn('"epoch":2', err)


if __name__ == "__main__":
    unittest.main()
