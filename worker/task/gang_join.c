/* gang_join — see gang_join.h. */
#include "gang_join.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/time.h>
#include <unistd.h>

static const char *volatile s_stage = "starting";
static double s_timeout = 120;

static void s_on_alarm(int sig)
{
    (void)sig;
    /* Async-signal-safe: write(2) of fixed text, then _exit. */
    const char *a = "gang: deadline (DROVER_GANG_TIMEOUT) passed while ";
    const char *b = "; a member is missing, gone or stuck (see its log). Giving up.\n";
    ssize_t w = write(2, a, strlen(a));
    w = write(2, s_stage, strlen(s_stage));
    w = write(2, b, strlen(b));
    (void)w;
    _exit(1);
}

static int s_arm(const char *what)
{
    struct sigaction sa = {.sa_handler = s_on_alarm};
    struct itimerval it = {
        .it_value = {.tv_sec = (time_t)s_timeout,
                     .tv_usec = (suseconds_t)((s_timeout - (time_t)s_timeout) * 1e6)}};
    s_stage = what;
    return sigaction(SIGALRM, &sa, NULL) < 0 || setitimer(ITIMER_REAL, &it, NULL) < 0 ? -1 : 0;
}

void gang_deadline_begin(const char *what)
{
    s_arm(what);
}

void gang_deadline_end(void)
{
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
}

static int s_env_int(const char *name, int lo, int hi, int *out)
{
    const char *v = getenv(name);
    char *end;
    if (!v || !*v)
        return -1;
    long x = strtol(v, &end, 10);
    if (*end || x < lo || x > hi)
        return -1;
    *out = (int)x;
    return 0;
}

/* A failed join: the deadline is disarmed (a caller that handles the error
 * must not be killed by it later) and err says what failed. -1. */
static int s_mpi_err(int rc, const char *what, char *err, size_t errlen)
{
    gang_deadline_end();
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS)
        len = snprintf(msg, sizeof msg, "MPI error %d", rc);
    snprintf(err, errlen, "%s failed: %.*s", what, len, msg);
    return -1;
}

/* Merges the intercommunicator *inter (freed) into *out, which returns
 * errors rather than aborting. MPI_SUCCESS or the failing call's code. */
static int s_merge(MPI_Comm *inter, int high, MPI_Comm *out)
{
    int rc = MPI_Intercomm_merge(*inter, high, out);
    MPI_Comm_free(inter);
    return rc != MPI_SUCCESS ? rc : MPI_Comm_set_errhandler(*out, MPI_ERRORS_RETURN);
}

int gang_join(MPI_Comm *comm, int *rank, int *size, char *err, size_t errlen)
{
    int inited = 0, rc;
    if (s_env_int("WORLD_SIZE", 1, 64, size) || s_env_int("RANK", 0, *size - 1, rank)) {
        snprintf(err, errlen, "RANK and WORLD_SIZE must be set (0 <= RANK < WORLD_SIZE <= 64)");
        return -1;
    }
    const char *t = getenv("DROVER_GANG_TIMEOUT");
    if (t && *t && atof(t) >= 1 && atof(t) <= 86400) /* gang.h's range */
        s_timeout = atof(t);
    /* Die with the member's mpirun (see the header). */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() == 1) {
        snprintf(err, errlen, "the member's mpirun is gone");
        return -1;
    }
    const char *id = getenv("DROVER_GANG_ID");
    char service[200];
    snprintf(service, sizeof service, "drover-%s", id && *id ? id : "gang");

    if (s_arm("starting MPI (MPI_Init)") < 0) {
        snprintf(err, errlen, "cannot arm the join deadline");
        return -1;
    }
    if ((rc = MPI_Initialized(&inited)) != MPI_SUCCESS ||
        (!inited && (rc = MPI_Init(NULL, NULL)) != MPI_SUCCESS) ||
        (rc = MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN)) != MPI_SUCCESS ||
        (rc = MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN)) != MPI_SUCCESS)
        return s_mpi_err(rc, "MPI_Init", err, errlen);

    char port[MPI_MAX_PORT_NAME];
    MPI_Comm cur = MPI_COMM_SELF, inter, merged;
    int n = 1, ok = 0;
    if (*rank == 0) {
        s_stage = "rank 0 opened its MPI port";
        if ((rc = MPI_Open_port(MPI_INFO_NULL, port)) != MPI_SUCCESS ||
            (rc = MPI_Publish_name(service, MPI_INFO_NULL, port)) != MPI_SUCCESS)
            return s_mpi_err(rc, "publishing the gang's MPI port", err, errlen);
    } else {
        s_stage = "looking up rank 0's MPI port";
        while (MPI_Lookup_name(service, MPI_INFO_NULL, port) != MPI_SUCCESS)
            usleep(100 * 1000); /* rank 0 has not published yet; the alarm bounds this */
        s_stage = "connecting to the gang (MPI_Comm_connect)";
        if ((rc = MPI_Comm_connect(port, MPI_INFO_NULL, 0, MPI_COMM_SELF, &inter)) != MPI_SUCCESS)
            return s_mpi_err(rc, "MPI_Comm_connect", err, errlen);
        if ((rc = s_merge(&inter, 1, &cur)) != MPI_SUCCESS)
            return s_mpi_err(rc, "MPI_Intercomm_merge", err, errlen);
    }
    if ((rc = MPI_Comm_size(cur, &n)) != MPI_SUCCESS)
        return s_mpi_err(rc, "MPI_Comm_size", err, errlen);
    while (n < *size) {
        s_stage = "waiting for the other members to connect (MPI_Comm_accept)";
        if ((rc = MPI_Comm_accept(port, MPI_INFO_NULL, 0, cur, &inter)) != MPI_SUCCESS)
            return s_mpi_err(rc, "MPI_Comm_accept", err, errlen);
        if ((rc = s_merge(&inter, 0, &merged)) != MPI_SUCCESS)
            return s_mpi_err(rc, "MPI_Intercomm_merge", err, errlen);
        if (cur != MPI_COMM_SELF)
            MPI_Comm_free(&cur);
        cur = merged;
        if ((rc = MPI_Comm_size(cur, &n)) != MPI_SUCCESS)
            return s_mpi_err(rc, "MPI_Comm_size", err, errlen);
    }
    s_stage = "ordering the members by RANK";
    if ((rc = MPI_Comm_split(cur, 0, *rank, comm)) != MPI_SUCCESS)
        return s_mpi_err(rc, "MPI_Comm_split", err, errlen);
    if (cur != MPI_COMM_SELF)
        MPI_Comm_free(&cur);
    MPI_Comm_set_errhandler(*comm, MPI_ERRORS_RETURN);
    if (*rank == 0) {
        MPI_Unpublish_name(service, MPI_INFO_NULL, port);
        MPI_Close_port(port);
    }
    int r = -1;
    ok = MPI_Comm_rank(*comm, &r) == MPI_SUCCESS && r == *rank;
    /* Joined: the deadline no longer applies (training takes its time). */
    gang_deadline_end();
    if (!ok) {
        snprintf(err, errlen, "joined as MPI rank %d but RANK is %d", r, *rank);
        return -1;
    }
    return 0;
}
