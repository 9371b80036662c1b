#!/usr/bin/env python3
"""verify.py — the chaos suite's verdict, from side-effect stamps and the
database's own journal (drover.events).

Every step of a chaos run writes STAMPS/RUN/STEP.ATTEMPT.start when it
starts and .end when it ends (wall clock, the machine's; PostgreSQL runs on
the same machine, so events.at is on the same clock). Checks:

  lost            every run id the submitter got an acknowledgement for
                  exists in drover.runs (a submit is durable before it is
                  acknowledged);
  terminal        every run is succeeded, failed or cancelled;
  success_once    each succeeded task has exactly one task_state event to
                  'succeeded';
  rerun           no attempt of a task started after its success was
                  recorded (at-least-once before, never after);
  order           no attempt of a task started before the success of
                  every task it depends on was recorded;
  memory          every memory hog (a step named "hog": asks for 100M,
                  allocates 600 MB) of a finished run failed, reported as
                  killed for memory: "killed: out of memory (limit 100M)"
                  (cgroup) or "memory limited to 100M by RLIMIT_AS"
                  (worker/task.c).

Steps other than hogs that failed are counted (other_failures), not
judged: the chaos DAGs give none a reason to fail.

Prints one JSON object with the figures and the violations; exits 1 when
there is any violation.

Usage: verify.py PSQL_CONNINFO STAMPS_DIR ACKED_FILE
"""
import json
import os
import re
import subprocess
import sys


def query(conninfo, sql):
    out = subprocess.run(["psql", "-X", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-d", conninfo,
                          "-c", sql], check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def main():
    conninfo, stamps, acked_file = sys.argv[1:4]
    acked = set()
    if os.path.exists(acked_file):
        with open(acked_file) as f:
            acked = {int(x) for x in f.read().split() if x.strip()}

    runs = {int(r[0]): r[1] for r in query(conninfo, "select id, state from drover.runs "
                                                     "where workflow like 'chaos-%'")}
    tasks = {}
    for tid, run, name, state, attempt, lost, error in query(
            conninfo, "select t.id, t.run_id, t.name, t.state, t.attempt, t.lost, "
                      "translate(coalesce(t.error, ''), E'\\t\\n', '  ') from drover.tasks t "
                      "join drover.runs r on r.id = t.run_id where r.workflow like 'chaos-%'"):
        tasks[int(tid)] = {"run": int(run), "name": name, "state": state,
                           "attempt": int(attempt), "lost": int(lost), "error": error}
    succ = {}
    for tid, n, first in query(
            conninfo, "select task_id, count(*), extract(epoch from min(at)) from drover.events "
                      "where kind = 'task_state' and to_state = 'succeeded' and task_id is not null "
                      "group by task_id"):
        succ[int(tid)] = (int(n), float(first))
    deps = [(int(a), int(b)) for a, b in query(conninfo, "select task_id, depends_on from drover.task_deps")]
    stale = int(query(conninfo, "select count(*) from drover.events where kind like 'stale%'")[0][0])
    handed_back = int(query(conninfo, "select count(*) from drover.events where kind = 'task_state' "
                                      "and detail like 'handed back%'")[0][0])

    # starts[(run, step)] = [(attempt, t)]
    starts = {}
    nstamps = 0
    for run in os.listdir(stamps) if os.path.isdir(stamps) else []:
        d = os.path.join(stamps, run)
        for fn in os.listdir(d):
            if not fn.endswith(".start"):
                continue
            step, attempt = fn[:-len(".start")].rsplit(".", 1)
            try:
                with open(os.path.join(d, fn)) as f:
                    t = float(f.read().strip() or "nan")
            except (OSError, ValueError):
                continue
            starts.setdefault((int(run), step), []).append((int(attempt), t))
            nstamps += 1

    v = {"lost": [], "not_terminal": [], "success_twice": [], "rerun_after_success": [],
         "order": [], "memory": []}
    killed_for_memory = re.compile(r"killed: out of memory \(limit 100M\)|"
                                   r"memory limited to 100M by RLIMIT_AS")
    hogs = reported = other_failures = 0
    for tid, t in tasks.items():
        if t["name"] != "hog":
            other_failures += t["state"] == "failed"
            continue
        if runs.get(t["run"]) == "running":
            continue
        hogs += 1
        if t["state"] == "failed" and killed_for_memory.search(t["error"]):
            reported += 1
        else:
            v["memory"].append({"task": tid, "state": t["state"], "error": t["error"]})
    for rid in sorted(acked):
        if rid not in runs:
            v["lost"].append(rid)
    for rid, st in runs.items():
        if st == "running":
            v["not_terminal"].append(rid)
    for tid, t in tasks.items():
        if t["state"] == "succeeded":
            n = succ.get(tid, (0, 0))[0]
            if n != 1:
                v["success_twice"].append({"task": tid, "successes": n})
        if tid in succ:
            at = succ[tid][1]
            for attempt, ts in starts.get((t["run"], t["name"]), []):
                if ts > at + 0.001:
                    v["rerun_after_success"].append({"task": tid, "attempt": attempt,
                                                     "started": ts, "succeeded": at})
    for child, parent in deps:
        if child not in tasks or parent not in tasks:
            continue
        c = tasks[child]
        p_at = succ.get(parent, (0, None))[1]
        for attempt, ts in starts.get((c["run"], c["name"]), []):
            if p_at is None or ts + 0.001 < p_at:
                v["order"].append({"task": child, "attempt": attempt, "started": ts,
                                   "parent": parent, "parent_succeeded": p_at})

    states = {}
    for st in runs.values():
        states[st] = states.get(st, 0) + 1
    attempts = sum(len(a) for a in starts.values())
    report = {
        "runs": len(runs), "runs_by_state": states, "acknowledged_submits": len(acked),
        "steps": len(tasks), "attempts_started": attempts,
        "extra_attempts": attempts - len([t for t in tasks.values() if t["attempt"] > 0 and t["name"] != "hog"]),
        "lost_attempts_recorded": sum(t["lost"] for t in tasks.values()),
        "handed_back": handed_back, "stale_events": stale,
        "lost_runs": len(v["lost"]), "not_terminal": len(v["not_terminal"]),
        "rerun_after_success": len(v["rerun_after_success"]),
        "success_twice": len(v["success_twice"]), "order_violations": len(v["order"]),
        "memory_hogs": hogs, "memory_kills_reported": reported,
        "memory_misreported": len(v["memory"]), "other_failures": other_failures,
        "violations": {k: x[:10] for k, x in v.items() if x},
    }
    print(json.dumps(report, indent=1, sort_keys=True))
    return 1 if any(v.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
