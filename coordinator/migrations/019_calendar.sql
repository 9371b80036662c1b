-- drover schema, version 19: what the calendar and submit need to know
-- (docs/scheduling.md).
--
-- Each worker's full shape, kept after it disconnects, so that a submit can
-- refuse a step no registered worker could ever run (coordinator/capacity.c).
-- NULL = registered before this version: unknown, never grounds to refuse.
ALTER TABLE drover.workers ADD COLUMN memory bigint;
ALTER TABLE drover.workers ADD COLUMN gpus integer;

-- Catch-up settings of a schedule: how many missed due times `all` queues
-- (the rest are skipped and reported), and how late a due time may still
-- start before it counts as missed.
ALTER TABLE drover.schedules ADD COLUMN catchup_max integer NOT NULL DEFAULT 100
    CHECK (catchup_max BETWEEN 1 AND 10000);
ALTER TABLE drover.schedules ADD COLUMN lateness_s integer NOT NULL DEFAULT 60
    CHECK (lateness_s BETWEEN 1 AND 604800);

-- `drover runs --state/--workflow/--since` (RunsFilter): each filter has an
-- index, so a filter that matches few runs does not scan them all.
CREATE INDEX runs_workflow_id ON drover.runs (workflow, id);
CREATE INDEX runs_state_id ON drover.runs (state, id);
CREATE INDEX runs_submitted_at ON drover.runs (submitted_at);

-- Data triggers (issue 13, observation 7): a file is identified by its
-- content (sha256) and its path, so a reused name with new content is new
-- data; rows are counted by the CSV reader training uses, blank and
-- malformed records apart. '' = consumed before this version (content
-- unknown: the path alone counts, as it did).
ALTER TABLE drover.trigger_files ADD COLUMN sha256 text NOT NULL DEFAULT '';
ALTER TABLE drover.trigger_files ADD COLUMN blank bigint NOT NULL DEFAULT 0;
ALTER TABLE drover.trigger_files ADD COLUMN malformed bigint NOT NULL DEFAULT 0;
ALTER TABLE drover.trigger_files DROP CONSTRAINT trigger_files_pkey;
ALTER TABLE drover.trigger_files ADD PRIMARY KEY (name, path, sha256);
CREATE INDEX trigger_files_run ON drover.trigger_files (run_id);
-- keep: files a failed run consumed stay consumed; retry: they return to
-- the pool (pooled) when the run fails or is cancelled, once per file
-- version (returned), so a file that makes every run fail is not retried
-- for ever: the next run takes them, and if it fails too they stay consumed.
ALTER TABLE drover.trigger_files ADD COLUMN pooled boolean NOT NULL DEFAULT false;
ALTER TABLE drover.trigger_files ADD COLUMN returned integer NOT NULL DEFAULT 0;
ALTER TABLE drover.schedules ADD COLUMN on_failure text NOT NULL DEFAULT 'keep'
    CHECK (on_failure IN ('keep', 'retry'));

-- `drover rerun RUN` (coordinator/rerun.c): a step of the new run that
-- reuses a succeeded step of an earlier run is stored succeeded, naming the
-- task whose results (model version, reports) it reuses; "@STEP"
-- references and select candidates follow it.
ALTER TABLE drover.tasks ADD COLUMN reused_from bigint REFERENCES drover.tasks (id) ON DELETE SET NULL;
