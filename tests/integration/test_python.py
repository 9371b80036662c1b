"""The Python client against the cluster test_python.sh started (run by it:
DROVER_CONFIG, DROVER_KEY and DROVER_COORDINATOR_KEY name the admin key;
READER_KEY a key with the reader role; T_DIR the test folder; DEAD_EP an
endpoint nobody listens on). Prints run_file=ID for the shell's checks; any
failed check raises (exit status 1 with the traceback on stderr)."""

import os
import sys

import drover
from drover import errors

T_DIR = os.environ["T_DIR"]


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what, file=sys.stderr)


def expect(exc, fn, what):
    try:
        fn()
    except exc as e:
        print("ok: %s -> %s: %s" % (what, type(e).__name__, e), file=sys.stderr)
        return e
    raise AssertionError("%s: no %s raised" % (what, exc.__name__))


c = drover.Client(timeout=5)
check(c.settings.client_key is not None and c.settings.client_key.name == "admin",
      "the client found the admin key through the CLI's settings")

info = c.info()
check(info.version == 1 and info.workers >= 1, "info(): protocol 1, %d worker(s)" % info.workers)

# A workflow file, waited on with progress.
seen = []
run1 = c.submit(os.path.join(T_DIR, "py.cfg"))
check(run1 > 0, "submit(file) returned run %d" % run1)
state = c.wait(run1, progress=seen.append, deadline=60)
st = c.status(run1)
check(state == "succeeded", "wait(file run) ended %s: %s" % (state, [(t.name, t.state, t.error) for t in st.tasks]))
# (A run that ended is served from the database with version 0.)
versions = [s.run.version for s in seen]
check(len(seen) >= 2 and all(a != b for a, b in zip(versions, versions[1:])),
      "progress called once per change: versions %s" % versions)
check(seen[-1].run.done and seen[-1].state == "succeeded", "the last progress call saw the end")
again = []
check(c.wait(run1, progress=again.append) == "succeeded" and len(again) == 1,
      "wait() on a run that already ended: its state, one progress call")
check(sorted(t.name for t in st.tasks) == ["prep", "shell", "train", "train_py"]
      and all(t.state == "succeeded" and t.exit_code == 0 for t in st.tasks),
      "status(): every step succeeded")
check(st.task("train_py").after == ["prep"] and st.run.finished_at is not None,
      "status(): dependencies and times")

logs = c.logs(run1, "train_py")
check(logs.finished and logs.attempt == 1, "logs(): finished, attempt 1")
check(("trained in train_py of run %d, attempt 1, channel True" % run1) in logs.text,
      "logs(): the step's stdout, with drover.task's view of its context: %r" % logs.text)
chunks = []
c.logs(run1, "prep", follow=True, on_output=lambda s, d: chunks.append((s, d)))
check(chunks == [("stdout", b"prepared\n")], "logs(follow=True) streams to on_output: %r" % chunks)

m = c.metrics(run1, "train_py")
check([e["data"]["epoch"] for e in m["metrics"]] == [1, 2, 3], "metrics(): the three epochs")
r = c.report(run1, "train_py")
check(r is not None and "drover.task" in str(r), "report(): the drover.task report: %s" % r)

# The model the built-in train step registered.
models = c.models()
check(any(v["name"] == "pyclaims" for v in models), "models(): pyclaims is listed")
check([v["version"] for v in c.models("pyclaims")] == [1], "models(name): one version")
mv = c.model("pyclaims", 1)
check(mv["name"] == "pyclaims" and mv["version"] == 1, "model(): pyclaims:1 in full")
p = c.promote("pyclaims", 1, "staging", reason="python client test")
check(p["stage"] == "staging" and c.model("pyclaims", 1)["stage"] == "staging",
      "promote(): pyclaims:1 is in staging")
expect(ValueError, lambda: c.promote("pyclaims", 1, "prod"), "promote() to an unknown stage")

# A dict: no CLI involved; a failing second step fails the run.
run2 = c.submit({"workflow": "py-dict", "steps": [
    {"name": "hello", "kind": "exec", "command": "echo from-dict"},
    {"name": "boom", "kind": "exec", "after": ["hello"], "argv": ["/bin/sh", "-c", "exit 3"]}]},
    priority=2)
state2 = c.wait(run2, deadline=60)
st2 = c.status(run2)
check(state2 == "failed" and st2.task("boom").exit_code == 3 and st2.task("hello").state ==
      "succeeded", "submit(dict): ran, and failed where it should: %s" % [(t.name, t.state) for t in st2.tasks])
check(b"from-dict" in c.logs(run2, "hello").stdout, "logs() of the dict run")

runs = c.runs(10)
check({run1, run2} <= {x.id for x in runs} and runs[0].id >= runs[-1].id,
      "runs(): both runs, newest first")
check(any(w.name == "w1" and w.connected and w.slots == 2 for w in c.workers()),
      "workers(): w1, connected, 2 slots")

# Refusals as exceptions.
e = expect(errors.NotFound, lambda: c.status(987654), "status() of an unknown run")
check(e.code == 2 and e.code_name == "ERROR_NOT_FOUND", "NotFound carries the ErrorCode")
expect(errors.NotFound, lambda: c.model("pyclaims", 99), "model() of an unknown version")
expect(errors.Conflict, lambda: c.cancel(run1), "cancel() of a finished run")
e = expect(errors.BadRequest, lambda: c.submit({"workflow": "cyclic", "steps": [
    {"name": "a", "kind": "exec", "after": ["b"], "command": "true"},
    {"name": "b", "kind": "exec", "after": ["a"], "command": "true"}]}),
    "the coordinator refuses a cyclic dict workflow")
check(e.code == 1 and "cycle" in e.message, "BadRequest says why: %s" % e.message)
e = expect(errors.WorkflowError, lambda: c.submit(os.path.join(T_DIR, "typo.cfg")),
           "submit() of a file with a typo")
check(e.line == 3 and "comand" in e.message, "WorkflowError has the line: %s" % e)
expect(NotImplementedError, lambda: c.submit(os.path.join(T_DIR, "py.cfg"), params={"lr": 1}),
       "params are refused until the coordinator has them")
expect(errors.ConfigError, lambda: drover.Client(key=os.environ["READER_KEY"] + ".pub"),
       "a public key file as the client's key")

reader = drover.Client(key=os.environ["READER_KEY"], timeout=5)
check(any(x.id == run1 for x in reader.runs(5)), "a reader key may read runs")
e = expect(errors.Forbidden, lambda: reader.submit({"workflow": "nope", "steps": [
    {"name": "a", "kind": "exec", "command": "true"}]}), "a reader key's submit")
check(e.code == 7 and isinstance(e, errors.CoordinatorError) and isinstance(e, drover.DroverError),
      "Forbidden is ErrorCode 7 and a CoordinatorError")
expect(errors.Forbidden, lambda: reader.promote("pyclaims", 1, "production"),
       "a reader key's promote")
check(c.model("pyclaims", 1)["stage"] == "staging", "the refused promote changed nothing")

# Human approval: an approve step waits; a reader without a grant is
# refused; the admin approves (or rejects); a second verdict is a Conflict.
def awaiting(run_id):
    import time
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if c.status(run_id).run.awaiting_approval:
            return True
        time.sleep(0.05)
    return False


appr = {"workflow": "py-approve", "steps": [{"name": "review", "kind": "approve", "model": "pyclaims:1"}]}
run3 = c.submit(appr)
check(awaiting(run3), "status(): run %d awaits approval" % run3)
check(any(x.id == run3 and x.awaiting_approval for x in c.runs(10)), "runs(): awaiting_approval")
expect(errors.Forbidden, lambda: reader.approve(run3, "review", "looks fine"),
       "a reader key without an approve grant")
expect(ValueError, lambda: c.approve(run3, "review", ""), "approve() without a reason")
check("approved" in c.approve(run3, "review", "python client test"), "approve(): approved")
check(c.wait(run3, deadline=30) == "succeeded", "the approved run succeeded")
expect(errors.Conflict, lambda: c.approve(run3, "review", "again"), "a second verdict")
run4 = c.submit(appr)
check(awaiting(run4), "status(): run %d awaits approval" % run4)
c.reject(run4, "review", "python client test")
check(c.wait(run4, deadline=30) == "rejected", "the rejected run ended rejected")
reader.close()

dead = drover.Client(coordinator=os.environ["DEAD_EP"], timeout=0.3)
e = expect(errors.Unreachable, dead.info, "a coordinator that is not there")
check(isinstance(e, TimeoutError), "Unreachable is a TimeoutError")
dead.close()
c.close()
print("run_file=%d" % run1)
print("run_dict=%d" % run2)
