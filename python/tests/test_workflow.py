"""Unit tests of drover.workflow: a dict becomes the same request as the
equivalent file checked by `drover workflow check --json` (when $DROVER_CLI
is set), and bad input is refused before anything is sent."""

import json
import os
import tempfile
import unittest

from drover import workflow
from drover.errors import WorkflowError

FILE = """workflow = "twin";
queue = "batch";
priority = 5;
steps = (
  { name = "prep"; kind = "exec"; command = "echo hi"; },
  { name = "train"; kind = "exec"; after = ["prep"]; argv = ["python3", "t.py"];
    env = { EPOCHS = "3"; }; cwd = "sub"; retries = 2; retry_delay = "2s"; timeout = "10m";
    resources = { cpus = 2; memory = "512M"; labels = ["cpu"]; }; }
);
"""

DICT = {
    "workflow": "twin", "queue": "batch", "priority": 5,
    "steps": [
        {"name": "prep", "kind": "exec", "command": "echo hi"},
        {"name": "train", "kind": "exec", "after": ["prep"], "argv": ["python3", "t.py"],
         "env": {"EPOCHS": "3"}, "cwd": "sub", "retries": 2, "retry_delay": "2s",
         "timeout": "10m", "resources": {"cpus": 2, "memory": "512M", "labels": ["cpu"]}},
    ],
}


class DictTest(unittest.TestCase):
    def test_conversion(self):
        doc = workflow.from_dict(DICT, cwd_base="/base")
        prep, train = doc["steps"]
        self.assertEqual(json.loads(prep["spec_json"]), {"argv": ["/bin/sh", "-c", "echo hi"]})
        self.assertEqual(json.loads(train["spec_json"]),
                         {"argv": ["python3", "t.py"], "env": {"EPOCHS": "3"}, "cwd": "/base/sub"})
        self.assertEqual((train["retries"], train["retry_delay_ms"], train["timeout_ms"]),
                         (2, 2000, 600000))
        self.assertEqual(train["resources"], {"cpus": 2, "memory_bytes": 512 << 20, "gpus": 0,
                                              "labels": ["cpu"]})
        self.assertEqual((doc["queue"], doc["priority"], prep["retry_delay_ms"]), ("batch", 5, 1000))

    def test_other_kinds_pass_their_keys(self):
        doc = workflow.from_dict({"workflow": "w", "steps": [
            {"name": "p", "kind": "promote", "model": "m:1", "stage": "staging"},
            {"name": "q", "kind": "noop", "spec": {"x": 1}}]})
        self.assertEqual(json.loads(doc["steps"][0]["spec_json"]), {"model": "m:1", "stage": "staging"})
        self.assertEqual(json.loads(doc["steps"][1]["spec_json"]), {"x": 1})

    def test_refusals(self):
        bad = [
            [],
            {"steps": [{"name": "a", "kind": "exec", "command": "x"}]},
            {"workflow": "w", "steps": []},
            {"workflow": "w", "steps": [{"name": "a"}]},
            {"workflow": "w", "steps": [{"name": "a", "kind": "exec"}]},
            {"workflow": "w", "steps": [{"name": "a", "kind": "exec", "command": "x", "argv": ["x"]}]},
            {"workflow": "w", "steps": [{"name": "a", "kind": "exec", "command": "x", "comand": 1}]},
            {"workflow": "w", "steps": [{"name": "a", "kind": "exec", "command": "x", "timeout": "soon"}]},
            {"workflow": "w", "steps": [{"name": "a", "kind": "exec", "command": "x", "retries": -1}]},
            {"workflow": "w", "steps": [{"name": "a", "kind": "exec", "argv": []}]},
            {"workflow": "w", "steps": [{"name": "a", "kind": "exec", "command": "x",
                                         "env": {"A": 1}}]},
            {"workflow": "w", "colour": 1, "steps": [{"name": "a", "kind": "exec", "command": "x"}]},
        ]
        for wf in bad:
            with self.subTest(wf=wf):
                with self.assertRaises(ValueError):
                    workflow.from_dict(wf)

    def test_request(self):
        try:
            from drover._proto import pb2
            pb = pb2()
        except ImportError as e:
            self.skipTest(str(e))
        sub = workflow.to_request(pb, workflow.from_dict(DICT), "me@here", queue="q", priority=-3)
        self.assertEqual((sub.workflow, sub.queue, sub.priority, sub.submitted_by),
                         ("twin", "q", -3, "me@here"))
        self.assertEqual([s.name for s in sub.steps], ["prep", "train"])
        self.assertEqual(list(sub.steps[1].after), ["prep"])
        self.assertEqual(sub.steps[1].resources.memory_bytes, 512 << 20)
        self.assertFalse(sub.HasField("schedule") or sub.HasField("trigger"))


@unittest.skipUnless(os.environ.get("DROVER_CLI"), "DROVER_CLI not set")
class FileTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)

    def write(self, text):
        p = os.path.join(self.dir.name, "wf.cfg")
        with open(p, "w") as f:
            f.write(text)
        return p

    def test_file_and_dict_agree(self):
        path = self.write(FILE)
        f = workflow.from_file(path)
        d = workflow.from_dict(DICT, cwd_base=os.path.realpath(self.dir.name))
        self.assertEqual((f["workflow"], f["queue"], f["priority"], f["source"]),
                         ("twin", "batch", 5, path))
        keys = ("name", "kind", "after", "retries", "timeout_ms", "retry_delay_ms", "resources",
                "nodes", "pack")
        for fs, ds in zip(f["steps"], d["steps"]):
            self.assertEqual({k: fs[k] for k in keys}, {k: ds[k] for k in keys})
            self.assertEqual(json.loads(fs["spec_json"]), json.loads(ds["spec_json"]))
        self.assertEqual(f["steps"][1]["line"], 6)

    def test_gang_keys(self):
        # nodes/spread (docs/distributed.md) reach the request from a file and a dict alike.
        path = self.write('workflow = "g";\nsteps = (\n  { name = "a"; kind = "exec"; command = "x";'
                          ' nodes = 3; spread = false; }\n);\n')
        f = workflow.from_file(path)
        d = workflow.from_dict({"workflow": "g", "steps": [
            {"name": "a", "kind": "exec", "command": "x", "nodes": 3, "spread": False}]})
        for doc in (f, d):
            self.assertEqual((doc["steps"][0]["nodes"], doc["steps"][0]["pack"]), (3, True))
        with self.assertRaises(ValueError):
            workflow.from_dict({"workflow": "g", "steps": [
                {"name": "a", "kind": "exec", "command": "x", "nodes": 65}]})

    def test_bad_file_is_a_workflow_error(self):
        path = self.write('workflow = "w";\nsteps = (\n  { name = "a"; kind = "exec"; comand = "x"; }\n);\n')
        with self.assertRaises(WorkflowError) as cm:
            workflow.from_file(path)
        e = cm.exception
        self.assertEqual((e.path, e.line), (path, 3))
        self.assertIn("unknown key 'comand'", e.message)


if __name__ == "__main__":
    unittest.main()
