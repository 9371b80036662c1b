/* gang — the pure parts of gang steps (docs/distributed.md): expanding a
 * step with nodes = N into its N members, and the rendezvous environment
 * and hostfile each member gets.
 *
 * A gang step NAME with nodes = N is stored and scheduled as N tasks
 * NAME[0] .. NAME[N-1] (StepSpec.gang_rank 0..N-1, each with nodes = N).
 * A step after NAME runs after every member; every member runs after what
 * NAME runs after. The model places all N at once or none, and moves them
 * together ("one fate", model.c); the invariants of tasks hold per member.
 *
 * No database, no sockets, no clock: the model and the unit tests call it.
 */
#ifndef DROVER_GANG_H
#define DROVER_GANG_H

#include <stddef.h>
#include <stdint.h>

#include "drover.pb-c.h"

#define GANG_MAX_NODES 64
#define GANG_PORT_LO   29400 /* default worker gang_ports range */
#define GANG_PORT_HI   29499
#define GANG_HOSTFILE  "hostfile"

/* A request with its gang steps expanded. req is the caller's request when
 * it has no gang (nothing is copied), else the expanded copy, which borrows
 * every string of the caller's request but the member names: valid while
 * both this and the caller's request live. */
typedef struct {
    const Drover__SubmitRequest *req;
    Drover__SubmitRequest xreq;
    Drover__StepSpec *specs;
    Drover__StepSpec **ptrs;
    char **names; /* owned, one per expanded step (NULL for plain steps) */
    size_t n;
} gang_expansion_t;

/* Expands req (already checked by stepkind_check_submit and the DAG check)
 * into x. Returns 0; -1 with errno EINVAL and the reason in err when the
 * expansion exceeds a limit (steps, dependencies, name length), or ENOMEM. */
int gang_expand(const Drover__SubmitRequest *req, gang_expansion_t *x, char *err, size_t errlen);
void gang_expansion_free(gang_expansion_t *x);

/* One member of a placement: the worker it runs on (an identity the
 * caller compares by pointer), that worker's advertised address, and the
 * port reserved for it there. */
typedef struct {
    const void *worker;
    const char *addr;
    int port;
} gang_member_t;

/* The environment of member rank of the gang members[0..n) (rank order):
 * RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT,
 * DROVER_GANG_ID (gang_id), DROVER_GANG_HOSTS, DROVER_GANG_PORTS as
 * "NAME=VALUE" lines joined by '\n'. Returns a malloc'd string (caller
 * frees) or NULL (ENOMEM). */
char *gang_env(const gang_member_t *members, size_t n, size_t rank, const char *gang_id);

/* The Open MPI hostfile of the gang: one line "ADDR slots=K" per distinct
 * address, in the order of each one's first rank. malloc'd, or NULL. */
char *gang_hostfile(const gang_member_t *members, size_t n);

/* The base name of a member name ("train[2]" -> "train", length in *len)
 * and its rank; -1 when name is not a member name. */
int gang_member_name(const char *name, size_t *len);

#endif
