-- drover schema, version 9 (issue 11): the lineage path of a model version
-- is the file THAT version was trained from. drover.datasets is keyed by
-- content (sha256) and keeps the first path ever seen for it, so the same
-- bytes trained later from another file showed the old path. The version
-- now records its own path; versions registered before this migration keep
-- showing the first-seen path (NULL here, coalesced in the view).

ALTER TABLE drover.model_versions ADD COLUMN dataset_path text;

CREATE OR REPLACE VIEW drover.model_registry AS
SELECT v.name, v.version, v.stage, v.model_kind, v.metrics, v.eval_metrics,
       v.run_id, v.step, v.dataset_sha256, coalesce(v.dataset_path, d.path) AS dataset_path,
       d.rows AS dataset_rows, v.params, v.artifact, v.created_at
FROM drover.model_versions v
LEFT JOIN drover.datasets d ON d.sha256 = v.dataset_sha256;
