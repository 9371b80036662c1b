-- drover schema, version 8: one fenced leader (issue 10).
--
-- Leadership is a lease row with an epoch instead of an advisory lock: the
-- lock stays with a paused (SIGSTOPped) coordinator's session, so a standby
-- never took over. The active coordinator renews expires_at about every
-- second; a standby takes over when the lease expired, or at once when the
-- holder's database session is gone (a crash), bumping the epoch.
--
-- Fencing: a coordinator session sets the custom setting drover.epoch to
-- the epoch it leads with; a statement trigger on every table it writes
-- checks, in the same transaction, that the lease row still carries that
-- epoch (FOR SHARE, so a takeover waits for a commit in flight and every
-- later statement sees the new epoch). A stale leader's write fails with
-- SQLSTATE DRF01 and the coordinator exits. Sessions without the setting
-- (people, scripts, tests with psql) are not fenced. A later migration
-- that adds a table the coordinator writes calls drover.fence_table().

CREATE TABLE drover.leader (
    id           integer     PRIMARY KEY CHECK (id = 1),
    epoch        bigint      NOT NULL,
    holder       text        NOT NULL,           -- host:pid of the coordinator
    backend_pid  integer,                        -- its database session
    expires_at   timestamptz NOT NULL,
    renewed_at   timestamptz NOT NULL,
    since        timestamptz NOT NULL            -- when this epoch began
);
INSERT INTO drover.leader VALUES (1, 0, '', NULL, '-infinity', now(), now());

CREATE FUNCTION drover.fence() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    e text := current_setting('drover.epoch', true);
BEGIN
    IF e IS NULL OR e = '' THEN
        RETURN NULL;
    END IF;
    PERFORM 1 FROM drover.leader WHERE id = 1 AND epoch = e::bigint FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'drover: fenced: epoch % no longer leads (a standby took over)', e
            USING ERRCODE = 'DRF01';
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION drover.fence_table(t regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TRIGGER fence BEFORE INSERT OR UPDATE OR DELETE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION drover.fence()', t);
END $$;

-- Every table of the schema but the lease itself and the migration log.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT c.oid::regclass AS t FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'drover' AND c.relkind IN ('r', 'p')
               AND c.relname NOT IN ('leader', 'schema_migrations')
    LOOP
        PERFORM drover.fence_table(r.t);
    END LOOP;
END $$;
