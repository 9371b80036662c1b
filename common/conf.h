/* conf — the libconfig configuration file shared by all three programs.
 *
 * One file, three optional groups:
 *
 *   coordinator = { client_endpoint = "tcp://127.0.0.1:7460";
 *                   worker_endpoint = "tcp://127.0.0.1:7461";
 *                   database = "host=127.0.0.1 port=7432 dbname=drover user=postgres";
 *                   heartbeat_interval = 1.0; worker_timeout = 10.0;
 *                   max_lost = 3; max_message = 16777216; };
 *   worker      = { coordinator = "tcp://127.0.0.1:7461"; name = "gpu-node-1";
 *                   slots = 8; prefetch = 0; labels = ["gpu"]; kill_grace = 2.0;
 *                   work_dir = "/var/lib/drover";
 *                   artifact_dir = "/shared/drover/artifacts";
 *                   memory = "64G"; gpus = 2; };
 *   cli         = { coordinator = "tcp://127.0.0.1:7460"; timeout = 3.0; };
 *
 * Durations are seconds (int or float) or strings with a unit ("250ms").
 * Every setting has a default that fits the local cluster; unknown keys and
 * wrong types are errors reported as "file:line: message".
 */
#ifndef DROVER_CONF_H
#define DROVER_CONF_H

#include <stddef.h>
#include <stdint.h>

#define CONFIG_ENDPOINT_MAX     256
#define CONFIG_MAX_LABELS       32
#define CONFIG_LABEL_MAX        64
#define CONFIG_MAX_KEYS         16
#define CONFIG_MAX_NOTIFY       8  /* event kinds in coordinator.notify.on */
#define CONFIG_MAX_NOTIFY_ALLOW 16 /* webhook prefixes in coordinator.notify.allow */
/* The notification kinds (coordinator.notify.on, a workflow's notify.on). */
#define CONFIG_NOTIFY_KINDS_TEXT                                                                   \
    "failed, rejected, succeeded, cancelled, schedule_missed, awaiting_approval"

#define CONFIG_DEFAULT_CLIENT_ENDPOINT "tcp://127.0.0.1:7460"
#define CONFIG_DEFAULT_WORKER_ENDPOINT "tcp://127.0.0.1:7461"
#define CONFIG_DEFAULT_DATABASE        "host=127.0.0.1 port=7432 dbname=drover user=postgres"

typedef struct {
    char client_endpoint[CONFIG_ENDPOINT_MAX];
    char worker_endpoint[CONFIG_ENDPOINT_MAX];
    char database[1024];        /* libpq conninfo; PG* environment applies too */
    int64_t heartbeat_ms;       /* interval told to workers */
    int64_t worker_timeout_ms;  /* silence after which a worker is dead */
    int max_lost;               /* requeues after worker loss before a task fails */
    size_t max_message;         /* bytes; larger frames drop the peer */
    int64_t retry_delay_cap_ms; /* upper bound of the retry backoff */
    /* Security (docs/operations.md). */
    char secret_key[1024];                  /* the coordinator's CURVE key file */
    int insecure;                           /* 1 = no CURVE (refused on non-loopback endpoints) */
    char admin_keys[CONFIG_MAX_KEYS][1024]; /* .pub files allowed as admin at start */
    int nadmin_keys;
    size_t max_log_bytes; /* stored log bytes per task attempt and stream */
    int client_rate;      /* requests per second per client key (burst 2x) */
    /* Retention (coordinator/gc.h): how long rows are kept; 0 = forever. */
    int64_t retain_events_ms;  /* run and task transitions (drover.events, not the audit) */
    int64_t retain_audit_ms;   /* the audit trail (events of kind 'command') */
    int64_t retain_logs_ms;    /* task output (drover.task_logs) */
    int64_t retain_metrics_ms; /* per-epoch metrics (drover.task_metrics) */
    int64_t retain_runs_ms; /* finished runs, with their tasks (never one a model version names) */
    char metrics_listen[CONFIG_ENDPOINT_MAX]; /* HOST:PORT of /metrics, /healthz, /readyz; "" = off
                                               */
    int worker_rate;                          /* messages per second per worker key (burst 2x) */
    char artifact_dir[1024]; /* the workers' artifact store as this host sees it; "" =
                              * none: model artifacts cannot be verified, so a train
                              * step's model is not registered (docs/security.md) */
    char artifact_listen[CONFIG_ENDPOINT_MAX]; /* the artifact service's socket (workers'
                                                * keys); "" = off: steps' outputs cannot move
                                                * between hosts (docs/artifacts.md) */
    size_t artifact_max_size; /* bytes of one artifact through the service (10 GiB) */
    /* Notifications (coordinator/notify.h): webhook deliveries. */
    char notify_webhook[1024];     /* http(s) URL; "" = off */
    char notify_secret_file[1024]; /* HMAC-SHA256 key for X-Drover-Signature; "" = unsigned */
    char notify_on[CONFIG_MAX_NOTIFY][24]; /* event kinds sent (default failed, rejected) */
    int nnotify_on;
    /* URL prefixes a workflow's own webhook must start with (none = workflows
     * may not name webhooks); each is http(s)://HOST[:PORT]/... */
    char notify_allow[CONFIG_MAX_NOTIFY_ALLOW][256];
    int nnotify_allow;
    int64_t notify_timeout_ms; /* one delivery attempt at most this long */
    /* Folders data triggers may watch (absolute; none = triggers refused). */
    char trigger_roots[CONFIG_MAX_KEYS][1024];
    int ntrigger_roots;
    int test_clock;          /* 1 = honour DROVER_CLOCK_FILE (tests only; warned at start) */
    int64_t leader_lease_ms; /* leadership lease: a standby answers within it of the last renewal */
    /* Placement (coordinator/place.h, docs/scheduling.md). */
    int64_t default_time_limit_ms; /* planning limit of a step without a timeout */
    int64_t priority_aging_ms;     /* waiting that earns one priority point; 0 = no aging */
    int64_t gang_reserve_max_ms;   /* a waiting gang holds workers at most this long at once */
} conf_coordinator_t;

typedef struct {
    char coordinator[CONFIG_ENDPOINT_MAX];
    char name[128]; /* "" = hostname */
    int slots;      /* 0 = number of online cores */
    int prefetch;   /* assignments queued beyond slots (0 = none) */
    char labels[CONFIG_MAX_LABELS][CONFIG_LABEL_MAX];
    int nlabels;
    int64_t kill_grace_ms; /* SIGTERM → SIGKILL grace on timeout/cancel */
    char work_dir[1024];   /* cwd of tasks without their own; "" = worker's cwd */
    char
        artifact_dir[1024]; /* artifact store of built-in kinds; "" = <work_dir or cwd>/artifacts */
    char artifact_endpoint[CONFIG_ENDPOINT_MAX]; /* the coordinator's artifact service; "" = none */
    int artifact_shared;        /* 1 = artifact_dir is the coordinator's store (no copies) */
    char secret_key[1024];      /* this worker's CURVE key file */
    char coordinator_key[1024]; /* the coordinator's public key file */
    int insecure;
    uint64_t memory_bytes; /* memory offered to tasks; 0 = MemTotal of /proc/meminfo */
    int gpus;              /* GPUs offered (indices 0..gpus-1); -1 = count /dev/nvidia[0-9]* */
    char metrics_listen[CONFIG_ENDPOINT_MAX]; /* HOST:PORT of /metrics, /healthz, /readyz; "" = off
                                               */
    char run_as[64];      /* user tasks run as ("" = the worker's own); needs root */
    char cgroup[1024];    /* "" = automatic, "off", or a cgroup v2 folder for task units */
    char state_dir[1024]; /* "" = <work_dir or cwd>/.drover-worker; one folder per name in it */
    int64_t drain_ms;     /* SIGTERM: running tasks may finish for this long */
    int64_t idle_exit_ms; /* leave after this long with no task; 0 = never */
    char reserve_for[CONFIG_LABEL_MAX]; /* "" = any step; "gpu" or a label: only such steps */
    char advertise_addr[254];           /* gang peers reach it here; "" = where it connects from */
    char gang_ports[32];                /* "LO-HI" ports for gang rendezvous; "" = 29400-29499 */
} conf_worker_t;

typedef struct {
    char coordinator[CONFIG_ENDPOINT_MAX];
    int64_t timeout_ms;         /* how long to wait for the coordinator */
    char secret_key[1024];      /* this client's CURVE key file */
    char coordinator_key[1024]; /* the coordinator's public key file */
    int insecure;
} conf_cli_t;

typedef struct {
    conf_coordinator_t coord;
    conf_worker_t worker;
    conf_cli_t cli;
    char path[1024];         /* file it was loaded from, "" for defaults */
    int cli_coordinator_set; /* cli.coordinator was given in the file */
} conf_t;

/* Fills cfg with the built-in defaults. */
void conf_defaults(conf_t *cfg);

/* The config file to use when none is given: $DROVER_CONFIG, else
 * ~/.config/drover/drover.cfg or /etc/drover/drover.cfg when they exist,
 * else NULL. Returns a pointer to static storage. */
const char *conf_default_path(void);

/* Loads defaults, then the file at path over them. Returns 0, or -1 with
 * "file:line: message" in err (cfg then holds defaults only). */
int conf_load(conf_t *cfg, const char *path, char *err, size_t errlen);

/* Reads a libconfig file into lc (config_init'ed by the caller, who
 * destroys it either way) for any of drover's config files: 0, or -1 with
 * "path: cannot read the file: ..." or "path:line: message" in err (errno
 * EINVAL). */
struct config_t;
int conf_read(struct config_t *lc, const char *path, char *err, size_t errlen);

/* 1 if kind is one of CONFIG_NOTIFY_KINDS_TEXT. */
int conf_notify_kind_ok(const char *kind);

#endif
