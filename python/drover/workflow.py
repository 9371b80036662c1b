"""drover.workflow -- turning a workflow into the request `drover submit` sends.

Both forms end as the same document, the JSON that
``drover workflow check --json FILE`` prints (cli/wfsubmit.c): workflow,
source, queue, priority, schedule, trigger, notify, params, base_dir and steps with
name, kind, after, retries, timeout_ms, retry_delay_ms, spec_json, resources.

Run parameters (docs/workflows.md): a file's ``params = {...}`` or a dict's
``"params": {...}``; values given to ``from_file``/``from_dict`` replace the
declared ones (an undeclared name is an error, as ``drover submit --set`` is).
The coordinator substitutes ``${params.NAME}`` in the steps.

* A **file** is checked by the ``drover`` CLI, the one validator of the
  workflow language: ``from_file`` runs ``drover workflow check --json`` and
  raises WorkflowError with the CLI's ``file:line: message``. The ``drover``
  program is ``$DROVER_CLI``, else ``drover`` on PATH.
* A **dict** is converted here (``from_dict``) without the CLI: the
  coordinator validates every request anyway. Its keys mirror the file's::

    {"workflow": "nightly", "queue": "default", "priority": 0,
     "steps": [
       {"name": "prep", "kind": "exec", "command": "echo hi"},
       {"name": "train", "kind": "exec", "after": ["prep"],
        "argv": ["python3", "train.py"], "env": {"EPOCHS": "3"}, "cwd": ".",
        "retries": 2, "retry_delay": "1s", "timeout": "10m",
        "resources": {"cpus": 2, "memory": "4G", "gpus": 0, "labels": []}},
     ]}

  For exec steps ``command`` becomes ``["/bin/sh", "-c", command]`` and a
  relative ``cwd`` is made absolute against the current directory (a file's
  is against the file's folder). Any other key of a step (the ML kinds'
  dataset, model, gates, ...) goes into spec_json unchanged, or give the
  whole kind-specific object as ``"spec": {...}``; unlike the CLI, no
  defaults are filled in and no paths are resolved for those kinds, so
  prefer files for ML steps.
"""

import json
import os
import re
import shutil
import subprocess

from .errors import DroverError, WorkflowError

_COMMON = ("name", "kind", "after", "retries", "retry_delay", "timeout", "resources", "spec",
           "nodes", "spread")
_SIZE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)(?:i?B)?$", re.I)
_DUR = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)?$")


def drover_cli(explicit=None):
    """The drover program to run: explicit, $DROVER_CLI, or `drover` on PATH."""
    p = explicit or os.environ.get("DROVER_CLI") or shutil.which("drover")
    if not p:
        raise DroverError("submitting a workflow file needs the drover CLI (it validates the file): "
                          "put drover on PATH or set DROVER_CLI")
    return p


def param_text(v):
    """A parameter value as the text the coordinator substitutes (what the
    CLI makes of the same value in a file: 0.01, 3, true, a string)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (int, str)):
        return str(v)
    raise ValueError("a parameter value is a string, a number or a boolean, not %r" % (v,))


def from_file(path, cli=None, params=None):
    """Checks path with `drover workflow check --json` (params: --set
    NAME=VALUE for each item); returns its document. Raises WorkflowError
    (bad file, or a name the file does not declare) or DroverError (the CLI
    failed)."""
    sets = []
    for k, v in (params or {}).items():
        sets += ["--set", "%s=%s" % (k, param_text(v))]
    r = subprocess.run([drover_cli(cli), "workflow", "check", "--json", os.fspath(path)] + sets,
                       capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if r.returncode == 2:
        text = r.stderr.strip()
        m = re.match(r"^(.*?):(\d+): (.*)$", text, re.S)
        if m:
            raise WorkflowError(text, m.group(1), int(m.group(2)), m.group(3))
        raise WorkflowError(text or "drover workflow check refused %s" % path, os.fspath(path))
    if r.returncode != 0:
        raise DroverError("drover workflow check %s exited %d: %s"
                          % (path, r.returncode, r.stderr.strip()))
    try:
        doc = json.loads(r.stdout)
    except ValueError:
        raise DroverError("drover workflow check --json printed no JSON (is this drover too old "
                          "to have `workflow check`?)") from None
    return doc


def _duration_ms(v, what):
    if v is None:
        return None
    if isinstance(v, bool):
        raise ValueError("%s: expected seconds or a duration string, not %r" % (what, v))
    if isinstance(v, (int, float)):
        if v < 0:
            raise ValueError("%s: negative duration" % what)
        return int(round(v * 1000))
    m = _DUR.match(str(v))
    if not m:
        raise ValueError("%s: bad duration %r (use 10, 1.5, \"250ms\", \"2m\")" % (what, v))
    mult = {"ms": 1, "s": 1000, None: 1000, "m": 60000, "h": 3600000}[m.group(2)]
    return int(round(float(m.group(1)) * mult))


def _size(v, what):
    if isinstance(v, bool):
        raise ValueError("%s: expected a size" % what)
    if isinstance(v, int):
        if v < 0:
            raise ValueError("%s: negative size" % what)
        return v
    m = _SIZE.match(str(v))
    if not m:
        raise ValueError("%s: bad size %r (bytes, or \"512M\", \"64G\")" % (what, v))
    mult = 1024 ** " KMGT".index(m.group(2).upper() or " ")
    return int(float(m.group(1)) * mult)


def _strings(v, what):
    if v is None:
        return []
    if isinstance(v, str) or not all(isinstance(x, str) for x in v):
        raise ValueError("%s: expected a list of strings" % what)
    return list(v)


def _exec_spec(st, name, cwd_base):
    spec = {}
    if ("argv" in st) == ("command" in st):
        raise ValueError("step %r: an exec step needs 'argv' (a list of strings) or 'command' "
                         "(a shell command line), not both" % name)
    if "command" in st:
        if not isinstance(st["command"], str):
            raise ValueError("step %r: 'command' must be a string" % name)
        spec["argv"] = ["/bin/sh", "-c", st["command"]]
    else:
        argv = _strings(st["argv"], "step %r: 'argv'" % name)
        if not argv or not argv[0]:
            raise ValueError("step %r: 'argv' must be a non-empty list of strings" % name)
        spec["argv"] = argv
    if st.get("env"):
        env = st["env"]
        if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                for k, v in env.items()):
            raise ValueError("step %r: 'env' must map names to strings" % name)
        spec["env"] = dict(env)
    if st.get("cwd"):
        spec["cwd"] = os.path.abspath(os.path.join(cwd_base, st["cwd"]))
    return spec


def from_dict(wf, cwd_base=None, params=None):
    """Converts a workflow dict (module doc) into the check document;
    params replace the values of the dict's own "params".
    Raises ValueError for what cannot be converted; everything else is left
    to the coordinator's checks."""
    if not isinstance(wf, dict):
        raise ValueError("a workflow is a dict with 'workflow' and 'steps'")
    name = wf.get("workflow")
    if not isinstance(name, str) or not name:
        raise ValueError("the workflow needs a name: {'workflow': 'NAME', ...}")
    steps = wf.get("steps")
    if not isinstance(steps, (list, tuple)) or not steps:
        raise ValueError("workflow %r: 'steps' must be a non-empty list of dicts" % name)
    unknown = set(wf) - {"workflow", "steps", "queue", "priority", "schedule", "trigger",
                         "notify", "params"}
    if unknown:
        raise ValueError("workflow %r: unknown keys %s" % (name, ", ".join(sorted(unknown))))
    base = cwd_base or os.getcwd()
    declared = wf.get("params") or {}
    if not isinstance(declared, dict):
        raise ValueError("workflow %r: 'params' must be a dict of NAME: value" % name)
    values = {k: param_text(v) for k, v in declared.items()}
    for k, v in (params or {}).items():
        if k not in values:
            raise ValueError("workflow %r declares no parameter %r (add it to 'params')" % (name, k))
        values[k] = param_text(v)
    out_steps = []
    for i, st in enumerate(steps):
        if not isinstance(st, dict) or not isinstance(st.get("name"), str) or \
                not isinstance(st.get("kind"), str):
            raise ValueError("step %d: a step is a dict with at least 'name' and 'kind'" % (i + 1))
        sname, kind = st["name"], st["kind"]
        if kind == "exec":
            spec = _exec_spec(st, sname, base)
            extra = set(st) - set(_COMMON) - {"argv", "command", "env", "cwd"}
            if extra:
                raise ValueError("step %r: unknown keys for an exec step: %s"
                                 % (sname, ", ".join(sorted(extra))))
        elif "spec" in st:
            spec = st["spec"]
        else:
            spec = {k: v for k, v in st.items() if k not in _COMMON}
        res = st.get("resources") or {}
        retries = st.get("retries", 0)
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError("step %r: 'retries' must be a non-negative integer" % sname)
        delay = _duration_ms(st.get("retry_delay"), "step %r: 'retry_delay'" % sname)
        nodes = st.get("nodes", 1)
        if isinstance(nodes, bool) or not isinstance(nodes, int) or not 1 <= nodes <= 64:
            raise ValueError("step %r: 'nodes' must be an integer between 1 and 64" % sname)
        spread = st.get("spread", True)
        if not isinstance(spread, bool):
            raise ValueError("step %r: 'spread' must be true or false" % sname)
        out_steps.append({
            "nodes": nodes,
            "pack": not spread,
            "name": sname,
            "kind": kind,
            "after": _strings(st.get("after"), "step %r: 'after'" % sname),
            "retries": retries,
            "timeout_ms": _duration_ms(st.get("timeout"), "step %r: 'timeout'" % sname) or 0,
            "retry_delay_ms": 1000 if delay is None else delay,
            "spec_json": json.dumps(spec, separators=(",", ":"), sort_keys=False),
            "resources": {
                "cpus": int(res.get("cpus", 1)),
                "memory_bytes": _size(res.get("memory", 0), "step %r: memory" % sname),
                "gpus": int(res.get("gpus", 0)),
                "labels": _strings(res.get("labels"), "step %r: labels" % sname),
            },
        })
    return {
        "workflow": name,
        "source": "<dict>",
        "queue": wf.get("queue") or "default",
        "priority": int(wf.get("priority", 0)),
        "schedule": wf.get("schedule"),
        "trigger": wf.get("trigger"),
        "notify": wf.get("notify"),
        "params": values,
        "base_dir": os.path.realpath(base),
        "steps": out_steps,
    }


def to_request(pb, doc, submitted_by, queue=None, priority=None):
    """The SubmitRequest (generated module pb) for a check document; queue and
    priority, when given, override the workflow's own."""
    sub = pb.SubmitRequest(workflow=doc["workflow"], source=doc.get("source") or "",
                           submitted_by=submitted_by,
                           queue=queue if queue is not None else doc.get("queue") or "default",
                           priority=priority if priority is not None else doc.get("priority", 0))
    for st in doc["steps"]:
        r = st.get("resources") or {}
        sub.steps.add(name=st["name"], kind=st["kind"], after=st.get("after") or [],
                      retries=st.get("retries", 0), timeout_ms=st.get("timeout_ms", 0),
                      retry_delay_ms=st.get("retry_delay_ms", 0),
                      spec_json=st.get("spec_json") or "{}",
                      nodes=st.get("nodes", 1) if st.get("nodes", 1) > 1 else 0,
                      pack=bool(st.get("pack", False)),
                      resources=pb.Resources(cpus=r.get("cpus", 1),
                                             memory_bytes=r.get("memory_bytes", 0),
                                             gpus=r.get("gpus", 0), labels=r.get("labels") or []))
    s = doc.get("schedule")
    if s:
        sub.schedule.CopyFrom(pb.Schedule(cron=s.get("cron", ""), timezone=s.get("timezone", "UTC"),
                                          catchup=s.get("catchup", "none"),
                                          max_active=s.get("max_active", 1),
                                          catchup_max=s.get("catchup_max", 0),
                                          lateness_s=s.get("lateness_s", 0)))
    t = doc.get("trigger")
    if t:
        sub.trigger.CopyFrom(pb.Trigger(watch=t.get("watch", ""),
                                        min_new_rows=t.get("min_new_rows", 1),
                                        on_failure=t.get("on_failure", "keep")))
    n = doc.get("notify")
    if n:
        # The coordinator checks the webhook against coordinator.notify.allow.
        sub.notify.CopyFrom(pb.WorkflowNotify(webhook=n.get("webhook", ""),
                                              on=n.get("on") or ["failed", "rejected"]))
    for k, v in (doc.get("params") or {}).items():
        sub.params.add(name=k, value=v)
    sub.base_dir = doc.get("base_dir") or ""
    return sub
