/* kind_score — batch scoring (issue 11): the score kind, and `drover-task
 * predict`, which `drover predict` runs so that the CLI itself never loads
 * OpenBLAS.
 *
 * Both load a model, load the data with the model's label column optional
 * (scoring files usually have no label; when present it is not a feature),
 * map the columns BY NAME with mlmodel_map_dataset (a missing column, an
 * extra one unless extra_columns = "ignore", or a missing value without an
 * imputation policy is an error naming it), predict, and write one row per
 * input row:
 *
 *   CSV:    row,version,class,p_<class 1>,...,p_<class k>   (classifiers)
 *           row,version,value                               (regression)
 *     row = the 1-based data row (the header is not counted), version =
 *     NAME:VERSION or the model file's path, class = the predicted class
 *     name (argmax, first on ties), p_* = class probabilities (%.6g).
 *   binary: drover's DRVDSET1 format: feature columns row (float32, so at
 *     most 2^24 rows), then p_<class>... (or value); the label column
 *     "class" holds the predicted class ids with the model's class list
 *     (none for regression). The version is in the step's outputs.
 *
 * The file is written to PATH.tmp and renamed (fsynced) into place.
 *
 * The score kind reads {"dataset", "model", "extra_columns", "format",
 * "resolved": {"model": {name, version, artifact}}} and writes
 * ARTIFACTS/runs/RUN/STEP/predictions.csv (or .bin); its outputs are a
 * report {"passed", "predictions": {path, sha256, format, rows}, "model":
 * {name, version}} (stored like every report) and the scored dataset with
 * role "scored" (lineage: which version scored which data).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifact.h"
#include "kind.h"
#include "mlmodel.h"
#include "mlonnx.h"
#include "sha256.h"
#include "util.h"

/* A CSV field: quoted when it holds a separator, quote, line break or
 * leading/trailing blank. */
static void s_csv_field(FILE *f, const char *s)
{
    size_t n = strlen(s);
    int q = n > 0 && (s[0] == ' ' || s[n - 1] == ' ');
    for (const char *p = s; *p && !q; p++)
        q = *p == ',' || *p == '"' || *p == '\n' || *p == '\r';
    if (!q) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            fputc('"', f);
        fputc(*p, f);
    }
    fputc('"', f);
}

static int s_write_csv(const mlmodel_t *m, const float *out, size_t n, const char *version, FILE *f)
{
    int cls = m->kind != MLMODEL_LINEAR;
    fputs("row,version,", f);
    if (!cls) {
        fputs("value\n", f);
    } else {
        fputs("class", f);
        for (uint32_t j = 0; j < m->k; j++) {
            char name[600];
            snprintf(name, sizeof name, "p_%s", m->class_names[j]);
            fputc(',', f);
            s_csv_field(f, name);
        }
        fputc('\n', f);
    }
    for (size_t r = 0; r < n; r++) {
        fprintf(f, "%zu,", r + 1);
        s_csv_field(f, version);
        fputc(',', f);
        if (!cls) {
            fprintf(f, "%.9g\n", out[r]);
            continue;
        }
        const float *p = out + r * m->k;
        uint32_t a = 0;
        for (uint32_t j = 1; j < m->k; j++)
            if (p[j] > p[a])
                a = j;
        s_csv_field(f, m->class_names[a]);
        for (uint32_t j = 0; j < m->k; j++)
            fprintf(f, ",%.6g", p[j]);
        fputc('\n', f);
    }
    return ferror(f) ? -1 : 0;
}

static int s_write_binary(const mlmodel_t *m, const float *out, size_t n, const char *path,
                          char *err, size_t errlen)
{
    int cls = m->kind != MLMODEL_LINEAR;
    size_t cols = 1 + (cls ? m->k : 1);
    if (n > (1u << 24)) {
        util_errf(err, errlen,
                  "%zu rows: the binary format's row column is float32, exact up to "
                  "16777216 rows; use --format csv",
                  n);
        return -1;
    }
    char **names = calloc(cols, sizeof *names);
    dataset_t *ds = NULL;
    int rc = -1;
    if (!names)
        goto oom;
    if (!(names[0] = strdup("row")))
        goto oom;
    for (size_t j = 1; j < cols; j++) {
        char buf[600];
        snprintf(buf, sizeof buf, "p_%s", cls ? m->class_names[j - 1] : "value");
        if (!cls)
            snprintf(buf, sizeof buf, "value");
        if (!(names[j] = strdup(buf)))
            goto oom;
    }
    ds = dataset_new(n, cols, (const char *const *)names,
                     cls ? DATASET_LABEL_CLASS : DATASET_LABEL_NONE, cls ? "class" : NULL,
                     cls ? (const char *const *)m->class_names : NULL, cls ? m->k : 0, err, errlen);
    if (!ds)
        goto out;
    for (size_t r = 0; r < n; r++) {
        float *x = ds->X + r * cols;
        x[0] = (float)(r + 1);
        if (!cls) {
            x[1] = out[r];
            continue;
        }
        const float *p = out + r * m->k;
        uint32_t a = 0;
        for (uint32_t j = 0; j < m->k; j++) {
            x[1 + j] = p[j];
            if (p[j] > p[a])
                a = j;
        }
        ds->y_class[r] = (int32_t)a;
    }
    rc = dataset_write_binary(ds, path, err, errlen);
    goto out;
oom:
    util_errf(err, errlen, "out of memory");
out:
    for (size_t j = 0; names && j < cols; j++)
        free(names[j]);
    free(names);
    dataset_destroy(&ds);
    return rc;
}

int kind_score_file(const mlmodel_t *m, const char *data_path, int ignore_extra,
                    const char *version, const char *out_path, int binary, dataset_t **ds_out,
                    size_t *rows, char *err, size_t errlen)
{
    char e2[1024], tmp[PATH_MAX];
    dataset_t *ds = NULL;
    float *X = NULL, *out = NULL;
    int rc = -1, fd = -1;
    FILE *f = NULL;
    *rows = 0;
    if (m->kind != MLMODEL_LINEAR && !m->class_names) {
        util_errf(err, errlen, "the model stores no class names");
        return -1;
    }
    dataset_opts_t o = {
        .label = m->label_name && *m->label_name ? m->label_name : NULL,
        .label_kind = DATASET_LABEL_AUTO,
        .label_optional = 1,
        .compute_hash = 1,
    };
    if (!(ds = dataset_load(data_path, &o, e2, sizeof e2))) {
        util_errf(err, errlen, "cannot load the data: %s", e2);
        goto out;
    }
    if (mlmodel_map_dataset(m, ds, ignore_extra ? MLMODEL_EXTRA_IGNORE : MLMODEL_EXTRA_REFUSE, &X,
                            e2, sizeof e2) < 0) {
        util_errf(err, errlen, "%s", e2);
        goto out;
    }
    size_t width = m->kind == MLMODEL_LINEAR ? 1 : m->k;
    if (ds->rows > 0) {
        if (!(out = malloc(ds->rows * width * sizeof *out))) {
            util_errf(err, errlen, "out of memory");
            goto out;
        }
        if (mlmodel_predict(m, NULL, X, ds->rows, out, e2, sizeof e2) < 0) {
            util_errf(err, errlen, "prediction failed: %s", e2);
            goto out;
        }
    }
    if (binary) {
        if (!out_path || strcmp(out_path, "-") == 0) {
            util_errf(err, errlen, "the binary format needs an output file (-o FILE)");
            goto out;
        }
        if (s_write_binary(m, out, ds->rows, out_path, err, errlen) < 0)
            goto out;
    } else if (!out_path || strcmp(out_path, "-") == 0) {
        if (s_write_csv(m, out, ds->rows, version, stdout) < 0 || fflush(stdout) != 0) {
            util_errf(err, errlen, "cannot write the predictions: %s", strerror(errno));
            goto out;
        }
    } else {
        if (snprintf(tmp, sizeof tmp, "%s.tmp", out_path) >= (int)sizeof tmp) {
            util_errf(err, errlen, "path too long: %s", out_path);
            goto out;
        }
        if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0 ||
            !(f = fdopen(dup(fd), "w"))) {
            util_errf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
            goto out;
        }
        int wrc = s_write_csv(m, out, ds->rows, version, f);
        if (fclose(f) != 0 || wrc < 0) {
            f = NULL;
            util_errf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
            goto out;
        }
        f = NULL;
        int cfd = fd;
        fd = -1;
        if (util_commit_file(cfd, tmp, out_path, err, errlen) < 0)
            goto out;
    }
    *rows = ds->rows;
    rc = 0;
out:
    if (f)
        fclose(f);
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    free(X);
    free(out);
    if (rc == 0 && ds_out)
        *ds_out = ds;
    else
        dataset_destroy(&ds);
    return rc;
}

/* The hex sha256 of a file, for the outputs. */
static int s_file_sha(const char *path, char hex[65])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    sha256_ctx_t c;
    sha256_init(&c);
    unsigned char buf[65536], d[32];
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0)
        sha256_update(&c, buf, (size_t)r);
    close(fd);
    if (r < 0)
        return -1;
    sha256_final(&c, d);
    sha256_hex(d, hex);
    return 0;
}

int kind_score(kind_ctx_t *k)
{
    json_t *spec = k->spec;
    int bad = 0, rc = KIND_EXIT_FAILED;
    char err[2048], mpath[4096], dir[PATH_MAX], out[PATH_MAX], version[300], hex[65];
    const char *path = kind_str(spec, "dataset", NULL, &bad);
    const char *extra = kind_str(spec, "extra_columns", "refuse", &bad);
    const char *format = kind_str(spec, "format", "csv", &bad);
    json_t *cand = json_object_get(json_object_get(spec, "resolved"), "model");
    const char *name = kind_str(cand, "name", NULL, &bad);
    long long ver = kind_int(cand, "version", 0, &bad);
    const char *art = kind_str(cand, "artifact", NULL, &bad);
    if (bad || !path || !name || !art || ver <= 0)
        return kind_fail(KIND_EXIT_BAD_SPEC, "bad score spec: 'dataset' and a resolved model "
                                             "(name, version, artifact) are required");
    if (strcmp(extra, "refuse") != 0 && strcmp(extra, "ignore") != 0)
        return kind_fail(KIND_EXIT_BAD_SPEC, "bad score spec: extra_columns must be \"refuse\" "
                                             "or \"ignore\"");
    if (strcmp(format, "csv") != 0 && strcmp(format, "binary") != 0)
        return kind_fail(KIND_EXIT_BAD_SPEC, "bad score spec: format must be \"csv\" or "
                                             "\"binary\"");
    if (!k->artifacts[0])
        return kind_fail(KIND_EXIT_BAD_SPEC, "DROVER_ARTIFACTS is not set: score needs the "
                                             "artifact store");
    mlmodel_t *m = NULL;
    dataset_t *ds = NULL;
    if (artifact_open_verified(k->artifacts, art, mpath, sizeof mpath, err, sizeof err) < 0 ||
        !(m = mlmodel_load(mpath, err, sizeof err))) {
        kind_fail(KIND_EXIT_FAILED, "cannot load model %s:%lld: %s", name, ver, err);
        goto out;
    }
    int binary = strcmp(format, "binary") == 0;
    snprintf(version, sizeof version, "%s:%lld", name, ver);
    if (snprintf(dir, sizeof dir, "%s/runs/%s/%s", k->artifacts, k->run_id, k->step) >=
            (int)sizeof dir ||
        snprintf(out, sizeof out, "%s/predictions.%s", dir, binary ? "bin" : "csv") >=
            (int)sizeof out) {
        kind_fail(KIND_EXIT_FAILED, "the artifact directory path is too long");
        goto out;
    }
    if (util_mkdirs(dir, 0755) < 0) {
        kind_fail(KIND_EXIT_FAILED, "cannot create %s: %s", dir, strerror(errno));
        goto out;
    }
    printf("scoring %s with %s\n", path, version);
    size_t rows;
    if (kind_score_file(m, path, strcmp(extra, "ignore") == 0, version, out, binary, &ds, &rows,
                        err, sizeof err) < 0) {
        kind_fail(KIND_EXIT_FAILED, "scoring failed: %s", err);
        goto out;
    }
    if (s_file_sha(out, hex) < 0) {
        kind_fail(KIND_EXIT_FAILED, "cannot read back %s: %s", out, strerror(errno));
        goto out;
    }
    printf("wrote %zu predictions to %s\n", rows, out);
    /* As a report, so it is stored (drover.reports) and `drover report RUN
     * STEP` shows it; the datasets entry records the scored data (lineage). */
    json_t *o =
        json_pack("{s:{s:b,s:{s:s,s:s,s:s,s:I},s:{s:s,s:I}},s:[o]}", "report", "passed", 1,
                  "predictions", "path", out, "sha256", hex, "format", binary ? "binary" : "csv",
                  "rows", (json_int_t)rows, "model", "name", name, "version", (json_int_t)ver,
                  "datasets", kind_dataset_json(ds, "scored"));
    if (!o || kind_emit(k, "output", o) < 0) {
        kind_fail(KIND_EXIT_FAILED, "cannot report the predictions to the worker");
        goto out;
    }
    rc = KIND_EXIT_OK;
out:
    mlmodel_destroy(&m);
    dataset_destroy(&ds);
    return rc;
}

static int s_predict_usage(FILE *f)
{
    fprintf(f, "Usage: drover-task predict MODEL_FILE DATA [-o OUT] [--format csv|binary]\n"
               "                          [--extra-columns refuse|ignore] [--version LABEL]\n"
               "Scores DATA with the model file; columns are matched by name. CSV on stdout\n"
               "unless -o. (drover predict runs this.)\n");
    return f == stdout ? 0 : KIND_EXIT_BAD_SPEC;
}

int kind_predict_main(int argc, char **argv)
{
    const char *model = NULL, *data = NULL, *out = NULL, *format = "csv", *extra = "refuse",
               *version = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            return s_predict_usage(stdout);
        if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) && v)
            out = argv[++i];
        else if (strcmp(a, "--format") == 0 && v)
            format = argv[++i];
        else if (strcmp(a, "--extra-columns") == 0 && v)
            extra = argv[++i];
        else if (strcmp(a, "--version") == 0 && v)
            version = argv[++i];
        else if (a[0] == '-' && a[1])
            return kind_fail(KIND_EXIT_BAD_SPEC, "drover-task predict: unknown option '%s'", a);
        else if (!model)
            model = a;
        else if (!data)
            data = a;
        else
            return s_predict_usage(stderr);
    }
    if (!model || !data)
        return s_predict_usage(stderr);
    if (strcmp(format, "bin") == 0)
        format = "binary";
    if (strcmp(format, "csv") != 0 && strcmp(format, "binary") != 0)
        return kind_fail(KIND_EXIT_BAD_SPEC, "--format must be csv or binary (got '%s')", format);
    if (strcmp(extra, "refuse") != 0 && strcmp(extra, "ignore") != 0)
        return kind_fail(KIND_EXIT_BAD_SPEC, "--extra-columns must be refuse or ignore");
    char err[2048];
    mlmodel_t *m = mlmodel_load(model, err, sizeof err);
    if (!m)
        return kind_fail(KIND_EXIT_FAILED, "drover predict: %s", err);
    size_t rows;
    int rc = kind_score_file(m, data, strcmp(extra, "ignore") == 0, version ? version : model, out,
                             strcmp(format, "binary") == 0, NULL, &rows, err, sizeof err);
    mlmodel_destroy(&m);
    if (rc < 0)
        return kind_fail(KIND_EXIT_FAILED, "drover predict: %s", err);
    if (out && strcmp(out, "-") != 0)
        fprintf(stderr, "wrote %zu predictions to %s\n", rows, out);
    return KIND_EXIT_OK;
}

int kind_export_main(int argc, char **argv)
{
    const char *model = NULL, *out = NULL, *format = "onnx";
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) && v)
            out = argv[++i];
        else if (strcmp(a, "--format") == 0 && v)
            format = argv[++i];
        else if (a[0] == '-' && a[1])
            return kind_fail(KIND_EXIT_BAD_SPEC, "drover-task export: unknown option '%s'", a);
        else if (!model)
            model = a;
        else
            model = NULL, i = argc;
    }
    if (!model || !out)
        return kind_fail(KIND_EXIT_BAD_SPEC, "usage: drover-task export MODEL_FILE -o OUT "
                                             "[--format onnx]");
    if (strcmp(format, "onnx") != 0)
        return kind_fail(KIND_EXIT_BAD_SPEC,
                         "drover model export: unknown format '%s' (known: "
                         "onnx)",
                         format);
    char err[2048];
    mlmodel_t *m = mlmodel_load(model, err, sizeof err);
    if (!m)
        return kind_fail(KIND_EXIT_FAILED, "drover model export: %s", err);
    int rc = mlonnx_save(m, out, err, sizeof err);
    mlmodel_destroy(&m);
    if (rc < 0)
        return kind_fail(KIND_EXIT_FAILED, "drover model export: %s", err);
    fprintf(stderr, "wrote the ONNX graph to %s\n", out);
    return KIND_EXIT_OK;
}
