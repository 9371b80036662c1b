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
 * exits 1 — MPI calls cannot be interrupted any other way.
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

#endif
