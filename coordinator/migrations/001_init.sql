-- drover schema, version 1: runs, tasks, dependency edges, events, logs,
-- workers, and the views people read from psql (see docs/sql.md).
-- Applied by the coordinator at start inside one transaction that holds
-- the migration advisory lock, so two coordinators starting at once are safe.

-- The drover schema itself is created by the coordinator (migrate.c).

CREATE TABLE drover.runs (
    id             bigserial PRIMARY KEY,
    workflow       text        NOT NULL,
    state          text        NOT NULL DEFAULT 'running'
                   CHECK (state IN ('running', 'succeeded', 'failed', 'cancelled')),
    source         text        NOT NULL DEFAULT '',
    submitted_by   text        NOT NULL DEFAULT '',
    submitted_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    started_at     timestamptz,
    finished_at    timestamptz,
    tasks_total    integer     NOT NULL DEFAULT 0
);
-- Active runs are the coordinator's working set at start.
CREATE INDEX runs_active ON drover.runs (id) WHERE state = 'running';

CREATE TABLE drover.tasks (
    id             bigserial PRIMARY KEY,
    run_id         bigint      NOT NULL REFERENCES drover.runs (id) ON DELETE CASCADE,
    idx            integer     NOT NULL,              -- position in the workflow file
    name           text        NOT NULL,
    kind           text        NOT NULL,
    spec           jsonb       NOT NULL,              -- kind-specific fields
    state          text        NOT NULL
                   CHECK (state IN ('pending', 'ready', 'assigned', 'running', 'retry_wait',
                                    'succeeded', 'failed', 'skipped', 'cancelled')),
    attempt        integer     NOT NULL DEFAULT 0,    -- lease token: bumps on every assignment
    retries        integer     NOT NULL DEFAULT 0,    -- allowed failures before the step fails
    failures       integer     NOT NULL DEFAULT 0,    -- failed attempts so far
    lost           integer     NOT NULL DEFAULT 0,    -- attempts lost with a dead worker
    timeout_ms     bigint      NOT NULL DEFAULT 0,
    retry_delay_ms bigint      NOT NULL DEFAULT 1000,
    not_before     timestamptz,                       -- retry_wait: earliest next attempt
    worker         text,
    exit_code      integer,
    error          text,
    started_at     timestamptz,
    finished_at    timestamptz,
    UNIQUE (run_id, name)
);

CREATE TABLE drover.task_deps (
    task_id        bigint NOT NULL REFERENCES drover.tasks (id) ON DELETE CASCADE,
    depends_on     bigint NOT NULL REFERENCES drover.tasks (id) ON DELETE CASCADE,
    PRIMARY KEY (task_id, depends_on)
);
CREATE INDEX task_deps_parent ON drover.task_deps (depends_on);

-- Append-only: every state transition, written in the transaction that makes it.
CREATE TABLE drover.events (
    id             bigserial PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT clock_timestamp(),
    run_id         bigint,
    task_id        bigint,
    attempt        integer,
    kind           text        NOT NULL,  -- run_state, task_state, stale_result, worker_*, ...
    from_state     text,
    to_state       text,
    worker         text,
    detail         text
);
CREATE INDEX events_run ON drover.events (run_id, id);

CREATE TABLE drover.task_logs (
    task_id        bigint      NOT NULL REFERENCES drover.tasks (id) ON DELETE CASCADE,
    attempt        integer     NOT NULL,
    stream         smallint    NOT NULL CHECK (stream IN (1, 2)),  -- 1 stdout, 2 stderr
    offset_bytes   bigint      NOT NULL,
    data           bytea       NOT NULL,
    at             timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (task_id, attempt, stream, offset_bytes)
);

CREATE TABLE drover.workers (
    name           text PRIMARY KEY,
    host           text        NOT NULL DEFAULT '',
    slots          integer     NOT NULL DEFAULT 0,
    labels         text[]      NOT NULL DEFAULT '{}',
    state          text        NOT NULL CHECK (state IN ('connected', 'dead', 'gone')),
    first_seen     timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_seen      timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Views for people: stable column sets, documented in docs/sql.md.
CREATE VIEW drover.run_status AS
SELECT r.id AS run_id,
       r.workflow,
       r.state,
       r.submitted_by,
       r.submitted_at,
       r.started_at,
       r.finished_at,
       coalesce(r.finished_at, clock_timestamp()) - coalesce(r.started_at, r.submitted_at) AS duration,
       r.tasks_total,
       count(t.id) FILTER (WHERE t.state = 'succeeded')                       AS tasks_succeeded,
       count(t.id) FILTER (WHERE t.state = 'failed')                          AS tasks_failed,
       count(t.id) FILTER (WHERE t.state IN ('assigned', 'running'))          AS tasks_running,
       count(t.id) FILTER (WHERE t.state IN ('pending', 'ready', 'retry_wait')) AS tasks_waiting
FROM drover.runs r
LEFT JOIN drover.tasks t ON t.run_id = r.id
GROUP BY r.id;

CREATE VIEW drover.task_status AS
SELECT t.run_id,
       r.workflow,
       t.name AS step,
       t.kind,
       t.state,
       t.attempt,
       t.worker,
       t.exit_code,
       t.error,
       t.started_at,
       t.finished_at,
       t.finished_at - t.started_at AS duration,
       t.id AS task_id
FROM drover.tasks t
JOIN drover.runs r ON r.id = t.run_id;

-- Every transition is announced on channel 'drover' (payload:
-- "run_id task_id state", task_id 0 for run transitions), so
-- `LISTEN drover;` in psql shows them as they commit.
CREATE FUNCTION drover.notify_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind IN ('task_state', 'run_state') THEN
        PERFORM pg_notify('drover', NEW.run_id || ' ' || coalesce(NEW.task_id, 0) || ' ' || NEW.to_state);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER events_notify AFTER INSERT ON drover.events
    FOR EACH ROW EXECUTE FUNCTION drover.notify_event();
