"""drover.records -- what the client returns: plain dataclasses (stdlib only).

Field names follow the CLI's --json output (cli/render.c). Times are
timezone-aware datetime objects in UTC, or None when not set; durations are
seconds (float) or None. Every record has .to_dict() (dataclasses.asdict).
"""

import dataclasses
import datetime
from dataclasses import dataclass, field
from typing import List, Optional

RUN_STATES = ("unknown", "running", "succeeded", "failed", "cancelled", "rejected")
TASK_STATES = ("unknown", "pending", "ready", "assigned", "running", "retry_wait", "succeeded",
               "failed", "skipped", "cancelled")
TERMINAL_RUN_STATES = ("succeeded", "failed", "cancelled", "rejected")


def _time(us):
    if not us:
        return None
    return datetime.datetime.fromtimestamp(us / 1e6, tz=datetime.timezone.utc)


def _name(table, v):
    return table[v] if 0 <= v < len(table) else "unknown"


class _Record:
    def to_dict(self):
        return dataclasses.asdict(self)


@dataclass
class Run(_Record):
    """One run (RunInfo). state: one of RUN_STATES; version bumps on every
    transition of the run or its tasks."""
    id: int
    workflow: str
    state: str
    submitted_at: Optional[datetime.datetime]
    started_at: Optional[datetime.datetime]
    finished_at: Optional[datetime.datetime]
    tasks_total: int
    tasks_done: int
    version: int
    awaiting_approval: bool = False  # running, and an approve step waits for a person

    @property
    def done(self):
        return self.state in TERMINAL_RUN_STATES

    @classmethod
    def from_pb(cls, r):
        return cls(r.id, r.workflow, _name(RUN_STATES, r.state), _time(r.submitted_at_us),
                   _time(r.started_at_us), _time(r.finished_at_us), r.tasks_total, r.tasks_done,
                   r.version, r.awaiting_approval)


@dataclass
class Task(_Record):
    """One step of a run (TaskInfo). exit_code is None until the step exited."""
    id: int
    name: str
    kind: str
    state: str
    attempt: int
    worker: Optional[str]
    started_at: Optional[datetime.datetime]
    finished_at: Optional[datetime.datetime]
    exit_code: Optional[int]
    error: Optional[str]
    after: List[str]
    retries: int

    @classmethod
    def from_pb(cls, t):
        return cls(t.id, t.name, t.kind, _name(TASK_STATES, t.state), t.attempt, t.worker or None,
                   _time(t.started_at_us), _time(t.finished_at_us),
                   t.exit_code if t.has_exit_code else None, t.error or None, list(t.after),
                   t.retries)


@dataclass
class Status(_Record):
    """A run and its steps, as `drover status` shows them."""
    run: Run
    tasks: List[Task]

    @property
    def state(self):
        return self.run.state

    def task(self, name):
        """The step called name, or None."""
        return next((t for t in self.tasks if t.name == name), None)


@dataclass
class Worker(_Record):
    name: str
    host: str
    slots: int
    running: int
    labels: List[str]
    last_heartbeat: Optional[datetime.datetime]
    connected: bool

    @classmethod
    def from_pb(cls, w):
        return cls(w.name, w.host, w.slots, w.running, list(w.labels),
                   _time(w.last_heartbeat_us), w.connected)


@dataclass
class Info(_Record):
    """The coordinator (CoordinatorInfo): protocol version, build, counters."""
    version: int
    build: str
    dropped_messages: int
    stale_results: int
    workers: int
    active_runs: int
    started_at: Optional[datetime.datetime]

    @classmethod
    def from_pb(cls, i):
        return cls(i.version, i.build, i.dropped_messages, i.stale_results, i.workers,
                   i.active_runs, _time(i.started_at_us))


@dataclass
class Logs(_Record):
    """What a step wrote (latest attempt unless one was asked for).
    finished: the step is over and every byte was returned."""
    run_id: int
    step: str
    attempt: int
    state: str
    stdout: bytes = b""
    stderr: bytes = b""
    finished: bool = False

    @property
    def text(self):
        """stdout decoded as UTF-8 (bad bytes replaced)."""
        return self.stdout.decode("utf-8", "replace")
