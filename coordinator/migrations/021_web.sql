-- drover schema, version 21: drover-web (issue 15; docs/security.md).
--
-- A key of role `web` is drover-web's own: alone it may do nothing; every
-- request it makes carries a person's web token.
ALTER TABLE drover.keys DROP CONSTRAINT keys_role_check;
ALTER TABLE drover.keys ADD CONSTRAINT keys_role_check
    CHECK (role IN ('admin', 'submitter', 'reader', 'web'));

-- Web sign-in tokens: each acts as the client key `key_name`. Only the
-- token's sha256 is stored (the token is shown once, at creation); the
-- coordinator keeps every live row in memory, so a request never waits on
-- this table.
CREATE TABLE drover.web_tokens (
    id          bigserial   PRIMARY KEY,
    sha256      text        NOT NULL UNIQUE CHECK (length(sha256) = 64),
    key_name    text        NOT NULL REFERENCES drover.keys (name),
    created_by  text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    revoked_by  text
);

-- The runs page filters by the schedule that started a run, as by workflow.
CREATE INDEX runs_schedule_id ON drover.runs (schedule, id) WHERE schedule IS NOT NULL;

-- Only the current leader writes them (migration 008's fence).
SELECT drover.fence_table('drover.web_tokens');
