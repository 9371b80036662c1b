-- drover schema, version 15 (issue 12): artifacts passed between steps.
-- A step's declared outputs, hashed and stored by its worker, checked by
-- the coordinator against its store, recorded here with their producer;
-- every attempt that had one staged as an input is recorded as a consumer.
-- See docs/artifacts.md and docs/sql.md.

CREATE TABLE drover.artifacts (
    id          bigserial   PRIMARY KEY,
    sha256      text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size        bigint      NOT NULL CHECK (size >= 0),
    run_id      bigint      NOT NULL REFERENCES drover.runs (id) ON DELETE CASCADE,
    task_id     bigint      NOT NULL REFERENCES drover.tasks (id) ON DELETE CASCADE,
    step        text        NOT NULL,
    attempt     integer     NOT NULL,
    name        text        NOT NULL,      -- the output's path in the producer's work folder
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (task_id, attempt, name)
);
-- Dispatch resolves "@STEP:NAME" of a run: by (run, step, name).
CREATE INDEX artifacts_run_step ON drover.artifacts (run_id, step, name);
CREATE INDEX artifacts_sha256 ON drover.artifacts (sha256);

CREATE TABLE drover.artifact_consumers (
    artifact_id bigint      NOT NULL REFERENCES drover.artifacts (id) ON DELETE CASCADE,
    task_id     bigint      NOT NULL REFERENCES drover.tasks (id) ON DELETE CASCADE,
    attempt     integer     NOT NULL,
    input       text        NOT NULL,      -- the consumer's name for it
    staged_at   timestamptz NOT NULL DEFAULT clock_timestamp(),  -- when it was dispatched
    PRIMARY KEY (task_id, attempt, input)
);
CREATE INDEX artifact_consumers_artifact ON drover.artifact_consumers (artifact_id);

-- Only the current leader writes them (migration 008's fence).
SELECT drover.fence_table('drover.artifacts');
SELECT drover.fence_table('drover.artifact_consumers');

-- One row per artifact and consumer (a NULL consumer: not consumed yet).
CREATE VIEW drover.artifact_lineage AS
SELECT a.sha256, a.size, a.name, a.run_id, a.step, a.attempt, a.created_at,
       ct.run_id AS consumer_run_id, ct.name AS consumer_step, c.attempt AS consumer_attempt,
       c.input AS consumer_input, c.staged_at
FROM drover.artifacts a
LEFT JOIN drover.artifact_consumers c ON c.artifact_id = a.id
LEFT JOIN drover.tasks ct ON ct.id = c.task_id;
