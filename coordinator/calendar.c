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
#include "trigscan.h"
#include "log.h"
#include "notify.h"
#include "util.h"

#define FIRE_MAX        100 /* default catchup_max: due times one catch-up queues */
#define GRACE_S         60  /* default lateness: a due time older than this when seen was missed */
#define MISSED_SCAN_MAX 10000000 /* missed due times counted at most in one catch-up */
#define NEXT_MAX        100      /* `schedule next -n` at most */
#define SCAN_MS         2000     /* how often watched folders are looked at */
#define SETTLE_S        1        /* a file must be this old to count */

/* A version of a watched file not consumed yet (new data). */
typedef struct {
    char path[1024];
    char sha256[65];
    int64_t size, mtime;
    int64_t rows;             /* data rows of the whole file (dataset_csv_tally) */
    int64_t blank, malformed; /* records not counted */
    int64_t new_rows;         /* rows that count towards min_new_rows */
    int64_t appended_to;      /* rows of the consumed version this one only extends, -1 = none */
} seen_file_t;

/* A consumed version: (path, sha256); sha256 "" = consumed before
 * migration 019, when the path alone counted. */
typedef struct {
    char *path;
    char sha256[65];
    int64_t size, rows;
} consumed_t;

typedef struct {
    char name[128];
    int trigger; /* 0 schedule, 1 data trigger */
    cron_t cron;
    char cron_text[128];
    char tz[64];
    char catchup[8];
    int max_active;
    int catchup_max;        /* catchup = all: due times queued at most */
    int lateness_s;         /* later than this when seen = missed */
    int64_t nqueued;        /* due times queued behind max_active (drover.schedule_fires) */
    char last_catchup[240]; /* the last catch-up's report, "" = none since start */
    int paused;
    char paused_reason[200]; /* "" = by hand */
    int outside_warned;      /* the watched folder left the roots; logged once */
    uint8_t *request;
    size_t request_len;
    char created_by[128];
    int64_t last_due; /* unix s, 0 = none yet */
    int64_t created;  /* unix s */
    int64_t next_due; /* unix s, 0 = unknown */
    char watch[1024];
    int64_t min_new_rows;
    int64_t pending_rows;
    seen_file_t *files; /* new data of the folder (versions not consumed) */
    size_t nfiles;
    consumed_t *consumed; /* versions already consumed */
    size_t nconsumed, capconsumed;
    char on_failure[8]; /* keep | retry: a failed run's files return to the pool */
    int64_t *open_runs; /* runs it started that have not ended */
    size_t nopen, capopen;
    int64_t counting;                               /* files the trigscan thread is still reading */
    int64_t blank_rows, malformed_rows, unreadable; /* of the new files (not counted) */
} entry_t;

struct calendar {
    store_t *st;
    model_t *m;
    const conf_coordinator_t *cfg; /* borrowed: notify.allow for missed due times */
    char (*roots)[PATH_MAX];       /* canonical coordinator.trigger_roots */
    size_t nroots;
    entry_t *e;
    size_t n;
    int64_t last_scan_ms;
    trigscan_t *ts; /* hashes and counts trigger files off the loop */
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
        free(e->consumed[i].path);
    free(e->consumed);
    free(e->open_runs);
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
    if (!(c->ts = trigscan_start())) {
        free(c);
        return NULL;
    }
    if (cfg && cfg->test_clock)
        s_test_clock = 1;
    if (s_test_clock)
        log_warn("TEST CLOCK: the calendar reads \"now\" from $DROVER_CLOCK_FILE when it is set "
                 "(coordinator.test_clock = true); whoever can set that file moves schedules. "
                 "Never in production.");
    if (cfg && cfg->ntrigger_roots > 0) {
        c->roots = calloc((size_t)cfg->ntrigger_roots, sizeof *c->roots);
        if (!c->roots) {
            trigscan_stop(&c->ts);
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
        snprintf(msg, msglen,
                 "data triggers are disabled on this coordinator: its config names "
                 "no folders they may watch; set coordinator.trigger_roots = [\"/data/feedback\"] "
                 "(the folders, and everything under them, that triggers may watch)");
        return 1;
    }
    if (!realpath(watch, out)) {
        snprintf(msg, msglen,
                 "trigger 'watch' %.300s: %s (the folder must exist on the "
                 "coordinator's host)",
                 watch, strerror(errno));
        return 1;
    }
    for (size_t i = 0; i < c->nroots; i++) {
        size_t n = strlen(c->roots[i]);
        if (strncmp(out, c->roots[i], n) == 0 &&
            (out[n] == '\0' || out[n] == '/' || strcmp(c->roots[i], "/") == 0))
            return 0;
    }
    size_t o = (size_t)snprintf(msg, msglen,
                                "trigger 'watch' %.300s is outside the folders "
                                "triggers may watch (coordinator.trigger_roots:",
                                watch);
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
    trigscan_stop(&(*cp)->ts);
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

static int s_consumed_add(entry_t *e, const char *path, const char *sha256, int64_t size,
                          int64_t rows)
{
    if (e->nconsumed == e->capconsumed) {
        size_t nc = e->capconsumed ? e->capconsumed * 2 : 16;
        consumed_t *np = realloc(e->consumed, nc * sizeof *np);
        if (!np)
            return -1;
        e->consumed = np;
        e->capconsumed = nc;
    }
    consumed_t *k = &e->consumed[e->nconsumed];
    if (!(k->path = strdup(path)))
        return -1;
    util_strlcpy(k->sha256, sha256, sizeof k->sha256);
    k->size = size;
    k->rows = rows;
    e->nconsumed++;
    return 0;
}

/* Forgets a consumed version (its run failed: on_failure = retry). */
static void s_consumed_drop(entry_t *e, const char *path, const char *sha256)
{
    for (size_t i = 0; i < e->nconsumed; i++) {
        if (strcmp(e->consumed[i].path, path) || strcmp(e->consumed[i].sha256, sha256))
            continue;
        free(e->consumed[i].path);
        e->consumed[i] = e->consumed[--e->nconsumed];
        return;
    }
}

static int s_open_add(entry_t *e, int64_t run_id)
{
    for (size_t i = 0; i < e->nopen; i++)
        if (e->open_runs[i] == run_id)
            return 0;
    if (e->nopen == e->capopen) {
        size_t nc = e->capopen ? e->capopen * 2 : 8;
        int64_t *np = realloc(e->open_runs, nc * sizeof *np);
        if (!np)
            return -1;
        e->open_runs = np;
        e->capopen = nc;
    }
    e->open_runs[e->nopen++] = run_id;
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
    e->catchup_max = FIRE_MAX;
    e->lateness_s = GRACE_S;
    util_strlcpy(e->on_failure, "keep", sizeof e->on_failure);
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
        e->catchup_max = (int)db_get_i64(r, i, 14);
        e->lateness_s = (int)db_get_i64(r, i, 15);
        e->nqueued = db_get_i64(r, i, 16);
        util_strlcpy(e->on_failure, db_get_str(r, i, 17), sizeof e->on_failure);
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
        if (e && s_consumed_add(e, db_get_str(r, i, 1), db_get_str(r, i, 2), db_get_i64(r, i, 3),
                                db_get_i64(r, i, 4)) < 0)
            goto out;
        if (e && strcmp(db_get_str(r, i, 6), "t") == 0 && s_open_add(e, db_get_i64(r, i, 5)) < 0)
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
            snprintf(msg, msglen,
                     "trigger 'watch': the folder's path is too long (at most %zu "
                     "bytes)",
                     sizeof(((entry_t *)0)->watch) - 1);
            return 1;
        }
    }
    const char *owner = key && *key ? key : by;
    entry_t *old = s_find(c, req->workflow);
    if (old && !admin && strcmp(old->created_by, owner) != 0) {
        snprintf(msg, msglen,
                 "permission denied: %s %s belongs to key '%s'; key '%s' may replace, "
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
    int f = s_fill(&tmp, req->workflow, tr != NULL, sc ? sc->cron : "",
                   sc && sc->timezone ? sc->timezone : "", catchup, sc ? (int)sc->max_active : 1,
                   tr ? canon : "", tr ? (int64_t)tr->min_new_rows : 0, buf, len,
                   key && *key ? key : by, err, sizeof err);
    free(buf);
    if (f != 0) {
        s_entry_clear(&tmp);
        if (f == 1)
            snprintf(msg, msglen, "schedule: %s", err);
        return f;
    }
    if (sc && sc->catchup_max)
        tmp.catchup_max = (int)sc->catchup_max;
    if (sc && sc->lateness_s)
        tmp.lateness_s = (int)sc->lateness_s;
    if (tr && tr->on_failure && !strcmp(tr->on_failure, "retry"))
        util_strlcpy(tmp.on_failure, "retry", sizeof tmp.on_failure);
    if (!tr) {
        int64_t probe;
        if (cron_next(&tmp.cron, tmp.tz, calendar_now(), &probe, err, sizeof err) < 0) {
            s_entry_clear(&tmp);
            snprintf(msg, msglen, "schedule: %s", err);
            return 1;
        }
    }
    store_sched_t row = {
        .name = tmp.name,
        .kind = tr ? "trigger" : "schedule",
        .cron = tmp.cron_text,
        .timezone = tr ? "" : tmp.tz,
        .catchup = tr ? "" : tmp.catchup,
        .watch = tmp.watch,
        .created_by = tmp.created_by,
        .max_active = tmp.max_active,
        .min_new_rows = tr ? tmp.min_new_rows : 0,
        .request = tmp.request,
        .catchup_max = tmp.catchup_max,
        .lateness_s = tmp.lateness_s,
        .on_failure = tmp.on_failure,
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
        tmp.open_runs = e->open_runs;
        tmp.nopen = e->nopen;
        tmp.capopen = e->capopen;
        e->open_runs = NULL;
        e->nopen = 0;
        tmp.paused = e->paused;
        tmp.nqueued = e->nqueued;
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
    /* Replacing a paused registration keeps it paused: say so, not "next". */
    char paused[200] = "";
    if (e->paused)
        snprintf(paused, sizeof paused, "; it stays paused (drover schedule resume %.128s)",
                 e->name);
    if (tr) {
        snprintf(msg, msglen, "registered trigger %s: runs when %lld new rows arrive in %s%s",
                 e->name, (long long)e->min_new_rows, e->watch, paused);
    } else if (e->paused) {
        snprintf(msg, msglen, "registered schedule %s (%s %s)%s", e->name, e->cron_text, e->tz,
                 paused);
    } else {
        char when[64] = "?", ferr[128];
        cron_format_local(e->tz, e->next_due, when, sizeof when, ferr, sizeof ferr);
        snprintf(msg, msglen, "registered schedule %s (%s %s; next: %s)", e->name, e->cron_text,
                 e->tz, when);
    }
    log_info("%s", msg);
    return 0;
}

/* Starts one run of e (for due time `due`, 0 = by hand; o: a trigger's
 * files for ${trigger.*}, NULL for a schedule). */
static int s_start(calendar_t *c, entry_t *e, int64_t due, model_origin_t *o, int64_t *run_id)
{
    *run_id = 0;
    Drover__SubmitRequest *req = drover__submit_request__unpack(NULL, e->request_len, e->request);
    if (!req) {
        log_error("schedule %s: its stored workflow no longer decodes; re-submit it", e->name);
        return 0;
    }
    char err[512];
    model_origin_t sched = {0};
    if (!o)
        o = &sched;
    o->schedule = e->name;
    /* A schedule's run by hand has "now" for ${run.due_at}, and no due time stored. */
    sched.due_us = due * 1000000;
    sched.due_at_us = (due ? due : calendar_now()) * 1000000;
    int rc = model_submit(c->m, req, e->created_by, o, NULL, run_id, err, sizeof err);
    drover__submit_request__free_unpacked(req, NULL);
    if (rc < 0 && errno == EINVAL) {
        log_error("schedule %s: the workflow was refused: %s", e->name, err);
        return 0;
    }
    return rc;
}

/* Handles one due time of a schedule: claim it in the database (exactly
 * once), then start a run, or, when max_active runs are active, queue it
 * (catchup = all: it starts when one ends, oldest first; s_drain) or skip
 * it (none, latest). A due time never jumps the queue: while some are
 * queued, a new one queues behind them. */
static int s_fire(calendar_t *c, entry_t *e, int64_t due)
{
    int active = model_runs_of_schedule(c->m, e->name);
    int all = strcmp(e->catchup, "all") == 0;
    const char *outcome = "started";
    if (all && (e->nqueued > 0 || active >= e->max_active))
        outcome = "queued";
    else if (active >= e->max_active)
        outcome = "skipped";
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
    if (strcmp(outcome, "queued") == 0) {
        e->nqueued++;
        log_info("schedule %s: due time %lld queued behind %d active run%s (max_active = %d)",
                 e->name, (long long)due, active, active == 1 ? "" : "s", e->max_active);
        return 0;
    }
    int64_t run_id;
    if (s_start(c, e, due, NULL, &run_id) < 0)
        return -1;
    if (run_id && store_fire_run(c->st, e->name, due * 1000000, run_id) < 0)
        return -1;
    log_info("schedule %s fired for %lld: run %lld", e->name, (long long)due, (long long)run_id);
    return 0;
}

/* Starts queued due times, oldest first, while max_active allows. */
static int s_drain(calendar_t *c, entry_t *e)
{
    while (e->nqueued > 0 && !e->paused && model_runs_of_schedule(c->m, e->name) < e->max_active) {
        int64_t due_us, run_id;
        int got = store_fire_dequeue(c->st, e->name, &due_us);
        if (got < 0)
            return -1;
        if (got == 0) {
            e->nqueued = 0;
            break;
        }
        e->nqueued--;
        if (s_start(c, e, due_us / 1000000, NULL, &run_id) < 0)
            return -1;
        if (run_id && store_fire_run(c->st, e->name, due_us, run_id) < 0)
            return -1;
        log_info("schedule %s: queued due time %lld started: run %lld (%lld still queued)", e->name,
                 (long long)(due_us / 1000000), (long long)run_id, (long long)e->nqueued);
        if (!run_id)
            break; /* refused (logged): try again next tick rather than spin */
    }
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
                 "coordinator.notify.webhook only",
                 e->name, why);
        n = NULL;
    }
    for (size_t i = 0; n && i < n->n_on; i++)
        if (strcmp(n->on[i], "schedule_missed") == 0)
            util_strlcpy(hook, n->webhook, len);
    if (q)
        drover__submit_request__free_unpacked(q, NULL);
}

/* The missed due times of e in (last_due, cutoff]: how many (*total, at
 * most MISSED_SCAN_MAX counted) and the newest `keep` of them, oldest
 * first, in ring[0..*nkept). 0, or -1 when the cron cannot be evaluated. */
static int s_missed(entry_t *e, int64_t cutoff, int64_t *ring, size_t keep, size_t *total,
                    size_t *nkept)
{
    int64_t from = e->last_due, page[FIRE_MAX];
    size_t n, tot = 0;
    do {
        if (cron_due_between(&e->cron, e->tz, from, cutoff, page, FIRE_MAX, &n) < 0)
            return -1;
        for (size_t i = 0; i < n; i++)
            ring[(tot + i) % keep] = page[i];
        tot += n;
        if (n)
            from = page[n - 1];
    } while (n == FIRE_MAX && tot < MISSED_SCAN_MAX);
    size_t k = tot < keep ? tot : keep;
    /* Rotate so that ring[0] is the oldest kept. */
    if (tot > keep) {
        int64_t *tmp = malloc(keep * sizeof *tmp);
        if (!tmp)
            return -1;
        for (size_t i = 0; i < keep; i++)
            tmp[i] = ring[(tot - keep + i) % keep];
        memcpy(ring, tmp, keep * sizeof *tmp);
        free(tmp);
    }
    *total = tot;
    *nkept = k;
    return 0;
}

/* Due times seen more than lateness_s late were missed (no coordinator
 * ran): the catch-up policy decides, and the outcome is reported ("289
 * missed, 100 queued, 189 skipped"); due times seen in time always fire. */
static int s_tick_schedule(calendar_t *c, entry_t *e, int64_t now)
{
    if (e->paused || !e->next_due || e->next_due > now)
        return 0;
    int64_t cutoff = now - e->lateness_s;
    char err[256];
    if (e->next_due <= cutoff) {
        int64_t newest;
        if (cron_prev(&e->cron, e->tz, cutoff + 1, &newest, err, sizeof err) < 0)
            return 0;
        int all = !strcmp(e->catchup, "all"), latest = !strcmp(e->catchup, "latest");
        size_t keep = all ? (size_t)e->catchup_max : 1, total = 0, nkept = 0;
        int64_t *ring = malloc(keep * sizeof *ring);
        if (!ring)
            return -1;
        if (s_missed(e, cutoff, ring, keep, &total, &nkept) < 0) {
            free(ring);
            return 0;
        }
        size_t run = all ? nkept : latest && total ? 1 : 0;
        snprintf(e->last_catchup, sizeof e->last_catchup,
                 "%zu%s missed, %zu queued, %zu skipped (catchup = %s%s)", total,
                 total >= MISSED_SCAN_MAX ? "+" : "", run, total - run, e->catchup,
                 all && total > run ? ", the oldest skipped: raise catchup_max to keep more" : "");
        /* Recorded (and so announced: coordinator/notify.h) once per miss. */
        char detail[600];
        snprintf(detail, sizeof detail, "schedule %s missed its due times from %lld to %lld: %s",
                 e->name, (long long)e->next_due, (long long)newest, e->last_catchup);
        log_warn("%s", detail);
        char hook[1024];
        s_missed_hook(c, e, hook, sizeof hook);
        if (store_schedule_missed(c->st, detail, *hook ? hook : NULL) < 0) {
            free(ring);
            return -1;
        }
        for (size_t i = 0; all && i < nkept; i++) {
            if (s_fire(c, e, ring[i]) < 0 || s_handled(c, e, ring[i]) < 0) {
                free(ring);
                return -1;
            }
        }
        free(ring);
        if (latest && total && s_fire(c, e, newest) < 0)
            return -1;
        if (s_handled(c, e, newest) < 0)
            return -1;
    }
    /* In time: everything due in (last_due, now]. */
    while (e->next_due && e->next_due <= now) {
        int64_t due = e->next_due;
        if (s_fire(c, e, due) < 0 || s_handled(c, e, due) < 0)
            return -1;
    }
    return 0;
}

static const consumed_t *s_consumed_find(const entry_t *e, const char *path, const char *sha256)
{
    for (size_t i = 0; i < e->nconsumed; i++)
        if (!strcmp(e->consumed[i].path, path) && !strcmp(e->consumed[i].sha256, sha256))
            return &e->consumed[i];
    return NULL;
}

/* The largest consumed version of path shorter than size: the one a file
 * that only grew would extend. */
static const consumed_t *s_consumed_shorter(const entry_t *e, const char *path, int64_t size)
{
    const consumed_t *best = NULL;
    for (size_t i = 0; i < e->nconsumed; i++) {
        const consumed_t *k = &e->consumed[i];
        if (k->sha256[0] && k->size < size && !strcmp(k->path, path) &&
            (!best || k->size > best->size))
            best = k;
    }
    return best;
}

/* Looks at e's folder: which settled CSV files hold new data, and their
 * rows. A file is new data unless this very content (sha256) at this path
 * was consumed; its hash and rows come from the trigscan thread, so a file
 * is counted from the first scan after the thread read it. */
static void s_scan(calendar_t *c, entry_t *e, int64_t now)
{
    e->pending_rows = 0;
    e->counting = e->blank_rows = e->malformed_rows = e->unreadable = 0;
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
            s_consumed_find(e, path, ""))
            continue; /* not settled, or consumed before content was known */
        const consumed_t *prev = s_consumed_shorter(e, path, st.st_size);
        trigscan_result_t res;
        int got = trigscan_get(c->ts, path, st.st_size, st.st_mtime,
                               prev ? (uint64_t)prev->size : 0, &res);
        if (got < 0)
            break;
        if (got == 0) {
            e->counting++;
            continue;
        }
        if (!res.ok) {
            e->unreadable++;
            continue;
        }
        if (s_consumed_find(e, path, res.tally.sha256))
            continue;
        seen_file_t f = {0};
        util_strlcpy(f.path, path, sizeof f.path);
        util_strlcpy(f.sha256, res.tally.sha256, sizeof f.sha256);
        f.size = st.st_size;
        f.mtime = st.st_mtime;
        f.rows = (int64_t)res.tally.rows;
        f.blank = (int64_t)res.tally.blank;
        f.malformed = (int64_t)res.tally.malformed;
        f.new_rows = f.rows;
        f.appended_to = -1;
        /* Only grew since it was consumed: the rows past the old end are new. */
        if (prev && !strcmp(res.tally.prefix_sha256, prev->sha256)) {
            f.appended_to = prev->rows;
            f.new_rows = f.rows > prev->rows ? f.rows - prev->rows : 0;
        }
        seen_file_t *nk = realloc(keep, (nkeep + 1) * sizeof *nk);
        if (!nk)
            break;
        keep = nk;
        keep[nkeep++] = f;
        e->pending_rows += f.new_rows;
        e->blank_rows += f.blank;
        e->malformed_rows += f.malformed;
    }
    closedir(d);
    free(e->files);
    e->files = keep;
    e->nfiles = nkeep;
}

/* Runs of e that ended: with on_failure = retry, the files of one that
 * failed or was cancelled return to the pool (store_trigger_release). */
static int s_settle_runs(calendar_t *c, entry_t *e)
{
    size_t k = 0;
    for (size_t i = 0; i < e->nopen; i++) {
        int64_t id = e->open_runs[i];
        run_t *r = model_run(c->m, id);
        if (r && r->state == DROVER__RUN_STATE__RUN_RUNNING) {
            e->open_runs[k++] = id;
            continue;
        }
        if (strcmp(e->on_failure, "retry") != 0)
            continue;
        PGresult *res = store_trigger_release(c->st, e->name, id);
        if (!res)
            return -1;
        int n = PQntuples(res);
        for (int j = 0; j < n; j++)
            s_consumed_drop(e, db_get_str(res, j, 0), db_get_str(res, j, 1));
        PQclear(res);
        if (n) {
            char detail[300];
            snprintf(detail, sizeof detail,
                     "trigger %s: run %lld did not succeed: its %d file%s "
                     "return to the pool (on_failure = retry)",
                     e->name, (long long)id, n, n == 1 ? "" : "s");
            log_warn("%s", detail);
            if (store_event(c->st, id, 0, 0, "trigger_files_returned", NULL, detail) < 0)
                return -1;
        }
    }
    e->nopen = k;
    return 0;
}

/* Starts a run over every new file of e and records them as consumed. */
static int s_consume(calendar_t *c, entry_t *e, const char *why)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < e->nfiles; i++)
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "path", e->files[i].path, "sha256",
                           e->files[i].sha256, "size", (json_int_t)e->files[i].size, "rows",
                           (json_int_t)e->files[i].rows, "blank", (json_int_t)e->files[i].blank,
                           "malformed", (json_int_t)e->files[i].malformed));
    char *js = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    if (!js)
        return -1;
    int64_t run_id;
    const char **files = calloc(e->nfiles + 1, sizeof *files);
    if (!files) {
        free(js);
        return -1;
    }
    for (size_t i = 0; i < e->nfiles; i++)
        files[i] = e->files[i].path;
    model_origin_t o = {.trigger = 1, .files = files, .nfiles = e->nfiles, .rows = e->pending_rows};
    int rc = s_start(c, e, 0, &o, &run_id);
    free(files);
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
    log_info("trigger %s: run %lld over %zu file%s, %lld new rows (%s)", e->name, (long long)run_id,
             e->nfiles, e->nfiles == 1 ? "" : "s", (long long)e->pending_rows, why);
    for (size_t i = 0; i < e->nfiles; i++) {
        const seen_file_t *f = &e->files[i];
        if (f->blank || f->malformed)
            log_warn("trigger %s: %s: %lld blank and %lld malformed records not counted as rows",
                     e->name, f->path, (long long)f->blank, (long long)f->malformed);
        if (f->appended_to >= 0) {
            char detail[1300];
            snprintf(detail, sizeof detail,
                     "trigger %s: %s grew after it was consumed: %lld rows "
                     "appended to the %lld consumed (write new files instead of appending)",
                     e->name, f->path, (long long)f->new_rows, (long long)f->appended_to);
            log_warn("%s", detail);
            if (store_event(c->st, run_id, 0, 0, "trigger_appended", NULL, detail) < 0)
                return -1;
        }
        if (s_consumed_add(e, f->path, f->sha256, f->size, f->rows) < 0)
            return -1;
    }
    if (run_id && s_open_add(e, run_id) < 0)
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
    if (scan) {
        c->last_scan_ms = mono;
        trigscan_round_begin(c->ts);
    }
    int rc = 0;
    for (size_t i = 0; i < c->n && rc == 0; i++) {
        entry_t *e = &c->e[i];
        if (!e->trigger) {
            if (s_tick_schedule(c, e, now) < 0 || s_drain(c, e) < 0)
                rc = -1;
            continue;
        }
        if (!scan)
            continue;
        if (s_settle_runs(c, e) < 0) {
            rc = -1;
            continue;
        }
        if (e->paused)
            continue;
        s_scan(c, e, now);
        if (e->nfiles && e->pending_rows >= e->min_new_rows &&
            model_runs_of_schedule(c->m, e->name) < e->max_active &&
            s_consume(c, e, "enough new rows") < 0)
            rc = -1;
    }
    if (scan)
        trigscan_round_end(c->ts);
    return rc;
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
        json_t *o = json_pack("{s:s, s:s, s:b, s:s, s:i, s:s, s:I}", "name", e->name, "kind",
                              e->trigger ? "trigger" : "schedule", "paused", e->paused,
                              "paused_reason", e->paused_reason, "max_active", e->max_active,
                              "owner", e->created_by, "queued", (json_int_t)e->nqueued);
        if (o && PQntuples(r) > 0) {
            /* What happened last, honestly: a run's state, or that the
             * latest due time was queued or skipped (store_fire_last). */
            json_object_set_new(o, "last_run",
                                db_is_null(r, 0, 0) ? json_null()
                                                    : json_integer(db_get_i64(r, 0, 0)));
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
            json_object_set_new(o, "catchup_max", json_integer(e->catchup_max));
            json_object_set_new(o, "lateness_s", json_integer(e->lateness_s));
            json_object_set_new(o, "last_catchup",
                                e->last_catchup[0] ? json_string(e->last_catchup) : json_null());
        } else if (o) {
            json_object_set_new(o, "watch", json_string(e->watch));
            json_object_set_new(o, "min_new_rows", json_integer(e->min_new_rows));
            json_object_set_new(o, "pending_rows", json_integer(e->pending_rows));
            json_object_set_new(o, "consumed_files", json_integer((json_int_t)e->nconsumed));
            json_object_set_new(o, "on_failure", json_string(e->on_failure));
            /* Of the new files: still being read, and records not counted. */
            json_object_set_new(o, "counting_files", json_integer(e->counting));
            json_object_set_new(o, "blank_rows", json_integer(e->blank_rows));
            json_object_set_new(o, "malformed_rows", json_integer(e->malformed_rows));
            json_object_set_new(o, "unreadable_files", json_integer(e->unreadable));
            json_t *app = json_array();
            for (size_t k = 0; app && k < e->nfiles; k++)
                if (e->files[k].appended_to >= 0)
                    json_array_append_new(
                        app, json_pack("{s:s, s:I, s:I}", "path", e->files[k].path, "consumed_rows",
                                       (json_int_t)e->files[k].appended_to, "appended_rows",
                                       (json_int_t)e->files[k].new_rows));
            json_object_set_new(o, "appended", app ? app : json_null());
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

/* The next `count` due times of e after now (or after its last handled
 * one), as {"name","timezone","paused","due":[{"at":ISO,"unix":s}]}. */
static char *s_next_doc(entry_t *e, uint32_t count)
{
    json_t *due = json_array();
    json_t *o = due ? json_pack("{s:s, s:s, s:b, s:o}", "name", e->name, "timezone", e->tz,
                                "paused", e->paused, "due", due)
                    : NULL;
    if (!o) {
        json_decref(due);
        return NULL;
    }
    int64_t at = calendar_now();
    if (e->last_due > at)
        at = e->last_due;
    for (uint32_t i = 0; i < count; i++) {
        int64_t next;
        char iso[64], err[256];
        if (cron_next(&e->cron, e->tz, at, &next, err, sizeof err) < 0 ||
            cron_format_local(e->tz, next, iso, sizeof iso, err, sizeof err) < 0)
            break;
        if (json_array_append_new(
                due, json_pack("{s:s, s:I}", "at", iso, "unix", (json_int_t)next)) < 0) {
            json_decref(o);
            return NULL;
        }
        at = next;
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

int calendar_op(calendar_t *c, const Drover__ScheduleRequest *q, const char *key, int admin,
                char **json, char *msg, size_t msglen)
{
    const char *op = q->op ? q->op : "", *name = q->name ? q->name : "";
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
    if (!strcmp(op, "next")) {
        if (e->trigger) {
            snprintf(msg, msglen, "%s is a data trigger: it runs on new rows, not on a calendar",
                     e->name);
            return 1;
        }
        if (q->count > NEXT_MAX) {
            snprintf(msg, msglen, "at most %d due times at once", NEXT_MAX);
            return 1;
        }
        *json = s_next_doc(e, q->count ? q->count : 5);
        return *json ? 0 : -1;
    }
    if (!admin && strcmp(e->created_by, key ? key : "") != 0) {
        snprintf(msg, msglen,
                 "permission denied: %s %s belongs to key '%s'; key '%s' may replace, "
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
        /* By hand too, max_active holds unless forced. */
        int active = model_runs_of_schedule(c->m, e->name);
        if (active >= e->max_active && !q->force) {
            snprintf(msg, msglen,
                     "%s %s has %d run%s active (max_active = %d): not started; "
                     "wait for %s to end, or trigger --force",
                     e->trigger ? "trigger" : "schedule", e->name, active, active == 1 ? "" : "s",
                     e->max_active, active == 1 ? "it" : "one");
            return 3;
        }
        if (e->trigger) {
            s_scan(c, e, calendar_now());
            if (!e->nfiles) {
                if (e->counting)
                    snprintf(msg, msglen,
                             "trigger %s: no new files counted yet; %lld still being "
                             "read (try again in a moment)",
                             e->name, (long long)e->counting);
                else
                    snprintf(msg, msglen, "trigger %s: no new files to consume", e->name);
                return 1;
            }
            if (s_consume(c, e, "triggered by hand") < 0)
                return -1;
            snprintf(msg, msglen, "trigger %s: started a run over the new files", e->name);
            return 0;
        }
        int64_t run_id;
        if (s_start(c, e, 0, NULL, &run_id) < 0)
            return -1;
        snprintf(msg, msglen, "schedule %s: started run %lld outside the calendar", e->name,
                 (long long)run_id);
        return 0;
    }
    snprintf(msg, msglen,
             "unknown schedule operation '%.32s' (list, next, pause, resume, rm, "
             "trigger)",
             op);
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
