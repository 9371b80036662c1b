-- drover hold / release (docs/scheduling.md): a held step is not placed
-- until released; kept here so a coordinator restart does not release it.
ALTER TABLE drover.tasks ADD COLUMN held boolean NOT NULL DEFAULT false;
