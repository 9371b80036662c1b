-- drover schema, version 3: the CURVE key allow-list and the audit trail.

CREATE TABLE drover.keys (
    name        text PRIMARY KEY,
    public_key  text        NOT NULL UNIQUE CHECK (length(public_key) = 40),
    kind        text        NOT NULL CHECK (kind IN ('worker', 'client')),
    role        text        CHECK (role IN ('admin', 'submitter', 'reader')),
    added_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    added_by    text        NOT NULL DEFAULT '',
    revoked_at  timestamptz,
    revoked_by  text,
    CHECK ((kind = 'client') = (role IS NOT NULL))
);

-- Which key submitted a run (a submitter may cancel only its own runs).
ALTER TABLE drover.runs ADD COLUMN submitted_key text;

-- Who did it: the key name behind every accepted command.
ALTER TABLE drover.events ADD COLUMN actor text;

-- The audit trail a compliance officer reads: every accepted command
-- (submit, cancel, promote, keys), with the key that sent it.
CREATE VIEW drover.audit AS
SELECT id, at, actor, run_id, detail
FROM drover.events
WHERE kind = 'command';
