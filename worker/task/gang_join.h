/* gang_join — inside a gang member's mpirun (gang.h), joins the N
 * one-process MPI jobs into one communicator whose ranks are the members'
 * RANKs. Depends only on MPI and libc, so an MPI program of the user's can
 * compile this file beside its own (docs/distributed.md, "MPI programs").
 *
 * How: rank 0 opens an MPI port and publishes it on the gang's private
 * ompi-server under "drover-<DROVER_GANG_ID>"; each other rank looks it up
 * and connects; every rank already joined accepts (collectively) until the
 * group has N members, merging after each; a final MPI_Comm_split keyed by
 * RANK fixes the order (connections arrive in any order).
 *
 * The whole join runs under a deadline (DROVER_GANG_TIMEOUT, default 120
 * s): when a peer never comes, SIGALRM prints which step was waiting and
 * exits 1 — MPI calls cannot be interrupted any other way. The process
 * also asks for SIGKILL when its parent (the member's mpirun) dies: Open
 * MPI puts it in a process group of its own, which a worker stopping the
 * member's group would otherwise miss.
 */
#ifndef DROVER_TASK_GANG_JOIN_H
#define DROVER_TASK_GANG_JOIN_H

#include <mpi.h>
#include <stddef.h>

/* MPI_Init (when not yet initialised) and the join. On success 0 and
 * *comm (free with MPI_Comm_free before MPI_Finalize), *rank and *size
 * from the environment. -1 + err on a malformed environment or an MPI
 * error; exits 1 when the deadline passes. */
int gang_join(MPI_Comm *comm, int *rank, int *size, char *err, size_t errlen);

/* A deadline around one blocking MPI call after the join: when the call
 * has not returned after DROVER_GANG_TIMEOUT seconds (a peer died: Open
 * MPI does not always notice a vanished peer, and would wait forever),
 * SIGALRM prints "gang: deadline ... passed while <what>" and exits 1.
 * gang_deadline_end disarms it. what must be a string literal. */
void gang_deadline_begin(const char *what);
void gang_deadline_end(void);

#endif
