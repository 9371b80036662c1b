-- drover schema, version 11: notifications are enqueued only while the
-- active coordinator has a webhook configured (coordinator.notify), so a
-- cluster without one does not fill drover.notifications. The active
-- coordinator writes the flag each time it takes over.

CREATE TABLE drover.notify_config (
    id      integer PRIMARY KEY CHECK (id = 1),
    enabled boolean NOT NULL
);
INSERT INTO drover.notify_config VALUES (1, false);

CREATE OR REPLACE FUNCTION drover.enqueue_notifications() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT (SELECT enabled FROM drover.notify_config WHERE id = 1) THEN
        RETURN NULL;
    END IF;
    INSERT INTO drover.notifications (event_id, kind, run_id, at)
    SELECT n.id, CASE WHEN n.kind = 'run_state' THEN n.to_state ELSE n.kind END, n.run_id, n.at
    FROM new_rows n
    WHERE (n.kind = 'run_state' AND n.to_state IN ('failed', 'rejected', 'succeeded', 'cancelled'))
       OR n.kind = 'schedule_missed'
    ON CONFLICT (event_id) DO NOTHING;
    IF FOUND THEN
        PERFORM pg_notify('drover_notify', '');
    END IF;
    RETURN NULL;
END $$;
