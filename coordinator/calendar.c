/* calendar — see calendar.h. */
#include "calendar.h"

#include <dirent.h>
#include <limits.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cron.h"
#include "log.h"
#include "notify.h"
#include "util.h"

#define FIRE_MAX 100          /* due times one catch-up may fire */
#define GRACE_S 60            /* a due time older than this when seen was missed */
#define SCAN_MS 2000          /* how often watched folders are looked at */
#define SETTLE_S 1            /* a file must be this old to count */

typedef struct {
    char path[1024];
    int64_t size, mtime, rows;
} seen_file_t;

typedef struct {
    char name[128];
    int trigger;              /* 0 schedule, 1 data trigger */
    cron_t cron;
    char cron_text[128];
    char tz[64];
    char catchup[8];
    int max_active;
    int paused;
    char paused_reason[200];  /* "" = by hand */
    int outside_warned;       /* the watched folder left the roots; logged once */
    uint8_t *request;
    size_t request_len;
    char created_by[128];
    int64_t last_due;         /* unix s, 0 = none yet */
    int64_t created;          /* unix s */
    int64_t next_due;         /* unix s, 0 = unknown */
    char watch[1024];
    int64_t min_new_rows;
    int64_t pending_rows;
    seen_file_t *files;       /* candidate files of the folder (not consumed) */
    size_t nfiles;
    char **consumed;          /* paths already consumed */
    size_t nconsumed, capconsumed;
} entry_t;

struct calendar {
    store_t *st;
    model_t *m;
    const conf_coordinator_t *cfg; /* borrowed: notify.allow for missed due times */
    char (*roots)[PATH_MAX];  /* canonical coordinator.trigger_roots */
    size_t nroots;
    entry_t *e;
    size_t n;
    int64_t last_scan_ms;
};

/* DROVER_CLOCK_FILE is a test hook: honoured only in a test build or with
 * coordinator.test_clock = true (calendar_new warns at every start). */
#ifdef DROVER_TEST_BUILD
static int s_test_clock = 1;
#else
static int s_test_clock = 0;
#endif

int64_t calendar_now(void)
{
    const char *f = s_test_clock ? getenv("DROVER_CLOCK_FILE") : NULL;
    if (f && *f) {
        FILE *fp = fopen(f, "r");
        if (fp) {
            double v = 0;
            int ok = fscanf(fp, "%lf", &v) == 1;
            fclose(fp);
            if (ok && v > 0)
                return (int64_t)v;
        }
    }
    return (int64_t)time(NULL);
}

static void s_entry_clear(entry_t *e)
{
    free(e->request);
    free(e->files);
    for (size_t i = 0; i < e->nconsumed; i++)
        free(e->consumed[i]);
    free(e->consumed);
    memset(e, 0, sizeof *e);
}

static void s_clear(calendar_t *c)
{
    for (size_t i = 0; i < c->n; i++)
        s_entry_clear(&c->e[i]);
    free(c->e);
    c->e = NULL;
    c->n = 0;
}

calendar_t *calendar_new(store_t *st, model_t *m, const conf_coordinator_t *cfg)
{
    calendar_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->st = st;
    c->cfg = cfg;
    c->m = m;
    if (cfg && cfg->test_clock)
        s_test_clock = 1;
    if (s_test_clock)
        log_warn("TEST CLOCK: the calendar reads \"now\" from $DROVER_CLOCK_FILE when it is set "
                 "(coordinator.test_clock = true); whoever can set that file moves schedules. "
                 "Never in production.");
    if (cfg && cfg->ntrigger_roots > 0) {
        c->roots = calloc((size_t)cfg->ntrigger_roots, sizeof *c->roots);
        if (!c->roots) {
            free(c);
            return NULL;
        }
        /* Canonical once: a watched folder is compared after realpath too,
         * so ".." and symlinks cannot step out of a root. */
        for (int i = 0; i < cfg->ntrigger_roots; i++) {
            if (!realpath(cfg->trigger_roots[i], c->roots[c->nroots])) {
                log_warn("coordinator.trigger_roots: %s: %s (ignored)", cfg->trigger_roots[i],
                         strerror(errno));
                continue;
            }
            c->nroots++;
        }
    }
    return c;
}

/* Canonicalises watch into out (PATH_MAX) and checks it lies under a root.
 * 0 ok, 1 refused (msg says why and what to set). */
static int s_watch_allowed(const calendar_t *c, const char *watch, char *out, char *msg,
                           size_t msglen)
{
    if (c->nroots == 0) {
        snprintf(msg, msglen, "data triggers are disabled on this coordinator: its config names "
                 "no folders they may watch; set coordinator.trigger_roots = [\"/data/feedback\"] "
                 "(the folders, and everything under them, that triggers may watch)");
        return 1;
    }
    if (!realpath(watch, out)) {
        snprintf(msg, msglen, "trigger 'watch' %.300s: %s (the folder must exist on the "
                 "coordinator's host)", watch, strerror(errno));
        return 1;
    }
    for (size_t i = 0; i < c->nroots; i++) {
        size_t n = strlen(c->roots[i]);
        if (strncmp(out, c->roots[i], n) == 0 &&
            (out[n] == '\0' || out[n] == '/' || strcmp(c->roots[i], "/") == 0))
            return 0;
    }
    size_t o = (size_t)snprintf(msg, msglen, "trigger 'watch' %.300s is outside the folders "
                                "triggers may watch (coordinator.trigger_roots:", watch);
    for (size_t i = 0; i < c->nroots && o < msglen; i++)
        o += (size_t)snprintf(msg + o, msglen - o, " %s", c->roots[i]);
    if (o < msglen)
        snprintf(msg + o, msglen - o, ")");
    return 1;
}

void calendar_destroy(calendar_t **cp)
{
    if (!cp || !*cp)
        return;
    s_clear(*cp);
    free((*cp)->roots);
    free(*cp);
    *cp = NULL;
}

static entry_t *s_find(calendar_t *c, const char *name)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->e[i].name, name) == 0)
            return &c->e[i];
    return NULL;
}

static entry_t *s_add(calendar_t *c)
{
    entry_t *ne = realloc(c->e, (c->n + 1) * sizeof *ne);
    if (!ne)
        return NULL;
    c->e = ne;
    memset(&c->e[c->n], 0, sizeof c->e[c->n]);
    return &c->e[c->n++];
}

/* Next due time after `after` (0 when none can be computed). */
static int64_t s_next(entry_t *e, int64_t after)
{
    if (e->trigger)
        return 0;
    int64_t next;
    char err[256];
    if (cron_next(&e->cron, e->tz, after, &next, err, sizeof err) < 0) {
        log_warn("schedule %s: %s", e->name, err);
        return 0;
    }
    return next;
}

static int s_consumed_add(entry_t *e, const char *path)
{
    if (e->nconsumed == e->capconsumed) {
        size_t nc = e->capconsumed ? e->capconsumed * 2 : 16;
        char **np = realloc(e->consumed, nc * sizeof *np);
        if (!np)
            return -1;
        e->consumed = np;
        e->capconsumed = nc;
    }
    if (!(e->consumed[e->nconsumed] = strdup(path)))
        return -1;
    e->nconsumed++;
    return 0;
}

static int s_fill(entry_t *e, const char *name, int trigger, const char *cron_text, const char *tz,
                  const char *catchup, int max_active, const char *watch, int64_t min_rows,
                  const uint8_t *req, size_t req_len, const char *by, char *err, size_t errlen)
{
    util_strlcpy(e->name, name, sizeof e->name);
    e->trigger = trigger;
    util_strlcpy(e->cron_text, cron_text, sizeof e->cron_text);
    util_strlcpy(e->tz, *tz ? tz : "UTC", sizeof e->tz);
    util_strlcpy(e->catchup, *catchup ? catchup : "none", sizeof e->catchup);
    e->max_active = max_active > 0 ? max_active : 1;
    util_strlcpy(e->watch, watch, sizeof e->watch);
    e->min_new_rows = min_rows > 0 ? min_rows : 1;
    util_strlcpy(e->created_by, by, sizeof e->created_by);
    if (!trigger && cron_parse(cron_text, &e->cron, err, errlen) < 0)
        return 1;
    free(e->request);
    e->request = malloc(req_len ? req_len : 1);
    if (!e->request)
        return -1;
    memcpy(e->request, req, req_len);
    e->request_len = req_len;
    return 0;
}

int calendar_load(calendar_t *c)
{
    s_clear(c);
    PGresult *r = store_sched_load(c->st);
    if (!r)
        return -1;
    int rc = -1;
    for (int i = 0; i < PQntuples(r); i++) {
        size_t len = 0;
        unsigned char *req = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 9), &len);
        entry_t *e = req ? s_add(c) : NULL;
        char err[256];
        int f = e ? s_fill(e, db_get_str(r, i, 0), strcmp(db_get_str(r, i, 1), "trigger") == 0,
                           db_get_str(r, i, 2), db_get_str(r, i, 3), db_get_str(r, i, 4),
                           (int)db_get_i64(r, i, 5), db_get_str(r, i, 6), db_get_i64(r, i, 7), req,
                           len, db_get_str(r, i, 12), err, sizeof err)
                  : -1;
        if (req)
            PQfreemem(req);
        if (f < 0)
            goto out;
        if (f == 1) {
            log_warn("schedule %s: %s (ignored)", db_get_str(r, i, 0), err);
            s_entry_clear(&c->e[--c->n]);
            continue;
        }
        e->paused = strcmp(db_get_str(r, i, 8), "t") == 0;
        util_strlcpy(e->paused_reason, db_get_str(r, i, 13), sizeof e->paused_reason);
        e->last_due = db_get_i64(r, i, 10) / 1000000;
        e->created = db_get_i64(r, i, 11) / 1000000;
        if (!e->last_due)
            e->last_due = e->created;
        e->next_due = s_next(e, e->last_due ? e->last_due : e->created);
    }
    PQclear(r);
    r = store_trigger_files(c->st);
    if (!r)
        return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        entry_t *e = s_find(c, db_get_str(r, i, 0));
        if (e && s_consumed_add(e, db_get_str(r, i, 1)) < 0)
            goto out;
    }
    if (c->n)
        log_info("%zu schedule%s and triggers loaded", c->n, c->n == 1 ? "" : "s");
    rc = 0;
out:
    PQclear(r);
    return rc;
}

int calendar_register(calendar_t *c, const Drover__SubmitRequest *req, const char *key, int admin,
                      const char *by, char *msg, size_t msglen)
{
    const Drover__Schedule *sc = req->schedule;
    const Drover__Trigger *tr = req->trigger;
    /* The workflow is checked as a submit is (it will be one, each time it fires). */
    if (model_submit_check(c->m, req, msg, msglen) < 0)
        return errno == EINVAL ? 1 : -1;
    char canon[PATH_MAX];
    if (tr) {
        if (s_watch_allowed(c, tr->watch, canon, msg, msglen) != 0)
            return 1;
        if (strlen(canon) >= sizeof(((entry_t *)0)->watch)) {
            snprintf(msg, msglen, "trigger 'watch': the folder's path is too long (at most %zu "
                     "bytes)", sizeof(((entry_t *)0)->watch) - 1);
            return 1;
        }
    }
    const char *owner = key && *key ? key : by;
    entry_t *old = s_find(c, req->workflow);
    if (old && !admin && strcmp(old->created_by, owner) != 0) {
        snprintf(msg, msglen, "permission denied: %s %s belongs to key '%s'; key '%s' may replace, "
                 "pause or remove only its own (or ask an admin)",
                 old->trigger ? "trigger" : "schedule", old->name, old->created_by, owner);
        return 2;
    }
    if (sc && tr) {
        snprintf(msg, msglen, "a workflow has a schedule or a trigger, not both");
        return 1;
    }
    if (tr && (!tr->watch || tr->watch[0] != '/')) {
        snprintf(msg, msglen, "trigger.watch must be an absolute folder path");
        return 1;
    }
    const char *catchup = sc && sc->catchup && *sc->catchup ? sc->catchup : "none";
    if (sc && strcmp(catchup, "none") && strcmp(catchup, "latest") && strcmp(catchup, "all")) {
        snprintf(msg, msglen, "catchup must be none, latest or all");
        return 1;
    }
    /* The stored request runs as it is: without the schedule/trigger. */
    Drover__SubmitRequest copy = *req;
    copy.schedule = NULL;
    copy.trigger = NULL;
    size_t len = drover__submit_request__get_packed_size(&copy);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return -1;
    drover__submit_request__pack(&copy, buf);
    entry_t tmp = {0};
    char err[256];
    int f = s_fill(&tmp, req->workflow, tr != NULL, sc ? sc->cron : "", sc && sc->timezone ? sc->timezone : "",
                   catchup, sc ? (int)sc->max_active : 1, tr ? canon : "",
                   tr ? (int64_t)tr->min_new_rows : 0, buf, len, key && *key ? key : by, err,
                   sizeof err);
    free(buf);
    if (f != 0) {
        s_entry_clear(&tmp);
        if (f == 1)
            snprintf(msg, msglen, "schedule: %s", err);
        return f;
    }
    if (!tr) {
        int64_t probe;
        if (cron_next(&tmp.cron, tmp.tz, calendar_now(), &probe, err, sizeof err) < 0) {
            s_entry_clear(&tmp);
            snprintf(msg, msglen, "schedule: %s", err);
            return 1;
        }
    }
    store_sched_t row = {
        .name = tmp.name, .kind = tr ? "trigger" : "schedule", .cron = tmp.cron_text,
        .timezone = tr ? "" : tmp.tz, .catchup = tr ? "" : tmp.catchup, .watch = tmp.watch,
        .created_by = tmp.created_by, .max_active = tmp.max_active,
        .min_new_rows = tr ? tmp.min_new_rows : 0, .request = tmp.request,
        .request_len = tmp.request_len,
    };
    int64_t created_us, last_due_us;
    if (store_sched_upsert(c->st, &row, &created_us, &last_due_us) < 0) {
        s_entry_clear(&tmp);
        return -1;
    }
    entry_t *e = s_find(c, tmp.name);
    if (e) {
        /* Replacing a registration keeps what it consumed and when it last fired. */
        tmp.consumed = e->consumed;
        tmp.nconsumed = e->nconsumed;
        tmp.capconsumed = e->capconsumed;
        tmp.paused = e->paused;
        util_strlcpy(tmp.paused_reason, e->paused_reason, sizeof tmp.paused_reason);
        e->consumed = NULL;
        e->nconsumed = 0;
        s_entry_clear(e);
    } else if (!(e = s_add(c))) {
        s_entry_clear(&tmp);
        return -1;
    }
    *e = tmp;
    e->created = created_us / 1000000;
    e->last_due = last_due_us / 1000000;
    int64_t now = calendar_now();
    /* Fire from now on: registration does not catch up the past. Stored,
     * so a restart does not mistake the whole past for missed due times. */
    if (!e->last_due || e->last_due < now) {
        e->last_due = now;
        if (store_sched_last_due(c->st, e->name, now * 1000000) < 0)
            return -1;
    }
    e->next_due = s_next(e, e->last_due);
    if (tr) {
        snprintf(msg, msglen, "registered trigger %s: runs when %lld new rows arrive in %s", e->name,
                 (long long)e->min_new_rows, e->watch);
    } else {
        char when[64] = "?", ferr[128];
        cron_format_local(e->tz, e->next_due, when, sizeof when, ferr, sizeof ferr);
        snprintf(msg, msglen, "registered schedule %s (%s %s; next: %s)", e->name, e->cron_text,
                 e->tz, when);
    }
    log_info("%s", msg);
    return 0;
}

/* Starts one run of e (for due time `due`, 0 = by hand). */
static int s_start(calendar_t *c, entry_t *e, int64_t due, int64_t *run_id)
{
    *run_id = 0;
    Drover__SubmitRequest *req = drover__submit_request__unpack(NULL, e->request_len, e->request);
    if (!req) {
        log_error("schedule %s: its stored workflow no longer decodes; re-submit it", e->name);
        return 0;
    }
    char err[512];
    int rc = model_submit(c->m, req, e->created_by, e->name, due * 1000000, NULL, run_id, err,
                          sizeof err);
    drover__submit_request__free_unpacked(req, NULL);
    if (rc < 0 && errno == EINVAL) {
        log_error("schedule %s: the workflow was refused: %s", e->name, err);
        return 0;
    }
    return rc;
}

/* Handles one due time of a schedule: claim it in the database (exactly
 * once), then start a run or record that max_active held it back. */
static int s_fire(calendar_t *c, entry_t *e, int64_t due)
{
    int active = model_runs_of_schedule(c->m, e->name);
    const char *outcome = active >= e->max_active ? "skipped" : "started";
    int claimed = store_fire_claim(c->st, e->name, due * 1000000, outcome);
    if (claimed < 0)
        return -1;
    if (claimed == 0) {
        log_info("schedule %s: due time %lld already fired; not again", e->name, (long long)due);
        return 0;
    }
    if (strcmp(outcome, "skipped") == 0) {
        log_warn("schedule %s: due time skipped: %d run%s still active (max_active = %d)", e->name,
                 active, active == 1 ? "" : "s", e->max_active);
        return 0;
    }
    int64_t run_id;
    if (s_start(c, e, due, &run_id) < 0)
        return -1;
    if (run_id && store_fire_run(c->st, e->name, due * 1000000, run_id) < 0)
        return -1;
    log_info("schedule %s fired for %lld: run %lld", e->name, (long long)due, (long long)run_id);
    return 0;
}

/* Moves e past `due` (handled: fired or skipped), durably. */
static int s_handled(calendar_t *c, entry_t *e, int64_t due)
{
    if (store_sched_last_due(c->st, e->name, due * 1000000) < 0)
        return -1;
    e->last_due = due;
    e->next_due = s_next(e, due);
    return 0;
}

/* The workflow's own webhook when its notify block asks for
 * schedule_missed and still passes coordinator.notify.allow (the operator
 * may have narrowed it since the registration), else "". The request is
 * unpacked only here: misses are rare. */
static void s_missed_hook(const calendar_t *c, const entry_t *e, char *hook, size_t len)
{
    hook[0] = '\0';
    Drover__SubmitRequest *q = drover__submit_request__unpack(NULL, e->request_len, e->request);
    const Drover__WorkflowNotify *n = q ? q->notify : NULL;
    char why[400];
    if (n && notify_check_workflow(c->cfg, n->webhook, n->on, n->n_on, 1, why, sizeof why) < 0) {
        log_warn("schedule %s: its notify block is no longer accepted (%s); the miss goes to "
                 "coordinator.notify.webhook only", e->name, why);
        n = NULL;
    }
    for (size_t i = 0; n && i < n->n_on; i++)
        if (strcmp(n->on[i], "schedule_missed") == 0)
            util_strlcpy(hook, n->webhook, len);
    if (q)
        drover__submit_request__free_unpacked(q, NULL);
}

/* Due times seen more than GRACE_S late were missed (no coordinator ran):
 * the catch-up policy decides; due times seen on time always fire. */
static int s_tick_schedule(calendar_t *c, entry_t *e, int64_t now)
{
    if (e->paused || !e->next_due || e->next_due > now)
        return 0;
    int64_t cutoff = now - GRACE_S;
    char err[256];
    if (e->next_due <= cutoff) {
        int64_t newest;
        if (cron_prev(&e->cron, e->tz, cutoff + 1, &newest, err, sizeof err) < 0)
            return 0;
        /* Recorded (and so announced: coordinator/notify.h) once per miss. */
        char detail[400];
        snprintf(detail, sizeof detail,
                 "schedule %s missed its due times from %lld to %lld (catchup = %s)", e->name,
                 (long long)e->next_due, (long long)newest, e->catchup);
        char hook[1024];
        s_missed_hook(c, e, hook, sizeof hook);
        if (store_schedule_missed(c->st, detail, *hook ? hook : NULL) < 0)
            return -1;
        if (!strcmp(e->catchup, "all")) {
            /* Oldest first, at most FIRE_MAX: the newest FIRE_MAX of them. */
            int64_t ring[FIRE_MAX], from = e->last_due, page[FIRE_MAX];
            size_t nring = 0, total = 0, n;
            do {
                if (cron_due_between(&e->cron, e->tz, from, cutoff, page, FIRE_MAX, &n) < 0)
                    return 0;
                for (size_t i = 0; i < n; i++)
                    ring[(total + i) % FIRE_MAX] = page[i];
                total += n;
                nring = total < FIRE_MAX ? total : FIRE_MAX;
                if (n)
                    from = page[n - 1];
            } while (n == FIRE_MAX && total < 10000000);
            if (total > nring)
                log_warn("schedule %s: %zu missed due times; running the newest %d", e->name,
                         total, FIRE_MAX);
            for (size_t i = 0; i < nring; i++) {
                int64_t due = ring[(total - nring + i) % FIRE_MAX];
                if (s_fire(c, e, due) < 0 || s_handled(c, e, due) < 0)
                    return -1;
            }
        } else if (!strcmp(e->catchup, "latest")) {
            log_info("schedule %s: missed due times; running only the latest (catchup = latest)",
                     e->name);
            if (s_fire(c, e, newest) < 0)
                return -1;
        } else {
            log_info("schedule %s: missed due times not run (catchup = none)", e->name);
        }
        if (s_handled(c, e, newest) < 0)
            return -1;
    }
    /* On time: everything due in (last_due, now]. */
    while (e->next_due && e->next_due <= now) {
        int64_t due = e->next_due;
        if (s_fire(c, e, due) < 0 || s_handled(c, e, due) < 0)
            return -1;
    }
    return 0;
}

/* Rows of a CSV file: lines, minus the header (a last line without a
 * newline counts). */
static int64_t s_rows(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[65536];
    int64_t lines = 0;
    ssize_t k;
    char last = '\n';
    while ((k = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < k; i++)
            lines += buf[i] == '\n';
        last = buf[k - 1];
    }
    close(fd);
    if (k < 0)
        return -1;
    if (last != '\n')
        lines++;
    return lines > 0 ? lines - 1 : 0;
}

static int s_is_consumed(const entry_t *e, const char *path)
{
    for (size_t i = 0; i < e->nconsumed; i++)
        if (strcmp(e->consumed[i], path) == 0)
            return 1;
    return 0;
}

/* Looks at e's folder: which settled CSV files are new, and their rows. */
static void s_scan(calendar_t *c, entry_t *e, int64_t now)
{
    e->pending_rows = 0;
    /* Checked again at every scan: a symlink swapped in after registration,
     * or a root removed from the config, must not make the coordinator
     * read (or count the rows of) a folder outside the roots. */
    char canon[PATH_MAX], why[600];
    if (s_watch_allowed(c, e->watch, canon, why, sizeof why) != 0 || strcmp(canon, e->watch) != 0) {
        if (!e->outside_warned)
            log_warn("trigger %s: not scanning %s: %s", e->name, e->watch,
                     why[0] ? why : "it now resolves to another folder");
        e->outside_warned = 1;
        free(e->files);
        e->files = NULL;
        e->nfiles = 0;
        return;
    }
    e->outside_warned = 0;
    DIR *d = opendir(e->watch);
    if (!d)
        return;
    seen_file_t *keep = NULL;
    size_t nkeep = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t nl = strlen(de->d_name);
        if (de->d_name[0] == '.' || nl < 5 || strcmp(de->d_name + nl - 4, ".csv") != 0)
            continue;
        char path[1024];
        if (snprintf(path, sizeof path, "%s/%s", e->watch, de->d_name) >= (int)sizeof path)
            continue;
        struct stat st;
        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || st.st_mtime > now - SETTLE_S ||
            s_is_consumed(e, path))
            continue;
        seen_file_t f = {0};
        util_strlcpy(f.path, path, sizeof f.path);
        f.size = st.st_size;
        f.mtime = st.st_mtime;
        f.rows = -1;
        /* Counted before and unchanged: reuse the count. */
        for (size_t i = 0; i < e->nfiles; i++)
            if (!strcmp(e->files[i].path, path) && e->files[i].size == f.size &&
                e->files[i].mtime == f.mtime)
                f.rows = e->files[i].rows;
        if (f.rows < 0)
            f.rows = s_rows(path);
        if (f.rows < 0)
            continue;
        seen_file_t *nk = realloc(keep, (nkeep + 1) * sizeof *nk);
        if (!nk)
            break;
        keep = nk;
        keep[nkeep++] = f;
        e->pending_rows += f.rows;
    }
    closedir(d);
    free(e->files);
    e->files = keep;
    e->nfiles = nkeep;
}

/* Starts a run over every new file of e and records them as consumed. */
static int s_consume(calendar_t *c, entry_t *e, const char *why)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < e->nfiles; i++)
        json_array_append_new(arr, json_pack("{s:s, s:I, s:I}", "path", e->files[i].path, "size",
                                             (json_int_t)e->files[i].size, "rows",
                                             (json_int_t)e->files[i].rows));
    char *js = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    if (!js)
        return -1;
    int64_t run_id;
    int rc = s_start(c, e, 0, &run_id);
    if (rc == 0 && run_id) {
        int n = store_trigger_consume(c->st, e->name, js, run_id);
        if (n < 0)
            rc = -1;
        else if ((size_t)n != e->nfiles) {
            /* Someone consumed some of them first: undo this run (reset). */
            log_error("trigger %s: %zu of its files were consumed elsewhere meanwhile", e->name,
                      e->nfiles - (size_t)n);
            rc = -1;
        }
    }
    free(js);
    if (rc < 0)
        return -1;
    log_info("trigger %s: run %lld over %zu file%s, %lld new rows (%s)", e->name,
             (long long)run_id, e->nfiles, e->nfiles == 1 ? "" : "s", (long long)e->pending_rows,
             why);
    for (size_t i = 0; i < e->nfiles; i++)
        if (s_consumed_add(e, e->files[i].path) < 0)
            return -1;
    e->nfiles = 0;
    e->pending_rows = 0;
    return 0;
}

int calendar_tick(calendar_t *c)
{
    int64_t now = calendar_now();
    int64_t mono = util_mono_ms();
    int scan = mono - c->last_scan_ms >= SCAN_MS;
    if (scan)
        c->last_scan_ms = mono;
    for (size_t i = 0; i < c->n; i++) {
        entry_t *e = &c->e[i];
        if (!e->trigger) {
            if (s_tick_schedule(c, e, now) < 0)
                return -1;
            continue;
        }
        if (!scan || e->paused)
            continue;
        s_scan(c, e, now);
        if (e->nfiles && e->pending_rows >= e->min_new_rows &&
            model_runs_of_schedule(c->m, e->name) < e->max_active &&
            s_consume(c, e, "enough new rows") < 0)
            return -1;
    }
    return 0;
}

static char *s_list(calendar_t *c)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < c->n; i++) {
        entry_t *e = &c->e[i];
        char next[64] = "", err[128];
        if (!e->trigger && e->next_due)
            cron_format_local(e->tz, e->next_due, next, sizeof next, err, sizeof err);
        PGresult *r = store_fire_last(c->st, e->name);
        if (!r) {
            json_decref(arr);
            return NULL;
        }
        json_t *o = json_pack("{s:s, s:s, s:b, s:s, s:i, s:s}", "name", e->name, "kind",
                              e->trigger ? "trigger" : "schedule", "paused", e->paused,
                              "paused_reason", e->paused_reason, "max_active", e->max_active,
                              "owner", e->created_by);
        if (o && PQntuples(r) > 0) {
            json_object_set_new(o, "last_run", json_integer(db_get_i64(r, 0, 0)));
            json_object_set_new(o, "last_outcome", json_string(db_get_str(r, 0, 1)));
        } else if (o) {
            json_object_set_new(o, "last_run", json_null());
            json_object_set_new(o, "last_outcome", json_null());
        }
        PQclear(r);
        if (o && !e->trigger) {
            json_object_set_new(o, "cron", json_string(e->cron_text));
            json_object_set_new(o, "timezone", json_string(e->tz));
            json_object_set_new(o, "catchup", json_string(e->catchup));
            json_object_set_new(o, "next_due", next[0] ? json_string(next) : json_null());
        } else if (o) {
            json_object_set_new(o, "watch", json_string(e->watch));
            json_object_set_new(o, "min_new_rows", json_integer(e->min_new_rows));
            json_object_set_new(o, "pending_rows", json_integer(e->pending_rows));
            json_object_set_new(o, "consumed_files", json_integer((json_int_t)e->nconsumed));
        }
        if (!o || json_array_append_new(arr, o) < 0) {
            json_decref(arr);
            return NULL;
        }
    }
    char *s = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    return s;
}

int calendar_op(calendar_t *c, const char *op, const char *name, const char *key, int admin,
                char **json, char *msg, size_t msglen)
{
    *json = NULL;
    if (!strcmp(op, "list")) {
        *json = s_list(c);
        return *json ? 0 : -1;
    }
    entry_t *e = s_find(c, name);
    if (!e) {
        snprintf(msg, msglen, "no schedule or trigger named '%.140s' (see: drover schedule list)",
                 name);
        return 1;
    }
    if (!admin && strcmp(e->created_by, key ? key : "") != 0) {
        snprintf(msg, msglen, "permission denied: %s %s belongs to key '%s'; key '%s' may replace, "
                 "pause or remove only its own (or ask an admin)",
                 e->trigger ? "trigger" : "schedule", e->name, e->created_by, key ? key : "");
        return 2;
    }
    if (!strcmp(op, "pause") || !strcmp(op, "resume")) {
        e->paused = !strcmp(op, "pause");
        e->paused_reason[0] = '\0';
        if (store_sched_pause(c->st, e->name, e->paused, "") < 0)
            return -1;
        if (!e->paused && !e->trigger) {
            /* Resuming does not run what fell due while paused. */
            e->last_due = calendar_now();
            e->next_due = s_next(e, e->last_due);
            if (store_sched_last_due(c->st, e->name, e->last_due * 1000000) < 0)
                return -1;
        }
        snprintf(msg, msglen, "%s %s %s", e->trigger ? "trigger" : "schedule", e->name,
                 e->paused ? "paused" : "resumed");
        return 0;
    }
    if (!strcmp(op, "rm")) {
        if (store_sched_delete(c->st, e->name) < 0)
            return -1;
        snprintf(msg, msglen, "%s %s removed", e->trigger ? "trigger" : "schedule", e->name);
        s_entry_clear(e);
        *e = c->e[--c->n];
        return 0;
    }
    if (!strcmp(op, "trigger")) {
        if (e->trigger) {
            s_scan(c, e, calendar_now());
            if (!e->nfiles) {
                snprintf(msg, msglen, "trigger %s: no new files to consume", e->name);
                return 1;
            }
            if (s_consume(c, e, "triggered by hand") < 0)
                return -1;
            snprintf(msg, msglen, "trigger %s: started a run over the new files", e->name);
            return 0;
        }
        int64_t run_id;
        if (s_start(c, e, 0, &run_id) < 0)
            return -1;
        snprintf(msg, msglen, "schedule %s: started run %lld outside the calendar", e->name,
                 (long long)run_id);
        return 0;
    }
    snprintf(msg, msglen, "unknown schedule operation '%s' (list, pause, resume, rm, trigger)", op);
    return 1;
}

int calendar_key_revoked(calendar_t *c, const char *key)
{
    int n = 0;
    if (!key || !*key)
        return 0;
    for (size_t i = 0; i < c->n; i++) {
        entry_t *e = &c->e[i];
        if (strcmp(e->created_by, key) != 0 || e->paused)
            continue;
        snprintf(e->paused_reason, sizeof e->paused_reason,
                 "owner key '%.64s' was revoked; an admin may resume it or register it anew", key);
        if (store_sched_pause(c->st, e->name, 1, e->paused_reason) < 0)
            return -1;
        e->paused = 1;
        log_warn("%s %s paused: %s", e->trigger ? "trigger" : "schedule", e->name,
                 e->paused_reason);
        n++;
    }
    return n;
}
