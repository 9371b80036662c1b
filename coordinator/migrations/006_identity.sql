-- drover schema, version 6: worker names bound to keys, and grants.

-- The key that owns a worker name: set by the first registration under a
-- key (CURVE), changed only by an admin (`drover keys rebind`). A Register
-- under that name from any other key is refused. NULL: never registered
-- with a key (insecure coordinator, or before this version).
ALTER TABLE drover.workers ADD COLUMN key text;

-- Rights beyond a key's role: `promote` on model names matching `pattern`
-- (a glob: * and ?) lets a submitter's runs promote/select those models
-- and lets the key change their stage (docs/security.md).
CREATE TABLE drover.grants (
    key         text        NOT NULL,
    "right"     text        NOT NULL CHECK ("right" IN ('promote')),
    pattern     text        NOT NULL CHECK (length(pattern) BETWEEN 1 AND 128),
    granted_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    granted_by  text        NOT NULL,
    PRIMARY KEY (key, "right", pattern)
);
