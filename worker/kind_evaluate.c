/* kind_evaluate — the evaluate kind: scores a model version on a dataset
 * and applies the step's gates.
 *
 * The coordinator resolves the step's 'model' at dispatch and adds
 * "resolved": {"model": {name, version, artifact, kind}, "production":
 * {...} or null} to the spec. The candidate's artifact is read from the
 * store with its checksum verified; the dataset is loaded with the model's
 * own class list, so class ids mean what they meant in training (a label
 * the model never saw fails the load, naming the row). When a production
 * version exists and is another version, it is scored on the same data.
 *
 * Gates: min.M (figure >= bound), max.M (figure <= bound), and
 * better_than_production (candidate beats production by at least `by`:
 * higher for accuracy/macro_f1/r2, lower for log_loss/rmse/mae; passes with
 * a note when there is nothing to compare against). The report is emitted
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

/* Scores the model stored as `artifact` on path. Returns a new metrics
 * object, or NULL with a reason in err. *ds_json gets the dataset's
 * lineage entry when non-NULL. */
static json_t *s_score(kind_ctx_t *k, const char *artifact, const char *path, const char *label,
                       json_t **ds_json, char *err, size_t errlen)
{
    char mpath[4096], e2[1024];
    mlmodel_t *m = NULL;
    dataset_t *ds = NULL;
    float *out = NULL;
    json_t *res = NULL;
    if (artifact_open_verified(k->artifacts, artifact, mpath, sizeof mpath, e2, sizeof e2) < 0) {
        snprintf(err, errlen, "%s", e2);
        goto out;
    }
    if (!(m = mlmodel_load(mpath, e2, sizeof e2))) {
        snprintf(err, errlen, "cannot load model artifact %s: %s", artifact, e2);
        goto out;
    }
    const char *lab = label ? label : m->label_name;
    if (!lab || !*lab) {
        snprintf(err, errlen, "no 'label' given and the model does not name its label column");
        goto out;
    }
    int regression = m->kind == MLMODEL_LINEAR;
    dataset_opts_t o = {
        .label = lab,
        .label_kind = regression ? DATASET_LABEL_VALUE : DATASET_LABEL_CLASS,
        .classes = regression ? NULL : (const char *const *)m->class_names,
        .nclasses = regression || !m->class_names ? 0 : m->k,
        .compute_hash = 1,
    };
    if (!(ds = dataset_load(path, &o, e2, sizeof e2))) {
        snprintf(err, errlen, "cannot load the test data: %s", e2);
        goto out;
    }
    if (ds->cols != m->d) {
        snprintf(err, errlen, "%s has %zu feature columns; the model was trained on %u", path,
                 ds->cols, m->d);
        goto out;
    }
    if (ds->rows == 0) {
        snprintf(err, errlen, "%s has no rows", path);
        goto out;
    }
    size_t width = regression ? 1 : m->k;
    if (!(out = malloc(ds->rows * width * sizeof *out))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (mlmodel_predict(m, NULL, ds->X, ds->rows, out, e2, sizeof e2) < 0) {
        snprintf(err, errlen, "prediction failed: %s", e2);
        goto out;
    }
    res = regression ? metrics_regression(ds->y_value, out, ds->rows, e2, sizeof e2)
                     : metrics_classification(ds->y_class, out, ds->rows, m->k, e2, sizeof e2);
    if (!res) {
        snprintf(err, errlen, "cannot compute the metrics: %s", e2);
        goto out;
    }
    if (ds_json)
        *ds_json = kind_dataset_json(ds, "test");
out:
    free(out);
    dataset_destroy(&ds);
    mlmodel_destroy(&m);
    return res;
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
    char err[2048];
    const char *path = kind_str(spec, "dataset", NULL, &bad);
    const char *label = kind_str(spec, "label", NULL, &bad);
    const char *ref = kind_str(spec, "model", "", &bad);
    json_t *gates_spec = json_object_get(spec, "gates");
    json_t *resolved = json_object_get(spec, "resolved");
    json_t *cand = json_object_get(resolved, "model");
    json_t *prod = json_object_get(resolved, "production");
    if (bad || !path)
        return kind_fail(KIND_EXIT_BAD_SPEC, "bad evaluate spec: 'dataset' (string) is required");
    if (!json_is_object(cand))
        return kind_fail(KIND_EXIT_BAD_SPEC,
                         "bad evaluate spec: no resolved model for '%s' (the coordinator adds "
                         "\"resolved\" when it dispatches the step)", ref);
    const char *cname = kind_str(cand, "name", NULL, &bad);
    long long cver = kind_int(cand, "version", 0, &bad);
    const char *cart = kind_str(cand, "artifact", NULL, &bad);
    if (bad || !cname || !cart || cver <= 0)
        return kind_fail(KIND_EXIT_BAD_SPEC, "bad evaluate spec: resolved.model needs name, "
                                             "version and artifact");
    if (!k->artifacts[0])
        return kind_fail(KIND_EXIT_BAD_SPEC, "DROVER_ARTIFACTS is not set: evaluate needs the "
                                             "artifact store");

    json_t *ds_json = NULL, *metrics = NULL, *pmetrics = NULL, *gates = json_array();
    json_t *notes = json_array();
    printf("evaluating %s:%lld (%s) on %s\n", cname, cver, ref, path);
    if (!(metrics = s_score(k, cart, path, label, &ds_json, err, sizeof err))) {
        kind_fail(KIND_EXIT_FAILED, "evaluation failed: %s", err);
        goto out;
    }
    char *mtext = json_dumps(metrics, JSON_COMPACT | JSON_REAL_PRECISION(6));
    printf("metrics: %s\n", mtext ? mtext : "?");
    free(mtext);

    const char *pname = NULL;
    long long pver = 0;
    if (json_is_object(prod)) {
        int pbad = 0;
        pname = kind_str(prod, "name", NULL, &pbad);
        pver = kind_int(prod, "version", 0, &pbad);
        const char *part = kind_str(prod, "artifact", NULL, &pbad);
        if (pbad || !pname || !part || pver <= 0) {
            kind_fail(KIND_EXIT_BAD_SPEC, "bad evaluate spec: resolved.production needs name, "
                                          "version and artifact");
            rc = KIND_EXIT_BAD_SPEC;
            goto out;
        }
        if (strcmp(pname, cname) == 0 && pver == cver) {
            pname = NULL; /* the candidate is production: nothing to compare */
        } else {
            printf("production %s:%lld for comparison\n", pname, pver);
            if (!(pmetrics = s_score(k, part, path, label, NULL, err, sizeof err))) {
                kind_fail(KIND_EXIT_FAILED, "evaluation of production %s:%lld failed: %s",
                          pname, pver, err);
                goto out;
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
                snprintf(why, sizeof why, "%s %.3f %s %s %.3f", mname, fig, s == 0 ? ">=" : "<=",
                         sides[s], th);
            s_gate(gates, &passed, reason, sizeof reason, name, fig, th, ok, why);
        }
    }
    json_t *btp = json_object_get(gates_spec, "better_than_production");
    if (json_is_object(btp)) {
        const char *mname = kind_str(btp, "metric", "accuracy", &bad);
        double by = kind_num(btp, "by", 0.0, &bad);
        char name[128], why[512];
        int have, phave;
        double fig = s_metric(metrics, mname, &have);
        snprintf(name, sizeof name, "better_than_production.%s", mname);
        if (!pmetrics) {
            const char *note = "no production version to compare against";
            json_array_append_new(notes, json_string(note));
            s_gate(gates, &passed, reason, sizeof reason, name, fig, NAN, 1, note);
        } else {
            double pf = s_metric(pmetrics, mname, &phave);
            int lower = s_lower_is_better(mname);
            double th = lower ? pf - by : pf + by;
            int ok = have && phave && (lower ? fig <= th : fig >= th);
            if (!have || !phave)
                snprintf(why, sizeof why, "gate failed: %s is not computed for both models",
                         mname);
            else if (!ok)
                snprintf(why, sizeof why, "gate failed: %s %.3f is not better than production "
                         "%.3f by %.3f", mname, fig, pf, by);
            else
                snprintf(why, sizeof why, "%s %.3f beats production %.3f by at least %.3f", mname,
                         fig, pf, by);
            s_gate(gates, &passed, reason, sizeof reason, name, fig, th, ok, why);
        }
    }

    json_t *report = json_pack("{s:b,s:O,s:O,s:O,s:O}", "passed", passed, "metrics", metrics,
                               "production_metrics", pmetrics ? pmetrics : json_null(), "gates",
                               gates, "notes", notes);
    if (report && pname)
        json_object_set_new(report, "production",
                            json_pack("{s:s,s:I}", "name", pname, "version", (json_int_t)pver));
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
out:
    json_decref(ds_json);
    json_decref(metrics);
    json_decref(pmetrics);
    json_decref(gates);
    json_decref(notes);
    return rc;
}
