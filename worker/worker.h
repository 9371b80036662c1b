/* worker — the worker daemon's session with the coordinator and its loop.
 *
 * One DEALER socket to the coordinator's worker endpoint, one signalfd, and
 * the output pipes of every task child, all in one zmq_poll loop. The
 * session/lease protocol is described at the top of worker.c.
 */
#ifndef DROVER_WORKER_WORKER_H
#define DROVER_WORKER_WORKER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct worker worker_t;

/* Settings, resolved by main from config file and flags. Strings are copied
 * by worker_new(). */
typedef struct {
    const char *endpoint; /* coordinator's worker ROUTER endpoint */
    const char *name;     /* stable worker name */
    const char *host;     /* this machine's hostname */
    int slots;
    int prefetch; /* assignments queued beyond slots */
    const char *const *labels;
    int nlabels;
    const char *reserve_for;    /* "" = any step; "gpu" or one of labels (Register.reserve_for) */
    const char *advertise_addr; /* Register.advertise_addr; NULL/"" = the connecting address */
    uint32_t gang_port_lo, gang_port_hi; /* 0 = the coordinator's default range */
    int64_t kill_grace_ms;
    const char *work_dir;          /* "" = the worker's cwd */
    const char *task_bin;          /* drover-task for built-in kinds; NULL/"" = exec only */
    const char *artifact_dir;      /* DROVER_ARTIFACTS given to built-in kinds; also the store
                                    * (and download cache) of exec steps' artifacts (xfer.h) */
    const char *artifact_endpoint; /* the coordinator's artifact service; NULL/"" = none */
    int artifact_shared;           /* artifact_dir is the coordinator's store: no copies */
    uint32_t protocol_version;     /* DROVER_PROTOCOL_VERSION except in tests */
    /* CurveZMQ (Z85, 40 characters); all NULL = a plain connection, which
     * only a coordinator running with insecure = true accepts. */
    const char *curve_server; /* the coordinator's public key */
    const char *curve_public; /* this worker's key pair */
    const char *curve_secret;
    const char *key_name; /* for messages */
    /* Resources offered to tasks (Register.memory_bytes, .gpus). */
    uint64_t memory_bytes; /* 0 = unknown: the coordinator checks no memory */
    uint32_t gpus;         /* GPU indices 0..gpus-1 */
    /* worker.run_as: tasks run as this uid/gid (run_as = 1), not as the
     * worker's user, so they cannot read its key. */
    int run_as;
    uid_t run_uid;
    gid_t run_gid;
    /* Containment (contain.h): worker.cgroup ("" auto, "off", or a path)
     * and this worker's state folder (records of live task units). */
    const char *cgroup;
    const char *state_dir;
    int64_t drain_ms;           /* SIGTERM: how long running tasks may finish */
    int64_t idle_exit_ms;       /* drain and exit after this long with no task; 0 = never */
    const char *metrics_listen; /* HOST:PORT of /metrics, /healthz, /readyz; NULL/"" = off */
} worker_opts_t;

/* Blocks SIGCHLD/SIGTERM/SIGINT/SIGHUP (read through a signalfd from then
 * on; done before the ZeroMQ context exists so its threads inherit the mask),
 * creates the socket (a CURVE client when opts has keys) and connects it.
 * Returns NULL with a message in err. */
worker_t *worker_new(const worker_opts_t *opts, char *err, size_t errlen);

/* Runs until the worker must stop. Returns the process exit status:
 * 0 after a SIGTERM/SIGINT shutdown, 2 when the coordinator refused the
 * worker, 1 on a fatal local error (logged). */
int worker_run(worker_t *w);

/* Kills (SIGKILL) any child still running, frees everything, closes the
 * socket and context. NULL-safe; nulls *wp. */
void worker_destroy(worker_t **wp);

#endif
