-- drover hold / release (docs/scheduling.md): a held step is not placed
-- until released; kept here so a coordinator restart does not release it.
ALTER TABLE drover.tasks ADD COLUMN held boolean NOT NULL DEFAULT false;

-- A queue's time limit for steps without a timeout, in placement's plans
-- (reservations, backfill); 0 = coordinator.default_time_limit.
ALTER TABLE drover.queues ADD COLUMN time_limit_s bigint NOT NULL DEFAULT 0;
