-- drover schema, version 16: run parameters (docs/workflows.md, "Run
-- parameters"). The values a run was submitted with, {"NAME": "VALUE"};
-- NULL for a run of a workflow without params.
ALTER TABLE drover.runs ADD COLUMN params jsonb;
