/* contain — task units as cgroups, or sessions + a subreaper (contain.h).
 *
 * Design notes:
 *   - The child joins its cgroup itself, by writing "0" to the unit's
 *     cgroup.procs (an fd the worker opened before fork): nothing runs in
 *     the child before that but async-signal-safe calls, and nothing it
 *     execs ever ran outside the unit.
 *   - A unit is over only when it is empty: task.c kills what is left when
 *     the leader exits and reports the result only once contain_unit_empty()
 *     says so, so a retry never runs beside leftovers of the attempt before.
 *   - Records on disk are plain text, written with tmp + rename; no fsync:
 *     a machine crash ends the processes they describe anyway.
 *   - The base cgroup is named after a hash of the state folder, so two
 *     workers on one machine (tests run several) never touch each other's
 *     units.
 */

#include "contain.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

struct contain {
    contain_mode_t mode;
    char state_dir[PATH_MAX - 128]; /* room for "/units/ID-ATTEMPT" */
    char base[PATH_MAX];            /* cgroup mode: the folder units go in */
    int has_memory;                 /* the memory controller is enabled for units */
    int has_cpu;
    char tag[40]; /* unique to this worker process */
};

struct contain_unit {
    contain_t *c;
    uint64_t task_id;
    uint32_t attempt;
    uint64_t memory;
    int mem_by_cgroup;
    pid_t pid;
    int reaped;        /* the leader's pid is no longer ours */
    char env[96];      /* DROVER_CONTAIN=TAG */
    char cg[PATH_MAX]; /* "" in subreaper mode */
    int procs_fd;      /* cgroup.procs of cg, -1 without */
    struct rlimit as;
    int set_as;
    char record[PATH_MAX];
};

/* ------------------------------------------------------------ helpers --- */

/* Writes text to dir/file. Returns 0 or -1 + errno. */
static int s_write(const char *dir, const char *file, const char *text)
{
    char p[PATH_MAX];
    if (snprintf(p, sizeof p, "%s/%s", dir, file) >= (int)sizeof p) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(p, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    int e = errno;
    close(fd);
    if (n != (ssize_t)strlen(text)) {
        errno = n < 0 ? e : EIO;
        return -1;
    }
    return 0;
}

/* Reads dir/file (or the path alone when file is NULL) into buf, NUL-
 * terminated. Returns bytes read or -1. */
static ssize_t s_read(const char *dir, const char *file, char *buf, size_t len)
{
    char p[PATH_MAX];
    if (snprintf(p, sizeof p, "%s%s%s", dir, file ? "/" : "", file ? file : "") >= (int)sizeof p)
        return -1;
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t got = 0;
    while (got + 1 < len) {
        ssize_t n = read(fd, buf + got, len - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    return (ssize_t)got;
}

static int s_is_cgroup2(const char *path)
{
    struct statfs sf;
    return statfs(path, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
}

/* 1 when the space-separated list has word. */
static int s_has_word(const char *list, const char *word)
{
    size_t wl = strlen(word);
    for (const char *p = list; (p = strstr(p, word)); p += wl)
        if ((p == list || p[-1] == ' ' || p[-1] == '\n') &&
            (p[wl] == '\0' || p[wl] == ' ' || p[wl] == '\n'))
            return 1;
    return 0;
}

/* Enables memory and cpu for the children of dir, each on its own (one
 * may be missing). */
static void s_enable(const char *dir)
{
    s_write(dir, "cgroup.subtree_control", "+memory");
    s_write(dir, "cgroup.subtree_control", "+cpu");
}

/* The start time of pid (field 22 of /proc/PID/stat), its state, process
 * group and session. Returns 0 or -1 (gone). */
static int s_proc_stat(pid_t pid, unsigned long long *start, char *state, pid_t *pgrp, pid_t *sid)
{
    char p[64], buf[1024];
    snprintf(p, sizeof p, "/proc/%d/stat", (int)pid);
    if (s_read(p, NULL, buf, sizeof buf) <= 0)
        return -1;
    char *rp = strrchr(buf, ')');
    if (!rp)
        return -1;
    char st;
    int ppid, pg, se;
    unsigned long long v[19];
    /* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
     * utime stime cutime cstime priority nice nthreads itrealvalue starttime */
    if (sscanf(rp + 2,
               "%c %d %d %d %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu "
               "%llu %llu %llu %llu %llu %llu",
               &st, &ppid, &pg, &se, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8],
               &v[9], &v[10], &v[11], &v[12], &v[13], &v[14], &v[15], &v[16], &v[17]) < 22)
        return -1;
    if (start)
        *start = v[15]; /* field 22, starttime: v[0] is field 7 (tty_nr) */
    if (state)
        *state = st;
    if (pgrp)
        *pgrp = pg;
    if (sid)
        *sid = se;
    return 0;
}

/* 1 when /proc/PID/environ holds the exact entry env. */
static int s_environ_has(pid_t pid, const char *env)
{
    char p[64];
    snprintf(p, sizeof p, "/proc/%d/environ", (int)pid);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    /* Entries are NUL-separated; scan with a carry-over window so an entry
     * split across reads is still seen. */
    size_t el = strlen(env);
    char buf[8192 + 128];
    size_t keep = 0;
    int found = 0;
    for (;;) {
        ssize_t n = read(fd, buf + keep, sizeof buf - keep - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        size_t len = keep + (size_t)n;
        for (size_t i = 0; i + el <= len; i++) {
            if ((i == 0 || buf[i - 1] == '\0') && memcmp(buf + i, env, el) == 0 &&
                (i + el == len || buf[i + el] == '\0')) {
                /* At the very end of this read the entry may continue in
                 * the next one: only trust a terminated match. */
                if (i + el < len) {
                    found = 1;
                    break;
                }
            }
        }
        if (found)
            break;
        keep = len > el + 1 ? el + 1 : len;
        memmove(buf, buf + len - keep, keep);
    }
    close(fd);
    return found;
}

/* Subreaper mode: calls fn for every live (non-zombie) process that is in
 * the session or process group of leader, or carries env. Returns how many
 * matched. */
static int s_scan(pid_t leader, const char *env, int sig)
{
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    int n = 0;
    pid_t self = getpid();
    struct dirent *de;
    while ((de = readdir(d))) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 0 || pid == self)
            continue;
        char st;
        pid_t pg, sid;
        if (s_proc_stat((pid_t)pid, NULL, &st, &pg, &sid) < 0 || st == 'Z' || st == 'X')
            continue;
        if ((leader > 0 && (pg == leader || sid == leader)) ||
            (env[0] && s_environ_has((pid_t)pid, env))) {
            n++;
            if (sig)
                kill((pid_t)pid, sig);
        }
    }
    closedir(d);
    return n;
}

/* Cgroup: sig to every process of cg. */
static void s_cg_signal(const char *cg, int sig)
{
    if (sig == SIGKILL && s_write(cg, "cgroup.kill", "1") == 0)
        return;
    char buf[65536];
    if (s_read(cg, "cgroup.procs", buf, sizeof buf) < 0)
        return;
    for (char *p = buf; *p;) {
        char *end;
        long pid = strtol(p, &end, 10);
        if (end == p)
            break;
        if (pid > 0)
            kill((pid_t)pid, sig);
        p = end;
        while (*p == '\n')
            p++;
    }
}

static int s_cg_empty(const char *cg)
{
    char buf[256];
    if (s_read(cg, "cgroup.events", buf, sizeof buf) < 0)
        return 1; /* gone */
    return strstr(buf, "populated 0") != NULL;
}

/* Kills a leftover cgroup and removes it, waiting up to 2 s for it to
 * empty (startup only). */
static void s_cg_end(const char *cg)
{
    for (int i = 0; i < 200 && !s_cg_empty(cg); i++) {
        s_cg_signal(cg, SIGKILL);
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (rmdir(cg) < 0 && errno != ENOENT)
        log_warn("cannot remove the cgroup %s left by a previous worker: %s", cg, strerror(errno));
}

/* ---------------------------------------------------------- the modes --- */

/* Picks the base cgroup. Returns 0 with c->base set, or -1 (subreaper). */
static int s_pick_cgroup(contain_t *c, const char *cfg)
{
    char parent[PATH_MAX];
    if (cfg[0]) {
        if (cfg[0] != '/') {
            log_warn("worker.cgroup '%s' is not an absolute path; not using cgroups", cfg);
            return -1;
        }
        if (util_mkdirs(cfg, 0755) < 0 || !s_is_cgroup2(cfg)) {
            log_warn("worker.cgroup '%s' is not a usable cgroup v2 folder (%s); not using cgroups",
                     cfg, errno ? strerror(errno) : "not on a cgroup2 file system");
            return -1;
        }
        util_strlcpy(parent, cfg, sizeof parent);
        /* The configured folder's parent must pass the controllers down. */
        char up[PATH_MAX];
        util_strlcpy(up, cfg, sizeof up);
        char *slash = strrchr(up, '/');
        if (slash && slash != up) {
            *slash = '\0';
            s_enable(up);
        }
    } else {
        const char *mnt = s_is_cgroup2("/sys/fs/cgroup")           ? "/sys/fs/cgroup"
                          : s_is_cgroup2("/sys/fs/cgroup/unified") ? "/sys/fs/cgroup/unified"
                                                                   : NULL;
        if (!mnt)
            return -1;
        char buf[4096], own[PATH_MAX] = "";
        if (s_read("/proc/self/cgroup", NULL, buf, sizeof buf) < 0)
            return -1;
        for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
            if (strncmp(line, "0::", 3) == 0)
                util_strlcpy(own, line + 3, sizeof own);
        if (!own[0])
            return -1;
        char owndir[PATH_MAX];
        if (snprintf(owndir, sizeof owndir, "%s%s", mnt, strcmp(own, "/") ? own : "") >=
            (int)sizeof owndir)
            return -1;
        if (strcmp(own, "/") != 0) {
            /* Not the root: only a cgroup systemd delegated to us. */
            char x[8];
            if (getxattr(owndir, "trusted.delegate", x, sizeof x) < 0 &&
                getxattr(owndir, "user.delegate", x, sizeof x) < 0)
                return -1;
            /* Processes may not sit in a cgroup whose children get
             * controllers: the worker moves into a leaf of its own. */
            char sup[PATH_MAX];
            if (snprintf(sup, sizeof sup, "%s/supervisor", owndir) >= (int)sizeof sup ||
                (mkdir(sup, 0755) < 0 && errno != EEXIST) ||
                s_write(sup, "cgroup.procs", "0") < 0) {
                log_warn("cannot move the worker into %s/supervisor: %s; not using cgroups", owndir,
                         strerror(errno));
                return -1;
            }
        }
        if (access(owndir, W_OK) < 0)
            return -1;
        util_strlcpy(parent, owndir, sizeof parent);
    }
    s_enable(parent);
    /* One base per state folder: workers sharing a parent never meet. */
    uint32_t h = 2166136261u;
    for (const char *p = c->state_dir; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    if (snprintf(c->base, sizeof c->base, "%s/drover-%08x", parent, h) >= (int)sizeof c->base)
        return -1;
    if (mkdir(c->base, 0755) < 0 && errno != EEXIST) {
        log_warn("cannot create the cgroup %s: %s; not using cgroups", c->base, strerror(errno));
        return -1;
    }
    s_enable(c->base);
    char ctl[512];
    if (s_read(c->base, "cgroup.subtree_control", ctl, sizeof ctl) >= 0) {
        c->has_memory = s_has_word(ctl, "memory");
        c->has_cpu = s_has_word(ctl, "cpu");
    }
    return 0;
}

/* The state folder's owner (STATE/owner: "pid starttime"): returns 1 when
 * another live process owns it, else makes this process the owner (0). A
 * pid with another start time is a reused pid: not the owner. */
static int s_take_state(contain_t *c)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8], text[64];
    snprintf(path, sizeof path, "%s/owner", c->state_dir);
    if (s_read(path, NULL, text, sizeof text) > 0) {
        int pid = 0;
        unsigned long long was = 0, now = 0;
        if (sscanf(text, "%d %llu", &pid, &was) == 2 && pid > 0 && pid != (int)getpid() &&
            s_proc_stat((pid_t)pid, &now, NULL, NULL, NULL) == 0 && now == was)
            return 1;
    }
    unsigned long long mine = 0;
    s_proc_stat(getpid(), &mine, NULL, NULL, NULL);
    int n = snprintf(text, sizeof text, "%d %llu\n", (int)getpid(), mine);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, text, (size_t)n) != n || close(fd) < 0 || rename(tmp, path) < 0) {
        log_warn("cannot record this worker as the owner of %s: %s", c->state_dir, strerror(errno));
        if (fd >= 0)
            unlink(tmp);
    }
    return 0;
}

/* Ends what a killed predecessor left: every recorded unit, then (cgroup
 * mode) every unit folder of the base. */
static void s_cleanup(contain_t *c)
{
    char units[PATH_MAX];
    snprintf(units, sizeof units, "%s/units", c->state_dir);
    DIR *d = opendir(units);
    int ended = 0;
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.')
                continue;
            char rec[PATH_MAX], buf[PATH_MAX + 256];
            if (snprintf(rec, sizeof rec, "%s/%s", units, de->d_name) >= (int)sizeof rec)
                continue;
            if (s_read(rec, NULL, buf, sizeof buf) > 0) {
                long pid = 0;
                unsigned long long start = 0;
                char env[96] = "", cg[PATH_MAX] = "";
                char *l1 = strtok(buf, "\n"), *l2 = strtok(NULL, "\n"), *l3 = strtok(NULL, "\n");
                if (l1)
                    sscanf(l1, "%ld %llu", &pid, &start);
                if (l2)
                    util_strlcpy(env, l2, sizeof env);
                if (l3)
                    util_strlcpy(cg, l3, sizeof cg);
                if (cg[0] && access(cg, F_OK) == 0)
                    s_cg_end(cg);
                unsigned long long now_start;
                char st;
                pid_t leader = 0;
                if (pid > 0 && s_proc_stat((pid_t)pid, &now_start, &st, NULL, NULL) == 0 &&
                    now_start == start)
                    leader = (pid_t)pid;
                /* The leader died with its worker (PDEATHSIG); what it left
                 * carries the tag, or sits in its session. */
                for (int i = 0; i < 100 && s_scan(leader, env, SIGKILL) > 0; i++) {
                    struct timespec ts = {0, 10 * 1000 * 1000};
                    nanosleep(&ts, NULL);
                }
                ended++;
            }
            unlink(rec);
        }
        closedir(d);
    }
    if (c->mode == CONTAIN_CGROUP && (d = opendir(c->base))) {
        struct dirent *de;
        while ((de = readdir(d))) {
            if (de->d_name[0] != 'u')
                continue;
            char cg[PATH_MAX];
            if (snprintf(cg, sizeof cg, "%s/%s", c->base, de->d_name) < (int)sizeof cg) {
                s_cg_end(cg);
                ended++;
            }
        }
        closedir(d);
    }
    if (ended)
        log_info("ended what %d task%s of a previous worker left behind", ended,
                 ended == 1 ? "" : "s");
}

contain_t *contain_new(const char *cgroup, const char *state_dir, char *err, size_t errlen)
{
    contain_t *c = calloc(1, sizeof *c);
    if (!c) {
        util_errf(err, errlen, "out of memory");
        return NULL;
    }
    if (util_strlcpy(c->state_dir, state_dir, sizeof c->state_dir) < 0) {
        util_errf(err, errlen, "the state folder path is too long");
        goto fail;
    }
    char units[PATH_MAX];
    snprintf(units, sizeof units, "%s/units", c->state_dir);
    if (util_mkdirs(units, 0700) < 0) {
        util_errf(err, errlen, "cannot create the state folder %s: %s", units, strerror(errno));
        goto fail;
    }
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
        util_errf(err, errlen, "cannot become a child subreaper: %s", strerror(errno));
        goto fail;
    }
    unsigned long long r = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, &r, sizeof r) != (ssize_t)sizeof r)
        r = (unsigned long long)util_now_us() ^ ((unsigned long long)getpid() << 32);
    if (fd >= 0)
        close(fd);
    snprintf(c->tag, sizeof c->tag, "%d.%016llx", (int)getpid(), r);

    c->mode = CONTAIN_SUBREAPER;
    if (strcmp(cgroup, "off") != 0 && s_pick_cgroup(c, cgroup) == 0)
        c->mode = CONTAIN_CGROUP;
    /* What is in the state folder was left by a dead predecessor only if its
     * owner is gone: another worker started under the same name on this
     * host (which the coordinator refuses) must not have its running tasks
     * ended by us. */
    if (s_take_state(c) == 0)
        s_cleanup(c);
    else
        log_warn("the state folder %s belongs to another live worker (the same name on this "
                 "host?): leaving its tasks alone",
                 c->state_dir);
    if (c->mode == CONTAIN_CGROUP)
        log_info("containment: each task in its own cgroup under %s; memory limits %s, cpu limits "
                 "%s",
                 c->base,
                 c->has_memory ? "enforced (memory.max)"
                               : "as RLIMIT_AS only (no memory controller here)",
                 c->has_cpu ? "enforced (cpu.max)" : "NOT enforced (no cpu controller here)");
    else
        log_info("containment: no usable cgroup v2 (%s); each task in its own session, the worker "
                 "a subreaper; memory limits as RLIMIT_AS only, cpu limits NOT enforced",
                 strcmp(cgroup, "off") == 0 ? "worker.cgroup = \"off\""
                                            : "see docs/reliability.md");
    return c;
fail:
    free(c);
    return NULL;
}

void contain_destroy(contain_t **cp)
{
    if (!cp || !*cp)
        return;
    /* The base goes when no unit is left in it (else the next start ends
     * them). */
    if ((*cp)->mode == CONTAIN_CGROUP)
        rmdir((*cp)->base);
    free(*cp);
    *cp = NULL;
}

contain_mode_t contain_mode(const contain_t *c)
{
    return c->mode;
}

/* -------------------------------------------------------------- units --- */

contain_unit_t *contain_unit_new(contain_t *c, uint64_t task_id, uint32_t attempt, uint64_t memory,
                                 uint32_t cpus, char *err, size_t errlen)
{
    contain_unit_t *u = calloc(1, sizeof *u);
    if (!u) {
        util_errf(err, errlen, "out of memory");
        return NULL;
    }
    u->c = c;
    u->task_id = task_id;
    u->attempt = attempt;
    u->memory = memory;
    u->procs_fd = -1;
    snprintf(u->env, sizeof u->env, "DROVER_CONTAIN=%s-%llu-%u", c->tag,
             (unsigned long long)task_id, attempt);
    snprintf(u->record, sizeof u->record, "%s/units/%llu-%u", c->state_dir,
             (unsigned long long)task_id, attempt);
    if (c->mode == CONTAIN_CGROUP) {
        if (snprintf(u->cg, sizeof u->cg, "%s/u%llu-%u", c->base, (unsigned long long)task_id,
                     attempt) >= (int)sizeof u->cg) {
            util_errf(err, errlen, "cgroup path too long");
            goto fail;
        }
        if (access(u->cg, F_OK) == 0)
            s_cg_end(u->cg); /* an earlier delivery of the same attempt */
        if (mkdir(u->cg, 0755) < 0) {
            util_errf(err, errlen, "cannot create the task's cgroup %s: %s", u->cg,
                      strerror(errno));
            u->cg[0] = '\0';
            goto fail;
        }
        char v[64];
        if (memory && c->has_memory) {
            snprintf(v, sizeof v, "%llu", (unsigned long long)memory);
            if (s_write(u->cg, "memory.max", v) < 0) {
                util_errf(err, errlen, "cannot set memory.max of %s: %s", u->cg, strerror(errno));
                goto fail;
            }
            s_write(u->cg, "memory.swap.max", "0");  /* the limit means RAM; absent without swap */
            s_write(u->cg, "memory.oom.group", "1"); /* an OOM ends the whole unit */
            u->mem_by_cgroup = 1;
        }
        if (cpus && c->has_cpu) {
            snprintf(v, sizeof v, "%llu 100000", (unsigned long long)cpus * 100000ull);
            if (s_write(u->cg, "cpu.max", v) < 0)
                log_warn("cannot set cpu.max of %s: %s", u->cg, strerror(errno));
        }
        char procs[PATH_MAX + 16];
        snprintf(procs, sizeof procs, "%s/cgroup.procs", u->cg);
        if ((u->procs_fd = open(procs, O_WRONLY | O_CLOEXEC)) < 0) {
            util_errf(err, errlen, "cannot open %s: %s", procs, strerror(errno));
            goto fail;
        }
    }
    if (memory && !u->mem_by_cgroup) {
        u->as.rlim_cur = u->as.rlim_max = (rlim_t)memory;
        u->set_as = 1;
    }
    return u;
fail:
    contain_unit_destroy(&u);
    return NULL;
}

const char *contain_unit_env(const contain_unit_t *u)
{
    return u->env;
}

int contain_unit_child(const contain_unit_t *u)
{
    if (setsid() < 0)
        return -1;
    if (u->procs_fd >= 0 && write(u->procs_fd, "0", 1) != 1)
        return -1;
    if (u->set_as && setrlimit(RLIMIT_AS, &u->as) < 0)
        return -1;
    return 0;
}

void contain_unit_started(contain_unit_t *u, pid_t pid)
{
    u->pid = pid;
    unsigned long long start = 0;
    s_proc_stat(pid, &start, NULL, NULL, NULL);
    char tmp[PATH_MAX + 8], text[PATH_MAX + 200];
    snprintf(tmp, sizeof tmp, "%s.tmp", u->record);
    int n = snprintf(text, sizeof text, "%d %llu\n%s\n%s\n", (int)pid, start, u->env, u->cg);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, text, (size_t)n) != n || close(fd) < 0 || rename(tmp, u->record) < 0) {
        log_warn("cannot record task %llu attempt %u in %s: %s (a crash of this worker would "
                 "leave its processes running)",
                 (unsigned long long)u->task_id, u->attempt, u->record, strerror(errno));
        if (fd >= 0)
            unlink(tmp);
    }
}

void contain_unit_reaped(contain_unit_t *u)
{
    u->reaped = 1;
}

void contain_unit_signal(contain_unit_t *u, int sig)
{
    if (u->pid > 0 && !u->reaped)
        kill(u->pid, sig); /* even before it joined its cgroup */
    if (u->cg[0])
        s_cg_signal(u->cg, sig);
    else
        s_scan(u->pid, u->env, sig);
}

int contain_unit_empty(contain_unit_t *u)
{
    if (u->cg[0])
        return s_cg_empty(u->cg);
    return s_scan(u->pid, u->env, 0) == 0;
}

int contain_unit_oom(const contain_unit_t *u)
{
    char buf[512];
    if (!u->cg[0] || s_read(u->cg, "memory.events", buf, sizeof buf) < 0)
        return 0;
    const char *p = strstr(buf, "oom_kill ");
    return p && strtoull(p + 9, NULL, 10) > 0;
}

uint64_t contain_unit_memory(const contain_unit_t *u, int *by_cgroup)
{
    *by_cgroup = u->mem_by_cgroup;
    return u->memory;
}

void contain_unit_destroy(contain_unit_t **up)
{
    if (!up || !*up)
        return;
    contain_unit_t *u = *up;
    if (u->procs_fd >= 0)
        close(u->procs_fd);
    int empty = u->pid <= 0 && !u->cg[0];
    if (!empty) {
        /* Normally already empty (task.c waits for it); at worker exit,
         * give SIGKILL a moment to land. */
        for (int i = 0; i < 100 && !(empty = contain_unit_empty(u)); i++) {
            contain_unit_signal(u, SIGKILL);
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    if (u->cg[0] && rmdir(u->cg) < 0 && errno != ENOENT) {
        log_warn("cannot remove the cgroup %s: %s (the next worker start ends it)", u->cg,
                 strerror(errno));
        empty = 0;
    }
    if (empty)
        unlink(u->record);
    free(u);
    *up = NULL;
}
