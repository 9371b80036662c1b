/* drover-worker — command line, configuration, wiring.
 *
 * Settings come from the `worker` group of the config file (--config, else
 * conf_default_path()), then command-line flags override them. Everything
 * else lives in worker.c (session and loop) and task.c (child processes).
 * Exit status: 0 after SIGTERM/SIGINT, 2 for bad usage or configuration or
 * when the coordinator refuses the worker, 1 for other fatal errors.
 *
 * The state folder (worker.state_dir, default <work_dir or cwd>/
 * .drover-worker, plus /NAME) holds the records of live task units
 * (contain.h), so a restarted worker ends what its predecessor left.
 *
 * CurveZMQ is the default: the worker needs its secret key file (--key,
 * worker.secret_key; refused when group or others may read it) and the
 * coordinator's public key file (--coordinator-key, worker.coordinator_key),
 * or an explicit --insecure / worker.insecure = true for a coordinator that
 * runs without CURVE. Secrets are never logged.
 */
#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <fcntl.h>
#include <getopt.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "keys.h"
#include "log.h"
#include "util.h"
#include "wire.h"
#include "worker.h"
#include "workflow.h" /* workflow_parse_size */

static void s_help(FILE *f)
{
    fprintf(f,
            "Usage: drover-worker [OPTION]...\n"
            "\n"
            "Runs drover tasks on this machine. A worker connects to the coordinator,\n"
            "registers with a name, a number of slots (tasks it runs at once) and labels,\n"
            "then runs each task it is assigned in its own child process, streams the\n"
            "task's output back, and reports how it ended. A task that crashes never takes\n"
            "the worker down; if the worker dies, its tasks die with it and the coordinator\n"
            "runs them again elsewhere. Run one worker per machine.\n"
            "\n"
            "Options (each overrides the `worker` group of the config file):\n"
            "  --config FILE         config file (default: $DROVER_CONFIG,\n"
            "                        ~/.config/drover/drover.cfg, /etc/drover/drover.cfg)\n"
            "  --coordinator ENDPOINT  the coordinator's worker endpoint\n"
            "                        (default " CONFIG_DEFAULT_WORKER_ENDPOINT ")\n"
            "  --name NAME           stable name of this worker (default: the hostname)\n"
            "  --slots N             tasks run at once (default: number of online CPU cores)\n"
            "  --prefetch N          assignments to queue beyond the slots, so a slot that frees\n"
            "                        starts the next task without a round trip (default 0;\n"
            "                        raise it for many short tasks, keep 0 for long ones)\n"
            "  --memory SIZE         memory offered to tasks, e.g. 64G (default: MemTotal)\n"
            "  --run-as USER         run tasks as USER (worker.run_as; the worker must start as\n"
            "                        root): tasks cannot read the worker's key or memory\n"
            "  --idle-exit DURATION  leave (drain and exit 0) after this long with no task\n"
            "                        (worker.idle_exit; default never; for workers in batch\n"
            "                        allocations, see deploy/slurm)\n"
            "  --gpus N              GPUs offered to tasks, indices 0..N-1, each given to one\n"
            "                        task at a time through CUDA_VISIBLE_DEVICES (default: the\n"
            "                        number of /dev/nvidia[0-9]* devices)\n"
            "  --label L             a label steps can ask for, e.g. gpu; repeat for more\n"
            "                        (replaces the labels of the config file)\n"
            "  --reserve-for WHAT    only steps asking for GPUs (gpu) or for one of its labels\n"
            "                        run here (worker.reserve_for; like a Slurm partition)\n"
            "  --advertise-addr A    the address gang peers reach this worker at (MASTER_ADDR;\n"
            "                        worker.advertise_addr; default: where it connects from)\n"
            "  --gang-ports LO-HI    ports the coordinator may reserve here for gang steps\n"
            "                        (MASTER_PORT; worker.gang_ports; default 29400-29499)\n"
            "  --work-dir DIR        working directory of tasks that set no cwd\n"
            "                        (default: the worker's own)\n"
            "  --artifact-dir DIR    artifact store of the built-in kinds (validate, train,\n"
            "                        evaluate); shared by every worker of a cluster\n"
            "                        (default: WORK_DIR/artifacts); also where exec steps'\n"
            "                        outputs are kept and their inputs downloaded to\n"
            "                        (worker.artifact_endpoint, worker.artifact_shared:\n"
            "                        docs/artifacts.md)\n"
            "  --artifact-shared     DIR is the coordinator's own artifact store (a shared\n"
            "                        folder): outputs are written there, never uploaded\n"
            "                        (worker.artifact_shared)\n"
            "  --key FILE            this worker's CurveZMQ secret key file (mode 0600;\n"
            "                        make one with: drover keygen --out FILE)\n"
            "  --coordinator-key FILE  the coordinator's public key file (its .pub)\n"
            "  --insecure            connect without CURVE (only a coordinator running with\n"
            "                        insecure = true accepts that)\n"
            "  --help                show this help\n"
            "  --version             print the version\n"
            "\n"
            "Stop it with SIGTERM or Ctrl-C: it drains (no new tasks; running ones may finish\n"
            "within worker.drain, default 30s; the rest go back to the queue); a second signal\n"
            "kills them at once. Every task runs in a unit of its own (a cgroup v2 where the\n"
            "worker may create one, else its own session under the worker as a subreaper):\n"
            "whatever a task starts ends with it (worker.cgroup, worker.state_dir;\n"
            "docs/reliability.md).\n"
            "Log level: DROVER_LOG=debug|info|warn|error.\n"
            "\n"
            "Example:\n"
            "  drover keygen --out /etc/drover/keys/node17   # then, with an admin key:\n"
            "  drover keys allow worker /etc/drover/keys/node17.pub\n"
            "  drover-worker --coordinator tcp://10.0.0.5:7461 --key /etc/drover/keys/node17 \\\n"
            "      --coordinator-key /etc/drover/keys/coordinator.pub --slots 4 --label gpu\n");
}

static int s_usage(const char *msg, const char *arg)
{
    fprintf(stderr, "drover-worker: %s%s%s\nTry 'drover-worker --help'.\n", msg, arg ? ": " : "",
            arg ? arg : "");
    return 2;
}

/* Parses a positive integer in [min, max]. Returns 0 or -1. */
static int s_parse_uint(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Tasks' pipes must never land on fds 0..2 (the child dup2s onto them), so
 * a worker started with any of them closed gets /dev/null there. */
static void s_ensure_std_fds(void)
{
    for (;;) {
        int fd = open("/dev/null", O_RDWR);
        if (fd < 0)
            return;
        if (fd > 2) {
            close(fd);
            return;
        }
    }
}

/* drover-task in the directory of this executable, if executable; else
 * buf is "". */
static void s_find_task_bin(char *buf, size_t len)
{
    char self[PATH_MAX];
    buf[0] = '\0';
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash)
        return;
    *slash = '\0';
    if (snprintf(buf, len, "%s/drover-task", self) >= (int)len || access(buf, X_OK) < 0)
        buf[0] = '\0';
}

/* The artifact store: the configured one, else <work_dir or cwd>/artifacts,
 * made absolute against the cwd. Returns 0 or -1 + errno. */
static int s_artifact_dir(const conf_worker_t *wc, char *buf, size_t len)
{
    char cwd[PATH_MAX];
    const char *base = wc->artifact_dir[0] ? wc->artifact_dir : wc->work_dir;
    const char *tail = wc->artifact_dir[0] ? "" : "/artifacts";
    if (base[0] == '/') {
        if (snprintf(buf, len, "%s%s", base, tail) >= (int)len)
            goto toolong;
        return 0;
    }
    if (!getcwd(cwd, sizeof cwd))
        return -1;
    if (snprintf(buf, len, "%s%s%s%s", cwd, base[0] ? "/" : "", base, tail) >= (int)len)
        goto toolong;
    return 0;
toolong:
    errno = ENAMETOOLONG;
    return -1;
}

enum {
    OPT_CONFIG = 256,
    OPT_COORDINATOR,
    OPT_NAME,
    OPT_SLOTS,
    OPT_PREFETCH,
    OPT_LABEL,
    OPT_WORK_DIR,
    OPT_ARTIFACT_DIR,
    OPT_ARTIFACT_SHARED,
    OPT_PROTOCOL_VERSION,
    OPT_KEY,
    OPT_COORDINATOR_KEY,
    OPT_INSECURE,
    OPT_MEMORY,
    OPT_GPUS,
    OPT_RUN_AS,
    OPT_HELP,
    OPT_VERSION,
    OPT_IDLE_EXIT,
    OPT_RESERVE_FOR,
    OPT_ADVERTISE_ADDR,
    OPT_GANG_PORTS,
};

/* MemTotal of /proc/meminfo in bytes, or 0 when unknown (then the
 * coordinator checks no memory for this worker). */
static uint64_t s_mem_total(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
            break;
    fclose(f);
    return (uint64_t)kb * 1024;
}

/* GPUs as the NVIDIA driver's device nodes (/dev/nvidia0, ...). Counted
 * rather than asked of CUDA: the daemon never initialises CUDA itself
 * (a driver fault must not take the worker down); tasks do, in children. */
static int s_count_gpus(void)
{
    glob_t g;
    int n = 0;
    if (glob("/dev/nvidia[0-9]*", 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++) {
            const char *p = g.gl_pathv[i] + strlen("/dev/nvidia");
            n += strspn(p, "0123456789") == strlen(p); /* not nvidia0-foo */
        }
    }
    globfree(&g);
    return n;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, OPT_CONFIG},
        {"coordinator", required_argument, NULL, OPT_COORDINATOR},
        {"name", required_argument, NULL, OPT_NAME},
        {"slots", required_argument, NULL, OPT_SLOTS},
        {"prefetch", required_argument, NULL, OPT_PREFETCH},
        {"label", required_argument, NULL, OPT_LABEL},
        {"work-dir", required_argument, NULL, OPT_WORK_DIR},
        {"artifact-dir", required_argument, NULL, OPT_ARTIFACT_DIR},
        {"artifact-shared", no_argument, NULL, OPT_ARTIFACT_SHARED},
        {"protocol-version", required_argument, NULL, OPT_PROTOCOL_VERSION}, /* tests only */
        {"key", required_argument, NULL, OPT_KEY},
        {"coordinator-key", required_argument, NULL, OPT_COORDINATOR_KEY},
        {"insecure", no_argument, NULL, OPT_INSECURE},
        {"memory", required_argument, NULL, OPT_MEMORY},
        {"gpus", required_argument, NULL, OPT_GPUS},
        {"run-as", required_argument, NULL, OPT_RUN_AS},
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
        {"idle-exit", required_argument, NULL, OPT_IDLE_EXIT},
        {"reserve-for", required_argument, NULL, OPT_RESERVE_FOR},
        {"advertise-addr", required_argument, NULL, OPT_ADVERTISE_ADDR},
        {"gang-ports", required_argument, NULL, OPT_GANG_PORTS},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *coordinator = NULL, *name = NULL, *work_dir = NULL,
               *artifact_dir = NULL, *key = NULL, *coordinator_key = NULL, *run_as = NULL,
               *reserve_for = NULL, *advertise_addr = NULL, *gang_ports = NULL;
    int insecure = 0, artifact_shared = 0;
    const char *labels[CONFIG_MAX_LABELS];
    int nlabels = 0;
    long slots = -1, prefetch = -1, version = DROVER_PROTOCOL_VERSION, gpus = -1;
    int64_t idle_exit_ms = -1;
    uint64_t memory = 0;
    int memory_set = 0;

    log_init("worker");
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case OPT_CONFIG: config = optarg; break;
        case OPT_COORDINATOR: coordinator = optarg; break;
        case OPT_NAME: name = optarg; break;
        case OPT_PREFETCH:
            if (s_parse_uint(optarg, 0, 100000, &prefetch) < 0)
                return s_usage("--prefetch needs a whole number from 0 to 100000", optarg);
            break;
        case OPT_SLOTS:
            if (s_parse_uint(optarg, 1, 1000000, &slots) < 0)
                return s_usage("--slots needs a whole number from 1 to 1000000", optarg);
            break;
        case OPT_LABEL:
            if (nlabels == CONFIG_MAX_LABELS)
                return s_usage("too many --label options (at most 32)", NULL);
            if (!optarg[0] || strlen(optarg) >= CONFIG_LABEL_MAX)
                return s_usage("a label must be 1 to 63 characters", optarg);
            labels[nlabels++] = optarg;
            break;
        case OPT_WORK_DIR: work_dir = optarg; break;
        case OPT_ARTIFACT_DIR: artifact_dir = optarg; break;
        case OPT_ARTIFACT_SHARED: artifact_shared = 1; break;
        case OPT_PROTOCOL_VERSION:
            if (s_parse_uint(optarg, 0, UINT32_MAX > LONG_MAX ? LONG_MAX : (long)UINT32_MAX,
                             &version) < 0)
                return s_usage("--protocol-version needs a whole number", optarg);
            break;
        case OPT_KEY: key = optarg; break;
        case OPT_COORDINATOR_KEY: coordinator_key = optarg; break;
        case OPT_INSECURE: insecure = 1; break;
        case OPT_MEMORY:
            if (workflow_parse_size(optarg, &memory) < 0)
                return s_usage("--memory needs a size, e.g. 64G, 512M or a number of bytes",
                               optarg);
            memory_set = 1;
            break;
        case OPT_GPUS:
            if (s_parse_uint(optarg, 0, 64, &gpus) < 0)
                return s_usage("--gpus needs a whole number from 0 to 64", optarg);
            break;
        case OPT_RUN_AS: run_as = optarg; break;
        case OPT_RESERVE_FOR: reserve_for = optarg; break;
        case OPT_ADVERTISE_ADDR: advertise_addr = optarg; break;
        case OPT_GANG_PORTS: gang_ports = optarg; break;
        case OPT_IDLE_EXIT:
            if (util_parse_duration_ms(optarg, &idle_exit_ms) < 0)
                return s_usage("--idle-exit needs a duration, e.g. 10m or 600", optarg);
            break;
        case OPT_HELP: s_help(stdout); return 0;
        case OPT_VERSION: printf("drover-worker %s\n", DROVER_VERSION); return 0;
        default:
            if (optopt && optopt >= OPT_CONFIG)
                return s_usage("option needs a value", argv[optind - 1]);
            return s_usage("unknown option", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return s_usage("unexpected argument", argv[optind]);

    conf_t cfg;
    char err[1200];
    if (!config)
        config = conf_default_path();
    if (conf_load(&cfg, config, err, sizeof err) < 0) {
        fprintf(stderr, "drover-worker: %s\n", err);
        return 2;
    }
    conf_worker_t *wc = &cfg.worker;
    if (coordinator && util_strlcpy(wc->coordinator, coordinator, sizeof wc->coordinator) < 0)
        return s_usage("--coordinator is too long", NULL);
    if (name && util_strlcpy(wc->name, name, sizeof wc->name) < 0)
        return s_usage("--name is too long", NULL);
    if (work_dir && util_strlcpy(wc->work_dir, work_dir, sizeof wc->work_dir) < 0)
        return s_usage("--work-dir is too long", NULL);
    if (artifact_dir && util_strlcpy(wc->artifact_dir, artifact_dir, sizeof wc->artifact_dir) < 0)
        return s_usage("--artifact-dir is too long", NULL);
    if (artifact_shared)
        wc->artifact_shared = 1;
    if (key && util_strlcpy(wc->secret_key, key, sizeof wc->secret_key) < 0)
        return s_usage("--key is too long", NULL);
    if (coordinator_key &&
        util_strlcpy(wc->coordinator_key, coordinator_key, sizeof wc->coordinator_key) < 0)
        return s_usage("--coordinator-key is too long", NULL);
    if (insecure)
        wc->insecure = 1;
    if (run_as && util_strlcpy(wc->run_as, run_as, sizeof wc->run_as) < 0)
        return s_usage("--run-as is too long", NULL);
    /* worker.run_as: tasks under a uid of their own, which cannot read this
     * worker's key, config or memory (docs/security.md). */
    uid_t run_uid = 0;
    gid_t run_gid = 0;
    if (wc->run_as[0]) {
        errno = 0;
        struct passwd *pw = getpwnam(wc->run_as);
        if (!pw) {
            fprintf(stderr, "drover-worker: worker.run_as: no user '%s'%s%s\n", wc->run_as,
                    errno ? ": " : "", errno ? strerror(errno) : "");
            return 2;
        }
        if (pw->pw_uid == 0) {
            fprintf(stderr,
                    "drover-worker: worker.run_as: '%s' is root; name an unprivileged user "
                    "for tasks\n",
                    wc->run_as);
            return 2;
        }
        if (geteuid() != 0) {
            fprintf(stderr,
                    "drover-worker: worker.run_as needs the worker to start as root (it "
                    "switches each task to '%s'); it runs as uid %u\n",
                    wc->run_as, (unsigned)geteuid());
            return 2;
        }
        run_uid = pw->pw_uid;
        run_gid = pw->pw_gid;
        log_info("tasks run as user %s (uid %u, gid %u)", wc->run_as, (unsigned)run_uid,
                 (unsigned)run_gid);
    }
    if (slots > 0)
        wc->slots = (int)slots;
    if (prefetch >= 0)
        wc->prefetch = (int)prefetch;
    if (nlabels > 0) {
        for (int i = 0; i < nlabels; i++)
            util_strlcpy(wc->labels[i], labels[i], CONFIG_LABEL_MAX);
        wc->nlabels = nlabels;
    }

    char host[256];
    if (gethostname(host, sizeof host) < 0)
        util_strlcpy(host, "localhost", sizeof host);
    host[sizeof host - 1] = '\0';
    if (!wc->name[0])
        util_strlcpy(wc->name, host, sizeof wc->name);
    if (wc->slots <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        wc->slots = n > 0 ? (int)n : 1;
    }
    if (memory_set)
        wc->memory_bytes = memory;
    else if (wc->memory_bytes == 0)
        wc->memory_bytes = s_mem_total();
    if (idle_exit_ms >= 0)
        wc->idle_exit_ms = idle_exit_ms;
    if (gpus >= 0)
        wc->gpus = (int)gpus;
    else if (wc->gpus < 0)
        wc->gpus = s_count_gpus();
    if (wc->gpus > 64) {
        fprintf(stderr, "drover-worker: worker.gpus must be at most 64\n");
        return 2;
    }
    if (reserve_for && util_strlcpy(wc->reserve_for, reserve_for, sizeof wc->reserve_for) < 0) {
        fprintf(stderr, "drover-worker: --reserve-for is too long\n");
        return 2;
    }
    if (wc->reserve_for[0] && strcmp(wc->reserve_for, "gpu") != 0) {
        int ok = 0;
        for (int i = 0; i < wc->nlabels && !ok; i++)
            ok = strcmp(wc->labels[i], wc->reserve_for) == 0;
        if (!ok) {
            fprintf(stderr,
                    "drover-worker: reserve_for '%s' is neither \"gpu\" nor one of the "
                    "worker's labels (add --label %s)\n",
                    wc->reserve_for, wc->reserve_for);
            return 2;
        }
    }
    /* Gang steps (docs/distributed.md): what peers reach this worker at,
     * and the ports the coordinator may hand out here. */
    unsigned gang_lo = 0, gang_hi = 0;
    if ((advertise_addr &&
         util_strlcpy(wc->advertise_addr, advertise_addr, sizeof wc->advertise_addr) < 0) ||
        (gang_ports && util_strlcpy(wc->gang_ports, gang_ports, sizeof wc->gang_ports) < 0)) {
        fprintf(stderr, "drover-worker: --advertise-addr or --gang-ports is too long\n");
        return 2;
    }
    if (wc->gang_ports[0]) {
        char tail;
        if (sscanf(wc->gang_ports, "%u-%u%c", &gang_lo, &gang_hi, &tail) != 2 || gang_lo < 1024 ||
            gang_hi > 65535 || gang_lo > gang_hi || gang_hi - gang_lo >= 4096) {
            fprintf(stderr, "drover-worker: worker.gang_ports must be LO-HI within 1024-65535, "
                            "at most 4096 ports (e.g. \"29400-29499\")\n");
            return 2;
        }
    }
    for (const char *p = wc->advertise_addr; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != ':') {
            fprintf(stderr, "drover-worker: worker.advertise_addr must be a host name or an IP "
                            "address\n");
            return 2;
        }
    if (!wc->coordinator[0]) {
        fprintf(stderr, "drover-worker: no coordinator endpoint; set worker.coordinator in the "
                        "config file or pass --coordinator\n");
        return 2;
    }
    if (wc->work_dir[0]) {
        struct stat st;
        if (stat(wc->work_dir, &st) < 0) {
            fprintf(stderr, "drover-worker: work directory '%s' is not usable: %s\n", wc->work_dir,
                    strerror(errno));
            return 2;
        }
        if (!S_ISDIR(st.st_mode)) {
            fprintf(stderr, "drover-worker: work directory '%s' is not a directory\n",
                    wc->work_dir);
            return 2;
        }
    }

    /* Built-in kinds need drover-task beside this binary and an absolute
     * artifact store (tasks may run in another cwd). */
    char task_bin[PATH_MAX], art[PATH_MAX + 16];
    s_find_task_bin(task_bin, sizeof task_bin);
    if (s_artifact_dir(wc, art, sizeof art) < 0) {
        fprintf(stderr, "drover-worker: cannot resolve the artifact directory: %s\n",
                strerror(errno));
        return 2;
    }
    if (task_bin[0])
        log_info("built-in kinds validate, train, evaluate run with %s; artifacts in %s", task_bin,
                 art);
    else
        log_info("no executable drover-task next to drover-worker: only exec steps can run here");

    /* CURVE keys; loaded after the config so a bad file is a config error. */
    keys_pair_t mine, coord;
    memset(&mine, 0, sizeof mine);
    memset(&coord, 0, sizeof coord);
    int curve = 0;
    if (wc->insecure) {
        log_warn("connecting WITHOUT CurveZMQ (--insecure / worker.insecure): traffic is neither "
                 "authenticated nor encrypted, and only a coordinator running with insecure = true "
                 "accepts it");
    } else {
        if (!wc->secret_key[0] || !wc->coordinator_key[0]) {
            fprintf(stderr,
                    "drover-worker: no %s: the coordinator only admits workers with an allowed "
                    "CurveZMQ key. Make one with `drover keygen --out FILE`, allow FILE.pub with "
                    "`drover keys allow worker FILE.pub`, then pass --key FILE and "
                    "--coordinator-key COORDINATOR.pub (or set worker.secret_key and "
                    "worker.coordinator_key in the config file); --insecure only for a "
                    "coordinator running with insecure = true\n",
                    !wc->secret_key[0]
                        ? "secret key (--key, worker.secret_key)"
                        : "coordinator key (--coordinator-key, worker.coordinator_key)");
            return 2;
        }
        if (keys_load(wc->secret_key, 1, &mine, err, sizeof err) < 0 ||
            keys_load(wc->coordinator_key, 0, &coord, err, sizeof err) < 0) {
            keys_wipe(&mine);
            fprintf(stderr, "drover-worker: %s\n", err);
            return 2;
        }
        curve = 1;
        log_info("CurveZMQ: this worker's key is '%s' (public %s)", mine.name, mine.public_z85);
    }

    /* The state folder: records of live task units (contain.h), one
     * folder per worker name so workers sharing a work dir never meet. */
    char state_dir[PATH_MAX + 256];
    {
        const char *base = wc->state_dir[0] ? wc->state_dir : wc->work_dir;
        const char *tail = wc->state_dir[0] ? "" : "/.drover-worker";
        char cwd[PATH_MAX];
        if (base[0] != '/' && !getcwd(cwd, sizeof cwd)) {
            fprintf(stderr, "drover-worker: cannot resolve the state folder: %s\n",
                    strerror(errno));
            return 2;
        }
        if (snprintf(state_dir, sizeof state_dir, "%s%s%s%s/%s", base[0] == '/' ? "" : cwd,
                     base[0] == '/' || !base[0] ? "" : "/", base, tail,
                     wc->name) >= (int)sizeof state_dir ||
            strchr(wc->name, '/')) {
            fprintf(stderr, "drover-worker: the state folder path is too long, or the worker "
                            "name holds a '/'\n");
            return 2;
        }
    }

    const char *label_ptrs[CONFIG_MAX_LABELS];
    for (int i = 0; i < wc->nlabels; i++)
        label_ptrs[i] = wc->labels[i];
    worker_opts_t wo = {
        .endpoint = wc->coordinator,
        .name = wc->name,
        .host = host,
        .slots = wc->slots,
        .prefetch = wc->prefetch,
        .memory_bytes = wc->memory_bytes,
        .gpus = (uint32_t)wc->gpus,
        .run_as = wc->run_as[0] != 0,
        .run_uid = run_uid,
        .run_gid = run_gid,
        .labels = label_ptrs,
        .nlabels = wc->nlabels,
        .reserve_for = wc->reserve_for,
        .advertise_addr = wc->advertise_addr,
        .gang_port_lo = gang_lo,
        .gang_port_hi = gang_hi,
        .kill_grace_ms = wc->kill_grace_ms,
        .work_dir = wc->work_dir,
        .task_bin = task_bin,
        .artifact_dir = art,
        .artifact_endpoint = wc->artifact_endpoint,
        .artifact_shared = wc->artifact_shared,
        .protocol_version = (uint32_t)version,
        .curve_server = curve ? coord.public_z85 : NULL,
        .curve_public = curve ? mine.public_z85 : NULL,
        .curve_secret = curve ? mine.secret_z85 : NULL,
        .key_name = curve ? mine.name : NULL,
        .cgroup = wc->cgroup,
        .state_dir = state_dir,
        .drain_ms = wc->drain_ms,
        .idle_exit_ms = wc->idle_exit_ms,
        .metrics_listen = wc->metrics_listen,
    };

    s_ensure_std_fds();
    worker_t *w = worker_new(&wo, err, sizeof err);
    keys_wipe(&mine); /* libzmq holds its own copy now */
    if (!w) {
        /* Bad endpoint syntax is the usual cause: a configuration error. */
        log_error("%s", err);
        return 2;
    }
    int rc = worker_run(w);
    worker_destroy(&w);
    return rc;
}
