/* cmd_ml — the model side of drover: `drover report RUN STEP`,
 * `drover metrics RUN STEP`, `drover models [NAME]`, `drover model show
 * NAME:VERSION` and `drover promote NAME:VERSION STAGE`.
 *
 * Design: the coordinator answers these requests with one JSON document in
 * ClientReply.json (shapes in the ML contract: report, metrics, models,
 * model, and a plain message for promote). With --json that document is
 * printed unchanged, so scripts see exactly what the coordinator stored;
 * without it this file turns the document into tables and, for training
 * metrics on a terminal, a small loss chart.
 *
 * Invariant: the documents come from another program and may be older or
 * newer than this one, so every field is optional here: a missing or
 * mistyped field prints as "-" and never crashes or fails the verb. Only a
 * reply that is not JSON at all is an error (exit 3, "our side").
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <unistd.h>
#include <sys/stat.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "artifact.h"
#include "cmd.h"
#include "output.h"
#include "stepkind.h"
#include "util.h"
#include "wire.h"

extern const cli_verb_t cmd_predict_verb;
extern const cli_verb_t cmd_report_verb, cmd_metrics_verb, cmd_models_verb, cmd_model_verb,
    cmd_promote_verb;

#define CHART_ROWS     10
#define CHART_MAX_COLS 60

/* ------------------------------------------------------ JSON helpers --- */

static const char *s_str(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A number field as double; NAN when absent or not a number. */
static double s_num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Formats any JSON value for a table cell: integers as such, reals with
 * four significant digits, booleans yes/no, arrays of scalars as [a, b],
 * null/absent as "-", anything else as compact JSON (cut to fit). */
static void s_fmt(const json_t *v, char *buf, size_t len)
{
    if (!v || json_is_null(v)) {
        snprintf(buf, len, "-");
    } else if (json_is_integer(v)) {
        snprintf(buf, len, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        snprintf(buf, len, "%.4g", json_real_value(v));
    } else if (json_is_boolean(v)) {
        snprintf(buf, len, "%s", json_is_true(v) ? "yes" : "no");
    } else if (json_is_string(v)) {
        snprintf(buf, len, "%s", json_string_value(v));
    } else if (json_is_array(v)) {
        /* Long lists (a schema's 32 column names) keep a table readable:
         * the first three, the last, and the count. */
        size_t n = json_array_size(v), o = (size_t)snprintf(buf, len, "[");
        for (size_t i = 0; i < n; i++) {
            if (n > 6 && i == 3) {
                i = n - 2;
                if (o < len)
                    o += (size_t)snprintf(buf + o, len - o, ", ...");
                continue;
            }
            char one[64];
            s_fmt(json_array_get(v, i), one, sizeof one);
            if (o < len)
                o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", one);
        }
        if (o < len && n > 6)
            snprintf(buf + o, len - o, "] (%zu)", n);
        else if (o < len)
            snprintf(buf + o, len - o, "]");
    } else {
        char *d = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
        snprintf(buf, len, "%s", d ? d : "?");
        free(d);
    }
}

/* Parses an ISO-8601 / PostgreSQL timestamp ("2026-11-26T14:02:03.5Z",
 * "2026-11-26 14:02:03.5+00", "...+01:00") or a number of microseconds.
 * Returns microseconds since the epoch, or 0 when it cannot. */
static int64_t s_time_us(const json_t *v)
{
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    if (!json_is_string(v))
        return 0;
    const char *s = json_string_value(v);
    struct tm tm = {0};
    int n = 0;
    if (sscanf(s, "%4d-%2d-%2d%*[T ]%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
        n == 0)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    const char *p = s + n;
    double frac = 0;
    if (*p == '.') {
        char *end;
        frac = strtod(p, &end);
        p = end;
    }
    long off = 0;
    if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, hh = 0, mm = 0;
        if (sscanf(p + 1, "%2d:%2d", &hh, &mm) < 1 && sscanf(p + 1, "%2d%2d", &hh, &mm) < 1)
            return 0;
        off = sign * (hh * 3600L + mm * 60L);
    }
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return 0;
    return ((int64_t)t - off) * 1000000 + (int64_t)(frac * 1e6);
}

/* A timestamp for people: local time via out_time_short, or the text as
 * given when it does not parse. */
static void s_fmt_time(const json_t *v, int64_t now, char *buf, size_t len)
{
    int64_t us = s_time_us(v);
    if (us > 0)
        out_time_short(us, now, buf, len);
    else
        s_fmt(v, buf, len);
}

/* Metrics where smaller is better (losses and errors). */
static int s_lower_is_better(const char *metric)
{
    return strstr(metric, "loss") || strstr(metric, "rmse") || strstr(metric, "mae") ||
           strcmp(metric, "mse") == 0;
}

/* Parses the coordinator's document out of rep. Returns it, or prints why
 * not and returns NULL. */
static json_t *s_doc(const Drover__ClientReply *rep)
{
    json_error_t e;
    json_t *doc = rep->json && *rep->json ? json_loads(rep->json, 0, &e) : NULL;
    if (!doc)
        fprintf(stderr,
                "drover: the coordinator's reply holds no readable JSON document%s%s\n"
                "  (is the coordinator older than this drover?)\n",
                rep->json && *rep->json ? ": " : "", rep->json && *rep->json ? e.text : "");
    return doc;
}

static const char *s_on(const cli_t *cli, out_color_t c)
{
    return cli->color_out ? out_color_on(c) : "";
}
static const char *s_off(const cli_t *cli)
{
    return cli->color_out ? out_color_off() : "";
}

/* "NAME:VERSION" into name (borrowed, NUL-terminated copy in buf) and
 * version. Returns 0, or prints a usage error and returns -1. */
static int s_parse_model_ref(const cli_t *cli, const char *s, char *buf, size_t len,
                             uint64_t *version)
{
    const char *colon = strrchr(s, ':');
    size_t n = colon ? (size_t)(colon - s) : 0;
    int ok = colon && n > 0 && n < len;
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-';
    if (!ok) {
        cli_usage_error(cli,
                        "'%s' is not NAME:VERSION (for example claims-damage:3; "
                        "see `drover models` for the versions)",
                        s);
        return -1;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    return cli_parse_count(cli, "the version", colon + 1, UINT32_MAX, version);
}

/* One call whose reply is a JSON document. Returns CLI_EXIT_OK with *doc
 * set (caller decrefs), or the exit code of a printed failure. */
static int s_call_doc(cli_t *cli, Drover__ClientRequest *req, const char *not_found, json_t **doc)
{
    *doc = NULL;
    Drover__ClientReply *rep = NULL;
    int rc = cli_call(cli, req, 0, not_found, &rep);
    if (rc != CLI_EXIT_OK)
        return rc;
    *doc = s_doc(rep);
    drover__client_reply__free_unpacked(rep, NULL);
    return *doc ? CLI_EXIT_OK : CLI_EXIT_UNREACHABLE;
}

/* Parses RUN STEP, connects and fetches the step's report or metrics
 * (body_case). Returns -1 with *doc set to go on, else an exit code. */
static int s_step_doc(cli_t *cli, int argc, char **argv, Drover__ClientRequest__BodyCase body,
                      json_t **doc)
{
    char *pos[2];
    size_t npos;
    int rc = cli_parse(cli, argc, argv, NULL, pos, 2, 2, &npos);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    uint64_t run_id;
    if (cli_parse_run_id(cli, pos[0], &run_id) < 0)
        return CLI_EXIT_USAGE;
    if ((rc = cli_connect(cli)) != CLI_EXIT_OK)
        return rc;

    Drover__StepDataRequest sd = DROVER__STEP_DATA_REQUEST__INIT;
    sd.run_id = run_id;
    sd.step = pos[1];
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    req.body_case = body;
    if (body == DROVER__CLIENT_REQUEST__BODY_REPORT)
        req.report = &sd;
    else
        req.metrics = &sd;
    char not_found[512];
    snprintf(
        not_found, sizeof not_found,
        body == DROVER__CLIENT_REQUEST__BODY_REPORT
            ? "no report for step '%s' of run %llu (no such run or step, it has not "
              "finished an attempt yet, or its kind writes no report; see `drover status %llu`)"
            : "no metrics for step '%s' of run %llu (no such run or step, or it has not "
              "finished an epoch yet; see `drover status %llu`)",
        pos[1], (unsigned long long)run_id, (unsigned long long)run_id);
    rc = s_call_doc(cli, &req, not_found, doc);
    return rc == CLI_EXIT_OK ? -1 : rc;
}

/* ---------------------------------------------------------- report --- */

static int s_checks_table(cli_t *cli, const json_t *checks)
{
    int with_detail = 0;
    size_t i;
    const json_t *c;
    json_array_foreach(checks, i, c)
    {
        const char *d = s_str(c, "detail");
        if (d && *d)
            with_detail = 1;
    }
    static const char *const headers[] = {"CHECK", "FIGURE", "THRESHOLD", "RESULT", "DETAIL"};
    out_table_t *t = out_table_new(headers, with_detail ? 5 : 4);
    if (t)
        out_table_align_right(t, 1);
    size_t failed = 0;
    json_array_foreach(checks, i, c)
    {
        int pass = json_is_true(json_object_get(c, "passed"));
        failed += !pass;
        char fig[64], thr[256];
        s_fmt(json_object_get(c, "figure"), fig, sizeof fig);
        s_fmt(json_object_get(c, "threshold"), thr, sizeof thr);
        const char *name = s_str(c, "name");
        out_table_row(t);
        out_table_cell(t, pass ? OUT_PLAIN : OUT_RED, "%s", name ? name : "?");
        out_table_cell(t, OUT_PLAIN, "%s", fig);
        out_table_cell(t, OUT_PLAIN, "%s", thr);
        out_table_cell(t, pass ? OUT_GREEN : OUT_RED, "%s", pass ? "pass" : "FAIL");
        if (with_detail) {
            const char *d = s_str(c, "detail");
            out_table_cell(t, OUT_PLAIN, "%s", d ? d : "");
        }
    }
    int rc = cli_print_table(cli, &t);
    if (rc == CLI_EXIT_OK && failed)
        printf("\n%s%zu of %zu checks failed.%s\n", s_on(cli, OUT_RED), failed,
               json_array_size(checks), s_off(cli));
    return rc;
}

/* Prints a confusion matrix (rows: true class, columns: predicted). */
static void s_confusion(const cli_t *cli, const json_t *cm, const json_t *classes)
{
    size_t n = json_array_size(cm);
    if (n == 0)
        return;
    out_table_t *t = NULL;
    const char **headers = calloc(n + 1, sizeof *headers);
    char(*names)[32] = calloc(n, sizeof *names);
    if (!headers || !names)
        goto out;
    headers[0] = "TRUE \\ PREDICTED";
    for (size_t j = 0; j < n; j++) {
        const json_t *nm = json_array_get(classes, j);
        if (json_is_string(nm))
            snprintf(names[j], sizeof names[j], "%s", json_string_value(nm));
        else
            snprintf(names[j], sizeof names[j], "%zu", j);
        headers[j + 1] = names[j];
    }
    if (!(t = out_table_new(headers, n + 1)))
        goto out;
    for (size_t j = 1; j <= n; j++)
        out_table_align_right(t, j);
    for (size_t i = 0; i < n; i++) {
        const json_t *row = json_array_get(cm, i);
        out_table_row(t);
        out_table_cell(t, OUT_PLAIN, "%s", names[i]);
        for (size_t j = 0; j < n; j++) {
            char v[32];
            s_fmt(json_array_get(row, j), v, sizeof v);
            out_table_cell(t, i == j ? OUT_BOLD : OUT_PLAIN, "%s", v);
        }
    }
    printf("\nConfusion matrix (rows: true class, columns: predicted):\n");
    if (out_table_print(t, stdout, cli->color_out) < 0)
        fprintf(stderr, "drover: out of memory\n");
out:
    out_table_destroy(&t);
    free(headers);
    free(names);
}

static int s_evaluate_view(cli_t *cli, const json_t *doc, const json_t *report)
{
    const json_t *m = json_object_get(report, "metrics");
    const json_t *pm = json_object_get(report, "production_metrics");
    int has_prod = json_is_object(pm);
    /* With new classes the comparison ran on the shared classes' rows only:
     * put the candidate's figures on those same rows beside production's. */
    const json_t *cmp = json_object_get(report, "comparison");
    const json_t *cm = json_object_get(cmp, "candidate_metrics");
    long long cmp_rows = json_integer_value(json_object_get(cmp, "rows"));
    long long cmp_of = json_integer_value(json_object_get(cmp, "of"));
    int shared = has_prod && json_is_object(cm) && cmp_rows < cmp_of;
    const json_t *all = m;
    if (shared)
        m = cm;

    static const char *const headers[] = {"METRIC", "CANDIDATE", "PRODUCTION", "CHANGE"};
    size_t ncols = has_prod ? 4 : 2;
    out_table_t *t = out_table_new(headers, ncols);
    for (size_t c = 1; t && c < ncols; c++)
        out_table_align_right(t, c);
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)m, key, v)
    {
        if (!json_is_number(v) || strcmp(key, "n") == 0)
            continue;
        double c = json_number_value(v);
        out_table_row(t);
        out_table_cell(t, OUT_PLAIN, "%s", key);
        out_table_cell(t, OUT_PLAIN, "%.4f", c);
        if (!has_prod)
            continue;
        double p = s_num(pm, key);
        if (isnan(p)) {
            out_table_cell(t, OUT_DIM, "-");
            out_table_cell(t, OUT_DIM, "-");
            continue;
        }
        double d = c - p;
        int better = s_lower_is_better(key) ? d < 0 : d > 0;
        out_table_cell(t, OUT_PLAIN, "%.4f", p);
        out_table_cell(t, d == 0 ? OUT_PLAIN : better ? OUT_GREEN : OUT_RED, "%+.4f", d);
    }
    int rc = cli_print_table(cli, &t);
    if (rc != CLI_EXIT_OK)
        return rc;
    const json_t *nrows = json_object_get(m, "n");
    if (shared)
        printf("(on the %lld of %lld rows whose class production knows; the candidate on all "
               "rows: accuracy %.4f)\n",
               cmp_rows, cmp_of, s_num(all, "accuracy"));
    else if (json_is_integer(nrows))
        printf("(on %lld rows)\n", (long long)json_integer_value(nrows));
    const json_t *mc = json_object_get(cmp, "mcnemar");
    if (json_is_object(mc))
        printf("McNemar's exact test: candidate alone right on %lld rows, production alone on "
               "%lld: p = %.4g\n",
               (long long)json_integer_value(json_object_get(mc, "candidate_only_correct")),
               (long long)json_integer_value(json_object_get(mc, "production_only_correct")),
               s_num(mc, "p_value"));

    const json_t *gates = json_object_get(report, "gates");
    if (json_array_size(gates) > 0) {
        int with_note = 0;
        size_t i;
        const json_t *g;
        json_array_foreach(gates, i, g)
        {
            const char *n = s_str(g, "detail") ? s_str(g, "detail") : s_str(g, "note");
            if (n && *n)
                with_note = 1;
        }
        static const char *const gh[] = {"GATE", "FIGURE", "THRESHOLD", "RESULT", "DETAIL"};
        printf("\n");
        t = out_table_new(gh, with_note ? 5 : 4);
        if (t) {
            out_table_align_right(t, 1);
            out_table_align_right(t, 2);
        }
        json_array_foreach(gates, i, g)
        {
            int pass = json_is_true(json_object_get(g, "passed"));
            char fig[64], thr[128];
            s_fmt(json_object_get(g, "figure"), fig, sizeof fig);
            s_fmt(json_object_get(g, "threshold"), thr, sizeof thr);
            const char *name = s_str(g, "name");
            out_table_row(t);
            out_table_cell(t, pass ? OUT_PLAIN : OUT_RED, "%s", name ? name : "?");
            out_table_cell(t, OUT_PLAIN, "%s", fig);
            out_table_cell(t, OUT_PLAIN, "%s", thr);
            out_table_cell(t, pass ? OUT_GREEN : OUT_RED, "%s", pass ? "pass" : "FAIL");
            if (with_note) {
                const char *n = s_str(g, "detail") ? s_str(g, "detail") : s_str(g, "note");
                out_table_cell(t, OUT_PLAIN, "%s", n ? n : "");
            }
        }
        if ((rc = cli_print_table(cli, &t)) != CLI_EXIT_OK)
            return rc;
    }
    /* Notes the gates did not already say (e.g. why a gate was waived). */
    size_t i;
    const json_t *note;
    json_array_foreach(json_object_get(report, "notes"), i, note)
    {
        if (!json_is_string(note))
            continue;
        int said = 0;
        size_t j;
        const json_t *g;
        json_array_foreach(gates, j, g)
        {
            const char *d = s_str(g, "detail");
            said |= d && strcmp(d, json_string_value(note)) == 0;
        }
        if (!said)
            printf("note: %s\n", json_string_value(note));
    }

    const json_t *conf = json_object_get(all, "confusion_matrix");
    if (json_is_array(conf)) {
        const json_t *classes = json_object_get(all, "classes");
        if (!classes)
            classes = json_object_get(report, "classes");
        s_confusion(cli, conf, classes);
    }
    (void)doc;
    return CLI_EXIT_OK;
}

static int s_report_text(cli_t *cli, const json_t *doc)
{
    const json_t *report = json_object_get(doc, "report");
    const char *kind = s_str(doc, "kind");
    const char *step = s_str(doc, "step");
    const json_t *passed = json_object_get(doc, "passed");
    if (!passed)
        passed = json_object_get(report, "passed");
    int pass = json_is_true(passed);
    char attempt[32];
    s_fmt(json_object_get(doc, "attempt"), attempt, sizeof attempt);
    char run[32];
    s_fmt(json_object_get(doc, "run_id"), run, sizeof run);
    printf("run %s, step %s (%s, attempt %s): %s%s%s\n", run, step ? step : "?", kind ? kind : "?",
           attempt, s_on(cli, pass ? OUT_GREEN : OUT_RED), pass ? "passed" : "FAILED", s_off(cli));

    /* Which model an evaluation was about, when the document says. */
    const json_t *model = json_object_get(doc, "model");
    if (!json_is_object(model))
        model = json_object_get(report, "model");
    if (json_is_object(model)) {
        char ver[32];
        s_fmt(json_object_get(model, "version"), ver, sizeof ver);
        const char *name = s_str(model, "name");
        printf("model %s:%s\n", name ? name : "?", ver);
    }
    printf("\n");

    if (json_is_array(json_object_get(report, "checks")))
        return s_checks_table(cli, json_object_get(report, "checks"));
    if ((kind && strcmp(kind, "evaluate") == 0) || json_object_get(report, "gates"))
        return s_evaluate_view(cli, doc, report);
    const json_t *pred = json_object_get(report, "predictions");
    if (json_is_object(pred)) {
        const char *path = s_str(pred, "path"), *sha = s_str(pred, "sha256");
        printf("predictions %s\n  %lld rows, %s, sha256 %s\n", path ? path : "?",
               (long long)json_integer_value(json_object_get(pred, "rows")),
               s_str(pred, "format") ? s_str(pred, "format") : "?", sha ? sha : "?");
        return CLI_EXIT_OK;
    }
    /* A kind this drover does not know how to lay out: show it as it is. */
    return out_json_print(report ? report : doc) < 0 ? CLI_EXIT_UNREACHABLE : CLI_EXIT_OK;
}

static int s_report(cli_t *cli, int argc, char **argv)
{
    json_t *doc = NULL;
    int rc = s_step_doc(cli, argc, argv, DROVER__CLIENT_REQUEST__BODY_REPORT, &doc);
    if (rc >= 0)
        return rc;
    rc = cli->json ? out_json_print(doc) < 0 ? CLI_EXIT_UNREACHABLE : CLI_EXIT_OK
                   : s_report_text(cli, doc);
    json_decref(doc);
    return rc;
}

const cli_verb_t cmd_report_verb = {
    .name = "report",
    .synopsis = "RUN STEP",
    .summary = "what a validate or evaluate step found",
    .help = "Shows the report of step STEP of run RUN (its latest attempt that wrote one).\n"
            "\n"
            "For a validate step: every check with its figure, its threshold and whether it\n"
            "passed (failures in red on a terminal). For an evaluate step: the candidate's\n"
            "metrics next to the production version's and the change, every gate with its\n"
            "figure and threshold, and the confusion matrix.\n"
            "\n"
            "The exit status is 0 whenever the report is shown, passed or not; test\n"
            "`.passed` in the --json output to act on the result.\n"
            "\n"
            "Examples:\n"
            "  drover report 12 validate\n"
            "  drover report 12 evaluate\n"
            "  drover report 12 validate --json | jq '.report.checks[] | select(.passed | not)'",
    .run = s_report,
};

/* --------------------------------------------------------- metrics --- */

typedef struct {
    long attempt, seq, epoch;
    const json_t *data;
} epoch_row_t;

static int s_row_cmp(const void *a, const void *b)
{
    const epoch_row_t *x = a, *y = b;
    if (x->attempt != y->attempt)
        return x->attempt < y->attempt ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

static void s_cell_num(out_table_t *t, const json_t *data, const char *key)
{
    double v = s_num(data, key);
    if (isnan(v))
        out_table_cell(t, OUT_DIM, "-");
    else
        out_table_cell(t, OUT_PLAIN, "%.4f", v);
}

/* Draws train and validation loss per epoch as a CHART_ROWS-high plot at
 * most CHART_MAX_COLS wide. ep/tl/vl hold n epochs (NAN = not reported). */
static void s_chart(const long *ep, const double *tl, const double *vl, size_t n)
{
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (!isnan(tl[i]))
            lo = fmin(lo, tl[i]), hi = fmax(hi, tl[i]);
        if (!isnan(vl[i]))
            lo = fmin(lo, vl[i]), hi = fmax(hi, vl[i]);
    }
    if (n < 2 || !isfinite(lo) || !isfinite(hi))
        return;
    if (hi - lo < 1e-12)
        hi = lo + 1e-3;
    /* Spread few epochs out (up to 4 columns each); squeeze many into the
     * maximum width, later epochs overwriting earlier ones in a column. */
    size_t step = n <= CHART_MAX_COLS ? CHART_MAX_COLS / n : 1;
    if (step > 4)
        step = 4;
    if (step < 1)
        step = 1;
    size_t width = n <= CHART_MAX_COLS ? (n - 1) * step + 1 : CHART_MAX_COLS;
    char grid[CHART_ROWS][CHART_MAX_COLS + 1];
    memset(grid, ' ', sizeof grid);
    for (size_t i = 0; i < n; i++) {
        size_t x = n <= CHART_MAX_COLS ? i * step : i * (width - 1) / (n - 1);
        for (int s = 0; s < 2; s++) {
            double v = s == 0 ? tl[i] : vl[i];
            if (isnan(v))
                continue;
            int y = (int)lround((v - lo) / (hi - lo) * (CHART_ROWS - 1));
            char *c = &grid[CHART_ROWS - 1 - y][x];
            char mark = s == 0 ? '*' : 'o';
            *c = (*c == ' ' || *c == mark) ? mark : '#';
        }
    }
    printf("\nloss per epoch (* train, o validation, # both)\n");
    for (int r = 0; r < CHART_ROWS; r++) {
        char label[16] = "";
        if (r == 0)
            snprintf(label, sizeof label, "%.4g", hi);
        else if (r == CHART_ROWS - 1)
            snprintf(label, sizeof label, "%.4g", lo);
        else if (r == CHART_ROWS / 2)
            snprintf(label, sizeof label, "%.4g",
                     lo + (hi - lo) * (CHART_ROWS - 1 - r) / (CHART_ROWS - 1));
        size_t end = width;
        while (end > 0 && grid[r][end - 1] == ' ')
            end--;
        printf("%9s |%.*s\n", label, (int)end, grid[r]);
    }
    printf("%9s +", "");
    for (size_t x = 0; x < width; x++)
        putchar('-');
    char first[24], last[24];
    snprintf(first, sizeof first, "%ld", ep[0]);
    snprintf(last, sizeof last, "%ld", ep[n - 1]);
    size_t gap = width > strlen(first) + strlen(last) ? width - strlen(first) - strlen(last) : 1;
    printf("\n%9s  %s%*s%s  epoch\n", "", first, (int)gap, "", last);
}

static int s_metrics_text(cli_t *cli, const json_t *doc)
{
    const json_t *arr = json_object_get(doc, "metrics");
    size_t n = json_array_size(arr);
    char run[32];
    s_fmt(json_object_get(doc, "run_id"), run, sizeof run);
    const char *step = s_str(doc, "step");
    if (n == 0) {
        printf("run %s, step %s: no epochs reported yet\n", run, step ? step : "?");
        return CLI_EXIT_OK;
    }
    epoch_row_t *rows = calloc(n, sizeof *rows);
    long *ep = calloc(n, sizeof *ep);
    double *tl = calloc(n, sizeof *tl), *vl = calloc(n, sizeof *vl);
    int rc = CLI_EXIT_UNREACHABLE;
    out_table_t *t = NULL;
    if (!rows || !ep || !tl || !vl) {
        fprintf(stderr, "drover: out of memory\n");
        goto out;
    }
    int regression = 0, classification = 0;
    size_t i;
    const json_t *e;
    json_array_foreach(arr, i, e)
    {
        const json_t *d = json_object_get(e, "data");
        rows[i].attempt = (long)json_integer_value(json_object_get(e, "attempt"));
        rows[i].seq = (long)json_integer_value(json_object_get(e, "seq"));
        double epv = s_num(d, "epoch");
        rows[i].epoch = isnan(epv) ? (long)i + 1 : (long)epv;
        rows[i].data = d;
        if (json_object_get(d, "train_accuracy") || json_object_get(d, "val_accuracy"))
            classification = 1;
        else if (json_object_get(d, "rmse") || json_object_get(d, "val_rmse"))
            regression = 1;
    }
    regression = regression && !classification;
    qsort(rows, n, sizeof *rows, s_row_cmp);
    long first_attempt = rows[0].attempt, last_attempt = rows[n - 1].attempt;

    static const char *const hc[] = {"EPOCH",   "TRAIN-LOSS", "VAL-LOSS", "TRAIN-ACC",
                                     "VAL-ACC", "TIME",       "ATTEMPT"};
    static const char *const hr[] = {"EPOCH",    "TRAIN-LOSS", "VAL-LOSS", "TRAIN-RMSE",
                                     "VAL-RMSE", "TIME",       "ATTEMPT"};
    int multi = first_attempt != last_attempt;
    if (!(t = out_table_new(regression ? hr : hc, multi ? 7 : 6))) {
        fprintf(stderr, "drover: out of memory\n");
        goto out;
    }
    for (size_t c = 0; c < (multi ? 7u : 6u); c++)
        out_table_align_right(t, c);
    int marked = 0;
    for (i = 0; i < n; i++) {
        const json_t *d = rows[i].data;
        int resumed = rows[i].attempt != first_attempt;
        marked |= resumed;
        out_table_row(t);
        out_table_cell(t, resumed ? OUT_YELLOW : OUT_PLAIN, "%ld%s", rows[i].epoch,
                       resumed ? "*" : "");
        s_cell_num(t, d, "train_loss");
        s_cell_num(t, d, "val_loss");
        s_cell_num(t, d, regression ? "rmse" : "train_accuracy");
        s_cell_num(t, d, regression ? "val_rmse" : "val_accuracy");
        double sec = s_num(d, "seconds");
        char dur[32];
        out_duration(isnan(sec) ? -1 : (int64_t)llround(sec * 1000), dur, sizeof dur);
        out_table_cell(t, OUT_PLAIN, "%s", dur);
        if (multi)
            out_table_cell(t, OUT_PLAIN, "%ld", rows[i].attempt);
    }
    printf("run %s, step %s: %zu epoch%s reported\n\n", run, step ? step : "?", n,
           n == 1 ? "" : "s");
    if ((rc = cli_print_table(cli, &t)) != CLI_EXIT_OK)
        goto out;
    if (marked) {
        /* Say where each later attempt picked up: its first epoch follows
         * the checkpoint it resumed from. */
        printf("\n* from a retried attempt that resumed from its checkpoint:");
        long prev = first_attempt;
        int k = 0;
        for (i = 0; i < n; i++)
            if (rows[i].attempt != prev) {
                prev = rows[i].attempt;
                if (rows[i].epoch > 1)
                    printf("%s attempt %ld resumed after epoch %ld", k++ ? ";" : "", prev,
                           rows[i].epoch - 1);
                else
                    printf("%s attempt %ld started over", k++ ? ";" : "", prev);
            }
        printf(".\n");
    }

    /* The chart shows the latest value of every epoch (a resumed attempt
     * replaces what the killed one reported), ordered by epoch. */
    if (cli->tty_out) {
        size_t m = 0;
        for (i = 0; i < n; i++) {
            size_t k = 0;
            while (k < m && ep[k] != rows[i].epoch)
                k++;
            if (k == m)
                m++;
            ep[k] = rows[i].epoch;
            tl[k] = s_num(rows[i].data, "train_loss");
            vl[k] = s_num(rows[i].data, "val_loss");
        }
        for (size_t a = 1; a < m; a++) /* insertion sort: m is small */
            for (size_t b = a; b > 0 && ep[b - 1] > ep[b]; b--) {
                long te = ep[b];
                ep[b] = ep[b - 1], ep[b - 1] = te;
                double x = tl[b];
                tl[b] = tl[b - 1], tl[b - 1] = x;
                x = vl[b];
                vl[b] = vl[b - 1], vl[b - 1] = x;
            }
        s_chart(ep, tl, vl, m);
    }
    rc = CLI_EXIT_OK;
out:
    out_table_destroy(&t);
    free(rows);
    free(ep);
    free(tl);
    free(vl);
    return rc;
}

static int s_metrics(cli_t *cli, int argc, char **argv)
{
    json_t *doc = NULL;
    int rc = s_step_doc(cli, argc, argv, DROVER__CLIENT_REQUEST__BODY_METRICS, &doc);
    if (rc >= 0)
        return rc;
    rc = cli->json ? out_json_print(doc) < 0 ? CLI_EXIT_UNREACHABLE : CLI_EXIT_OK
                   : s_metrics_text(cli, doc);
    json_decref(doc);
    return rc;
}

const cli_verb_t cmd_metrics_verb = {
    .name = "metrics",
    .synopsis = "RUN STEP",
    .summary = "per-epoch loss and accuracy of a train step",
    .help =
        "Shows what train step STEP of run RUN reported after each epoch: training and\n"
        "validation loss, accuracy (RMSE for regression) and the epoch's duration.\n"
        "Works while the step is still running. Epochs from a retried attempt that\n"
        "resumed from a checkpoint are marked with *. On a terminal a small chart of\n"
        "the training and validation loss follows the table.\n"
        "\n"
        "Examples:\n"
        "  drover metrics 12 train\n"
        "  drover metrics 12 train --json | jq -r '.metrics[].data | [.epoch, .val_loss] | @tsv'",
    .run = s_metrics,
};

/* ---------------------------------------------------------- models --- */

static out_color_t s_stage_color(const char *stage)
{
    if (!stage)
        return OUT_PLAIN;
    if (strcmp(stage, "production") == 0)
        return OUT_GREEN;
    if (strcmp(stage, "staging") == 0)
        return OUT_YELLOW;
    if (strcmp(stage, "archived") == 0)
        return OUT_DIM;
    return OUT_PLAIN;
}

static int s_models_table(cli_t *cli, const json_t *arr)
{
    /* The key metric column: validation accuracy for classifiers, RMSE for
     * regressors, and a labelled value when a listing mixes both. */
    int acc = 0, rmse = 0, test = 0;
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v)
    {
        const json_t *m = json_object_get(v, "metrics");
        if (json_object_get(m, "val_accuracy"))
            acc = 1;
        else if (json_object_get(m, "val_rmse"))
            rmse = 1;
        const json_t *em = json_object_get(v, "eval_metrics");
        if (json_object_get(em, "accuracy") || json_object_get(em, "rmse"))
            test = 1;
    }
    const char *key_h = acc && rmse ? "VAL-METRIC" : rmse ? "VAL-RMSE" : "VAL-ACC";
    const char *test_h = acc && rmse ? "TEST-METRIC" : rmse ? "TEST-RMSE" : "TEST-ACC";
    const char *headers[] = {"NAME", "VERSION", "STAGE",   "KIND", key_h,
                             "RUN",  "DATASET", "CREATED", test_h};
    /* TEST-* goes before RUN when present. */
    if (test) {
        headers[5] = test_h;
        headers[6] = "RUN";
        headers[7] = "DATASET";
        headers[8] = "CREATED";
    }
    out_table_t *t = out_table_new(headers, test ? 9 : 8);
    if (t) {
        out_table_align_right(t, 1);
        out_table_align_right(t, 4);
        if (test)
            out_table_align_right(t, 5);
    }
    int64_t now = util_now_us();
    json_array_foreach(arr, i, v)
    {
        const char *name = s_str(v, "name"), *stage = s_str(v, "stage"),
                   *kind = s_str(v, "model_kind");
        const char *sha = s_str(v, "dataset_sha256"), *step = s_str(v, "step");
        char ver[32], run[64], created[48], key[48], tst[48];
        s_fmt(json_object_get(v, "version"), ver, sizeof ver);
        const json_t *rid = json_object_get(v, "run_id");
        if (json_is_integer(rid))
            snprintf(run, sizeof run, "%lld/%s", (long long)json_integer_value(rid),
                     step ? step : "?");
        else
            snprintf(run, sizeof run, "-");
        s_fmt_time(json_object_get(v, "created_at"), now, created, sizeof created);
        const json_t *m = json_object_get(v, "metrics"), *em = json_object_get(v, "eval_metrics");
        double a = s_num(m, "val_accuracy"), r = s_num(m, "val_rmse");
        if (!isnan(a))
            snprintf(key, sizeof key, acc && rmse ? "acc %.4f" : "%.4f", a);
        else if (!isnan(r))
            snprintf(key, sizeof key, acc && rmse ? "rmse %.4g" : "%.4g", r);
        else
            snprintf(key, sizeof key, "-");
        a = s_num(em, "accuracy"), r = s_num(em, "rmse");
        if (!isnan(a))
            snprintf(tst, sizeof tst, acc && rmse ? "acc %.4f" : "%.4f", a);
        else if (!isnan(r))
            snprintf(tst, sizeof tst, acc && rmse ? "rmse %.4g" : "%.4g", r);
        else
            snprintf(tst, sizeof tst, "-");
        out_table_row(t);
        out_table_cell(t, OUT_PLAIN, "%s", name ? name : "?");
        out_table_cell(t, OUT_PLAIN, "%s", ver);
        out_table_cell(t, s_stage_color(stage), "%s", stage ? stage : "-");
        out_table_cell(t, OUT_PLAIN, "%s", kind ? kind : "-");
        out_table_cell(t, OUT_PLAIN, "%s", key);
        if (test)
            out_table_cell(t, OUT_PLAIN, "%s", tst);
        out_table_cell(t, OUT_PLAIN, "%s", run);
        out_table_cell(t, OUT_PLAIN, "%.12s", sha && *sha ? sha : "-");
        out_table_cell(t, OUT_PLAIN, "%s", created);
    }
    return cli_print_table(cli, &t);
}

static int s_models(cli_t *cli, int argc, char **argv)
{
    char *pos[1];
    size_t npos;
    int rc = cli_parse(cli, argc, argv, NULL, pos, 0, 1, &npos);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    if ((rc = cli_connect(cli)) != CLI_EXIT_OK)
        return rc;
    Drover__ModelsRequest mr = DROVER__MODELS_REQUEST__INIT;
    mr.name = npos ? pos[0] : "";
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    req.body_case = DROVER__CLIENT_REQUEST__BODY_MODELS;
    req.models = &mr;
    char not_found[300];
    snprintf(not_found, sizeof not_found, "no model called '%.200s' (see `drover models`)",
             npos ? pos[0] : "");
    json_t *doc = NULL;
    if ((rc = s_call_doc(cli, &req, not_found, &doc)) != CLI_EXIT_OK)
        return rc;
    if (cli->json)
        rc = out_json_print(doc) < 0 ? CLI_EXIT_UNREACHABLE : CLI_EXIT_OK;
    else if (json_array_size(doc) == 0 && npos)
        printf("No versions of model '%s' yet.\n", pos[0]), rc = CLI_EXIT_OK;
    else if (json_array_size(doc) == 0)
        printf("No models yet. A step of kind train registers one; try\n"
               "  make demo      (or: drover submit examples/claims/pipeline.cfg --wait)\n"),
            rc = CLI_EXIT_OK;
    else
        rc = s_models_table(cli, doc);
    json_decref(doc);
    return rc;
}

const cli_verb_t cmd_models_verb = {
    .name = "models",
    .synopsis = "[NAME]",
    .summary = "versions of the registered models",
    .help = "Lists the versions of model NAME (or of every model): version, stage\n"
            "(none, staging, production, archived), trainer kind, validation accuracy\n"
            "(RMSE for regression), the latest evaluation's test accuracy, the run and\n"
            "step that trained it, the first 12 characters of the sha256 of its training\n"
            "data set, and when it was registered. At most one version per name is in\n"
            "production.\n"
            "\n"
            "Examples:\n"
            "  drover models\n"
            "  drover models claims-damage\n"
            "  drover models claims-damage --json | jq '.[] | select(.stage == \"production\")'",
    .run = s_models,
};

/* ------------------------------------------------------ model show --- */

/* Prints an object's members as an indented "key  value" list. */
static void s_kv_block(const char *title, const json_t *o)
{
    if (!json_is_object(o) || json_object_size(o) == 0)
        return;
    printf("\n%s\n", title);
    size_t w = 0;
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        if (strlen(key) > w)
            w = strlen(key);
    }
    json_object_foreach((json_t *)o, key, v)
    {
        char val[512];
        if (json_is_array(v) && json_is_array(json_array_get(v, 0)))
            snprintf(val, sizeof val, "(%zu x %zu matrix; see --json)", json_array_size(v),
                     json_array_size(json_array_get(v, 0)));
        else
            s_fmt(v, val, sizeof val);
        printf("  %-*s  %s\n", (int)w, key, val);
    }
}

static int s_model_text(cli_t *cli, const json_t *doc)
{
    int64_t now = util_now_us();
    const char *name = s_str(doc, "name"), *stage = s_str(doc, "stage");
    char ver[32], created[64], rows[32];
    s_fmt(json_object_get(doc, "version"), ver, sizeof ver);
    int64_t cus = s_time_us(json_object_get(doc, "created_at"));
    if (cus > 0)
        util_format_time(cus, created, sizeof created);
    else
        s_fmt(json_object_get(doc, "created_at"), created, sizeof created);
    const char *kind = s_str(doc, "model_kind"), *artifact = s_str(doc, "artifact");
    const char *step = s_str(doc, "step"), *sha = s_str(doc, "dataset_sha256");
    const char *dpath = s_str(doc, "dataset_path");
    char run[32];
    s_fmt(json_object_get(doc, "run_id"), run, sizeof run);
    s_fmt(json_object_get(doc, "dataset_rows"), rows, sizeof rows);

    printf("model      %s:%s\n", name ? name : "?", ver);
    printf("stage      %s%s%s\n", s_on(cli, s_stage_color(stage)), stage ? stage : "-", s_off(cli));
    printf("kind       %s\n", kind ? kind : "-");
    printf("created    %s\n", created);
    printf("artifact   %s\n", artifact ? artifact : "-");
    printf("\nlineage\n");
    printf("  run      %s, step %s\n", run, step ? step : "-");
    printf("  dataset  %s\n", sha && *sha ? sha : "-");
    if (dpath || strcmp(rows, "-"))
        printf("           %s%s%s rows\n", dpath ? dpath : "", dpath ? ", " : "", rows);

    s_kv_block("params", json_object_get(doc, "params"));
    s_kv_block("training metrics", json_object_get(doc, "metrics"));
    s_kv_block("latest evaluation", json_object_get(doc, "eval_metrics"));

    const json_t *sc = json_object_get(doc, "stage_changes");
    if (json_array_size(sc) > 0) {
        printf("\nstage history\n");
        static const char *const h[] = {"AT", "FROM", "TO", "BY", "REASON"};
        out_table_t *t = out_table_new(h, 5);
        size_t i;
        const json_t *c;
        json_array_foreach(sc, i, c)
        {
            char at[48];
            s_fmt_time(json_object_get(c, "at"), now, at, sizeof at);
            const char *from = s_str(c, "from_stage"), *to = s_str(c, "to_stage");
            const char *by = s_str(c, "by"), *reason = s_str(c, "reason");
            out_table_row(t);
            out_table_cell(t, OUT_PLAIN, "%s", at);
            out_table_cell(t, OUT_PLAIN, "%s", from ? from : "-");
            out_table_cell(t, s_stage_color(to), "%s", to ? to : "-");
            out_table_cell(t, OUT_PLAIN, "%s", by ? by : "-");
            out_table_cell(t, OUT_PLAIN, "%s", reason && *reason ? reason : "");
        }
        int rc = cli_print_table(cli, &t);
        if (rc != CLI_EXIT_OK)
            return rc;
    }

    const json_t *ev = json_object_get(doc, "evaluations");
    if (json_array_size(ev) > 0) {
        printf("\nevaluations\n");
        static const char *const h[] = {"AT", "RUN", "DATASET", "RESULT", "METRICS"};
        out_table_t *t = out_table_new(h, 5);
        size_t i;
        const json_t *e;
        json_array_foreach(ev, i, e)
        {
            char at[48], erun[32], ms[256] = "";
            s_fmt_time(json_object_get(e, "at"), now, at, sizeof at);
            s_fmt(json_object_get(e, "run_id"), erun, sizeof erun);
            const char *esha = s_str(e, "dataset_sha256");
            int pass = json_is_true(json_object_get(e, "passed"));
            static const char *const keys[] = {"accuracy", "macro_f1", "log_loss",
                                               "rmse",     "mae",      "r2"};
            size_t o = 0;
            for (size_t k = 0; k < sizeof keys / sizeof keys[0] && o < sizeof ms; k++) {
                double x = s_num(json_object_get(e, "metrics"), keys[k]);
                if (!isnan(x))
                    o += (size_t)snprintf(ms + o, sizeof ms - o, "%s%s %.4f", o ? ", " : "",
                                          keys[k], x);
            }
            out_table_row(t);
            out_table_cell(t, OUT_PLAIN, "%s", at);
            out_table_cell(t, OUT_PLAIN, "%s", erun);
            out_table_cell(t, OUT_PLAIN, "%.12s", esha && *esha ? esha : "-");
            out_table_cell(t, pass ? OUT_GREEN : OUT_RED, "%s", pass ? "passed" : "FAILED");
            out_table_cell(t, OUT_PLAIN, "%s", ms);
        }
        int rc = cli_print_table(cli, &t);
        if (rc != CLI_EXIT_OK)
            return rc;
    }
    return CLI_EXIT_OK;
}

/* The version of model `name` now in `stage` (production, staging), from
 * the coordinator's list; CLI_EXIT_OK, or the exit code of a printed
 * failure. cli must be connected. */
static int s_stage_version(cli_t *cli, const char *name, const char *stage, uint64_t *version)
{
    Drover__ModelsRequest lr = DROVER__MODELS_REQUEST__INIT;
    lr.name = (char *)name;
    Drover__ClientRequest lreq = DROVER__CLIENT_REQUEST__INIT;
    lreq.body_case = DROVER__CLIENT_REQUEST__BODY_MODELS;
    lreq.models = &lr;
    char nf[640];
    snprintf(nf, sizeof nf, "no model named '%s' (see `drover models`)", name);
    json_t *list = NULL;
    int rc = s_call_doc(cli, &lreq, nf, &list);
    if (rc != CLI_EXIT_OK)
        return rc;
    size_t i;
    json_t *v;
    *version = 0;
    json_array_foreach(list, i, v)
    {
        const char *st = json_string_value(json_object_get(v, "stage"));
        json_t *ver = json_object_get(v, "version");
        if (st && strcmp(st, stage) == 0 && json_is_integer(ver))
            *version = (uint64_t)json_integer_value(ver);
    }
    json_decref(list);
    if (*version == 0) {
        fprintf(stderr, "drover: model '%s' has no %s version (see `drover models %s`)\n", name,
                stage, name);
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

static int s_export(cli_t *cli, const char *ref, const char *out, const char *format,
                    const char *artdir);

/* The registry's document for one model version: NAME:STAGE resolved to
 * its version first (stage NULL: version as given). Connects. On success
 * *doc is the reply (caller json_decrefs it) and *one the version's object
 * inside it; not_found (nflen bytes) gets the text to print when the
 * version has no usable document. CLI_EXIT_OK or a printed failure's code. */
static int s_version_doc(cli_t *cli, const char *name, const char *stage, uint64_t *version,
                         json_t **doc, json_t **one, char *not_found, size_t nflen)
{
    int rc;
    *doc = *one = NULL;
    if ((rc = cli_connect(cli)) != CLI_EXIT_OK)
        return rc;
    if (stage && (rc = s_stage_version(cli, name, stage, version)) != CLI_EXIT_OK)
        return rc;
    Drover__ModelsRequest mr = DROVER__MODELS_REQUEST__INIT;
    mr.name = (char *)name;
    mr.version = (uint32_t)*version;
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    req.body_case = DROVER__CLIENT_REQUEST__BODY_MODELS;
    req.models = &mr;
    snprintf(not_found, nflen, "no model version %s:%llu (see `drover models %s`)", name,
             (unsigned long long)*version, name);
    if ((rc = s_call_doc(cli, &req, not_found, doc)) != CLI_EXIT_OK)
        return rc;
    /* A coordinator may answer with a one-element list; take its element. */
    *one = json_is_array(*doc) ? json_array_get(*doc, 0) : *doc;
    return CLI_EXIT_OK;
}

static int s_model(cli_t *cli, int argc, char **argv)
{
    char *pos[2];
    size_t npos;
    const char *out = NULL, *format = NULL, *artdir = NULL;
    const cli_opt_t opts[] = {{"output", 'o', 1, NULL, &out},
                              {"format", 0, 1, NULL, &format},
                              {"artifact-dir", 0, 1, NULL, &artdir},
                              {NULL, 0, 0, NULL, NULL}};
    int rc = cli_parse(cli, argc, argv, opts, pos, 2, 2, &npos);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    if (strcmp(pos[0], "export") == 0)
        return s_export(cli, pos[1], out, format, artdir);
    if (out || format)
        return cli_usage_error(cli, "-o and --format apply to `drover model export`");
    if (strcmp(pos[0], "show") != 0)
        return cli_usage_error(
            cli,
            "unknown subcommand '%s'; usage: drover model show NAME:VERSION|NAME:STAGE, "
            "or drover model export MODEL --format onnx -o OUT",
            pos[0]);
    char name[256];
    uint64_t version = 0;
    const char *colon = strrchr(pos[1], ':');
    const char *stage =
        colon && (strcmp(colon + 1, "production") == 0 || strcmp(colon + 1, "staging") == 0)
            ? colon + 1
            : NULL;
    if (stage) {
        /* NAME:production / NAME:staging: the version now in that stage. */
        size_t n = (size_t)(colon - pos[1]);
        if (n == 0 || n >= sizeof name)
            return cli_usage_error(cli, "'%s' is not NAME:STAGE", pos[1]);
        memcpy(name, pos[1], n);
        name[n] = '\0';
    } else if (s_parse_model_ref(cli, pos[1], name, sizeof name, &version) < 0) {
        return CLI_EXIT_USAGE;
    }
    char not_found[640];
    json_t *doc = NULL, *one = NULL;
    if ((rc = s_version_doc(cli, name, stage, &version, &doc, &one, not_found, sizeof not_found)) !=
        CLI_EXIT_OK)
        return rc;
    if (!json_is_object(one)) {
        fprintf(stderr, "drover: %s\n", not_found);
        rc = CLI_EXIT_USAGE;
    } else if (cli->json) {
        rc = out_json_print(one) < 0 ? CLI_EXIT_UNREACHABLE : CLI_EXIT_OK;
    } else {
        rc = s_model_text(cli, one);
    }
    json_decref(doc);
    return rc;
}

static int s_model_file(cli_t *cli, const char *ref, const char *artdir, char *model_path,
                        char *label);
static void s_task_bin(char *buf, size_t len);

/* drover model export MODEL --format onnx -o OUT: runs drover-task export
 * (the model code stays out of this program). */
static int s_export(cli_t *cli, const char *ref, const char *out, const char *format,
                    const char *artdir)
{
    if (!out)
        return cli_usage_error(cli, "drover model export needs -o OUT");
    if (format && strcmp(format, "onnx") != 0)
        return cli_usage_error(cli, "unknown export format '%s' (known: onnx)", format);
    char model_path[PATH_MAX], label[300], bin[PATH_MAX];
    int rc = s_model_file(cli, ref, artdir, model_path, label);
    if (rc != CLI_EXIT_OK)
        return rc;
    s_task_bin(bin, sizeof bin);
    const char *args[] = {bin, "export", model_path, "-o", out, "--format", "onnx", NULL};
    fflush(stdout);
    execvp(bin, (char *const *)args);
    fprintf(stderr, "drover: cannot run %s: %s (it is installed next to drover)\n", bin,
            strerror(errno));
    return CLI_EXIT_UNREACHABLE;
}

const cli_verb_t cmd_model_verb = {
    .name = "model",
    .synopsis =
        "show NAME:VERSION|NAME:production|NAME:staging | export MODEL --format onnx -o OUT",
    .summary = "everything about one model version; export it as ONNX",
    .help =
        "Shows model version NAME:VERSION (or the version now in production or\n"
        "staging) in full: stage, trainer kind, artifact hash,\n"
        "lineage (the run and step that trained it, the sha256, path and row count of\n"
        "its training data), parameters, training metrics, the latest evaluation, the\n"
        "stage history (who or what moved it, and why) and every evaluation.\n"
        "\n"
        "`drover model export MODEL --format onnx -o OUT` writes the model (a model\n"
        "file, or NAME:VERSION / NAME:production with --artifact-dir DIR) as an ONNX\n"
        "graph: input \"input\" [N, features in signature order], standardisation\n"
        "and imputation inside, outputs \"probabilities\" and \"label\" (classifiers)\n"
        "or \"value\" (linear); see docs/training.md.\n"
        "\n"
        "Examples:\n"
        "  drover model show claims-damage:3\n"
        "  drover model show claims-damage:production\n"
        "  drover model export claims-damage:production --artifact-dir /srv/drover/artifacts \\\n"
        "      --format onnx -o claims.onnx\n"
        "  drover model show claims-damage:3 --json | jq .stage_changes",
    .run = s_model,
};

/* --------------------------------------------------------- promote --- */

static int s_promote(cli_t *cli, int argc, char **argv)
{
    const char *reason = NULL;
    const cli_opt_t opts[] = {{"reason", 'r', 1, NULL, &reason}, {NULL, 0, 0, NULL, NULL}};
    char *pos[2];
    size_t npos;
    int rc = cli_parse(cli, argc, argv, opts, pos, 2, 2, &npos);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    char name[256];
    uint64_t version;
    if (s_parse_model_ref(cli, pos[0], name, sizeof name, &version) < 0)
        return CLI_EXIT_USAGE;
    const char *stage = pos[1];
    if (strcmp(stage, "staging") && strcmp(stage, "production") && strcmp(stage, "archived"))
        return cli_usage_error(cli, "unknown stage '%s' (stages: staging, production, archived)",
                               stage);
    if ((rc = cli_connect(cli)) != CLI_EXIT_OK)
        return rc;

    char by[320];
    cli_user_at_host(by, sizeof by);
    Drover__PromoteRequest pr = DROVER__PROMOTE_REQUEST__INIT;
    pr.name = name;
    pr.version = (uint32_t)version;
    pr.stage = (char *)stage;
    pr.by = by;
    pr.reason = (char *)(reason ? reason : "");
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    req.body_case = DROVER__CLIENT_REQUEST__BODY_PROMOTE;
    req.promote = &pr;
    char not_found[640];
    snprintf(not_found, sizeof not_found, "no model version %s:%llu (see `drover models %s`)", name,
             (unsigned long long)version, name);
    Drover__ClientReply *rep = NULL;
    if ((rc = cli_call(cli, &req, 0, not_found, &rep)) != CLI_EXIT_OK)
        return rc;
    const char *msg = rep->message && *rep->message ? rep->message : NULL;
    if (cli->json) {
        int bad = 0;
        json_t *o = json_object();
        out_json_set(o, "name", json_string(name), &bad);
        out_json_set(o, "version", json_integer((json_int_t)version), &bad);
        out_json_set(o, "stage", json_string(stage), &bad);
        out_json_set(o, "by", json_string(by), &bad);
        out_json_set(o, "reason", reason ? json_string(reason) : json_null(), &bad);
        out_json_set(o, "message", msg ? json_string(msg) : json_null(), &bad);
        if (bad) {
            json_decref(o);
            o = NULL;
        }
        rc = cli_emit_json(o);
    } else {
        if (msg)
            printf("%s\n", msg);
        else
            printf("%s:%llu is now %s\n", name, (unsigned long long)version, stage);
        rc = CLI_EXIT_OK;
    }
    drover__client_reply__free_unpacked(rep, NULL);
    return rc;
}

const cli_verb_t cmd_promote_verb = {
    .name = "promote",
    .synopsis = "NAME:VERSION STAGE [--reason TEXT]",
    .summary = "move a model version to staging, production or archived",
    .help = "Moves model version NAME:VERSION to STAGE (staging, production or archived).\n"
            "A model has at most one production version: promoting one to production\n"
            "archives the previous one. The change is recorded in the model's stage\n"
            "history as made by you ($USER@hostname), with the reason if you give one.\n"
            "\n"
            "Options:\n"
            "  -r, --reason TEXT   why (kept in the stage history)\n"
            "\n"
            "Examples:\n"
            "  drover promote claims-damage:3 production --reason \"approved after review\"\n"
            "  drover promote claims-damage:2 archived\n"
            "  drover model show claims-damage:3      # the stage history",
    .run = s_promote,
};

/* --------------------------------------------------------- predict --- */

/* drover-task beside this program (/proc/self/exe), else on PATH. */
static void s_task_bin(char *buf, size_t len)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            if (snprintf(buf, len, "%s/drover-task", self) < (int)len && access(buf, X_OK) == 0)
                return;
        }
    }
    snprintf(buf, len, "drover-task");
}

/* The model file MODEL names: a file path as is, or NAME:VERSION,
 * NAME:production, NAME:staging resolved by the coordinator to an artifact
 * in the store artdir (else $DROVER_ARTIFACTS), checksum verified.
 * model_path gets PATH_MAX bytes, label (the version's name for output) 300.
 * CLI_EXIT_OK or the exit code of a printed failure. */
static int s_model_file(cli_t *cli, const char *ref, const char *artdir, char *model_path,
                        char *label)
{
    int rc;
    struct stat sb;
    if (stat(ref, &sb) == 0 && S_ISREG(sb.st_mode)) {
        /* A model file: no cluster needed. */
        snprintf(model_path, PATH_MAX, "%s", ref);
        snprintf(label, 300, "%s", ref);
    } else {
        /* NAME:VERSION or NAME:production / NAME:staging, resolved by the
         * coordinator to an artifact; the file is read from the artifact
         * store (shared with the workers), checksum verified. */
        const char *colon = strrchr(ref, ':');
        if (!colon || colon == ref || (size_t)(colon - ref) >= 256)
            return cli_usage_error(cli,
                                   "'%s' is neither a model file nor NAME:VERSION or "
                                   "NAME:production",
                                   ref);
        if (!artdir)
            artdir = getenv("DROVER_ARTIFACTS");
        /* Else the store the config file names (a worker's, or the
         * coordinator's view of it): the local cluster's config has both. */
        static char cfg_artdir[1024];
        if ((!artdir || !*artdir) && cfg_artdir[0] == '\0') {
            conf_t *cfg = malloc(sizeof *cfg);
            const char *path = cli->config ? cli->config : conf_default_path();
            char err[512];
            if (cfg && path && conf_load(cfg, path, err, sizeof err) == 0)
                snprintf(cfg_artdir, sizeof cfg_artdir, "%s",
                         cfg->worker.artifact_dir[0] ? cfg->worker.artifact_dir
                                                     : cfg->coord.artifact_dir);
            free(cfg);
        }
        if ((!artdir || !*artdir) && cfg_artdir[0])
            artdir = cfg_artdir;
        if (!artdir || !*artdir)
            return cli_usage_error(cli, "a model from the registry is read from the artifact "
                                        "store: give --artifact-dir DIR (or DROVER_ARTIFACTS, or "
                                        "worker.artifact_dir in the config file)");
        char name[256];
        memcpy(name, ref, (size_t)(colon - ref));
        name[colon - ref] = '\0';
        const char *want = colon + 1;
        uint64_t version = 0;
        int by_stage = strcmp(want, "production") == 0 || strcmp(want, "staging") == 0;
        if (!by_stage && cli_parse_count(cli, "the version", want, UINT32_MAX, &version) < 0)
            return CLI_EXIT_USAGE;
        char nf[640];
        json_t *doc = NULL, *one = NULL;
        if ((rc = s_version_doc(cli, name, by_stage ? want : NULL, &version, &doc, &one, nf,
                                sizeof nf)) != CLI_EXIT_OK)
            return rc;
        const char *art = json_string_value(json_object_get(one, "artifact"));
        const char *fl = json_string_value(json_object_get(one, "model_kind"));
        long long ver = (long long)version;
        char e2[1024];
        if (art && fl && !stepkind_flavour_drover(fl)) {
            /* An exec step's model: not a drover model file. */
            fprintf(stderr,
                    "drover: %s:%lld is flavour %s: drover cannot score it; use an exec "
                    "step\n",
                    name, ver, fl);
            json_decref(doc);
            return CLI_EXIT_USAGE;
        }
        if (!art) {
            fprintf(stderr, "drover: %s\n", nf);
            json_decref(doc);
            return CLI_EXIT_USAGE;
        }
        int orc = artifact_open_verified(artdir, art, model_path, PATH_MAX, e2, sizeof e2);
        json_decref(doc);
        if (orc < 0) {
            fprintf(stderr, "drover: %s\n", e2);
            return CLI_EXIT_USAGE;
        }
        snprintf(label, 300, "%s:%lld", name, ver);
    }
    return CLI_EXIT_OK;
}

static int s_predict(cli_t *cli, int argc, char **argv)
{
    const char *out = NULL, *format = NULL, *extra = NULL, *artdir = NULL;
    const cli_opt_t opts[] = {{"output", 'o', 1, NULL, &out},
                              {"format", 0, 1, NULL, &format},
                              {"extra-columns", 0, 1, NULL, &extra},
                              {"artifact-dir", 0, 1, NULL, &artdir},
                              {NULL, 0, 0, NULL, NULL}};
    char *pos[2];
    size_t npos;
    int rc = cli_parse(cli, argc, argv, opts, pos, 2, 2, &npos);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    if (format && strcmp(format, "csv") && strcmp(format, "bin") && strcmp(format, "binary"))
        return cli_usage_error(cli, "--format must be csv or bin (got '%s')", format);
    if (extra && strcmp(extra, "refuse") && strcmp(extra, "ignore"))
        return cli_usage_error(cli, "--extra-columns must be refuse or ignore");
    char model_path[PATH_MAX], label[300];
    if ((rc = s_model_file(cli, pos[0], artdir, model_path, label)) != CLI_EXIT_OK)
        return rc;
    char bin[PATH_MAX];
    s_task_bin(bin, sizeof bin);
    const char *args[16];
    size_t n = 0;
    args[n++] = bin;
    args[n++] = "predict";
    args[n++] = model_path;
    args[n++] = pos[1];
    args[n++] = "--version";
    args[n++] = label;
    if (out) {
        args[n++] = "-o";
        args[n++] = out;
    }
    if (format) {
        args[n++] = "--format";
        args[n++] = format;
    }
    if (extra) {
        args[n++] = "--extra-columns";
        args[n++] = extra;
    }
    args[n] = NULL;
    fflush(stdout);
    /* The scoring (OpenBLAS) runs in drover-task, never in this program. */
    execvp(bin, (char *const *)args);
    fprintf(stderr, "drover: cannot run %s: %s (it is installed next to drover)\n", bin,
            strerror(errno));
    return CLI_EXIT_UNREACHABLE;
}

const cli_verb_t cmd_predict_verb = {
    .name = "predict",
    .synopsis = "MODEL FILE [-o OUT] [--format csv|bin] [--extra-columns refuse|ignore]",
    .summary = "score a data file with a model (batch predictions)",
    .help =
        "Scores every row of FILE (CSV or drover's binary format) with MODEL and\n"
        "writes one prediction per row: row id (1-based data row), model version,\n"
        "predicted class name and one probability column per class (p_CLASS); a\n"
        "regression model writes its value. CSV on stdout unless -o OUT;\n"
        "--format bin writes drover's binary format (needs -o).\n"
        "\n"
        "MODEL is a model file (no cluster needed), or NAME:VERSION,\n"
        "NAME:production or NAME:staging, which the coordinator resolves to an\n"
        "artifact read from the artifact store (--artifact-dir DIR, else\n"
        "DROVER_ARTIFACTS, else worker.artifact_dir or coordinator.artifact_dir of\n"
        "the config file), checksum verified.\n"
        "\n"
        "Columns are matched by name with the model's signature: a column the\n"
        "model needs and FILE lacks, a column the model does not read (unless\n"
        "--extra-columns ignore) or a missing value (unless the model was trained\n"
        "with missing = \"mean\") is an error naming it. The label column, when\n"
        "present, is not a feature.\n"
        "\n"
        "Examples:\n"
        "  drover predict model.drvmodel claims.csv -o scored.csv\n"
        "  drover predict claims-damage:production claims.csv --artifact-dir /srv/drover/artifacts",
    .run = s_predict,
};
