-- drover schema, version 13: human approval (issue 11) and per-workflow
-- webhooks (issue 14).

-- `approve` grants: a key may approve or reject approve steps about models
-- whose name matches the pattern (docs/security.md).
ALTER TABLE drover.grants DROP CONSTRAINT grants_right_check;
ALTER TABLE drover.grants ADD CONSTRAINT grants_right_check CHECK ("right" IN ('promote', 'approve'));

-- A run's own webhook (the workflow's notify block, checked against
-- coordinator.notify.allow at submit) and the kinds it wants.
ALTER TABLE drover.runs ADD COLUMN notify_webhook text;
ALTER TABLE drover.runs ADD COLUMN notify_on text[];

-- A notification is one (event, receiver): '' is coordinator.notify.webhook,
-- anything else a run's own webhook. Still exactly one row per event and
-- receiver, so none is sent twice.
ALTER TABLE drover.notifications ADD COLUMN webhook text NOT NULL DEFAULT '';
ALTER TABLE drover.notifications DROP CONSTRAINT notifications_pkey;
ALTER TABLE drover.notifications ADD PRIMARY KEY (event_id, webhook);

-- awaiting_approval: an approve step started waiting for a person (the
-- coordinator records an event of that kind when it does).
CREATE OR REPLACE FUNCTION drover.enqueue_notifications() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n integer := 0;
    k integer;
BEGIN
    IF (SELECT enabled FROM drover.notify_config WHERE id = 1) THEN
        INSERT INTO drover.notifications (event_id, kind, run_id, at)
        SELECT e.id, CASE WHEN e.kind = 'run_state' THEN e.to_state ELSE e.kind END, e.run_id, e.at
        FROM new_rows e
        WHERE (e.kind = 'run_state' AND e.to_state IN ('failed', 'rejected', 'succeeded', 'cancelled'))
           OR e.kind IN ('schedule_missed', 'awaiting_approval')
        ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS n = ROW_COUNT;
    END IF;
    -- A run's own webhook, for the kinds its workflow asked for.
    INSERT INTO drover.notifications (event_id, kind, run_id, at, webhook)
    SELECT x.id, x.k, x.run_id, x.at, r.notify_webhook
    FROM (SELECT e.id, e.run_id, e.at,
                 CASE WHEN e.kind = 'run_state' THEN e.to_state ELSE e.kind END AS k
          FROM new_rows e
          WHERE e.run_id IS NOT NULL
            AND ((e.kind = 'run_state' AND e.to_state IN ('failed', 'rejected', 'succeeded', 'cancelled'))
                 OR e.kind = 'awaiting_approval')) x
    JOIN drover.runs r ON r.id = x.run_id
    WHERE r.notify_webhook IS NOT NULL AND x.k = ANY (r.notify_on)
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS k = ROW_COUNT;
    IF n + k > 0 THEN
        PERFORM pg_notify('drover_notify', '');
    END IF;
    RETURN NULL;
END $$;
