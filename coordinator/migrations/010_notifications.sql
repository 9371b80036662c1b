-- drover schema, version 10: the notification outbox (coordinator/notify.c).
-- A statement trigger on drover.events enqueues one row per event worth
-- announcing, in the transaction that records the event, so a notification
-- exists exactly when its event does (never lost across a crash, never
-- enqueued twice: the event id is the key).

CREATE TABLE drover.notifications (
    event_id     bigint      PRIMARY KEY,           -- the drover.events row it announces
    kind         text        NOT NULL,              -- failed | rejected | succeeded | cancelled | schedule_missed
    run_id       bigint,
    at           timestamptz NOT NULL,              -- when the event happened
    attempts     integer     NOT NULL DEFAULT 0,
    next_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    delivered_at timestamptz,
    status       integer,                            -- the receiver's last HTTP status
    last_error   text
);
CREATE INDEX notifications_due ON drover.notifications (next_at) WHERE delivered_at IS NULL;

CREATE FUNCTION drover.enqueue_notifications() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
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

CREATE TRIGGER events_enqueue_notifications AFTER INSERT ON drover.events
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION drover.enqueue_notifications();
