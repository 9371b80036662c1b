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
