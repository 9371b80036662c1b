/* gang — how a gang member's drover-task joins its peers for MPI
 * (docs/distributed.md, "MPI programs").
 *
 * Every member is started by its own worker, never by mpirun, with the
 * gang environment (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT,
 * DROVER_GANG_ID; docs/distributed.md). Open MPI 4 singletons cannot
 * connect to one another, so gang_mpirun does, in each member:
 *   1. rendezvous over TCP: rank 0 starts a private ompi-server (the name
 *      service and PMIx hub that lets separate MPI jobs connect) and
 *      listens on MASTER_PORT; every other rank connects, says its gang id
 *      and rank, and receives the server's URI once all N have arrived;
 *   2. runs `mpirun -np 1 --ompi-server file:URI PROG ARGS` in its own
 *      process tree, with DROVER_GANG_INNER=1 so PROG knows it is inside;
 *   3. PROG calls gang_join (gang_join.h), which connects the N one-process
 *      jobs into one communicator ordered by RANK.
 * mpirun closes every descriptor above 2, so the output channel (fd 3)
 * reaches PROG as a FIFO named by DROVER_GANG_OUT_FIFO, which this process
 * copies to its own channel as lines arrive.
 *
 * Deadlines: the rendezvous (and gang_join) give up after
 * DROVER_GANG_TIMEOUT seconds (default 120) with a message naming the
 * missing ranks and a nonzero exit; nothing waits forever for a peer.
 *
 * Trust: the rendezvous port accepts only a well-formed hello with this
 * gang's id and an expected rank (anything else is dropped and counted);
 * it carries no command, only the server URI. Rank 0 polls every
 * connection at once, each with 5 s and one line of 255 bytes for its
 * hello and at most 16 pending, so a stranger that connects and stays
 * silent delays no member; a member's connect is bounded by the deadline.
 */
#ifndef DROVER_TASK_GANG_H
#define DROVER_TASK_GANG_H

#include <stddef.h>
#include <stdio.h>

#define GANG_MAX_SIZE 64

typedef struct {
    int rank, size;
    char master_addr[256];
    int master_port;
    char id[128];     /* DROVER_GANG_ID, or "gang" when unset */
    double timeout_s; /* DROVER_GANG_TIMEOUT, default 120 */
} gang_env_t;

/* Reads the gang environment. 0 = not a gang (WORLD_SIZE unset or 1),
 * 1 = a gang member (*g filled), -1 = a malformed variable (err names it). */
int gang_env_read(gang_env_t *g, char *err, size_t errlen);

/* 1 inside the mpirun that gang_mpirun started (DROVER_GANG_INNER=1). */
int gang_is_inner(void);

/* Steps 1-2 above for argv (argv[0] a path or a name on PATH); copies
 * PROG's FIFO lines to out (NULL: dropped). Returns the exit status to
 * exit with: PROG's (through mpirun), or 1 after a failed rendezvous
 * (reason on stderr). */
int gang_mpirun(const gang_env_t *g, char *const argv[], FILE *out);

/* `drover-task mpirun [--] PROG [ARGS]`: gang_mpirun with this process's
 * environment and fd 3 (DROVER_OUTPUT_FD=3) or stdout. The exit status. */
int gang_mpirun_main(int argc, char **argv);

#endif
