/* register — see register.h. */
#include "register.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifact.h"
#include "sha256.h"
#include "stepkind.h"
#include "util.h"

static json_t *s_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *s_error(const char *fmt, ...)
{
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return json_pack("{s:s}", "error", msg);
}

/* Resolves what (relative to base) to a regular file, owned by
 * uid when uid != -1, at most max bytes. 0 with real[PATH_MAX] and *size,
 * or -1 with why. */
static int s_file(const char *what, const char *base, uid_t uid, long long max, char *real,
                  long long *size, char *why, size_t whylen)
{
    char joined[PATH_MAX * 2];
    if (what[0] == '/')
        snprintf(joined, sizeof joined, "%s", what);
    else
        snprintf(joined, sizeof joined, "%s/%s", base, what);
    struct stat st;
    if (lstat(joined, &st) < 0) {
        snprintf(why, whylen, "%s: %s", what, strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(why, whylen, "%s is a folder: register one file (e.g. a tar of the folder)", what);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, whylen, "%s is not a regular file (a symlink?)", what);
        return -1;
    }
    if (!realpath(joined, real)) {
        snprintf(why, whylen, "%s: %s", what, strerror(errno));
        return -1;
    }
    if (uid != (uid_t)-1 && st.st_uid != uid) {
        snprintf(why, whylen, "%s does not belong to the step's user", what);
        return -1;
    }
    if ((long long)st.st_size > max) {
        snprintf(why, whylen, "%s is %lld bytes: at most %lld", what, (long long)st.st_size, max);
        return -1;
    }
    *size = (long long)st.st_size;
    return 0;
}

/* 1 when the exec spec names path: an argv element or env value equal to
 * it as written, or resolving to real against base. */
static int s_named(json_t *spec, const char *path, const char *real, const char *base)
{
    json_t *lists[2] = {json_object_get(spec, "argv"), json_object_get(spec, "env")};
    for (int l = 0; l < 2; l++) {
        json_t *v;
        size_t i;
        const char *k;
        json_t *vals = json_array();
        if (!vals)
            return 0;
        if (json_is_array(lists[l]))
            json_array_foreach(lists[l], i, v) json_array_append(vals, v);
        else if (json_is_object(lists[l]))
            json_object_foreach(lists[l], k, v) json_array_append(vals, v);
        int found = 0;
        json_array_foreach(vals, i, v)
        {
            const char *s = json_string_value(v);
            char joined[PATH_MAX * 2], r[PATH_MAX];
            if (!s || found)
                continue;
            if (strcmp(s, path) == 0)
                found = 1;
            if (s[0] == '/')
                snprintf(joined, sizeof joined, "%s", s);
            else
                snprintf(joined, sizeof joined, "%s/%s", base, s);
            if (!found && realpath(joined, r) && strcmp(r, real) == 0)
                found = 1;
        }
        json_decref(vals);
        if (found)
            return 1;
    }
    return 0;
}

/* sha256, data rows and header fields of a CSV file. */
static int s_csv(const char *path, char hex[65], long long *rows, long long *cols, char *why,
                 size_t whylen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
        return -1;
    }
    sha256_ctx_t ctx;
    sha256_init(&ctx);
    static char buf[1 << 16];
    long long lines = 0, fields = 1;
    int header = 1, last = '\n', inq = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        sha256_update(&ctx, buf, (size_t)n);
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '"')
                inq = !inq;
            else if (header && buf[i] == ',' && !inq)
                fields++;
            if (buf[i] == '\n' && !inq) {
                lines++;
                header = 0;
            }
        }
        last = buf[n - 1];
    }
    int e = errno;
    close(fd);
    if (n < 0) {
        snprintf(why, whylen, "%s: %s", path, strerror(e));
        return -1;
    }
    if (last != '\n')
        lines++;
    uint8_t d[SHA256_DIGEST_LEN];
    sha256_final(&ctx, d);
    sha256_hex(d, hex);
    *rows = lines > 0 ? lines - 1 : 0;
    *cols = lines > 0 ? fields : 0;
    return 0;
}

json_t *register_model_run(json_t *req, const char *cwd, const char *artifact_dir,
                           const char *spec_json, uid_t run_uid)
{
    char base[PATH_MAX], here[PATH_MAX];
    if (!cwd || !*cwd)
        cwd = getcwd(here, sizeof here);
    if (!cwd || !realpath(cwd, base))
        return s_error("register_model: cannot resolve the step's working directory");
    if (!artifact_dir || !*artifact_dir)
        return s_error("register_model: this worker has no artifact store (worker.artifact_dir)");
    const char *name = json_string_value(json_object_get(req, "name"));
    const char *path = json_string_value(json_object_get(req, "path"));
    json_t *fl = json_object_get(req, "flavour");
    const char *flavour = fl ? json_string_value(fl) : "file";
    json_t *sig = json_object_get(req, "signature"), *metrics = json_object_get(req, "metrics");
    json_t *datasets = json_object_get(req, "datasets");
    if (!name || !util_name_ok(name, UTIL_NAME_MAX))
        return s_error("register_model: 'name' must be a model name (" UTIL_NAME_RULE ")",
                       UTIL_NAME_MAX);
    if (!path || !*path)
        return s_error("register_model: 'path' must name the model file");
    if (!flavour || !stepkind_flavour_ok(flavour))
        return s_error("register_model: flavour '%.80s' is not allowed (letters, digits, . _ -; "
                       "not softmax, mlp or linear, which are drover's own)",
                       flavour ? flavour : "?");
    if ((sig && !json_is_object(sig)) || (metrics && !json_is_object(metrics)))
        return s_error("register_model: 'signature' and 'metrics' must be objects");
    if (metrics && json_object_size(metrics) > REGISTER_MAX_METRICS)
        return s_error("register_model: at most %d metrics", REGISTER_MAX_METRICS);
    const char *k;
    json_t *v;
    json_object_foreach(metrics, k, v) if (!json_is_number(v)) return s_error(
        "register_model: metric '%.64s' is not a number", k);
    if (datasets && (!json_is_array(datasets) || json_array_size(datasets) > REGISTER_MAX_DATASETS))
        return s_error("register_model: 'datasets' must be a list of at most %d paths",
                       REGISTER_MAX_DATASETS);

    char real[PATH_MAX], why[900], hex[65];
    long long size;
    if (s_file(path, base, run_uid, REGISTER_MAX_MODEL, real, &size, why, sizeof why) < 0)
        return s_error("register_model: %s", why);
    json_t *spec = json_loads(spec_json ? spec_json : "{}", 0, NULL);
    json_t *out_ds = json_array();
    if (!spec || !out_ds) {
        json_decref(spec);
        json_decref(out_ds);
        return spec ? NULL : s_error("register_model: the step's spec does not parse");
    }
    json_t *rc = NULL;
    size_t i;
    json_array_foreach(datasets, i, v)
    {
        const char *dp = json_string_value(v);
        char dreal[PATH_MAX], dhex[65];
        long long dsize, rows, cols;
        if (!dp ||
            s_file(dp, base, run_uid, REGISTER_MAX_DATASET, dreal, &dsize, why, sizeof why) < 0) {
            rc = s_error("register_model: dataset %s", dp ? why : "entries must be paths");
            goto out;
        }
        if (!s_named(spec, dp, dreal, base)) {
            rc = s_error("register_model: dataset %.300s is not named by the step's argv or env "
                         "(lineage records only what the step was told to read)",
                         dp);
            goto out;
        }
        size_t dl = strlen(dreal);
        if (dl < 5 || strcmp(dreal + dl - 4, ".csv") != 0) {
            rc = s_error("register_model: dataset %.300s: lineage records CSV files", dp);
            goto out;
        }
        if (s_csv(dreal, dhex, &rows, &cols, why, sizeof why) < 0) {
            rc = s_error("register_model: dataset %s", why);
            goto out;
        }
        json_array_append_new(out_ds,
                              json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "path", dreal, "format",
                                        "csv", "sha256", dhex, "rows", (json_int_t)rows, "cols",
                                        (json_int_t)cols, "role", "train"));
    }
    if (artifact_put_file(artifact_dir, real, hex, why, sizeof why) < 0) {
        rc = s_error("register_model: cannot store %s: %s", path, why);
        goto out;
    }
    rc = json_pack("{s:s, s:s, s:s, s:s, s:I, s:O, s:o, s:O}", "name", name, "flavour", flavour,
                   "artifact", hex, "path", real, "size", (json_int_t)size, "signature",
                   sig ? sig : json_null(), "metrics",
                   metrics ? json_incref(metrics) : json_object(), "datasets", out_ds);
out:
    json_decref(spec);
    json_decref(out_ds);
    return rc;
}
