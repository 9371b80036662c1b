-- drover schema, version 8: one fenced leader (issue 10).
--
-- Leadership is a lease row with an epoch instead of an advisory lock: the
-- lock stays with a paused (SIGSTOPped) coordinator's session, so a standby
-- never took over. The active coordinator renews expires_at about every
-- second; a standby takes over when the lease expired, or at once when the
-- holder's database session is gone (a crash), bumping the epoch.
--
-- Fencing, two layers:
--   1. A standby takes an expired lease over only after it has ended the
--      holder's database session and seen it gone (coordinator/leader.c):
--      nothing that session had in flight can commit after the takeover,
--      and the former leader's next session must renew its lease first,
--      which fails.
--   2. A coordinator session sets the custom setting drover.epoch to the
--      epoch it leads with; a statement trigger on every table it writes
--      checks, in the same transaction, that the lease row still carries
--      that epoch, and fails the write with SQLSTATE DRF01 otherwise (the
--      coordinator then exits). The check takes no row lock (a locked check
--      cost a third of W1's throughput): it closes every window but a
--      takeover committing between the check and the commit, which layer 1
--      closes.
-- Sessions without the setting (people, scripts, tests with psql) are not
-- fenced. A later migration that adds a table the coordinator writes calls
-- drover.fence_table().

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
    PERFORM 1 FROM drover.leader WHERE id = 1 AND epoch = e::bigint;
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

-- Every table of the schema but the lease itself, the migration log, and
-- runs, tasks and task_deps: the coordinator writes those only in the same
-- statement as an insert into drover.events (every transition is journaled
-- with it: store.c's submit, task_save_many and run_save), whose check
-- fails the whole statement, so a second check there would only cost (a
-- submit touches five tables).
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT c.oid::regclass AS t FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'drover' AND c.relkind IN ('r', 'p')
               AND c.relname NOT IN ('leader', 'schema_migrations', 'runs', 'tasks', 'task_deps')
    LOOP
        PERFORM drover.fence_table(r.t);
    END LOOP;
END $$;
