/* task — one attempt's child process: spawn, output, kill, reap.
 *
 * Spawning. Everything the child needs (argv, envp, cwd) is built in the
 * parent before fork(): the worker has ZeroMQ I/O threads, so between fork
 * and exec the child may only make async-signal-safe calls (no malloc, no
 * setenv). The child starts its own session and process group and joins
 * its containment unit (contain.h: a cgroup, or a tagged session under a
 * subreaper worker), asks for SIGKILL when
 * the worker dies and checks the worker did not die before that took hold,
 * resets signal dispositions and mask (the worker blocks signals for its
 * signalfd), and execs. A chdir or exec failure travels back over an
 * O_CLOEXEC status pipe as {stage, errno}: EOF on that pipe means the exec
 * happened, so the parent knows synchronously whether the task started.
 *
 * The output channel. Every child gets a third pipe on fd 3
 * (DROVER_OUTPUT_FD=3) on which it writes JSON lines: {"metric": {...}}
 * lines are queued and handed to the worker one at a time (seq from 0 per
 * attempt), {"output": {...}} lines replace the attempt's outputs (the last
 * one wins; sent with the Result). A line that is not one of these, is not
 * JSON, or is longer than TASK_LINE_MAX is counted and dropped: the child
 * is untrusted and must never crash or stall the worker. While
 * TASK_METRIC_QUEUE metrics wait, the pipe is not read (back-pressure, as
 * for logs).
 *
 * Built-in kinds (validate, train, evaluate) exec `drover-task KIND` (the
 * path the worker found next to itself) with the spec in DROVER_SPEC and
 * the artifact store in DROVER_ARTIFACTS; the worker never links the ML
 * code itself.
 *
 * Every signal goes to the whole unit, and once the leader is reaped the
 * rest of the unit is SIGKILLed: an attempt is FINISHED only when no
 * process it started is left, so a retry never runs beside its leftovers.
 * A unit that saw an OOM kill reports "killed: out of memory (limit 100M)".
 *
 * Invariants: a task in TASK_FINISHED has been reaped (pid no longer ours),
 * its unit is empty, and it has all three pipes closed; a stream with a waiting chunk is never
 * read again until the chunk is handed over, so offsets are exact.
 */
#include "task.h"
#include "register.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

extern char **environ;

typedef struct {
    int fd;           /* read end, -1 once closed */
    uint8_t *buf;     /* TASK_CHUNK_MAX bytes, allocated on first read */
    size_t len;       /* bytes of the waiting chunk; 0 = none */
    uint64_t offset;  /* bytes of this stream handed over so far */
    uint8_t *tail;    /* ring: the last tail_len bytes handed over, ending at offset */
    size_t tail_head; /* where the oldest of them is */
    size_t tail_len;
    size_t tail_cap; /* grows with the output, up to TASK_TAIL_MAX */
} stream_t;

struct task {
    uint64_t task_id;
    uint32_t attempt;
    task_phase_t phase;
    pid_t pid;
    stream_t streams[2]; /* [0] stdout, [1] stderr */
    int64_t kill_grace_ms;

    /* fd 3 output channel */
    int out_fd; /* read end, -1 once closed */
    char *line; /* the incomplete line so far */
    size_t line_len, line_cap;
    int line_skip;  /* inside an oversized line: drop up to its newline */
    char **metrics; /* queued metric JSON texts, FIFO */
    size_t nmetrics, metrics_head;
    uint32_t metric_seq; /* seq of metrics[metrics_head] */
    char *outputs_json;  /* the last {"output": X} as compact X, or NULL */
    char *register_json; /* the last {"register_model": X} as compact X, or NULL */
    /* What carrying out register_model needs (worker/register.h). */
    char *cwd, *artifact_dir, *spec_json;
    uid_t run_uid; /* the step's user when run_as, else (uid_t)-1 */
    uint64_t bad_lines;
    uint64_t bad_logged; /* bad_lines when the last warning was logged */
    int64_t bad_next_ms; /* log the next warning from then on */

    int64_t started_at_us;
    int64_t finished_at_us;
    int64_t started_ms; /* monotonic, for durations */
    int64_t finished_ms;
    int64_t timeout_at_ms;  /* 0 = no timeout */
    int64_t sigkill_at_ms;  /* 0 = no escalation pending */
    int64_t drain_until_ms; /* set when reaped with a pipe still open */

    Drover__Outcome kill_reason; /* UNSPECIFIED unless we killed it */
    Drover__Outcome outcome;     /* set when finished */
    int exit_code;
    int term_signal;
    char *error; /* SPAWN_FAILED text, else NULL */

    contain_unit_t *unit; /* NULL without containment */
    int unit_empty;       /* the unit was seen empty after the reap */
};

/* What the child reports over the status pipe before _exit(127). */
enum { STAGE_SETUP = 0, STAGE_CHDIR = 1, STAGE_EXEC = 2 };
typedef struct {
    int stage;
    int err;
} spawn_status_t;

/* Everything the child needs, built before fork. */
typedef struct {
    char **argv;
    char **envp;
    char *cwd;  /* NULL = stay in the worker's cwd */
    int run_as; /* drop to uid/gid in the child */
    uid_t uid;
    gid_t gid;
} launch_t;

static void s_strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

static void s_launch_clear(launch_t *l)
{
    s_strv_free(l->argv);
    s_strv_free(l->envp);
    free(l->cwd);
    memset(l, 0, sizeof *l);
}

static void s_fail(task_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Marks the task finished as SPAWN_FAILED with a formatted error. */
static void s_fail(task_t *t, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    free(t->error);
    t->error = strdup(buf); /* NULL on ENOMEM: an empty error still reports SPAWN_FAILED */
    t->outcome = DROVER__OUTCOME__OUTCOME_SPAWN_FAILED;
    t->phase = TASK_FINISHED;
    t->finished_at_us = util_now_us();
    t->finished_ms = util_mono_ms();
    if (t->started_at_us == 0) {
        t->started_at_us = t->finished_at_us;
        t->started_ms = t->finished_ms;
    }
}

static int s_is_drover_var(const char *entry, size_t namelen)
{
    static const char *names[] = {"DROVER_RUN_ID",    "DROVER_STEP",      "DROVER_TASK_ID",
                                  "DROVER_ATTEMPT",   "DROVER_OUTPUT_FD", "DROVER_SPEC",
                                  "DROVER_ARTIFACTS", "DROVER_CONTAIN"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == namelen && strncmp(entry, names[i], namelen) == 0)
            return 1;
    return 0;
}

/* 1 when entry (name of length namelen) is one of the gang's variables. */
static int s_is_gang_var(const task_spec_t *spec, const char *entry, size_t namelen)
{
    for (size_t i = 0; i < spec->ngang_env; i++)
        if (strncmp(spec->gang_env[i], entry, namelen) == 0 && spec->gang_env[i][namelen] == '=')
            return 1;
    return 0;
}

/* Appends the gang's variables at envp[*k]. */
static int s_gang_env(const task_spec_t *spec, char **envp, size_t *k)
{
    for (size_t i = 0; i < spec->ngang_env; i++)
        if (!(envp[(*k)++] = strdup(spec->gang_env[i])))
            return -1;
    return 0;
}

/* Writes the gang's hostfile as `hostfile` in dir (NULL = the worker's
 * cwd, which the child inherits), atomically: every member of the gang on
 * this worker writes the same text. 0, or -1 with the reason in err. */
static int s_gang_hostfile(const task_spec_t *spec, const char *dir, char *err, size_t errlen)
{
    if (!spec->gang_hostfile || !spec->gang_hostfile[0])
        return 0;
    char path[4096], tmp[4160];
    if (snprintf(path, sizeof path, "%s/hostfile", dir ? dir : ".") >= (int)sizeof path) {
        snprintf(err, errlen, "cannot write the gang hostfile: folder name too long");
        return -1;
    }
    snprintf(tmp, sizeof tmp, "%s.%llu.%u.tmp", path, (unsigned long long)spec->task_id,
             spec->attempt);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    size_t n = strlen(spec->gang_hostfile);
    if (fd < 0 || write(fd, spec->gang_hostfile, n) != (ssize_t)n || close(fd) < 0 ||
        (fd = -1, rename(tmp, path) < 0)) {
        snprintf(err, errlen, "cannot write the gang hostfile %.900s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        return -1;
    }
    /* A run_as child reads it; it is the worker's to replace. */
    return 0;
}

/* Parses spec_json into l. Returns 0, or -1 with the reason in err
 * (ENOMEM is reported the same way: the task fails rather than the worker). */
int task_kind_builtin(const char *kind)
{
    return kind && (strcmp(kind, "validate") == 0 || strcmp(kind, "train") == 0 ||
                    strcmp(kind, "evaluate") == 0 || strcmp(kind, "score") == 0);
}

/* 1 when entry (name of length namelen) is CUDA_VISIBLE_DEVICES and the
 * spec sets it: then neither the worker's nor the step's value may leak. */
static int s_is_cuda_var(const task_spec_t *spec, const char *entry, size_t namelen)
{
    return spec->cuda_visible_devices && namelen == strlen("CUDA_VISIBLE_DEVICES") &&
           strncmp(entry, "CUDA_VISIBLE_DEVICES", namelen) == 0;
}

/* CUDA_VISIBLE_DEVICES=LIST into envp[*k] when the spec sets it (GPU
 * placement is exclusive: the coordinator assigned exactly these). */
static int s_cuda_env(const task_spec_t *spec, char **envp, size_t *k)
{
    if (!spec->cuda_visible_devices)
        return 0;
    if (asprintf(&envp[*k], "CUDA_VISIBLE_DEVICES=%s", spec->cuda_visible_devices) < 0) {
        envp[*k] = NULL;
        return -1;
    }
    (*k)++;
    return 0;
}

/* Environment: the worker's minus drover's own names, then extra (NULL-
 * terminated "K=V" strings, copied), then drover's per-task variables. */
static int s_build_env(const task_spec_t *spec, launch_t *l, const char *const *extra)
{
    size_t nenv = 0, nextra = 0;
    for (char **e = environ; e && *e; e++)
        nenv++;
    while (extra && extra[nextra])
        nextra++;
    l->envp = calloc(nenv + nextra + spec->ngang_env + 8, sizeof *l->envp);
    if (!l->envp)
        return -1;
    size_t k = 0;
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        size_t nl = eq ? (size_t)(eq - *e) : strlen(*e);
        if (s_is_drover_var(*e, nl) || s_is_cuda_var(spec, *e, nl) || s_is_gang_var(spec, *e, nl))
            continue;
        if (!(l->envp[k++] = strdup(*e)))
            return -1;
    }
    for (size_t i = 0; i < nextra; i++)
        if (!(l->envp[k++] = strdup(extra[i])))
            return -1;
    if (s_gang_env(spec, l->envp, &k) < 0 || s_cuda_env(spec, l->envp, &k) < 0)
        return -1;
    if (asprintf(&l->envp[k], "DROVER_RUN_ID=%llu", (unsigned long long)spec->run_id) < 0 ||
        (k++, asprintf(&l->envp[k], "DROVER_STEP=%s", spec->step ? spec->step : "") < 0) ||
        (k++,
         asprintf(&l->envp[k], "DROVER_TASK_ID=%llu", (unsigned long long)spec->task_id) < 0) ||
        (k++, asprintf(&l->envp[k], "DROVER_ATTEMPT=%u", spec->attempt) < 0) ||
        (k++, asprintf(&l->envp[k], "DROVER_OUTPUT_FD=3") < 0)) {
        l->envp[k] = NULL;
        return -1;
    }
    k++;
    if (spec->contain_env && !(l->envp[k] = strdup(spec->contain_env)))
        return -1;
    return 0;
}

/* A built-in kind: drover-task KIND, the spec in the environment. */
static int s_builtin_launch(const task_spec_t *spec, launch_t *l, char *err, size_t errlen)
{
    char *spec_var = NULL, *art_var = NULL;
    int rc = -1;
    if (!spec->task_bin || !spec->task_bin[0]) {
        snprintf(err, errlen,
                 "this worker cannot run kind '%s': drover-task was not found next "
                 "to drover-worker",
                 spec->kind);
        return -1;
    }
    /* Linux caps one environment string at 128 KiB (MAX_ARG_STRLEN). */
    size_t speclen = spec->spec_json ? strlen(spec->spec_json) : 0;
    if (speclen > 120 * 1024) {
        snprintf(err, errlen, "the %s spec is too large to pass to drover-task (%zu bytes)",
                 spec->kind, speclen);
        return -1;
    }
    if (!(l->argv = calloc(3, sizeof *l->argv)) || !(l->argv[0] = strdup(spec->task_bin)) ||
        !(l->argv[1] = strdup(spec->kind)))
        goto nomem;
    if (spec->default_cwd && spec->default_cwd[0] && !(l->cwd = strdup(spec->default_cwd)))
        goto nomem;
    if (asprintf(&spec_var, "DROVER_SPEC=%s", spec->spec_json ? spec->spec_json : "") < 0) {
        spec_var = NULL;
        goto nomem;
    }
    if (asprintf(&art_var, "DROVER_ARTIFACTS=%s", spec->artifact_dir ? spec->artifact_dir : "") <
        0) {
        art_var = NULL;
        goto nomem;
    }
    const char *extra[] = {spec_var, art_var, NULL};
    if (s_build_env(spec, l, extra) < 0)
        goto nomem;
    rc = 0;
    goto out;
nomem:
    snprintf(err, errlen, "out of memory while preparing the task");
out:
    free(spec_var);
    free(art_var);
    return rc;
}

static int s_parse_spec(const task_spec_t *spec, launch_t *l, char *err, size_t errlen)
{
    json_error_t jerr;
    int rc = -1;
    json_t *root = json_loads(spec->spec_json ? spec->spec_json : "", 0, &jerr);
    if (!root) {
        snprintf(err, errlen, "invalid exec spec: %s (line %d, column %d)", jerr.text, jerr.line,
                 jerr.column);
        return -1;
    }
    if (!json_is_object(root)) {
        snprintf(err, errlen, "invalid exec spec: expected a JSON object");
        goto out;
    }

    json_t *argv = json_object_get(root, "argv");
    if (!json_is_array(argv) || json_array_size(argv) == 0) {
        snprintf(err, errlen, "invalid exec spec: argv must be a non-empty array of strings");
        goto out;
    }
    size_t argc = json_array_size(argv);
    l->argv = calloc(argc + 1, sizeof *l->argv);
    if (!l->argv)
        goto nomem;
    for (size_t i = 0; i < argc; i++) {
        json_t *a = json_array_get(argv, i);
        if (!json_is_string(a) || strlen(json_string_value(a)) != json_string_length(a)) {
            snprintf(err, errlen, "invalid exec spec: argv[%zu] must be a string without NUL bytes",
                     i);
            goto out;
        }
        if (!(l->argv[i] = strdup(json_string_value(a))))
            goto nomem;
    }
    if (l->argv[0][0] == '\0') {
        snprintf(err, errlen, "invalid exec spec: argv[0] is empty");
        goto out;
    }

    json_t *env = json_object_get(root, "env");
    if (env && !json_is_object(env) && !json_is_null(env)) {
        snprintf(err, errlen, "invalid exec spec: env must be an object of strings");
        goto out;
    }
    const char *key;
    json_t *val;
    if (env) {
        json_object_foreach(env, key, val)
        {
            if (!json_is_string(val) || strlen(json_string_value(val)) != json_string_length(val)) {
                snprintf(err, errlen, "invalid exec spec: env '%s' must be a string", key);
                goto out;
            }
            if (key[0] == '\0' || strchr(key, '=')) {
                snprintf(err, errlen, "invalid exec spec: bad environment variable name '%s'", key);
                goto out;
            }
        }
    }

    json_t *cwd = json_object_get(root, "cwd");
    if (cwd && !json_is_string(cwd) && !json_is_null(cwd)) {
        snprintf(err, errlen, "invalid exec spec: cwd must be a string");
        goto out;
    }
    const char *dir = json_is_string(cwd) && json_string_value(cwd)[0] ? json_string_value(cwd)
                      : spec->default_cwd && spec->default_cwd[0]      ? spec->default_cwd
                                                                       : NULL;
    if (dir && !(l->cwd = strdup(dir)))
        goto nomem;

    /* Environment: the worker's, minus what the spec or drover sets, then
     * the spec's, then drover's own (which always win). */
    size_t nenv = 0;
    for (char **e = environ; e && *e; e++)
        nenv++;
    size_t nspec = env ? json_object_size(env) : 0;
    l->envp = calloc(nenv + nspec + spec->ngang_env + 8, sizeof *l->envp);
    if (!l->envp)
        goto nomem;
    size_t k = 0;
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        size_t nl = eq ? (size_t)(eq - *e) : strlen(*e);
        if (s_is_drover_var(*e, nl) || s_is_cuda_var(spec, *e, nl) || s_is_gang_var(spec, *e, nl))
            continue;
        int overridden = 0;
        if (env) {
            json_object_foreach(env, key, val)
            {
                if (strlen(key) == nl && strncmp(key, *e, nl) == 0) {
                    overridden = 1;
                    break;
                }
            }
        }
        if (overridden)
            continue;
        if (!(l->envp[k++] = strdup(*e)))
            goto nomem;
    }
    if (env) {
        json_object_foreach(env, key, val)
        {
            if (s_is_drover_var(key, strlen(key)) || s_is_cuda_var(spec, key, strlen(key)) ||
                s_is_gang_var(spec, key, strlen(key)))
                continue;
            if (asprintf(&l->envp[k], "%s=%s", key, json_string_value(val)) < 0) {
                l->envp[k] = NULL;
                goto nomem;
            }
            k++;
        }
    }
    if (s_gang_env(spec, l->envp, &k) < 0 || s_cuda_env(spec, l->envp, &k) < 0)
        goto nomem;
    if (asprintf(&l->envp[k], "DROVER_RUN_ID=%llu", (unsigned long long)spec->run_id) < 0 ||
        (k++, asprintf(&l->envp[k], "DROVER_STEP=%s", spec->step ? spec->step : "") < 0) ||
        (k++,
         asprintf(&l->envp[k], "DROVER_TASK_ID=%llu", (unsigned long long)spec->task_id) < 0) ||
        (k++, asprintf(&l->envp[k], "DROVER_ATTEMPT=%u", spec->attempt) < 0) ||
        (k++, asprintf(&l->envp[k], "DROVER_OUTPUT_FD=3") < 0)) {
        l->envp[k] = NULL;
        goto nomem;
    }
    k++;
    if (spec->contain_env && !(l->envp[k] = strdup(spec->contain_env)))
        goto nomem;
    rc = 0;
    goto out;
nomem:
    snprintf(err, errlen, "out of memory while preparing the task");
out:
    json_decref(root);
    return rc;
}

/* Child side of the fork: never returns. Only async-signal-safe calls. */
static void s_child(const launch_t *l, const contain_unit_t *u, pid_t parent, int out_w, int err_w,
                    int res_w, int status_w) __attribute__((noreturn));
static void s_child(const launch_t *l, const contain_unit_t *u, pid_t parent, int out_w, int err_w,
                    int res_w, int status_w)
{
    spawn_status_t st = {STAGE_SETUP, 0};

    /* Own session (and so process group), its unit's cgroup and rlimit. */
    if (u ? contain_unit_child(u) < 0 : setsid() < 0)
        goto fail;
    /* worker.run_as: drop to the task user first (a credential change
     * clears the parent-death signal, so that is armed after). */
    if (l->run_as && (setgroups(1, &l->gid) < 0 || setgid(l->gid) < 0 || setuid(l->uid) < 0)) {
        st.stage = STAGE_SETUP;
        goto fail;
    }
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        goto fail;
    /* The worker may have died before PDEATHSIG was armed. */
    if (getppid() != parent)
        _exit(127);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &sa, NULL); /* fails harmlessly for reserved RT signals */
    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
        goto fail;

    int nul = open("/dev/null", O_RDONLY);
    if (nul < 0)
        goto fail;
    /* The worker keeps 0..2 open, so none of these fds is 0, 1 or 2 and
     * dup2 never clobbers a pipe end it still needs. */
    if (dup2(nul, STDIN_FILENO) < 0 || dup2(out_w, STDOUT_FILENO) < 0 ||
        dup2(err_w, STDERR_FILENO) < 0)
        goto fail;
    close(nul);
    /* The output channel goes on fd 3, which may be the status pipe's
     * number: move the status pipe above 9 first (F_DUPFD picks a free fd,
     * so nothing else is clobbered). dup2 clears O_CLOEXEC on the copy;
     * when the pipe already is fd 3 the flag is cleared by hand. */
    int moved = fcntl(status_w, F_DUPFD_CLOEXEC, 10);
    if (moved < 0)
        goto fail;
    status_w = moved;
    if (res_w == 3) {
        if (fcntl(3, F_SETFD, 0) < 0)
            goto fail;
    } else if (dup2(res_w, 3) < 0) {
        goto fail;
    }
    /* Whatever the worker inherited (a service manager's or a test script's
     * pipes) must not reach the task: a task holding such a pipe open keeps
     * whoever reads it waiting. Only fd 3 and the status pipe (O_CLOEXEC)
     * stay until exec. ENOSYS on old kernels is tolerated: the worker's own
     * fds are all O_CLOEXEC anyway. */
    if (status_w > 4)
        close_range(4, (unsigned)status_w - 1, 0);
    close_range((unsigned)status_w + 1, ~0u, 0);

    if (l->cwd && chdir(l->cwd) < 0) {
        st.stage = STAGE_CHDIR;
        goto fail;
    }
    st.stage = STAGE_EXEC;
    execvpe(l->argv[0], l->argv, l->envp);
fail:
    st.err = errno;
    ssize_t w = write(status_w, &st, sizeof st);
    (void)w; /* nothing else can be done; the parent then sees a short read */
    _exit(127);
}

/* Forks and execs. On success the task is RUNNING; on failure it is
 * FINISHED with SPAWN_FAILED. */
static void s_spawn(task_t *t, const launch_t *l, int64_t now_ms)
{
    int outp[2] = {-1, -1}, errp[2] = {-1, -1}, resp[2] = {-1, -1}, stp[2] = {-1, -1};
    if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 || pipe2(resp, O_CLOEXEC) < 0 ||
        pipe2(stp, O_CLOEXEC) < 0) {
        s_fail(t, "cannot create pipes for the task: %s", strerror(errno));
        goto out;
    }
    t->started_at_us = util_now_us();
    t->started_ms = now_ms;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        s_fail(t, "cannot fork: %s", strerror(errno));
        goto out;
    }
    if (pid == 0)
        s_child(l, t->unit, parent, outp[1], errp[1], resp[1], stp[1]);

    /* No setpgid here: the child calls setsid(), which fails for a process
     * group leader. A kill before it ran reaches the pid itself (s_signal). */
    if (t->unit)
        contain_unit_started(t->unit, pid);
    close(outp[1]);
    close(errp[1]);
    close(resp[1]);
    close(stp[1]);
    outp[1] = errp[1] = resp[1] = stp[1] = -1;

    spawn_status_t st;
    size_t got = 0;
    while (got < sizeof st) {
        ssize_t n = read(stp[0], (char *)&st + got, sizeof st - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got > 0) {
        /* The child failed before or at exec and is about to _exit(127). */
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        if (got != sizeof st)
            s_fail(t, "cannot start the task: lost the child's status");
        else if (st.stage == STAGE_EXEC)
            s_fail(t, "cannot run '%s': %s", l->argv[0], strerror(st.err));
        else if (st.stage == STAGE_CHDIR)
            s_fail(t, "cannot chdir to '%s': %s", l->cwd, strerror(st.err));
        else
            s_fail(t, "cannot set up the task's process: %s", strerror(st.err));
        goto out;
    }

    t->pid = pid;
    t->phase = TASK_RUNNING;
    for (int i = 0; i < 2; i++) {
        int fd = i == 0 ? outp[0] : errp[0];
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
            log_warn("cannot make a task pipe non-blocking: %s", strerror(errno));
        t->streams[i].fd = fd;
    }
    int fl = fcntl(resp[0], F_GETFL);
    if (fl < 0 || fcntl(resp[0], F_SETFL, fl | O_NONBLOCK) < 0)
        log_warn("cannot make a task pipe non-blocking: %s", strerror(errno));
    t->out_fd = resp[0];
    outp[0] = errp[0] = resp[0] = -1;
out:
    for (int i = 0; i < 2; i++) {
        if (outp[i] >= 0)
            close(outp[i]);
        if (errp[i] >= 0)
            close(errp[i]);
        if (resp[i] >= 0)
            close(resp[i]);
        if (stp[i] >= 0)
            close(stp[i]);
    }
}

task_t *task_start(const task_spec_t *spec, int64_t now_ms)
{
    task_t *t = calloc(1, sizeof *t);
    if (!t) {
        errno = ENOMEM;
        return NULL;
    }
    t->task_id = spec->task_id;
    t->attempt = spec->attempt;
    t->kill_grace_ms = spec->kill_grace_ms;
    t->streams[0].fd = t->streams[1].fd = -1;
    t->out_fd = -1;
    t->phase = TASK_FINISHED;

    if (spec->kind && strcmp(spec->kind, "noop") == 0) {
        /* Nothing to run: the orchestration cost alone (benchmarks, and
         * steps that only join branches). Finished the moment it arrives. */
        t->outcome = DROVER__OUTCOME__OUTCOME_EXITED;
        t->exit_code = 0;
        t->started_at_us = t->finished_at_us = util_now_us();
        t->started_ms = t->finished_ms = now_ms;
        return t;
    }
    int builtin = task_kind_builtin(spec->kind);
    if (!spec->kind || (strcmp(spec->kind, "exec") != 0 && !builtin)) {
        s_fail(t, "this worker cannot run kind '%s'", spec->kind ? spec->kind : "");
        return t;
    }
    launch_t l = {0};
    char err[1024];
    if (spec->contain &&
        !(t->unit = contain_unit_new(spec->contain, spec->task_id, spec->attempt,
                                     spec->memory_bytes, spec->cpus, err, sizeof err))) {
        s_fail(t, "cannot contain the task: %s", err);
        return t;
    }
    task_spec_t sp = *spec;
    sp.contain_env = t->unit ? contain_unit_env(t->unit) : NULL;
    spec = &sp;
    if ((builtin ? s_builtin_launch(spec, &l, err, sizeof err)
                 : s_parse_spec(spec, &l, err, sizeof err)) < 0 ||
        s_gang_hostfile(spec, l.cwd, err, sizeof err) < 0) {
        s_fail(t, "%s", err);
    } else {
        l.run_as = spec->run_as;
        l.uid = spec->run_uid;
        l.gid = spec->run_gid;
        t->run_uid = spec->run_as ? spec->run_uid : (uid_t)-1;
        if (!builtin &&
            ((l.cwd && !(t->cwd = strdup(l.cwd))) ||
             !(t->artifact_dir = strdup(spec->artifact_dir ? spec->artifact_dir : "")) ||
             !(t->spec_json = strdup(spec->spec_json ? spec->spec_json : "{}"))))
            log_warn("task %llu: out of memory keeping what register_model needs",
                     (unsigned long long)spec->task_id);
        s_spawn(t, &l, now_ms);
        if (t->phase == TASK_RUNNING && spec->timeout_ms > 0)
            t->timeout_at_ms =
                now_ms +
                (int64_t)(spec->timeout_ms > INT64_MAX / 2 ? INT64_MAX / 2 : spec->timeout_ms);
    }
    s_launch_clear(&l);
    return t;
}

static void s_close_output(task_t *t);

task_t *task_not_started(uint64_t task_id, uint32_t attempt, Drover__Outcome outcome,
                         const char *error, int64_t now_ms)
{
    task_t *t = calloc(1, sizeof *t);
    if (!t) {
        errno = ENOMEM;
        return NULL;
    }
    t->task_id = task_id;
    t->attempt = attempt;
    t->streams[0].fd = t->streams[1].fd = -1;
    t->out_fd = -1;
    t->phase = TASK_FINISHED;
    t->outcome = outcome;
    t->error = strdup(error ? error : "");
    t->started_at_us = t->finished_at_us = util_now_us();
    t->started_ms = t->finished_ms = now_ms;
    return t;
}

/* sig to every process of the attempt: its unit, else its session's
 * process group (and the leader itself, which may not have called setsid
 * yet; only while it is not reaped, so a reused pid is never hit). */
static void s_signal(task_t *t, int sig)
{
    if (t->unit) {
        contain_unit_signal(t->unit, sig);
        return;
    }
    if (killpg(t->pid, sig) < 0 && errno == ESRCH && t->phase == TASK_RUNNING)
        kill(t->pid, sig);
}

/* 1 when nothing of the attempt is left running (checked after the reap). */
static int s_unit_gone(task_t *t)
{
    if (!t->unit || t->unit_empty)
        return 1;
    t->unit_empty = contain_unit_empty(t->unit);
    return t->unit_empty;
}

static void s_close_stream(stream_t *s)
{
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
}

/* Logs the total of ignored output lines not logged yet (task end). */
static void s_bad_lines_total(task_t *t)
{
    if (t->bad_lines > t->bad_logged)
        log_warn("task %llu attempt %u: ignored %llu output lines in all",
                 (unsigned long long)t->task_id, t->attempt, (unsigned long long)t->bad_lines);
    t->bad_logged = t->bad_lines;
}

/* Moves to FINISHED once the child is reaped and both pipes are closed. */
/* An exec step that exited 0 after asking for register_model: carry it
 * out and put the account into its outputs as "registered". */
static void s_register(task_t *t)
{
    if (!t->register_json || !t->spec_json || t->outcome != DROVER__OUTCOME__OUTCOME_EXITED ||
        t->exit_code != 0)
        return;
    json_t *req = json_loads(t->register_json, 0, NULL);
    json_t *acct =
        req ? register_model_run(req, t->cwd, t->artifact_dir, t->spec_json, t->run_uid) : NULL;
    json_t *o = t->outputs_json ? json_loads(t->outputs_json, 0, NULL) : json_object();
    char *text = NULL;
    if (acct && o && json_object_set(o, "registered", acct) == 0)
        text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
    if (text) {
        free(t->outputs_json);
        t->outputs_json = text;
        const char *e = json_string_value(json_object_get(acct, "error"));
        if (e)
            log_warn("task %llu attempt %u: %s", (unsigned long long)t->task_id, t->attempt, e);
        else
            log_info("task %llu attempt %u: model %s stored as artifact %s",
                     (unsigned long long)t->task_id, t->attempt,
                     json_string_value(json_object_get(acct, "name")),
                     json_string_value(json_object_get(acct, "artifact")));
    } else {
        log_warn("task %llu attempt %u: out of memory carrying out register_model",
                 (unsigned long long)t->task_id, t->attempt);
    }
    json_decref(req);
    json_decref(acct);
    json_decref(o);
}

static void s_maybe_finish(task_t *t)
{
    if (t->phase != TASK_DRAINING)
        return;
    if (t->streams[0].fd >= 0 || t->streams[1].fd >= 0 || t->out_fd >= 0)
        return;
    if (!s_unit_gone(t))
        return; /* task_tick kills and looks again */
    t->phase = TASK_FINISHED;
    s_bad_lines_total(t);
    s_register(t);
    t->timeout_at_ms = 0;
    t->drain_until_ms = 0;
    t->sigkill_at_ms = 0;
}

void task_destroy(task_t **tp)
{
    if (!tp || !*tp)
        return;
    task_t *t = *tp;
    if (t->pid > 0 && t->phase == TASK_RUNNING) {
        s_signal(t, SIGKILL);
        int status;
        /* WNOHANG: a child stuck in the kernel must not hang the worker's
         * exit; init reaps it once we are gone. */
        waitpid(t->pid, &status, WNOHANG);
    }
    contain_unit_destroy(&t->unit); /* kills what is left, removes the cgroup */
    for (int i = 0; i < 2; i++) {
        s_close_stream(&t->streams[i]);
        free(t->streams[i].buf);
        free(t->streams[i].tail);
    }
    if (t->out_fd >= 0)
        close(t->out_fd);
    free(t->line);
    for (size_t i = t->metrics_head; i < t->nmetrics; i++)
        free(t->metrics[i]);
    free(t->metrics);
    free(t->outputs_json);
    free(t->register_json);
    free(t->cwd);
    free(t->artifact_dir);
    free(t->spec_json);
    free(t->error);
    free(t);
    *tp = NULL;
}

task_phase_t task_phase(const task_t *t)
{
    return t->phase;
}

const char *task_phase_name(task_phase_t p)
{
    switch (p) {
    case TASK_RUNNING: return "running";
    case TASK_DRAINING: return "draining";
    case TASK_FINISHED: return "finished";
    }
    return "unknown";
}

uint64_t task_id(const task_t *t)
{
    return t->task_id;
}
uint32_t task_attempt(const task_t *t)
{
    return t->attempt;
}
pid_t task_pid(const task_t *t)
{
    return t->pid;
}
int64_t task_started_at_us(const task_t *t)
{
    return t->started_at_us;
}

static stream_t *s_stream(task_t *t, int stream)
{
    DROVER_INVARIANT(stream == TASK_STREAM_STDOUT || stream == TASK_STREAM_STDERR);
    return &t->streams[stream - 1];
}

int task_poll_fd(const task_t *t, int stream)
{
    const stream_t *s = s_stream((task_t *)t, stream);
    return s->len == 0 ? s->fd : -1;
}

int task_read(task_t *t, int stream)
{
    stream_t *s = s_stream(t, stream);
    if (s->len > 0)
        return 1;
    if (s->fd < 0)
        return 0;
    if (!s->buf && !(s->buf = malloc(TASK_CHUNK_MAX))) {
        log_warn("out of memory reading task %llu's output; will retry",
                 (unsigned long long)t->task_id);
        return 0;
    }
    for (;;) {
        ssize_t n = read(s->fd, s->buf, TASK_CHUNK_MAX);
        if (n > 0) {
            s->len = (size_t)n;
            /* The drain window is for pipes a grandchild keeps open and
             * silent: while output still flows, keep reading it. */
            if (t->phase == TASK_DRAINING)
                t->drain_until_ms = util_mono_ms() + TASK_DRAIN_MS;
            return 1;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n < 0)
            log_warn("reading task %llu's output: %s", (unsigned long long)t->task_id,
                     strerror(errno));
        s_close_stream(s);
        s_maybe_finish(t);
        return 0;
    }
}

const uint8_t *task_chunk(const task_t *t, int stream, size_t *len, uint64_t *offset)
{
    const stream_t *s = s_stream((task_t *)t, stream);
    if (s->len == 0)
        return NULL;
    *len = s->len;
    *offset = s->offset;
    return s->buf;
}

/* The ring's two segments, oldest first (the second may be empty). */
static void s_tail_segments(const stream_t *s, const uint8_t *seg[2], size_t len[2])
{
    if (!s->tail) {
        seg[0] = seg[1] = NULL;
        len[0] = len[1] = 0;
        return;
    }
    size_t first = s->tail_cap - s->tail_head;
    first = s->tail_len < first ? s->tail_len : first;
    seg[0] = s->tail + s->tail_head;
    len[0] = first;
    seg[1] = s->tail;
    len[1] = s->tail_len - first;
}

/* Keeps the newest TASK_TAIL_MAX bytes handed over (task_sent_tail) in a
 * ring that grows with the output (a step that prints one line costs a
 * few KiB); adding a chunk copies only the chunk. */
static void s_tail_add(stream_t *s, const uint8_t *d, size_t n)
{
    if (n == 0)
        return;
    size_t need = s->tail_len + n < TASK_TAIL_MAX ? s->tail_len + n : TASK_TAIL_MAX;
    if (need > s->tail_cap) {
        size_t nc = s->tail_cap ? s->tail_cap : 4096;
        while (nc < need)
            nc *= 2;
        nc = nc < TASK_TAIL_MAX ? nc : TASK_TAIL_MAX;
        uint8_t *nt = malloc(nc);
        if (nt) { /* the ring unrolled into the larger one */
            const uint8_t *seg[2];
            size_t len[2];
            s_tail_segments(s, seg, len);
            if (len[0])
                memcpy(nt, seg[0], len[0]);
            if (len[1])
                memcpy(nt + len[0], seg[1], len[1]);
            free(s->tail);
            s->tail = nt;
            s->tail_cap = nc;
            s->tail_head = 0;
        } /* else: the ring keeps its size, and fewer of the newest bytes */
    }
    if (n > s->tail_cap) { /* not even this chunk fits: keep nothing (a gap, reported) */
        s->tail_len = s->tail_head = 0;
        return;
    }
    if (s->tail_len + n > s->tail_cap) { /* the oldest make room */
        size_t drop = s->tail_len + n - s->tail_cap;
        s->tail_head = (s->tail_head + drop) % s->tail_cap;
        s->tail_len -= drop;
    }
    size_t at = (s->tail_head + s->tail_len) % s->tail_cap;
    size_t first = s->tail_cap - at < n ? s->tail_cap - at : n;
    memcpy(s->tail + at, d, first);
    memcpy(s->tail, d + first, n - first);
    s->tail_len += n;
}

void task_chunk_done(task_t *t, int stream)
{
    stream_t *s = s_stream(t, stream);
    s_tail_add(s, s->buf, s->len);
    s->offset += s->len;
    s->len = 0;
}

_Static_assert(TASK_CHUNK_MAX <= TASK_TAIL_MAX, "a chunk must fit in the kept tail");

uint64_t task_sent_tail(const task_t *t, int stream, const uint8_t *seg[2], size_t len[2])
{
    const stream_t *s = s_stream((task_t *)t, stream);
    if (!s->tail || s->tail_len == 0) {
        len[0] = len[1] = 0;
        return s->offset;
    }
    s_tail_segments(s, seg, len);
    return s->offset - s->tail_len;
}

/* ------------------------------------------------- the output channel --- */

/* Handles one complete line of the fd 3 channel (NUL-terminated, no '\n'). */
/* A task is untrusted: a flood of bad output lines is counted, and logged
 * once, then at most once per 10 s with the count, and in all when the
 * task ends (s_bad_lines_total): never one log line per bad line. */
static void s_bad_line(task_t *t, const char *why)
{
    t->bad_lines++;
    int64_t now = util_mono_ms();
    if (now < t->bad_next_ms)
        return;
    log_warn("task %llu attempt %u: ignored an output line %s (%llu ignored so far; at most one "
             "such warning per 10 s)",
             (unsigned long long)t->task_id, t->attempt, why, (unsigned long long)t->bad_lines);
    t->bad_next_ms = now + 10000;
    t->bad_logged = t->bad_lines;
}

static void s_output_line(task_t *t, const char *line, size_t len)
{
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    if (len == 0)
        return;
    json_error_t jerr;
    json_t *root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *metric = root && json_is_object(root) ? json_object_get(root, "metric") : NULL;
    json_t *output = root && json_is_object(root) ? json_object_get(root, "output") : NULL;
    json_t *reg = root && json_is_object(root) ? json_object_get(root, "register_model") : NULL;
    if (!root || json_object_size(root) != 1 ||
        !(json_is_object(metric) || json_is_object(output) || json_is_object(reg))) {
        s_bad_line(t, "that is not {\"metric\": {...}}, {\"output\": {...}} or "
                      "{\"register_model\": {...}}");
        json_decref(root);
        return;
    }
    /* "registered" is the worker's own account of register_model: a step
     * cannot write it (s_register). */
    if (output)
        json_object_del(output, "registered");
    char *text = json_dumps(metric   ? metric
                            : output ? output
                                     : reg,
                            JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(root);
    if (!text) {
        log_warn("out of memory keeping task %llu's output; line dropped",
                 (unsigned long long)t->task_id);
        return;
    }
    if (output) {
        free(t->outputs_json);
        t->outputs_json = text;
        return;
    }
    if (reg) {
        free(t->register_json);
        t->register_json = text;
        return;
    }
    if (t->metrics_head > 0 && t->metrics_head == t->nmetrics) {
        t->metrics_head = t->nmetrics = 0;
    }
    if (t->nmetrics % 64 == 0) {
        char **nm = realloc(t->metrics, (t->nmetrics + 64) * sizeof *nm);
        if (!nm) {
            free(text);
            log_warn("out of memory queueing a metric of task %llu; dropped",
                     (unsigned long long)t->task_id);
            return;
        }
        t->metrics = nm;
    }
    t->metrics[t->nmetrics++] = text;
}

static void s_close_output(task_t *t)
{
    if (t->out_fd < 0)
        return;
    close(t->out_fd);
    t->out_fd = -1;
    /* A last line without its newline still counts. */
    if (t->line_len > 0 && !t->line_skip) {
        t->line[t->line_len] = '\0';
        s_output_line(t, t->line, t->line_len);
    }
    t->line_len = 0;
    t->line_skip = 0;
}

int task_output_fd(const task_t *t)
{
    return t->nmetrics - t->metrics_head < TASK_METRIC_QUEUE ? t->out_fd : -1;
}

void task_read_output(task_t *t)
{
    if (t->out_fd < 0)
        return;
    char buf[16384];
    for (;;) {
        ssize_t n = read(t->out_fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            if (n < 0)
                log_warn("reading task %llu's output channel: %s", (unsigned long long)t->task_id,
                         strerror(errno));
            s_close_output(t);
            s_maybe_finish(t);
            return;
        }
        for (ssize_t i = 0; i < n;) {
            char *nl = memchr(buf + i, '\n', (size_t)(n - i));
            size_t take = nl ? (size_t)(nl - (buf + i)) : (size_t)(n - i);
            if (!t->line_skip && t->line_len + take > TASK_LINE_MAX) {
                s_bad_line(t, "longer than 1 MiB (TASK_LINE_MAX)");
                t->line_skip = 1;
                t->line_len = 0;
            }
            if (!t->line_skip) {
                if (t->line_len + take + 1 > t->line_cap) {
                    size_t cap = t->line_cap ? t->line_cap : 4096;
                    while (cap < t->line_len + take + 1)
                        cap *= 2;
                    char *nb = realloc(t->line, cap);
                    if (!nb) {
                        log_warn("out of memory reading task %llu's output channel; line "
                                 "dropped",
                                 (unsigned long long)t->task_id);
                        t->line_skip = 1;
                        t->line_len = 0;
                    } else {
                        t->line = nb;
                        t->line_cap = cap;
                    }
                }
                if (!t->line_skip) {
                    memcpy(t->line + t->line_len, buf + i, take);
                    t->line_len += take;
                }
            }
            i += (ssize_t)take;
            if (nl) {
                i++;
                if (!t->line_skip) {
                    t->line[t->line_len] = '\0';
                    s_output_line(t, t->line, t->line_len);
                }
                t->line_len = 0;
                t->line_skip = 0;
            }
        }
        /* Stop after one buffer when metrics pile up: the loop sends them
         * first (back-pressure through the pipe). */
        if (t->nmetrics - t->metrics_head >= TASK_METRIC_QUEUE)
            return;
    }
}

const char *task_metric(const task_t *t, uint32_t *seq)
{
    if (t->metrics_head == t->nmetrics)
        return NULL;
    *seq = t->metric_seq;
    return t->metrics[t->metrics_head];
}

void task_metric_done(task_t *t)
{
    if (t->metrics_head == t->nmetrics)
        return;
    free(t->metrics[t->metrics_head]);
    t->metrics[t->metrics_head++] = NULL;
    t->metric_seq++;
}

uint64_t task_bad_output_lines(const task_t *t)
{
    return t->bad_lines;
}

/* "100M" for 100 MiB: the way steps write sizes. */
static void s_size(uint64_t b, char *buf, size_t len)
{
    static const char units[] = "KMGT";
    int u = -1;
    while (u < 3 && b >= 1024 && b % 1024 == 0) {
        b /= 1024;
        u++;
    }
    if (u < 0)
        snprintf(buf, len, "%llu", (unsigned long long)b);
    else
        snprintf(buf, len, "%llu%c", (unsigned long long)b, units[u]);
}

/* The error of an attempt its memory limit may have ended. */
static void s_memory_note(task_t *t)
{
    int by_cgroup;
    uint64_t mem = contain_unit_memory(t->unit, &by_cgroup);
    char sz[32], buf[256];
    s_size(mem, sz, sizeof sz);
    if (mem && by_cgroup && contain_unit_oom(t->unit)) {
        snprintf(buf, sizeof buf, "killed: out of memory (limit %s)", sz);
    } else if (mem && !by_cgroup &&
               (t->outcome == DROVER__OUTCOME__OUTCOME_SIGNALED ||
                (t->outcome == DROVER__OUTCOME__OUTCOME_EXITED && t->exit_code != 0))) {
        snprintf(buf, sizeof buf,
                 "memory limited to %s by RLIMIT_AS (no cgroup memory controller): "
                 "allocations beyond it fail",
                 sz);
    } else {
        return;
    }
    free(t->error);
    t->error = strdup(buf);
}

void task_reaped(task_t *t, int status, int64_t now_ms)
{
    if (t->phase != TASK_RUNNING)
        return;
    t->finished_at_us = util_now_us();
    t->finished_ms = now_ms;
    if (t->kill_reason != DROVER__OUTCOME__OUTCOME_UNSPECIFIED)
        t->outcome = t->kill_reason;
    else if (WIFSIGNALED(status))
        t->outcome = DROVER__OUTCOME__OUTCOME_SIGNALED;
    else
        t->outcome = DROVER__OUTCOME__OUTCOME_EXITED;
    if (WIFEXITED(status))
        t->exit_code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
        t->term_signal = WTERMSIG(status);
    if (t->unit) {
        contain_unit_reaped(t->unit);
        s_memory_note(t);
        /* The attempt is over: nothing it started may outlive it. */
        contain_unit_signal(t->unit, SIGKILL);
    }
    t->timeout_at_ms = 0;
    t->phase = TASK_DRAINING;
    t->drain_until_ms = now_ms + TASK_DRAIN_MS;
    s_maybe_finish(t);
}

int task_kill(task_t *t, Drover__Outcome outcome, int64_t now_ms)
{
    if (t->phase != TASK_RUNNING || t->kill_reason != DROVER__OUTCOME__OUTCOME_UNSPECIFIED)
        return 0;
    t->kill_reason = outcome;
    t->timeout_at_ms = 0;
    s_signal(t, SIGTERM);
    t->sigkill_at_ms = now_ms + t->kill_grace_ms;
    return 1;
}

void task_kill_now(task_t *t, int64_t now_ms)
{
    if (t->phase == TASK_FINISHED || t->pid <= 0)
        return;
    if (t->phase == TASK_RUNNING && t->kill_reason == DROVER__OUTCOME__OUTCOME_UNSPECIFIED)
        t->kill_reason = DROVER__OUTCOME__OUTCOME_KILLED;
    s_signal(t, SIGKILL);
    t->sigkill_at_ms = 0;
    (void)now_ms;
}

void task_tick(task_t *t, int64_t now_ms)
{
    if (t->phase == TASK_RUNNING && t->timeout_at_ms > 0 && now_ms >= t->timeout_at_ms) {
        log_info("task %llu attempt %u reached its timeout; stopping it",
                 (unsigned long long)t->task_id, t->attempt);
        task_kill(t, DROVER__OUTCOME__OUTCOME_TIMED_OUT, now_ms);
    }
    if (t->sigkill_at_ms > 0 && now_ms >= t->sigkill_at_ms) {
        t->sigkill_at_ms = 0;
        /* Also after the leader was reaped: the rest of its group may still
         * hold the pipes. A gone group gives ESRCH, which is fine. */
        if (t->phase != TASK_FINISHED)
            s_signal(t, SIGKILL);
        if (t->phase == TASK_RUNNING)
            log_info("task %llu attempt %u did not stop within the kill grace; sent SIGKILL",
                     (unsigned long long)t->task_id, t->attempt);
    }
    if (t->phase == TASK_DRAINING && now_ms >= t->drain_until_ms) {
        if (t->streams[0].fd >= 0 || t->streams[1].fd >= 0 || t->out_fd >= 0)
            log_info("task %llu attempt %u exited but something still holds its output open; "
                     "no longer reading it",
                     (unsigned long long)t->task_id, t->attempt);
        s_close_stream(&t->streams[0]);
        s_close_stream(&t->streams[1]);
        s_close_output(t);
        s_maybe_finish(t);
    }
    if (t->phase == TASK_DRAINING && !s_unit_gone(t))
        contain_unit_signal(t->unit, SIGKILL); /* s_maybe_finish looks again */
    s_maybe_finish(t);
}

int64_t task_next_deadline(const task_t *t)
{
    int64_t d = INT64_MAX;
    if (t->phase == TASK_RUNNING && t->timeout_at_ms > 0 && t->timeout_at_ms < d)
        d = t->timeout_at_ms;
    if (t->phase != TASK_FINISHED && t->sigkill_at_ms > 0 && t->sigkill_at_ms < d)
        d = t->sigkill_at_ms;
    if (t->phase == TASK_DRAINING && t->drain_until_ms < d)
        d = t->drain_until_ms;
    /* Leftovers of the unit were SIGKILLed: look again shortly. */
    if (t->phase == TASK_DRAINING && t->unit && !t->unit_empty) {
        int64_t soon = util_mono_ms() + 20;
        if (soon < d)
            d = soon;
    }
    return d;
}

void task_result(const task_t *t, Drover__Result *r, Drover__Lease *lease)
{
    DROVER_INVARIANT(t->phase == TASK_FINISHED);
    lease->task_id = t->task_id;
    lease->attempt = t->attempt;
    r->lease = lease;
    r->outcome = t->outcome;
    r->exit_code = t->exit_code;
    r->term_signal = t->term_signal;
    r->error = t->error ? t->error : "";
    r->started_at_us = t->started_at_us;
    r->finished_at_us = t->finished_at_us;
    r->outputs_json = t->outputs_json ? t->outputs_json : "";
}

void task_describe(const task_t *t, char *buf, size_t len)
{
    char dur[32];
    util_format_duration(t->finished_ms - t->started_ms, dur, sizeof dur);
    switch (t->outcome) {
    case DROVER__OUTCOME__OUTCOME_EXITED:
        snprintf(buf, len, "exit %d in %s", t->exit_code, dur);
        break;
    case DROVER__OUTCOME__OUTCOME_SIGNALED:
        snprintf(buf, len, "signal %d (%s) in %s", t->term_signal, strsignal(t->term_signal), dur);
        break;
    case DROVER__OUTCOME__OUTCOME_TIMED_OUT: snprintf(buf, len, "timed out after %s", dur); break;
    case DROVER__OUTCOME__OUTCOME_KILLED: snprintf(buf, len, "killed after %s", dur); break;
    case DROVER__OUTCOME__OUTCOME_NOT_ATTEMPTED:
        snprintf(buf, len, "handed back after %s (%s)", dur,
                 t->error ? t->error : "the worker is stopping");
        break;
    case DROVER__OUTCOME__OUTCOME_SPAWN_FAILED:
        snprintf(buf, len, "spawn failed: %s", t->error ? t->error : "unknown error");
        break;
    default: snprintf(buf, len, "%s", task_phase_name(t->phase)); break;
    }
}
