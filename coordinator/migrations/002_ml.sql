-- drover schema, version 2: datasets, the model registry, training metrics
-- and validation/evaluation reports (see docs/sql.md).

-- Every dataset a step read, identified by the SHA-256 of its file.
CREATE TABLE drover.datasets (
    sha256       text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    path         text        NOT NULL,     -- where it was first seen
    format       text        NOT NULL,     -- csv | binary
    rows         bigint      NOT NULL,
    cols         integer     NOT NULL,
    first_run    bigint,
    first_seen   timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Which step read which dataset, in which role (train, test, reference, ...).
CREATE TABLE drover.task_datasets (
    task_id      bigint  NOT NULL REFERENCES drover.tasks (id) ON DELETE CASCADE,
    attempt      integer NOT NULL,
    sha256       text    NOT NULL REFERENCES drover.datasets (sha256),
    role         text    NOT NULL,
    PRIMARY KEY (task_id, attempt, role, sha256)
);

-- Per-epoch (or other progress) records streamed by a running task.
CREATE TABLE drover.task_metrics (
    task_id      bigint      NOT NULL REFERENCES drover.tasks (id) ON DELETE CASCADE,
    attempt      integer     NOT NULL,
    seq          integer     NOT NULL,
    at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    data         jsonb       NOT NULL,
    PRIMARY KEY (task_id, attempt, seq)
);

-- The report of a validate or evaluate step (every check, its figure, pass/fail).
CREATE TABLE drover.reports (
    task_id      bigint      NOT NULL REFERENCES drover.tasks (id) ON DELETE CASCADE,
    attempt      integer     NOT NULL,
    kind         text        NOT NULL,
    passed       boolean     NOT NULL,
    report       jsonb       NOT NULL,
    at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (task_id, attempt)
);

CREATE TABLE drover.model_versions (
    name           text        NOT NULL,
    version        integer     NOT NULL CHECK (version > 0),
    stage          text        NOT NULL DEFAULT 'none'
                   CHECK (stage IN ('none', 'staging', 'production', 'archived')),
    model_kind     text        NOT NULL,          -- softmax | mlp | linear
    artifact       text        NOT NULL CHECK (artifact ~ '^[0-9a-f]{64}$'),
    run_id         bigint      REFERENCES drover.runs (id) ON DELETE SET NULL,
    step           text,
    task_id        bigint,
    dataset_sha256 text        REFERENCES drover.datasets (sha256),
    params         jsonb       NOT NULL DEFAULT '{}',
    metrics        jsonb       NOT NULL DEFAULT '{}',   -- from training
    eval_metrics   jsonb,                               -- latest evaluation
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (name, version)
);
-- At most one production version per model, enforced by the database.
CREATE UNIQUE INDEX model_versions_one_production ON drover.model_versions (name)
    WHERE stage = 'production';
CREATE INDEX model_versions_run ON drover.model_versions (run_id, step);

-- Every stage change, with who or what made it.
CREATE TABLE drover.model_stage_changes (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    name         text        NOT NULL,
    version      integer     NOT NULL,
    from_stage   text        NOT NULL,
    to_stage     text        NOT NULL,
    by           text        NOT NULL,   -- "run 12 step promote" or "alice@host"
    reason       text
);

-- Every evaluation of a model version on a dataset.
CREATE TABLE drover.model_evaluations (
    id             bigserial PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT clock_timestamp(),
    name           text        NOT NULL,
    version        integer     NOT NULL,
    run_id         bigint,
    task_id        bigint,
    dataset_sha256 text,
    metrics        jsonb       NOT NULL,
    passed         boolean     NOT NULL,
    gate           jsonb
);

CREATE VIEW drover.model_registry AS
SELECT v.name, v.version, v.stage, v.model_kind, v.metrics, v.eval_metrics,
       v.run_id, v.step, v.dataset_sha256, d.path AS dataset_path, d.rows AS dataset_rows,
       v.params, v.artifact, v.created_at
FROM drover.model_versions v
LEFT JOIN drover.datasets d ON d.sha256 = v.dataset_sha256;

CREATE VIEW drover.step_reports AS
SELECT t.run_id, t.name AS step, rp.attempt, rp.kind, rp.passed, rp.report, rp.at
FROM drover.reports rp JOIN drover.tasks t ON t.id = rp.task_id;

CREATE VIEW drover.training_metrics AS
SELECT t.run_id, t.name AS step, m.attempt, m.seq, (m.data->>'epoch')::int AS epoch,
       (m.data->>'train_loss')::float8 AS train_loss, (m.data->>'val_loss')::float8 AS val_loss,
       (m.data->>'train_accuracy')::float8 AS train_accuracy,
       (m.data->>'val_accuracy')::float8 AS val_accuracy, m.data, m.at
FROM drover.task_metrics m JOIN drover.tasks t ON t.id = m.task_id;
