"""drover.client -- talk to a drover coordinator from Python.

The same wire protocol as the ``drover`` CLI (cli/client.c): one ZeroMQ
DEALER socket to the coordinator's client endpoint, one frame per message, a
``ClientRequest`` out and a ``ClientReply`` back with the same request_id;
replies to other ids (late answers to calls that timed out) are dropped, and
so are frames that do not parse. After a timeout the socket is closed and
reopened ("lazy pirate"), so a queued request is never delivered late.
CurveZMQ keys come from the same places as the CLI's (drover.config).

A Client is not thread-safe: use one per thread (they are cheap).
"""

import errno
import getpass
import json
import os
import random
import socket
import time

import zmq

from . import config as _config
from . import errors
from . import workflow as _workflow
from ._proto import pb2
from .records import TASK_STATES, Info, Logs, Run, Status, Task, Worker

PROTOCOL_VERSION = 1          # DROVER_PROTOCOL_VERSION in common/wire.h
MAX_MESSAGE = 16 * 1024 * 1024
WAIT_POLL_MS = 1000           # one long poll (as `drover wait`)
WAIT_OUTAGE_S = 60.0          # how long wait() rides out a silent coordinator
WAIT_MIN_GAP_S = 0.2
LOGS_POLL_MS = 1000


def _user_at_host():
    try:
        user = os.environ.get("USER") or getpass.getuser()
    except Exception:  # no passwd entry
        user = "unknown"
    return "%s@%s" % (user, socket.gethostname() or "unknown")


class Client:
    """A connection to one coordinator.

    Arguments (each None = resolve as the CLI does; see drover.config):
    coordinator -- the client endpoint, e.g. "tcp://10.0.0.5:7460";
    config      -- a drover config file (its cli section is read);
    key         -- this client's secret key file (from `drover keygen`);
    coordinator_key -- the coordinator's public key file;
    timeout     -- seconds to wait for a reply (default: cli.timeout, 3.0);
    drover_cli  -- the drover program used to check workflow files.

    Raises ConfigError when the config or keys are unusable. Connecting is
    lazy: an absent coordinator shows up as Unreachable on the first call.
    Use it as a context manager, or call close().
    """

    def __init__(self, coordinator=None, config=None, key=None, coordinator_key=None,
                 timeout=None, drover_cli=None):
        self.settings = _config.resolve(coordinator, config, key, coordinator_key, timeout)
        self.endpoint = self.settings.endpoint
        self.timeout = self.settings.timeout
        self.drover_cli = drover_cli
        self.pb = pb2()
        self.dropped = 0      # replies that did not parse
        self.last_message = None  # the coordinator's text about the last submit
        self._ctx = zmq.Context()
        self._sock = None
        self._next_id = (random.SystemRandom().getrandbits(64) >> 12) | 1

    # ---------------------------------------------------------- transport --

    def _open(self):
        s = self._ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE)
        st = self.settings
        if st.client_key:
            s.curve_serverkey = st.server_key.public.encode()
            s.curve_publickey = st.client_key.public.encode()
            s.curve_secretkey = st.client_key.secret.encode()
        try:
            s.connect(self.endpoint)
        except zmq.ZMQError as e:
            s.close(0)
            raise errors.ConfigError("cannot use coordinator endpoint '%s': %s"
                                     % (self.endpoint, e)) from None
        self._sock = s

    def _reset(self):
        if self._sock is not None:
            self._sock.close(0)
            self._sock = None

    def close(self):
        """Closes the socket and the ZeroMQ context."""
        self._reset()
        if self._ctx is not None:
            self._ctx.term()
            self._ctx = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _no_reply(self, secs):
        if self.settings.client_key:
            return errors.Unreachable(
                "no reply from the coordinator at %s within %gs, or the coordinator refused this "
                "client's key '%s' (is it allowed? drover keys list)"
                % (self.endpoint, secs, self.settings.client_key.name))
        return errors.Unreachable(
            "no reply from the coordinator at %s within %gs (this client has no CURVE key, and a "
            "secure coordinator ignores such clients: set DROVER_KEY and DROVER_COORDINATOR_KEY)"
            % (self.endpoint, secs))

    def call(self, field, msg, extra_s=0.0, raise_errors=True, not_found=None):
        """Sends ClientRequest{field: msg}; returns the ClientReply. Raises
        Unreachable when no reply comes within timeout + extra_s, and the
        CoordinatorError subclass of the reply's ErrorCode (unless
        raise_errors is False)."""
        if self._sock is None:
            self._open()
        rid = self._next_id
        self._next_id += 1
        req = self.pb.ClientRequest(version=PROTOCOL_VERSION, request_id=rid)
        getattr(req, field).CopyFrom(msg)
        wait_s = self.timeout + extra_s
        try:
            self._sock.send(req.SerializeToString(), zmq.DONTWAIT)
        except zmq.Again:
            self._reset()
            raise self._no_reply(wait_s) from None
        deadline = time.monotonic() + wait_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self._sock.poll(int(left * 1000) + 1, zmq.POLLIN):
                if time.monotonic() < deadline:
                    continue
                self._reset()
                raise self._no_reply(wait_s)
            while True:
                try:
                    frame = self._sock.recv(zmq.DONTWAIT)
                except zmq.Again:
                    break
                if self._sock.getsockopt(zmq.RCVMORE):
                    while self._sock.getsockopt(zmq.RCVMORE):
                        self._sock.recv()
                    self.dropped += 1
                    continue
                rep = self.pb.ClientReply()
                try:
                    rep.ParseFromString(frame)
                except Exception:
                    self.dropped += 1
                    continue
                if rep.request_id != rid:
                    continue  # a late answer to an abandoned call
                if rep.error and raise_errors:
                    raise errors.from_reply(rep.error, rep.message, not_found)
                return rep

    # ----------------------------------------------------------- requests --

    def submit(self, workflow, params=None, queue=None, priority=None):
        """Submits a workflow: a file path (checked by `drover workflow check`)
        or a dict (drover.workflow). Returns the run id; for a workflow with a
        schedule or trigger, which registers instead of running, returns 0
        (see last_message for the coordinator's sentence). queue and priority
        override the workflow's own. Raises WorkflowError for a bad file.

        params: run parameters are not supported by the coordinator yet
        (issue 12); passing any raises NotImplementedError rather than
        submitting a run that would silently ignore them."""
        if params:
            raise NotImplementedError("run parameters (params=...) need coordinator support that "
                                      "does not exist yet; submit without params")
        if isinstance(workflow, dict):
            doc = _workflow.from_dict(workflow)
        else:
            doc = _workflow.from_file(workflow, self.drover_cli)
        sub = _workflow.to_request(self.pb, doc, _user_at_host(), queue, priority)
        rep = self.call("submit", sub)
        self.last_message = rep.message
        if rep.run_id == 0 and not (sub.HasField("schedule") or sub.HasField("trigger")):
            raise errors.DroverError("the coordinator accepted the run but sent no run id")
        return rep.run_id

    def status(self, run_id):
        """The run and its steps (Status). Raises NotFound."""
        rep = self.call("status", self.pb.StatusRequest(run_id=run_id),
                        not_found="no run %d" % run_id)
        return self._status(rep, run_id)

    def _status(self, rep, run_id):
        if not rep.runs:
            raise errors.NotFound("no run %d" % run_id)
        return Status(Run.from_pb(rep.runs[0]), [Task.from_pb(t) for t in rep.tasks])

    def wait(self, run_id, progress=None, deadline=None):
        """Follows a run until it ends, with the long poll `drover wait`
        uses (StatusRequest.known_version/wait_ms): one round trip per change
        or per second. progress, when given, is called with a Status each
        time the run changes (and once at the start and at the end). A
        coordinator that stops answering or is Unavailable is retried for
        60 s. deadline: seconds after which WaitTimeout is raised (None =
        no limit). Returns the final run state: "succeeded", "failed",
        "cancelled" or "rejected"."""
        known = 0
        first = True
        last_ok = time.monotonic()
        end = None if deadline is None else time.monotonic() + deadline
        while True:
            if end is not None and time.monotonic() >= end:
                raise errors.WaitTimeout("run %d still running after %gs" % (run_id, deadline))
            sent = time.monotonic()
            try:
                rep = self.call("status", self.pb.StatusRequest(
                    run_id=run_id, known_version=known, wait_ms=WAIT_POLL_MS),
                    extra_s=WAIT_POLL_MS / 1000.0, not_found="no run %d" % run_id)
            except (errors.Unreachable, errors.Unavailable):
                if time.monotonic() - last_ok >= WAIT_OUTAGE_S:
                    raise
                spent = time.monotonic() - sent
                if spent < WAIT_POLL_MS / 1000.0:
                    time.sleep(WAIT_POLL_MS / 1000.0 - spent)
                continue
            last_ok = time.monotonic()
            st = self._status(rep, run_id)
            # A run that already ended is served with version 0: the first
            # and the last reply are always shown.
            if progress is not None and (first or st.run.done or st.run.version != known):
                progress(st)
            first = False
            if st.run.done:
                return st.run.state
            if st.run.version == known:
                spent = time.monotonic() - sent
                if spent < WAIT_MIN_GAP_S:
                    time.sleep(WAIT_MIN_GAP_S - spent)
            known = st.run.version

    def runs(self, limit=20):
        """The latest runs, newest first (list of Run)."""
        rep = self.call("runs", self.pb.RunsRequest(limit=limit))
        return [Run.from_pb(r) for r in rep.runs]

    def logs(self, run_id, step, follow=False, attempt=None, on_output=None):
        """What a step wrote (Logs): the latest attempt, or attempt N. With
        follow=True, long-polls until the step ends (as `drover logs
        --follow`). on_output(stream, data), when given, is called with each
        piece as it arrives ("stdout" or "stderr", bytes). A newer attempt
        starting while following restarts the collection from its start."""
        off_out = off_err = 0
        out, err = [], []
        cur = attempt or 0
        state = "unknown"
        nf = "run %d has no step '%s' (or no such run)" % (run_id, step)
        while True:
            wait_ms = LOGS_POLL_MS if follow else 0
            rep = self.call("logs", self.pb.LogsRequest(
                run_id=run_id, step=step, attempt=attempt or 0, stdout_offset=off_out,
                stderr_offset=off_err, wait_ms=wait_ms), extra_s=wait_ms / 1000.0, not_found=nf)
            L = rep.logs
            if cur and L.attempt != cur and not attempt:
                cur, off_out, off_err, out, err = L.attempt, 0, 0, [], []
                continue
            cur = L.attempt
            state = TASK_STATES[L.state] if 0 <= L.state < len(TASK_STATES) else "unknown"
            got = bool(L.stdout_data or L.stderr_data)
            for name, data, acc in (("stdout", L.stdout_data, out), ("stderr", L.stderr_data, err)):
                if data:
                    acc.append(data)
                    if on_output:
                        on_output(name, data)
            off_out = max(off_out, L.stdout_offset)
            off_err = max(off_err, L.stderr_offset)
            if L.finished or (not follow and not got):
                return Logs(run_id, step, cur, state, b"".join(out), b"".join(err), L.finished)

    def cancel(self, run_id):
        """Cancels a run; returns the coordinator's message. Raises Conflict
        when it already ended, NotFound, Forbidden."""
        rep = self.call("cancel", self.pb.CancelRequest(run_id=run_id),
                        not_found="no run %d" % run_id)
        return rep.message

    def workers(self):
        """The workers the coordinator knows (list of Worker)."""
        return [Worker.from_pb(w) for w in self.call("workers", self.pb.WorkersRequest()).workers]

    def info(self):
        """The coordinator's version, build and counters (Info)."""
        return Info.from_pb(self.call("info", self.pb.InfoRequest()).info)

    def _json(self, rep):
        return json.loads(rep.json) if rep.json else None

    def models(self, name=None):
        """Model versions (list of dicts: name, version, stage, kind, metrics,
        ...; as `drover models --json`), of one model or of all."""
        return self._json(self.call("models", self.pb.ModelsRequest(name=name or ""))) or []

    def model(self, name, version):
        """One model version in full (dict, as `drover model show --json`):
        lineage, stage history, evaluations. Raises NotFound."""
        return self._json(self.call("models", self.pb.ModelsRequest(name=name, version=version),
                                    not_found="no model version %s:%d" % (name, version)))

    def promote(self, name, version, stage, reason=""):
        """Moves a model version to stage (staging, production, archived).
        Returns a dict: name, version, stage, message."""
        if stage not in ("staging", "production", "archived"):
            raise ValueError("unknown stage %r (stages: staging, production, archived)" % stage)
        rep = self.call("promote", self.pb.PromoteRequest(
            name=name, version=version, stage=stage, by=_user_at_host(), reason=reason or ""),
            not_found="no model version %s:%d" % (name, version))
        return {"name": name, "version": version, "stage": stage, "message": rep.message}

    def approve(self, run_id, step, reason):
        """Approves the approve step `step` of run `run_id`, which must be
        awaiting approval; reason is required (kept in the audit trail and
        the model's stage history). Read report(run_id, EVALUATE-STEP)
        first. Returns the coordinator's message. Raises Forbidden (no
        approve grant on the model, or one's own run), Conflict (not
        awaiting: already decided, run ended), NotFound, BadRequest."""
        return self._verdict(run_id, step, reason, True)

    def reject(self, run_id, step, reason):
        """Rejects the approve step: the run ends rejected. As approve()."""
        return self._verdict(run_id, step, reason, False)

    def _verdict(self, run_id, step, reason, approve):
        if not reason:
            raise ValueError("a verdict needs a reason")
        rep = self.call("approve", self.pb.ApproveRequest(
            run_id=run_id, step=step, approve=approve, reason=reason, by=_user_at_host()),
            not_found="no run %d" % run_id)
        return rep.message

    def report(self, run_id, step):
        """The stored report of a step (dict, as `drover report --json`)."""
        return self._json(self.call("report", self.pb.StepDataRequest(run_id=run_id, step=step),
                                    not_found="no report for step '%s' of run %d"
                                    % (step, run_id)))

    def metrics(self, run_id, step):
        """The metrics a step reported (dict with a 'metrics' list of
        {attempt, seq, data}; as `drover metrics --json`)."""
        return self._json(self.call("metrics", self.pb.StepDataRequest(run_id=run_id, step=step),
                                    not_found="no metrics for step '%s' of run %d"
                                    % (step, run_id)))
