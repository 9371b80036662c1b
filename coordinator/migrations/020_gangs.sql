-- drover schema, version 20: gang steps (docs/distributed.md).
--
-- A step with nodes = N > 1 is stored as N tasks NAME[0] .. NAME[N-1], one
-- per member, each with its own state, attempt (they move together: the
-- attempt number is the gang's) and worker, so the invariants on tasks
-- (one holder per attempt, GPUs booked once) hold per member.
ALTER TABLE drover.tasks ADD COLUMN gang_size integer NOT NULL DEFAULT 1
    CHECK (gang_size BETWEEN 1 AND 64);
ALTER TABLE drover.tasks ADD COLUMN gang_rank integer NOT NULL DEFAULT 0
    CHECK (gang_rank >= 0 AND gang_rank < gang_size);
-- spread = false: members may share a worker.
ALTER TABLE drover.tasks ADD COLUMN gang_pack boolean NOT NULL DEFAULT false;
-- The port reserved on the member's worker for its current attempt
-- (DROVER_GANG_PORTS; rank 0's is MASTER_PORT), NULL = none.
ALTER TABLE drover.tasks ADD COLUMN gang_port integer;
