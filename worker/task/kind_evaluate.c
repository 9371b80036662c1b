/* kind_evaluate — the evaluate kind: scores a model version on a dataset
 * and applies the step's gates.
 *
 * The coordinator resolves the step's 'model' at dispatch and adds
 * "resolved": {"model": {name, version, artifact, kind}, "production":
 * {...} or null} to the spec. The candidate's artifact is read from the
 * store with its checksum verified; the dataset is loaded with the model's
 * own class list, so class ids mean what they meant in training (a label
 * the model never saw fails the load, naming the row).
 *
 * Columns are matched BY NAME against the model's signature
 * (mlmodel_map_dataset): a missing column, an extra one (unless
 * extra_columns = "ignore"), or a missing value in a model without an
 * imputation policy fails the step with the column (and row) named. A
 * model without a signature (format 1) is refused: retrain it.
 *
 * Production, when there is one and it is another version, is scored on
 * the same rows (its own columns by name; the data's other columns are
 * ignored for it, since the data is shaped for the candidate). Classes are
 * matched by name. Rows whose true class production never learnt (a new
 * class) cannot be scored fairly by it: the comparison — figures, gate,
 * McNemar's test — uses the rows of the shared classes, the new classes are
 * reported, and the candidate's own metrics over all rows are kept. That is
 * the documented policy for a new class; it never fails the step by itself.
 *
 * Gates: min.M (figure >= bound), max.M (figure <= bound), and
 * better_than_production: the candidate must be strictly better than
 * production and by at least `by` (higher for accuracy/macro_f1/r2, lower
 * for log_loss/rmse/mae); with `alpha` (accuracy only) McNemar's exact
 * test on the paired predictions must also give p < alpha. Passes with a
 * note when there is nothing to compare against. The report is emitted
 * either way; a failed gate fails the step with the figures in its reason.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "artifact.h"
#include "kind.h"
#include "metrics.h"
#include "mlmodel.h"

static int s_lower_is_better(const char *m)
{
    return strcmp(m, "log_loss") == 0 || strcmp(m, "rmse") == 0 || strcmp(m, "mae") == 0;
}

/* Loads the model stored as `artifact`, checksum verified. */
static mlmodel_t *s_load_model(kind_ctx_t *k, const char *artifact, char *err, size_t errlen)
{
    char mpath[4096], e2[1024];
    mlmodel_t *m = NULL;
    if (artifact_open_verified(k->artifacts, artifact, mpath, sizeof mpath, e2, sizeof e2) < 0)
        snprintf(err, errlen, "%s", e2);
    else if (!(m = mlmodel_load(mpath, e2, sizeof e2)))
        snprintf(err, errlen, "cannot load model artifact %s: %s", artifact, e2);
    return m;
}

/* Class probabilities (or values) of m on ds, columns by name: a new
 * n x width array, or NULL with a reason in err. */
static float *s_predict(const mlmodel_t *m, const dataset_t *ds, mlmodel_extra_t extra, char *err,
                        size_t errlen)
{
    char e2[1024];
    float *X = NULL, *out = NULL;
    size_t width = m->kind == MLMODEL_LINEAR ? 1 : m->k;
    if (mlmodel_map_dataset(m, ds, extra, &X, e2, sizeof e2) < 0) {
        snprintf(err, errlen, "%s", e2);
        return NULL;
    }
    if (!(out = malloc(ds->rows * width * sizeof *out))) {
        snprintf(err, errlen, "out of memory");
    } else if (mlmodel_predict(m, NULL, X, ds->rows, out, e2, sizeof e2) < 0) {
        snprintf(err, errlen, "prediction failed: %s", e2);
        free(out);
        out = NULL;
    }
    free(X);
    return out;
}

static size_t s_argmax(const float *p, size_t k)
{
    size_t a = 0;
    for (size_t j = 1; j < k; j++)
        if (p[j] > p[a])
            a = j;
    return a;
}

static json_t *s_names(char *const *names, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_string(names[i] ? names[i] : "")) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* The production comparison of a classifier, over the rows of the classes
 * both models know. Fills *pmetrics (production), *cmetrics (candidate on
 * the same rows) and *cmp ({"rows", "of", "new_classes", "mcnemar"}). */
static int s_compare_classes(const mlmodel_t *cm, const float *cproba, const mlmodel_t *pm,
                             const float *pproba, const dataset_t *ds, json_t **pmetrics,
                             json_t **cmetrics, json_t **cmp, char *err, size_t errlen)
{
    char e2[512];
    int rc = -1;
    size_t kc = cm->k, kp = pm->k, ku = kc, n = ds->rows, ns = 0;
    int32_t *pmap = malloc(kp * sizeof *pmap), *cknown = malloc(kc * sizeof *cknown);
    int32_t *y = malloc(n * sizeof *y);
    float *cp = NULL, *pp = NULL;
    json_t *newc = json_array(), *mc = NULL;
    if (!pmap || !cknown || !y || !newc)
        goto oom;
    /* Union class space: the candidate's ids, then production-only classes. */
    for (size_t j = 0; j < kc; j++)
        cknown[j] = 0;
    for (size_t j = 0; j < kp; j++) {
        pmap[j] = -1;
        for (size_t i = 0; i < kc && pmap[j] < 0; i++)
            if (strcmp(pm->class_names[j], cm->class_names[i]) == 0) {
                pmap[j] = (int32_t)i;
                cknown[i] = 1;
            }
        if (pmap[j] < 0)
            pmap[j] = (int32_t)ku++;
    }
    for (size_t i = 0; i < kc; i++)
        if (!cknown[i] && json_array_append_new(newc, json_string(cm->class_names[i])) != 0)
            goto oom;
    if (!(cp = calloc(n * ku, sizeof *cp)) || !(pp = calloc(n * ku, sizeof *pp)))
        goto oom;
    uint64_t b = 0, c = 0;
    for (size_t r = 0; r < n; r++) {
        int32_t t = ds->y_class[r];
        if (!cknown[t])
            continue; /* a class production never learnt: not comparable */
        memcpy(cp + ns * ku, cproba + r * kc, kc * sizeof *cp);
        for (size_t j = 0; j < kp; j++)
            pp[ns * ku + (size_t)pmap[j]] = pproba[r * kp + j];
        int cok = s_argmax(cp + ns * ku, ku) == (size_t)t;
        int pok = s_argmax(pp + ns * ku, ku) == (size_t)t;
        b += cok && !pok;
        c += !cok && pok;
        y[ns++] = t;
    }
    *pmetrics = *cmetrics = NULL;
    if (ns > 0) {
        if (!(*pmetrics = metrics_classification(y, pp, ns, ku, e2, sizeof e2)) ||
            !(*cmetrics = metrics_classification(y, cp, ns, ku, e2, sizeof e2))) {
            snprintf(err, errlen, "cannot compute the comparison metrics: %s", e2);
            json_decref(*pmetrics);
            *pmetrics = NULL;
            goto out;
        }
    }
    mc = json_pack("{s:I,s:I,s:o}", "candidate_only_correct", (json_int_t)b,
                   "production_only_correct", (json_int_t)c, "p_value",
                   kind_real(metrics_mcnemar_exact(b, c)));
    *cmp = mc ? json_pack("{s:I,s:I,s:O,s:o}", "rows", (json_int_t)ns, "of", (json_int_t)n,
                          "new_classes", newc, "mcnemar", mc)
              : NULL;
    if (!*cmp)
        goto oom;
    rc = 0;
    goto out;
oom:
    snprintf(err, errlen, "out of memory");
out:
    free(pmap);
    free(cknown);
    free(y);
    free(cp);
    free(pp);
    json_decref(newc);
    return rc;
}

/* Appends a gate entry and, on failure, its words to reason. */
static void s_gate(json_t *gates, int *passed, char *reason, size_t rlen, const char *name,
                   double figure, double threshold, int ok, const char *why)
{
    json_t *g = json_pack("{s:s,s:o,s:o,s:b}", "name", name, "figure", kind_real(figure),
                          "threshold", kind_real(threshold), "passed", ok);
    if (g && why && *why)
        json_object_set_new(g, "detail", json_string(why));
    if (g)
        json_array_append_new(gates, g);
    printf("gate %-34s %s  %s\n", name, ok ? "ok    " : "FAILED", why ? why : "");
    if (!ok) {
        size_t len = strlen(reason);
        snprintf(reason + len, rlen - len, "%s%s", *passed ? "" : "; ", why);
        *passed = 0;
    }
}

static double s_metric(json_t *metrics, const char *name, int *have)
{
    json_t *v = json_object_get(metrics, name);
    *have = json_is_number(v);
    return *have ? json_number_value(v) : NAN;
}

int kind_evaluate(kind_ctx_t *k)
{
    json_t *spec = k->spec;
    int bad = 0, rc = KIND_EXIT_FAILED;
    char err[2048], e2[1024];
    const char *path = kind_str(spec, "dataset", NULL, &bad);
    const char *label = kind_str(spec, "label", NULL, &bad);
    const char *ref = kind_str(spec, "model", "", &bad);
    const char *extra_s = kind_str(spec, "extra_columns", "refuse", &bad);
    json_t *gates_spec = json_object_get(spec, "gates");
    json_t *resolved = json_object_get(spec, "resolved");
    json_t *cand = json_object_get(resolved, "model");
    json_t *prod = json_object_get(resolved, "production");
    if (bad || !path)
        return kind_fail(KIND_EXIT_BAD_SPEC, "bad evaluate spec: 'dataset' (string) is required");
    if (strcmp(extra_s, "refuse") != 0 && strcmp(extra_s, "ignore") != 0)
        return kind_fail(KIND_EXIT_BAD_SPEC, "bad evaluate spec: extra_columns must be "
                                             "\"refuse\" or \"ignore\"");
    mlmodel_extra_t extra =
        strcmp(extra_s, "ignore") == 0 ? MLMODEL_EXTRA_IGNORE : MLMODEL_EXTRA_REFUSE;
    if (!json_is_object(cand))
        return kind_fail(KIND_EXIT_BAD_SPEC,
                         "bad evaluate spec: no resolved model for '%s' (the coordinator adds "
                         "\"resolved\" when it dispatches the step)",
                         ref);
    const char *cname = kind_str(cand, "name", NULL, &bad);
    long long cver = kind_int(cand, "version", 0, &bad);
    const char *cart = kind_str(cand, "artifact", NULL, &bad);
    if (bad || !cname || !cart || cver <= 0)
        return kind_fail(KIND_EXIT_BAD_SPEC, "bad evaluate spec: resolved.model needs name, "
                                             "version and artifact");
    const char *pname = NULL, *part = NULL;
    long long pver = 0;
    if (json_is_object(prod)) {
        pname = kind_str(prod, "name", NULL, &bad);
        pver = kind_int(prod, "version", 0, &bad);
        part = kind_str(prod, "artifact", NULL, &bad);
        if (bad || !pname || !part || pver <= 0)
            return kind_fail(KIND_EXIT_BAD_SPEC, "bad evaluate spec: resolved.production needs "
                                                 "name, version and artifact");
        if (strcmp(pname, cname) == 0 && pver == cver)
            pname = NULL; /* the candidate is production: nothing to compare */
    }
    if (!k->artifacts[0])
        return kind_fail(KIND_EXIT_BAD_SPEC, "DROVER_ARTIFACTS is not set: evaluate needs the "
                                             "artifact store");

    mlmodel_t *cm = NULL, *pm = NULL;
    dataset_t *ds = NULL;
    float *cproba = NULL, *pproba = NULL;
    json_t *ds_json = NULL, *metrics = NULL, *pmetrics = NULL, *cmetrics = NULL, *cmp = NULL;
    json_t *gates = json_array(), *notes = json_array();
    printf("evaluating %s:%lld (%s) on %s\n", cname, cver, ref, path);
    if (!(cm = s_load_model(k, cart, err, sizeof err))) {
        kind_fail(KIND_EXIT_FAILED, "evaluation failed: %s", err);
        goto out;
    }
    int regression = cm->kind == MLMODEL_LINEAR;
    if (!regression && !cm->class_names) {
        kind_fail(KIND_EXIT_FAILED, "evaluation failed: the model stores no class names");
        goto out;
    }
    const char *lab = label ? label : cm->label_name;
    if (!lab || !*lab) {
        kind_fail(KIND_EXIT_FAILED, "evaluation failed: no 'label' given and the model does not "
                                    "name its label column");
        goto out;
    }
    dataset_opts_t o = {
        .label = lab,
        .label_kind = regression ? DATASET_LABEL_VALUE : DATASET_LABEL_CLASS,
        .classes = regression ? NULL : (const char *const *)cm->class_names,
        .nclasses = regression ? 0 : cm->k,
        .compute_hash = 1,
    };
    if (!(ds = dataset_load(path, &o, e2, sizeof e2))) {
        kind_fail(KIND_EXIT_FAILED, "evaluation failed: cannot load the test data: %s", e2);
        goto out;
    }
    if (ds->rows == 0) {
        kind_fail(KIND_EXIT_FAILED, "evaluation failed: %s has no rows", path);
        goto out;
    }
    if (!(cproba = s_predict(cm, ds, extra, err, sizeof err))) {
        kind_fail(KIND_EXIT_FAILED, "evaluation failed: %s", err);
        goto out;
    }
    metrics = regression
                  ? metrics_regression(ds->y_value, cproba, ds->rows, e2, sizeof e2)
                  : metrics_classification(ds->y_class, cproba, ds->rows, cm->k, e2, sizeof e2);
    if (!metrics) {
        kind_fail(KIND_EXIT_FAILED, "evaluation failed: cannot compute the metrics: %s", e2);
        goto out;
    }
    /* Class names beside the confusion matrix: rows and columns in this order. */
    if (!regression && json_object_set_new(metrics, "classes", s_names(cm->class_names, cm->k)))
        goto oom;
    if (!(ds_json = kind_dataset_json(ds, "test")))
        goto oom;
    char *mtext = json_dumps(metrics, JSON_COMPACT | JSON_REAL_PRECISION(6));
    printf("metrics: %s\n", mtext ? mtext : "?");
    free(mtext);

    if (pname) {
        printf("production %s:%lld for comparison\n", pname, pver);
        if (!(pm = s_load_model(k, part, err, sizeof err)) ||
            !(pproba = s_predict(pm, ds, MLMODEL_EXTRA_IGNORE, err, sizeof err))) {
            kind_fail(KIND_EXIT_FAILED, "evaluation of production %s:%lld failed: %s", pname, pver,
                      err);
            goto out;
        }
        if ((pm->kind == MLMODEL_LINEAR) != regression) {
            kind_fail(KIND_EXIT_FAILED,
                      "production %s:%lld is a %s model; the candidate is a %s "
                      "model: they cannot be compared",
                      pname, pver, mlmodel_kind_name(pm->kind), mlmodel_kind_name(cm->kind));
            goto out;
        }
        if (regression) {
            if (!(pmetrics = metrics_regression(ds->y_value, pproba, ds->rows, e2, sizeof e2))) {
                kind_fail(KIND_EXIT_FAILED, "cannot compute production's metrics: %s", e2);
                goto out;
            }
            cmetrics = json_incref(metrics);
        } else {
            if (!pm->class_names) {
                kind_fail(KIND_EXIT_FAILED, "production %s:%lld stores no class names", pname,
                          pver);
                goto out;
            }
            if (s_compare_classes(cm, cproba, pm, pproba, ds, &pmetrics, &cmetrics, &cmp, err,
                                  sizeof err) < 0) {
                kind_fail(KIND_EXIT_FAILED, "evaluation failed: %s", err);
                goto out;
            }
            json_t *newc = json_object_get(cmp, "new_classes");
            json_int_t rows = json_integer_value(json_object_get(cmp, "rows"));
            if (json_array_size(newc) > 0 || rows < (json_int_t)ds->rows) {
                char list[512] = "";
                size_t i, o2 = 0;
                json_t *v;
                json_array_foreach(newc, i, v) o2 +=
                    (size_t)snprintf(list + o2, o2 < sizeof list ? sizeof list - o2 : 0, "%s'%s'",
                                     i ? ", " : "", json_string_value(v));
                char note[1024];
                snprintf(note, sizeof note,
                         "new class%s %s not known to production %s:%lld: "
                         "compared on the %lld of %zu rows of the shared classes; the "
                         "candidate's metrics are over all rows",
                         json_array_size(newc) == 1 ? "" : "es", *list ? list : "(none)", pname,
                         pver, (long long)rows, ds->rows);
                json_array_append_new(notes, json_string(note));
                printf("note: %s\n", note);
            }
        }
    }

    int passed = 1;
    char reason[2048] = "";
    const char *sides[] = {"min", "max"};
    for (int s = 0; s < 2; s++) {
        json_t *bounds = json_object_get(gates_spec, sides[s]);
        const char *mname;
        json_t *bound;
        json_object_foreach(bounds, mname, bound)
        {
            char name[128], why[512];
            int have;
            double fig = s_metric(metrics, mname, &have), th = json_number_value(bound);
            snprintf(name, sizeof name, "%s.%s", sides[s], mname);
            int ok = have && (s == 0 ? fig >= th : fig <= th);
            if (!have)
                snprintf(why, sizeof why, "gate failed: %s is not computed for this model", mname);
            else if (!ok)
                snprintf(why, sizeof why, "gate failed: %s %.3f %s %s %.3f", mname, fig,
                         s == 0 ? "<" : ">", sides[s], th);
            else
                snprintf(why, sizeof why, "%s %.3f %s %s %.3f", mname, fig,
                         s == 0 ? ">=" : "<=", sides[s], th);
            s_gate(gates, &passed, reason, sizeof reason, name, fig, th, ok, why);
        }
    }
    json_t *btp = json_object_get(gates_spec, "better_than_production");
    if (json_is_object(btp)) {
        const char *mname = kind_str(btp, "metric", "accuracy", &bad);
        double by = kind_num(btp, "by", 0.0, &bad);
        double alpha = kind_num(btp, "alpha", NAN, &bad);
        char name[128], why[768];
        int have, phave;
        snprintf(name, sizeof name, "better_than_production.%s", mname);
        if (!pname || !pmetrics) {
            const char *note = !pname ? "no production version to compare against"
                                      : "no test row has a class production knows: nothing to "
                                        "compare against";
            double fig = s_metric(metrics, mname, &have);
            json_array_append_new(notes, json_string(note));
            s_gate(gates, &passed, reason, sizeof reason, name, fig, NAN, 1, note);
        } else {
            double fig = s_metric(cmetrics, mname, &have);
            double pf = s_metric(pmetrics, mname, &phave);
            int lower = s_lower_is_better(mname);
            double th = lower ? pf - by : pf + by;
            /* Strictly better, and by at least `by`: with by = 0 a tie is
             * not an improvement. */
            int ok = have && phave && (lower ? fig < pf && fig <= th : fig > pf && fig >= th);
            double pval = NAN;
            int sig = 1;
            if (!isnan(alpha)) {
                pval =
                    json_number_value(json_object_get(json_object_get(cmp, "mcnemar"), "p_value"));
                sig = pval < alpha;
            }
            const char *on = json_array_size(json_object_get(cmp, "new_classes")) > 0
                                 ? " (on the shared classes)"
                                 : "";
            if (!have || !phave)
                snprintf(why, sizeof why, "gate failed: %s is not computed for both models", mname);
            else if (!ok)
                snprintf(why, sizeof why,
                         "gate failed: %s %.4f is not better than production "
                         "%.4f by %.4f%s%s",
                         mname, fig, pf, by,
                         fig == pf ? " (a tie is not "
                                     "better)"
                                   : "",
                         on);
            else if (!sig)
                snprintf(why, sizeof why,
                         "gate failed: %s %.4f beats production %.4f, but not "
                         "significantly: McNemar p = %.4g, alpha %.4g%s",
                         mname, fig, pf, pval, alpha, on);
            else if (!isnan(alpha))
                snprintf(why, sizeof why,
                         "%s %.4f beats production %.4f by at least %.4f, "
                         "McNemar p = %.4g < alpha %.4g%s",
                         mname, fig, pf, by, pval, alpha, on);
            else
                snprintf(why, sizeof why, "%s %.4f beats production %.4f by at least %.4f%s", mname,
                         fig, pf, by, on);
            s_gate(gates, &passed, reason, sizeof reason, name, fig, th, ok && sig, why);
            if (!isnan(alpha)) {
                json_t *g = json_array_get(gates, json_array_size(gates) - 1);
                json_object_set_new(g, "p_value", kind_real(pval));
                json_object_set_new(g, "alpha", kind_real(alpha));
            }
        }
    }

    json_t *report = json_pack("{s:b,s:O,s:O,s:O,s:O}", "passed", passed, "metrics", metrics,
                               "production_metrics", pmetrics ? pmetrics : json_null(), "gates",
                               gates, "notes", notes);
    if (report && pname)
        json_object_set_new(report, "production",
                            json_pack("{s:s,s:I}", "name", pname, "version", (json_int_t)pver));
    if (report && cmp) {
        /* The candidate's figures on exactly the rows production was scored on. */
        json_object_set(cmp, "candidate_metrics", cmetrics ? cmetrics : json_null());
        json_object_set(report, "comparison", cmp);
    }
    json_t *out = report ? json_pack("{s:o,s:{s:s,s:I},s:[O]}", "report", report, "model", "name",
                                     cname, "version", (json_int_t)cver, "datasets", ds_json)
                         : NULL;
    if (!out || kind_emit(k, "output", out) < 0) {
        kind_fail(KIND_EXIT_FAILED, "cannot report the evaluation to the worker");
        goto out;
    }
    if (!passed) {
        kind_fail(KIND_EXIT_FAILED, "%s", reason);
        goto out;
    }
    printf("evaluation passed\n");
    rc = KIND_EXIT_OK;
    goto out;
oom:
    kind_fail(KIND_EXIT_FAILED, "out of memory");
out:
    free(cproba);
    free(pproba);
    mlmodel_destroy(&cm);
    mlmodel_destroy(&pm);
    dataset_destroy(&ds);
    json_decref(ds_json);
    json_decref(metrics);
    json_decref(pmetrics);
    json_decref(cmetrics);
    json_decref(cmp);
    json_decref(gates);
    json_decref(notes);
    return rc;
}
