/* gang_comm — the data-parallel transport of drover-task train: a
 * train_comm_t (train.h) over the MPI communicator gang_join builds.
 * Without MPI (DROVER_MPI off) every call fails with "this drover-task was
 * built without MPI", so a gang train step fails cleanly instead of
 * training N independent models.
 */
#ifndef DROVER_TASK_GANG_COMM_H
#define DROVER_TASK_GANG_COMM_H

#include <stddef.h>

#include "train.h"

/* MPI_Init + gang_join; fills c (rank, size, the sums and bcast). 0, or
 * -1 + err. */
int gang_comm_open(train_comm_t *c, char *err, size_t errlen);

/* Every rank's `bytes` bytes, in rank order, into all[size * bytes]. 0/-1. */
int gang_comm_allgather(train_comm_t *c, const void *mine, size_t bytes, void *all);

/* Frees the communicator and finalises MPI. */
void gang_comm_close(train_comm_t *c);

#endif
