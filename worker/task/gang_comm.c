/* gang_comm — see gang_comm.h. */
#include "gang_comm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#ifdef DROVER_HAVE_MPI
#include <limits.h>
#include <mpi.h>

#include "gang_join.h"

static MPI_Comm s_comm(train_comm_t *c)
{
    return *(MPI_Comm *)c->impl;
}

/* MPI counts are ints: long buffers go in chunks. */
#define S_CHUNK (1 << 28)

static int s_sum(train_comm_t *c, void *buf, size_t n, MPI_Datatype t, size_t elem)
{
    for (size_t o = 0; o < n; o += S_CHUNK) {
        int cnt = (int)(n - o < S_CHUNK ? n - o : S_CHUNK);
        gang_deadline_begin("summing across the ranks (MPI_Allreduce)");
        int rc = MPI_Allreduce(MPI_IN_PLACE, (char *)buf + o * elem, cnt, t, MPI_SUM, s_comm(c));
        gang_deadline_end();
        if (rc != MPI_SUCCESS)
            return -1;
    }
    return 0;
}

static int s_sum_f(train_comm_t *c, float *buf, size_t n)
{
    return s_sum(c, buf, n, MPI_FLOAT, sizeof(float));
}

static int s_sum_d(train_comm_t *c, double *buf, size_t n)
{
    return s_sum(c, buf, n, MPI_DOUBLE, sizeof(double));
}

static int s_bcast(train_comm_t *c, void *buf, size_t bytes)
{
    for (size_t o = 0; o < bytes; o += S_CHUNK) {
        int cnt = (int)(bytes - o < S_CHUNK ? bytes - o : S_CHUNK);
        gang_deadline_begin("receiving from rank 0 (MPI_Bcast)");
        int rc = MPI_Bcast((char *)buf + o, cnt, MPI_BYTE, 0, s_comm(c));
        gang_deadline_end();
        if (rc != MPI_SUCCESS)
            return -1;
    }
    return 0;
}

int gang_comm_open(train_comm_t *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    MPI_Comm *mc = malloc(sizeof *mc);
    if (!mc) {
        util_errf(err, errlen, "out of memory");
        return -1;
    }
    if (gang_join(mc, &c->rank, &c->size, err, errlen) < 0) {
        free(mc);
        return -1;
    }
    c->impl = mc;
    c->sum_f = s_sum_f;
    c->sum_d = s_sum_d;
    c->bcast = s_bcast;
    return 0;
}

int gang_comm_allgather(train_comm_t *c, const void *mine, size_t bytes, void *all)
{
    if (bytes > INT_MAX)
        return -1;
    gang_deadline_begin("comparing the ranks' data (MPI_Allgather)");
    int rc = MPI_Allgather(mine, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, s_comm(c));
    gang_deadline_end();
    return rc == MPI_SUCCESS ? 0 : -1;
}

void gang_comm_close(train_comm_t *c)
{
    if (!c->impl)
        return;
    /* MPI_Finalize waits for the connected peers (rank 0 may still be
     * storing the model): bounded like every other wait on them.
     * (MPI_Comm_disconnect hangs here with Open MPI 4.1.) */
    gang_deadline_begin("leaving the gang (MPI_Finalize)");
    MPI_Comm_free((MPI_Comm *)c->impl);
    free(c->impl);
    c->impl = NULL;
    MPI_Finalize();
    gang_deadline_end();
}

#else /* no MPI */

int gang_comm_open(train_comm_t *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    util_errf(err, errlen,
              "this drover-task was built without MPI (install libopenmpi-dev and "
              "openmpi-bin, then rebuild): it cannot train data-parallel");
    errno = ENOTSUP;
    return -1;
}

int gang_comm_allgather(train_comm_t *c, const void *mine, size_t bytes, void *all)
{
    errno = ENOTSUP;
    return -1;
}

void gang_comm_close(train_comm_t *c) {}

#endif
