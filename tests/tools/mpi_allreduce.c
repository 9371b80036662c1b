/* drover-test-mpi-allreduce — an MPI program as a gang member runs it
 * (docs/distributed.md, "MPI programs"): started under `drover-task
 * mpirun`, it joins the gang with gang_join and checks an allreduce.
 *
 * Each rank contributes (rank + 1) * (i + 1) at position i of a vector of
 * 1000 doubles; the sum must be N(N+1)/2 * (i + 1) everywhere. Prints
 * "rank R of N: allreduce ok (sum S)" and exits 0, or says what differed
 * and exits 1.
 */
#include <stdio.h>
#include <stdlib.h>

#include "gang_join.h"

int main(void)
{
    MPI_Comm comm;
    int rank, size;
    char err[512];
    if (gang_join(&comm, &rank, &size, err, sizeof err) < 0) {
        fprintf(stderr, "drover-test-mpi-allreduce: %s\n", err);
        return 1;
    }
    enum { N = 1000 };
    static double v[N];
    for (int i = 0; i < N; i++)
        v[i] = (double)(rank + 1) * (i + 1);
    int rc = MPI_Allreduce(MPI_IN_PLACE, v, N, MPI_DOUBLE, MPI_SUM, comm);
    double want = size * (size + 1) / 2.0;
    int bad = -1;
    for (int i = 0; rc == MPI_SUCCESS && i < N && bad < 0; i++)
        if (v[i] != want * (i + 1))
            bad = i;
    if (rc != MPI_SUCCESS || bad >= 0) {
        fprintf(stderr, "rank %d of %d: allreduce wrong at %d (%g, want %g)\n", rank, size, bad,
                bad >= 0 ? v[bad] : 0.0, bad >= 0 ? want * (bad + 1) : 0.0);
        return 1;
    }
    printf("rank %d of %d: allreduce ok (sum %g)\n", rank, size, v[0]);
    fflush(stdout);
    MPI_Comm_free(&comm);
    MPI_Finalize();
    return 0;
}
