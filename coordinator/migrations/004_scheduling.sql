-- drover schema, version 4: resources, queues and priorities, schedules,
-- data triggers, and the `rejected` run outcome (see docs/scheduling.md).

ALTER TABLE drover.runs DROP CONSTRAINT runs_state_check;
ALTER TABLE drover.runs ADD CONSTRAINT runs_state_check
    CHECK (state IN ('running', 'succeeded', 'failed', 'cancelled', 'rejected'));
ALTER TABLE drover.runs ADD COLUMN queue text NOT NULL DEFAULT 'default';
ALTER TABLE drover.runs ADD COLUMN priority integer NOT NULL DEFAULT 0;
ALTER TABLE drover.runs ADD COLUMN schedule text;          -- schedule or trigger that started it
ALTER TABLE drover.runs ADD COLUMN due_at timestamptz;     -- the due time it fired for

-- What each step needs; gpus_assigned: the indices its current attempt holds.
ALTER TABLE drover.tasks ADD COLUMN resources jsonb NOT NULL DEFAULT '{}';
ALTER TABLE drover.tasks ADD COLUMN gpus_assigned integer[];

CREATE TABLE drover.queues (
    name        text PRIMARY KEY,
    max_running integer NOT NULL DEFAULT 0 CHECK (max_running >= 0),   -- 0 = unlimited
    paused      boolean NOT NULL DEFAULT false
);
INSERT INTO drover.queues (name) VALUES ('default');

-- A workflow registered to run on a calendar or on new data.
CREATE TABLE drover.schedules (
    name         text PRIMARY KEY,                       -- the workflow name
    kind         text        NOT NULL CHECK (kind IN ('schedule', 'trigger')),
    cron         text,
    timezone     text,
    catchup      text CHECK (catchup IN ('none', 'latest', 'all')),
    max_active   integer     NOT NULL DEFAULT 1,
    watch        text,
    min_new_rows bigint,
    paused       boolean     NOT NULL DEFAULT false,
    request      bytea       NOT NULL,                   -- the packed SubmitRequest to run
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    created_by   text,
    last_due     timestamptz                             -- last due time handled (fired or skipped)
);

-- Exactly one row per (schedule, due time): the database, not memory,
-- guarantees a due time fires once even with several coordinators.
CREATE TABLE drover.schedule_fires (
    name      text        NOT NULL REFERENCES drover.schedules (name) ON DELETE CASCADE,
    due_at    timestamptz NOT NULL,
    run_id    bigint      REFERENCES drover.runs (id) ON DELETE SET NULL,
    outcome   text        NOT NULL,   -- started | skipped (max_active) | manual
    fired_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (name, due_at)
);

-- Files of a watched folder and the run that consumed them: each file once.
CREATE TABLE drover.trigger_files (
    name      text   NOT NULL REFERENCES drover.schedules (name) ON DELETE CASCADE,
    path      text   NOT NULL,
    size      bigint NOT NULL,
    rows      bigint NOT NULL,
    run_id    bigint REFERENCES drover.runs (id) ON DELETE SET NULL,
    consumed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (name, path)
);

CREATE OR REPLACE VIEW drover.run_status AS
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
       count(t.id) FILTER (WHERE t.state IN ('pending', 'ready', 'retry_wait')) AS tasks_waiting,
       r.queue,
       r.priority,
       r.schedule,
       r.due_at
FROM drover.runs r
LEFT JOIN drover.tasks t ON t.run_id = r.id
GROUP BY r.id;
