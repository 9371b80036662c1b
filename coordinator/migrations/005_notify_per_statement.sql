-- drover schema, version 5: the NOTIFY on every transition moves from a
-- row trigger to a statement trigger over the inserted rows. Same channel,
-- same payload ("run_id task_id state"); one trigger call per batch of
-- transitions instead of one per row (about 7% more W1 throughput).

DROP TRIGGER events_notify ON drover.events;
DROP FUNCTION drover.notify_event();

CREATE FUNCTION drover.notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('drover', n.run_id || ' ' || coalesce(n.task_id, 0) || ' ' || n.to_state)
    FROM new_rows n
    WHERE n.kind IN ('task_state', 'run_state')
    ORDER BY n.id;
    RETURN NULL;
END $$;

CREATE TRIGGER events_notify AFTER INSERT ON drover.events
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION drover.notify_events();
