/* kind_validate — the validate kind: checks a dataset, reports every check.
 *
 * Each configured check yields one report entry {name, figure, threshold,
 * passed, detail}; the figure is the number the threshold is compared with
 * (the worst column for per-column checks) and detail says in words which
 * column or class decided it. Every check runs even after one failed, so
 * the report is complete; the step then fails with the failed checks'
 * details as its one-line reason. A dataset that cannot be loaded fails
 * the step with the loader's message (row and column).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kind.h"

typedef struct {
    json_t *checks; /* report array */
    int passed;
    char reason[2048];
} report_t;

/* Appends one check; figure NaN becomes null. Keeps the first failures'
 * details for the one-line reason. */
static void s_check(report_t *r, const char *name, double figure, json_t *threshold, int passed,
                    const char *detail)
{
    json_t *c =
        json_pack("{s:s,s:o,s:o,s:b,s:s}", "name", name, "figure", kind_real(figure), "threshold",
                  threshold ? threshold : json_null(), "passed", passed, "detail", detail);
    if (c)
        json_array_append_new(r->checks, c);
    printf("check %-16s %s  %s\n", name, passed ? "ok    " : "FAILED", detail);
    if (!passed) {
        size_t len = strlen(r->reason);
        snprintf(r->reason + len, sizeof r->reason - len, "%s%s: %s", r->passed ? "" : "; ", name,
                 detail);
        r->passed = 0;
    }
}

static void s_columns(report_t *r, const dataset_t *ds, json_t *cols)
{
    char missing[1024] = "";
    size_t nmiss = 0, len = 0;
    size_t n = json_array_size(cols);
    for (size_t i = 0; i < n; i++) {
        const char *name = json_string_value(json_array_get(cols, i));
        if (!name)
            continue;
        int found = dataset_column_index(ds, name) >= 0 ||
                    (ds->label_name[0] && strcmp(ds->label_name, name) == 0);
        if (!found) {
            nmiss++;
            if (len < sizeof missing)
                len += (size_t)snprintf(missing + len, sizeof missing - len, "%s'%s'",
                                        nmiss > 1 ? ", " : "", name);
        }
    }
    char detail[1200];
    if (nmiss == 0)
        snprintf(detail, sizeof detail, "all %zu expected columns present", n);
    else
        snprintf(detail, sizeof detail, "missing column%s %s", nmiss > 1 ? "s" : "", missing);
    s_check(r, "columns", (double)nmiss, json_deep_copy(cols), nmiss == 0, detail);
}

static void s_max_missing(report_t *r, const dataset_t *ds, double max)
{
    double worst = 0;
    size_t wc = 0;
    for (size_t c = 0; c < ds->cols; c++) {
        double m = dataset_missing_ratio(ds, c);
        if (m > worst) {
            worst = m;
            wc = c;
        }
    }
    char detail[512];
    if (ds->cols == 0 || worst == 0)
        snprintf(detail, sizeof detail, "no missing values");
    else
        snprintf(detail, sizeof detail, "column '%s' is %.1f%% missing (max %.1f%%)",
                 ds->col_names[wc], worst * 100, max * 100);
    s_check(r, "max_missing", worst, json_real(max), worst <= max, detail);
}

static void s_ranges(report_t *r, const dataset_t *ds, json_t *ranges)
{
    const char *col;
    json_t *pair;
    json_object_foreach(ranges, col, pair)
    {
        double lo = json_number_value(json_array_get(pair, 0));
        double hi = json_number_value(json_array_get(pair, 1));
        char name[300], detail[600];
        snprintf(name, sizeof name, "ranges.%s", col);
        long idx = dataset_column_index(ds, col);
        if (idx < 0) {
            snprintf(detail, sizeof detail, "no column '%s'", col);
            s_check(r, name, NAN, json_pack("[f,f]", lo, hi), 0, detail);
            continue;
        }
        size_t out = 0;
        double mn = INFINITY, mx = -INFINITY;
        for (size_t i = 0; i < ds->rows; i++) {
            float v = ds->X[i * ds->cols + (size_t)idx];
            if (isnan(v))
                continue;
            if (v < mn)
                mn = v;
            if (v > mx)
                mx = v;
            if (v < lo || v > hi)
                out++;
        }
        if (out == 0)
            snprintf(detail, sizeof detail, "column '%s' within [%g, %g]", col, lo, hi);
        else
            snprintf(detail, sizeof detail,
                     "column '%s' has %zu value%s outside [%g, %g] (min %g, max %g)", col, out,
                     out == 1 ? "" : "s", lo, hi, mn, mx);
        s_check(r, name, (double)out, json_pack("[f,f]", lo, hi), out == 0, detail);
    }
}

static void s_min_class_share(report_t *r, const dataset_t *ds, double min)
{
    char detail[512];
    if (ds->label_kind != DATASET_LABEL_CLASS || ds->nclasses == 0 || ds->rows == 0) {
        snprintf(detail, sizeof detail, "label '%s' has no classes", ds->label_name);
        s_check(r, "min_class_share", NAN, json_real(min), 0, detail);
        return;
    }
    size_t *count = calloc(ds->nclasses, sizeof *count);
    if (!count) {
        s_check(r, "min_class_share", NAN, json_real(min), 0, "out of memory");
        return;
    }
    for (size_t i = 0; i < ds->rows; i++)
        count[ds->y_class[i]]++;
    size_t worst = 0;
    for (size_t c = 1; c < ds->nclasses; c++)
        if (count[c] < count[worst])
            worst = c;
    double share = (double)count[worst] / (double)ds->rows;
    snprintf(detail, sizeof detail, "class '%s' is %.1f%% of rows (min %.1f%%)", ds->classes[worst],
             share * 100, min * 100);
    free(count);
    s_check(r, "min_class_share", share, json_real(min), share >= min, detail);
}

static void s_max_duplicates(report_t *r, const dataset_t *ds, double max)
{
    double d = dataset_duplicate_ratio(ds);
    char detail[256];
    if (d < 0) {
        s_check(r, "max_duplicates", NAN, json_real(max), 0, "out of memory");
        return;
    }
    snprintf(detail, sizeof detail, "%.2f%% of rows repeat an earlier row (max %.2f%%)", d * 100,
             max * 100);
    s_check(r, "max_duplicates", d, json_real(max), d <= max, detail);
}

/* PSI per feature column present in both; the figure is the largest. */
static void s_drift(report_t *r, const dataset_t *ds, const dataset_t *ref, double max_psi,
                    int bins)
{
    double worst = -1;
    const char *wname = NULL;
    char detail[600];
    size_t compared = 0;
    for (size_t c = 0; c < ds->cols; c++) {
        /* dataset_psi takes one column index for both sides, so only a
         * column at the same position in the reference is compared. */
        long rc = dataset_column_index(ref, ds->col_names[c]);
        if (rc < 0 || (size_t)rc != c)
            continue;
        double psi = dataset_psi(ref, ds, c, bins);
        if (isnan(psi))
            continue;
        compared++;
        if (psi > worst) {
            worst = psi;
            wname = ds->col_names[c];
        }
    }
    if (compared == 0) {
        snprintf(detail, sizeof detail, "no feature column to compare with the reference");
        s_check(r, "drift", NAN, json_real(max_psi), 0, detail);
        return;
    }
    snprintf(detail, sizeof detail, "largest PSI %.3f in column '%s' over %zu column%s (max %.3f)",
             worst, wname, compared, compared == 1 ? "" : "s", max_psi);
    s_check(r, "drift", worst, json_real(max_psi), worst <= max_psi, detail);
}

int kind_validate(kind_ctx_t *k)
{
    json_t *spec = k->spec;
    int bad = 0, rc = KIND_EXIT_FAILED;
    char err[1024];
    const char *path = kind_str(spec, "dataset", NULL, &bad);
    const char *label = kind_str(spec, "label", NULL, &bad);
    json_t *checks = json_object_get(spec, "checks");
    if (bad || !path || !json_is_object(checks))
        return kind_fail(KIND_EXIT_BAD_SPEC, "bad validate spec: 'dataset' (string) and 'checks' "
                                             "(object) are required");
    dataset_t *ds = NULL, *ref = NULL;
    report_t r = {.checks = json_array(), .passed = 1};
    json_t *datasets = json_array();
    if (!r.checks || !datasets) {
        kind_fail(KIND_EXIT_FAILED, "out of memory");
        goto out;
    }
    dataset_opts_t o = {
        .label = label,
        .label_kind =
            json_object_get(checks, "min_class_share") ? DATASET_LABEL_CLASS : DATASET_LABEL_AUTO,
        .compute_hash = 1,
    };
    if (!(ds = dataset_load(path, &o, err, sizeof err))) {
        kind_fail(KIND_EXIT_FAILED, "validation failed: cannot load the data: %s", err);
        goto out;
    }
    json_array_append_new(datasets, kind_dataset_json(ds, "data"));
    printf("dataset %s: %zu rows, %zu feature columns, sha256 %s\n", path, ds->rows, ds->cols,
           ds->sha256);

    json_t *v;
    if ((v = json_object_get(checks, "columns")) && json_is_array(v))
        s_columns(&r, ds, v);
    if ((v = json_object_get(checks, "min_rows")) && json_is_integer(v)) {
        char detail[128];
        long long min = json_integer_value(v);
        snprintf(detail, sizeof detail, "%zu rows (min %lld)", ds->rows, min);
        s_check(&r, "min_rows", (double)ds->rows, json_integer(min), (long long)ds->rows >= min,
                detail);
    }
    if ((v = json_object_get(checks, "max_missing")) && json_is_number(v))
        s_max_missing(&r, ds, json_number_value(v));
    if ((v = json_object_get(checks, "ranges")) && json_is_object(v))
        s_ranges(&r, ds, v);
    if ((v = json_object_get(checks, "min_class_share")) && json_is_number(v))
        s_min_class_share(&r, ds, json_number_value(v));
    if ((v = json_object_get(checks, "max_duplicates")) && json_is_number(v))
        s_max_duplicates(&r, ds, json_number_value(v));
    if ((v = json_object_get(checks, "drift")) && json_is_object(v)) {
        const char *rpath = kind_str(v, "reference", NULL, &bad);
        double max_psi = kind_num(v, "max_psi", 0.2, &bad);
        long long bins = kind_int(v, "bins", 10, &bad);
        if (bad || !rpath || bins < 2 || bins > 1000) {
            kind_fail(KIND_EXIT_BAD_SPEC, "bad validate spec: checks.drift needs 'reference', "
                                          "a number 'max_psi' and 'bins' from 2 to 1000");
            rc = KIND_EXIT_BAD_SPEC;
            goto out;
        }
        dataset_opts_t ro = {.label = label, .label_kind = DATASET_LABEL_AUTO, .compute_hash = 1};
        if (!(ref = dataset_load(rpath, &ro, err, sizeof err))) {
            char detail[1200];
            snprintf(detail, sizeof detail, "cannot load the reference: %s", err);
            s_check(&r, "drift", NAN, json_real(max_psi), 0, detail);
        } else {
            json_array_append_new(datasets, kind_dataset_json(ref, "reference"));
            s_drift(&r, ds, ref, max_psi, (int)bins);
        }
    }

    json_t *out = json_pack("{s:{s:b,s:O},s:O}", "report", "passed", r.passed, "checks", r.checks,
                            "datasets", datasets);
    if (!out || kind_emit(k, "output", out) < 0) {
        kind_fail(KIND_EXIT_FAILED, "cannot report the validation to the worker");
        goto out;
    }
    if (!r.passed) {
        kind_fail(KIND_EXIT_FAILED, "validation failed: %s", r.reason);
        goto out;
    }
    printf("validation passed: %zu check%s\n", json_array_size(r.checks),
           json_array_size(r.checks) == 1 ? "" : "s");
    rc = KIND_EXIT_OK;
out:
    json_decref(r.checks);
    json_decref(datasets);
    dataset_destroy(&ds);
    dataset_destroy(&ref);
    return rc;
}
