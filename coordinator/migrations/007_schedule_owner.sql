-- drover schema, version 7: why a schedule or trigger is paused. A schedule
-- whose owner key is revoked pauses itself (coordinator/calendar.c,
-- calendar_key_revoked); `drover schedule list` shows the reason. Empty =
-- paused by hand (or not paused).
ALTER TABLE drover.schedules ADD COLUMN paused_reason text NOT NULL DEFAULT '';
