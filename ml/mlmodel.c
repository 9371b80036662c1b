/* mlmodel — model parameters, the DRVMODEL artifact format and prediction.
 *
 * Saving serialises the whole artifact into one memory buffer (models are
 * small: parameters plus a few strings), appends the CRC32C and writes it
 * with tmp + fsync + rename, so a reader sees either the old file or the
 * complete new one. Loading reads the whole file, checks the CRC before
 * parsing anything, then parses with a bounds-checked cursor: every length
 * is compared with what is left, so a corrupt file yields an error message,
 * never an out-of-bounds read.
 */
#include "mlmodel.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytebuf.h"

#define S_MAGIC    "DRVMODEL"
#define S_MAX_FILE ((uint64_t)1 << 34) /* 16 GiB: refuse anything larger */

enum {
    S_END = 0,
    S_MEAN = 1,
    S_STD = 2,
    S_PARAMS = 3,
    S_CLASSES = 4,
    S_LABEL = 5,
    S_META = 6,
    S_FEATURES = 7,
    S_IMPUTE = 8
};

/* ---- CRC32C ------------------------------------------------------------ */

static uint32_t s_crc_table[8][256];
static int s_crc_ready;

static void s_crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int j = 0; j < 8; j++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
        s_crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            s_crc_table[t][i] =
                (s_crc_table[t - 1][i] >> 8) ^ s_crc_table[0][s_crc_table[t - 1][i] & 0xff];
    __atomic_store_n(&s_crc_ready, 1, __ATOMIC_RELEASE);
}

uint32_t mlmodel_crc32c(uint32_t crc, const void *buf, size_t len)
{
    /* Table build is idempotent, so a race only repeats the same writes. */
    if (!__atomic_load_n(&s_crc_ready, __ATOMIC_ACQUIRE))
        s_crc_init();
    const unsigned char *p = buf;
    crc = ~crc;
    while (len >= 8) { /* slicing-by-8 */
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                             (uint32_t)p[3] << 24);
        crc = s_crc_table[7][lo & 0xff] ^ s_crc_table[6][(lo >> 8) & 0xff] ^
              s_crc_table[5][(lo >> 16) & 0xff] ^ s_crc_table[4][lo >> 24] ^ s_crc_table[3][p[4]] ^
              s_crc_table[2][p[5]] ^ s_crc_table[1][p[6]] ^ s_crc_table[0][p[7]];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = (crc >> 8) ^ s_crc_table[0][(crc ^ *p++) & 0xff];
    return ~crc;
}

/* ---- model object ------------------------------------------------------ */

const char *mlmodel_kind_name(mlmodel_kind_t kind)
{
    switch (kind) {
    case MLMODEL_SOFTMAX: return "softmax";
    case MLMODEL_MLP: return "mlp";
    case MLMODEL_LINEAR: return "linear";
    }
    return "?";
}

int mlmodel_kind_parse(const char *s, mlmodel_kind_t *kind)
{
    for (int k = MLMODEL_SOFTMAX; k <= MLMODEL_LINEAR; k++)
        if (s && strcmp(s, mlmodel_kind_name((mlmodel_kind_t)k)) == 0) {
            *kind = (mlmodel_kind_t)k;
            return 0;
        }
    errno = EINVAL;
    return -1;
}

uint32_t mlmodel_nlayers(const mlmodel_t *m)
{
    return m->kind == MLMODEL_MLP ? m->nhidden + 1 : 1;
}

void mlmodel_layer(const mlmodel_t *m, uint32_t l, uint32_t *in, uint32_t *out, size_t *w_off,
                   size_t *b_off)
{
    uint32_t L = mlmodel_nlayers(m);
    size_t off = 0;
    for (uint32_t i = 0; i <= l; i++) {
        uint32_t a = i == 0 ? m->d : m->hidden[i - 1];
        uint32_t b = i == L - 1 ? m->k : m->hidden[i];
        if (i == l) {
            if (in)
                *in = a;
            if (out)
                *out = b;
            if (w_off)
                *w_off = off;
            if (b_off)
                *b_off = off + (size_t)a * b;
            return;
        }
        off += (size_t)a * b + b;
    }
}

/* Validates shapes; returns the parameter count or 0 with text in err. */
static size_t s_shape(mlmodel_kind_t kind, uint32_t d, uint32_t k, uint32_t nhidden,
                      const uint32_t *hidden, char *err, size_t errlen)
{
    if (kind != MLMODEL_SOFTMAX && kind != MLMODEL_MLP && kind != MLMODEL_LINEAR) {
        util_errf(err, errlen, "unknown model kind %d", (int)kind);
        return 0;
    }
    if (d == 0 || d > (1u << 24)) {
        util_errf(err, errlen, "input width %u is out of range (1..16777216)", d);
        return 0;
    }
    if (kind == MLMODEL_LINEAR ? k != 1 : (k < 2 || k > (1u << 20))) {
        util_errf(err, errlen, "%s model cannot have %u outputs", mlmodel_kind_name(kind), k);
        return 0;
    }
    if (kind == MLMODEL_MLP ? (nhidden < 1 || nhidden > MLMODEL_MAX_HIDDEN) : nhidden != 0) {
        util_errf(err, errlen, "%s model cannot have %u hidden layers (mlp: 1..%d, others: 0)",
                  mlmodel_kind_name(kind), nhidden, MLMODEL_MAX_HIDDEN);
        return 0;
    }
    uint64_t total = 0, prev = d;
    for (uint32_t i = 0; i <= nhidden; i++) {
        uint64_t w = i < nhidden ? hidden[i] : k;
        if (w == 0 || w > (1u << 20)) {
            util_errf(err, errlen, "hidden layer %u has width %llu (1..1048576)", i + 1,
                      (unsigned long long)w);
            return 0;
        }
        total += prev * w + w;
        prev = w;
    }
    if (total > ((uint64_t)1 << 31)) {
        util_errf(err, errlen, "model has %llu parameters; the limit is 2^31",
                  (unsigned long long)total);
        return 0;
    }
    return (size_t)total;
}

mlmodel_t *mlmodel_create(mlmodel_kind_t kind, uint32_t d, uint32_t k, uint32_t nhidden,
                          const uint32_t *hidden, char *err, size_t errlen)
{
    size_t np = s_shape(kind, d, k, nhidden, hidden, err, errlen);
    if (!np) {
        errno = EINVAL;
        return NULL;
    }
    mlmodel_t *m = calloc(1, sizeof *m);
    if (!m)
        goto oom;
    m->kind = kind;
    m->d = d;
    m->k = k;
    m->nhidden = nhidden;
    for (uint32_t i = 0; i < nhidden; i++)
        m->hidden[i] = hidden[i];
    m->nparams = np;
    m->format_version = MLMODEL_FORMAT_VERSION;
    m->mean = calloc(d, sizeof(float));
    m->std = malloc(d * sizeof(float));
    m->params = calloc(np, sizeof(float));
    if (!m->mean || !m->std || !m->params)
        goto oom;
    for (uint32_t j = 0; j < d; j++)
        m->std[j] = 1.0f;
    return m;
oom:
    mlmodel_destroy(&m);
    util_errf(err, errlen, "out of memory creating a model");
    errno = ENOMEM;
    return NULL;
}

static void s_free_classes(mlmodel_t *m)
{
    if (m->class_names)
        for (uint32_t i = 0; i < m->k; i++)
            free(m->class_names[i]);
    free(m->class_names);
    m->class_names = NULL;
}

static void s_free_features(mlmodel_t *m)
{
    if (m->feature_names)
        for (uint32_t i = 0; i < m->d; i++)
            free(m->feature_names[i]);
    free(m->feature_names);
    free(m->feature_types);
    m->feature_names = NULL;
    m->feature_types = NULL;
}

void mlmodel_destroy(mlmodel_t **pm)
{
    if (!pm || !*pm)
        return;
    mlmodel_t *m = *pm;
    s_free_classes(m);
    free(m->mean);
    free(m->std);
    free(m->params);
    free(m->label_name);
    free(m->meta_json);
    s_free_features(m);
    free(m->impute);
    free(m);
    *pm = NULL;
}

int mlmodel_set_class_names(mlmodel_t *m, const char *const *names)
{
    char **c = calloc(m->k, sizeof *c);
    if (!c)
        goto oom;
    for (uint32_t i = 0; i < m->k; i++)
        if (!(c[i] = strdup(names[i] ? names[i] : "")))
            goto oom;
    s_free_classes(m);
    m->class_names = c;
    return 0;
oom:
    if (c)
        for (uint32_t i = 0; i < m->k; i++)
            free(c[i]);
    free(c);
    errno = ENOMEM;
    return -1;
}

static int s_set_str(char **slot, const char *s)
{
    char *c = NULL;
    if (s && !(c = strdup(s))) {
        errno = ENOMEM;
        return -1;
    }
    free(*slot);
    *slot = c;
    return 0;
}

int mlmodel_set_label_name(mlmodel_t *m, const char *name)
{
    return s_set_str(&m->label_name, name);
}

int mlmodel_set_meta(mlmodel_t *m, const char *json)
{
    return s_set_str(&m->meta_json, json);
}

int mlmodel_set_feature_names(mlmodel_t *m, const char *const *names)
{
    char **c = calloc(m->d, sizeof *c);
    uint8_t *t = malloc(m->d);
    if (!c || !t)
        goto oom;
    for (uint32_t i = 0; i < m->d; i++) {
        t[i] = MLMODEL_FEATURE_FLOAT;
        if (!(c[i] = strdup(names[i] ? names[i] : "")))
            goto oom;
    }
    s_free_features(m);
    m->feature_names = c;
    m->feature_types = t;
    return 0;
oom:
    if (c)
        for (uint32_t i = 0; i < m->d; i++)
            free(c[i]);
    free(c);
    free(t);
    errno = ENOMEM;
    return -1;
}

int mlmodel_set_impute(mlmodel_t *m, uint32_t policy, const float *values)
{
    if (policy == 0) {
        free(m->impute);
        m->impute = NULL;
        m->impute_policy = 0;
        return 0;
    }
    if (policy != MLMODEL_IMPUTE_MEAN || !values) {
        errno = EINVAL;
        return -1;
    }
    for (uint32_t j = 0; j < m->d; j++)
        if (!isfinite(values[j])) {
            errno = EINVAL;
            return -1;
        }
    float *v = malloc(m->d * sizeof *v);
    if (!v) {
        errno = ENOMEM;
        return -1;
    }
    memcpy(v, values, m->d * sizeof *v);
    free(m->impute);
    m->impute = v;
    m->impute_policy = policy;
    return 0;
}

int mlmodel_map_dataset(const mlmodel_t *m, const dataset_t *ds, mlmodel_extra_t extra,
                        float **X_out, char *err, size_t errlen)
{
    *X_out = NULL;
    long *src = NULL;
    unsigned char *used = NULL;
    float *X = NULL;
    int eno = EINVAL;
    if (!m->feature_names) {
        util_errf(err, errlen,
                  "the model has no signature (model format %u stores no feature "
                  "names), so its columns cannot be matched by name; retrain to get a signature",
                  m->format_version);
        goto fail;
    }
    if (!(src = malloc(m->d * sizeof *src)) || !(used = calloc(ds->cols ? ds->cols : 1, 1))) {
        eno = ENOMEM;
        goto oom;
    }
    for (uint32_t j = 0; j < m->d; j++) {
        if (m->feature_types && m->feature_types[j] != MLMODEL_FEATURE_FLOAT) {
            util_errf(err, errlen,
                      "the model's feature '%s' has type %u, which this drover "
                      "cannot feed",
                      m->feature_names[j], m->feature_types[j]);
            goto fail;
        }
        long c = dataset_column_index(ds, m->feature_names[j]);
        if (c < 0) {
            util_errf(err, errlen,
                      "%s has no column '%s', which the model needs (it reads %u "
                      "feature columns by name)",
                      ds->path, m->feature_names[j], m->d);
            goto fail;
        }
        src[j] = c;
        used[c] = 1;
    }
    if (extra == MLMODEL_EXTRA_REFUSE)
        for (size_t c = 0; c < ds->cols; c++)
            if (!used[c]) {
                util_errf(err, errlen,
                          "%s has column '%s', which the model does not read; drop "
                          "it, or set extra_columns = \"ignore\"",
                          ds->path, ds->col_names[c]);
                goto fail;
            }
    if (ds->rows > 0) {
        if (ds->rows > SIZE_MAX / sizeof(float) / m->d ||
            !(X = malloc(ds->rows * m->d * sizeof *X))) {
            eno = ENOMEM;
            goto oom;
        }
        for (size_t r = 0; r < ds->rows; r++) {
            const float *in = ds->X + r * ds->cols;
            float *o = X + r * m->d;
            for (uint32_t j = 0; j < m->d; j++) {
                float v = in[src[j]];
                if (isnan(v)) {
                    if (m->impute_policy != MLMODEL_IMPUTE_MEAN || !m->impute) {
                        util_errf(err, errlen,
                                  "%s: row %zu, column '%s' is missing; the model "
                                  "was not trained with an imputation policy (train with "
                                  "missing = \"mean\", or clean the data)",
                                  ds->path, r + 2, m->feature_names[j]);
                        goto fail;
                    }
                    v = m->impute[j];
                }
                o[j] = v;
            }
        }
    }
    free(src);
    free(used);
    *X_out = X;
    return 0;
oom:
    util_errf(err, errlen, "out of memory mapping the data's columns onto the model");
fail:
    free(src);
    free(used);
    free(X);
    errno = eno;
    return -1;
}

/* ---- serialisation ----------------------------------------------------- */

typedef bytebuf_t s_buf_t;

static void s_put(s_buf_t *b, const void *src, size_t n)
{
    bytebuf_put(b, src, n);
}

static void s_u32(s_buf_t *b, uint32_t v)
{
    unsigned char x[4] = {v, v >> 8, v >> 16, v >> 24};
    s_put(b, x, 4);
}

static void s_u64(s_buf_t *b, uint64_t v)
{
    s_u32(b, (uint32_t)v);
    s_u32(b, (uint32_t)(v >> 32));
}

static void s_floats(s_buf_t *b, const float *f, size_t n)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    s_put(b, f, n * sizeof(float));
#else
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &f[i], 4);
        s_u32(b, u);
    }
#endif
}

static void s_section(s_buf_t *b, uint32_t tag, const void *data, size_t len)
{
    s_u32(b, tag);
    s_u64(b, len);
    s_put(b, data, len);
}

int mlmodel_write_atomic_(const char *path, const void *buf, size_t len, char *err, size_t errlen)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        util_errf(err, errlen, "path too long: %s", path);
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        util_errf(err, errlen, "cannot create %s: %s", tmp, strerror(e));
        errno = e;
        return -1;
    }
    const unsigned char *p = buf;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            goto fail;
        p += w;
        left -= (size_t)w;
    }
    return util_commit_file(fd, tmp, path, err, errlen);
fail:;
    int e = errno;
    util_errf(err, errlen, "cannot write %s: %s", path, strerror(e));
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    errno = e;
    return -1;
}

int mlmodel_save(const mlmodel_t *m, const char *path, char *err, size_t errlen)
{
    s_buf_t b = {0};
    s_put(&b, S_MAGIC, 8);
    s_u32(&b, MLMODEL_FORMAT_VERSION);
    s_u32(&b, (uint32_t)m->kind);
    s_u32(&b, m->d);
    s_u32(&b, m->k);
    s_u32(&b, m->nhidden);
    for (int i = 0; i < MLMODEL_MAX_HIDDEN; i++)
        s_u32(&b, i < (int)m->nhidden ? m->hidden[i] : 0);
    s_u64(&b, m->nparams);

    s_u32(&b, S_MEAN);
    s_u64(&b, (uint64_t)m->d * 4);
    s_floats(&b, m->mean, m->d);
    s_u32(&b, S_STD);
    s_u64(&b, (uint64_t)m->d * 4);
    s_floats(&b, m->std, m->d);
    s_u32(&b, S_PARAMS);
    s_u64(&b, (uint64_t)m->nparams * 4);
    s_floats(&b, m->params, m->nparams);
    if (m->class_names) {
        uint64_t len = 4;
        for (uint32_t i = 0; i < m->k; i++)
            len += 4 + strlen(m->class_names[i]);
        s_u32(&b, S_CLASSES);
        s_u64(&b, len);
        s_u32(&b, m->k);
        for (uint32_t i = 0; i < m->k; i++) {
            uint32_t l = (uint32_t)strlen(m->class_names[i]);
            s_u32(&b, l);
            s_put(&b, m->class_names[i], l);
        }
    }
    if (m->label_name)
        s_section(&b, S_LABEL, m->label_name, strlen(m->label_name));
    if (m->meta_json)
        s_section(&b, S_META, m->meta_json, strlen(m->meta_json));
    if (m->feature_names) {
        uint64_t len = 4;
        for (uint32_t i = 0; i < m->d; i++)
            len += 1 + 4 + strlen(m->feature_names[i]);
        s_u32(&b, S_FEATURES);
        s_u64(&b, len);
        s_u32(&b, m->d);
        for (uint32_t i = 0; i < m->d; i++) {
            unsigned char t = m->feature_types ? m->feature_types[i] : MLMODEL_FEATURE_FLOAT;
            uint32_t l = (uint32_t)strlen(m->feature_names[i]);
            s_put(&b, &t, 1);
            s_u32(&b, l);
            s_put(&b, m->feature_names[i], l);
        }
    }
    if (m->impute_policy && m->impute) {
        s_u32(&b, S_IMPUTE);
        s_u64(&b, 4 + (uint64_t)m->d * 4);
        s_u32(&b, m->impute_policy);
        s_floats(&b, m->impute, m->d);
    }
    s_u32(&b, S_END);
    s_u64(&b, 0);
    if (!b.oom)
        s_u32(&b, mlmodel_crc32c(0, b.p, b.len));
    if (b.oom) {
        free(b.p);
        util_errf(err, errlen, "out of memory serialising the model");
        errno = ENOMEM;
        return -1;
    }
    int rc = mlmodel_write_atomic_(path, b.p, b.len, err, errlen);
    free(b.p);
    return rc;
}

/* ---- loading ----------------------------------------------------------- */

typedef struct {
    const unsigned char *p;
    size_t left;
} s_cur_t;

static int s_get(s_cur_t *c, void *dst, size_t n)
{
    if (c->left < n)
        return -1;
    memcpy(dst, c->p, n);
    c->p += n;
    c->left -= n;
    return 0;
}

static int s_get_u32(s_cur_t *c, uint32_t *v)
{
    unsigned char x[4];
    if (s_get(c, x, 4))
        return -1;
    *v = (uint32_t)x[0] | (uint32_t)x[1] << 8 | (uint32_t)x[2] << 16 | (uint32_t)x[3] << 24;
    return 0;
}

static int s_get_u64(s_cur_t *c, uint64_t *v)
{
    uint32_t lo, hi;
    if (s_get_u32(c, &lo) || s_get_u32(c, &hi))
        return -1;
    *v = (uint64_t)hi << 32 | lo;
    return 0;
}

static int s_get_floats(s_cur_t *c, float *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        if (s_get_u32(c, &u))
            return -1;
        memcpy(&f[i], &u, 4);
    }
    return 0;
}

static char *s_get_str(s_cur_t *c, size_t n)
{
    if (c->left < n)
        return NULL;
    char *s = malloc(n + 1);
    if (!s)
        return NULL;
    memcpy(s, c->p, n);
    s[n] = '\0';
    c->p += n;
    c->left -= n;
    return s;
}

unsigned char *mlmodel_read_file_(const char *path, size_t *len, char *err, size_t errlen)
{
    unsigned char *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        util_errf(err, errlen, "cannot open %s: %s", path, strerror(e));
        errno = e;
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0)
        goto fail;
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > S_MAX_FILE) {
        close(fd);
        util_errf(err, errlen, "%s is not a regular file of a plausible size", path);
        errno = EINVAL;
        return NULL;
    }
    size_t n = (size_t)st.st_size, got = 0;
    buf = malloc(n ? n : 1);
    if (!buf)
        goto fail;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            goto fail;
        if (r == 0)
            break; /* shrank under us: parse what we have, the CRC decides */
        got += (size_t)r;
    }
    close(fd);
    *len = got;
    return buf;
fail:;
    int e = errno;
    util_errf(err, errlen, "cannot read %s: %s", path, strerror(e));
    free(buf);
    close(fd);
    errno = e;
    return NULL;
}

mlmodel_t *mlmodel_load(const char *path, char *err, size_t errlen)
{
    size_t len = 0;
    mlmodel_t *m = NULL;
    int eno = EINVAL;
    unsigned char *buf = mlmodel_read_file_(path, &len, err, errlen);
    if (!buf)
        return NULL;
    const size_t head = 8 + 4 * 5 + 4 * MLMODEL_MAX_HIDDEN + 8;
    if (len < 8 || memcmp(buf, S_MAGIC, 8) != 0) {
        util_errf(err, errlen, "%s is not a drover model file (bad magic)", path);
        goto fail;
    }
    s_cur_t c = {buf + 8, len - 8};
    uint32_t version = 0;
    if (s_get_u32(&c, &version) == 0 && (version < 1 || version > MLMODEL_FORMAT_VERSION)) {
        util_errf(err, errlen,
                  "%s has model format version %u; this drover reads versions 1 "
                  "to %u",
                  path, version, MLMODEL_FORMAT_VERSION);
        eno = ENOTSUP;
        goto fail;
    }
    if (len < head + 12 + 4) {
        util_errf(err, errlen, "%s is truncated (%zu bytes)", path, len);
        goto fail;
    }
    uint32_t want = (uint32_t)buf[len - 4] | (uint32_t)buf[len - 3] << 8 |
                    (uint32_t)buf[len - 2] << 16 | (uint32_t)buf[len - 1] << 24;
    if (mlmodel_crc32c(0, buf, len - 4) != want) {
        util_errf(err, errlen, "%s is corrupt or truncated (checksum mismatch)", path);
        goto fail;
    }
    c.left = len - 4 - 12; /* the CRC is not section data */
    uint32_t kind, d, k, nh, hidden[MLMODEL_MAX_HIDDEN];
    uint64_t np;
    s_get_u32(&c, &kind);
    s_get_u32(&c, &d);
    s_get_u32(&c, &k);
    s_get_u32(&c, &nh);
    for (int i = 0; i < MLMODEL_MAX_HIDDEN; i++)
        s_get_u32(&c, &hidden[i]);
    if (s_get_u64(&c, &np))
        goto trunc;
    char why[200];
    if (nh > MLMODEL_MAX_HIDDEN) {
        util_errf(err, errlen, "%s: bad header: %u hidden layers", path, nh);
        goto fail;
    }
    m = mlmodel_create((mlmodel_kind_t)kind, d, k, nh, hidden, why, sizeof why);
    if (!m) {
        eno = errno;
        util_errf(err, errlen, "%s: bad header: %s", path, why);
        goto fail;
    }
    m->format_version = version;
    if (np != m->nparams) {
        util_errf(err, errlen, "%s: header says %llu parameters, the shapes need %zu", path,
                  (unsigned long long)np, m->nparams);
        goto fail;
    }
    int seen = 0;
    for (;;) {
        uint32_t tag;
        uint64_t slen;
        if (s_get_u32(&c, &tag) || s_get_u64(&c, &slen))
            goto trunc;
        if (tag == S_END)
            break;
        if (slen > c.left)
            goto trunc;
        s_cur_t sc = {c.p, (size_t)slen};
        c.p += slen;
        c.left -= (size_t)slen;
        switch (tag) {
        case S_MEAN:
        case S_STD:
            if (slen != (uint64_t)d * 4 || s_get_floats(&sc, tag == S_MEAN ? m->mean : m->std, d)) {
                util_errf(err, errlen, "%s: section %u has the wrong length", path, tag);
                goto fail;
            }
            seen |= 1 << tag;
            break;
        case S_PARAMS:
            if (slen != (uint64_t)np * 4 || s_get_floats(&sc, m->params, m->nparams)) {
                util_errf(err, errlen, "%s: parameter section has the wrong length", path);
                goto fail;
            }
            seen |= 1 << tag;
            break;
        case S_CLASSES: {
            uint32_t cnt;
            if (s_get_u32(&sc, &cnt) || cnt != k) {
                util_errf(err, errlen, "%s: class-name section does not list %u classes", path, k);
                goto fail;
            }
            s_free_classes(m);
            if (!(m->class_names = calloc(k, sizeof(char *)))) {
                eno = ENOMEM;
                goto oom;
            }
            for (uint32_t i = 0; i < k; i++) {
                uint32_t l;
                if (s_get_u32(&sc, &l) || l > sc.left || !(m->class_names[i] = s_get_str(&sc, l))) {
                    util_errf(err, errlen, "%s: class-name section is malformed", path);
                    goto fail;
                }
            }
            break;
        }
        case S_LABEL:
        case S_META: {
            char *s = s_get_str(&sc, (size_t)slen);
            if (!s) {
                eno = ENOMEM;
                goto oom;
            }
            char **slot = tag == S_LABEL ? &m->label_name : &m->meta_json;
            free(*slot);
            *slot = s;
            break;
        }
        case S_FEATURES: {
            uint32_t cnt;
            if (version < 2)
                break; /* not defined in format 1: skip like any unknown tag */
            if (s_get_u32(&sc, &cnt) || cnt != d) {
                util_errf(err, errlen, "%s: feature section does not list %u features", path, d);
                goto fail;
            }
            s_free_features(m);
            if (!(m->feature_names = calloc(d, sizeof(char *))) ||
                !(m->feature_types = malloc(d))) {
                eno = ENOMEM;
                goto oom;
            }
            for (uint32_t i = 0; i < d; i++) {
                uint32_t l;
                if (s_get(&sc, &m->feature_types[i], 1) || s_get_u32(&sc, &l) || l > sc.left ||
                    !(m->feature_names[i] = s_get_str(&sc, l)) ||
                    strlen(m->feature_names[i]) != l) {
                    util_errf(err, errlen, "%s: feature section is malformed", path);
                    goto fail;
                }
            }
            break;
        }
        case S_IMPUTE: {
            uint32_t pol;
            if (version < 2)
                break;
            free(m->impute);
            m->impute = NULL;
            if (slen != 4 + (uint64_t)d * 4 || s_get_u32(&sc, &pol) || pol != MLMODEL_IMPUTE_MEAN) {
                util_errf(err, errlen, "%s: imputation section is malformed", path);
                goto fail;
            }
            if (!(m->impute = malloc(d * sizeof(float)))) {
                eno = ENOMEM;
                goto oom;
            }
            if (s_get_floats(&sc, m->impute, d)) {
                util_errf(err, errlen, "%s: imputation section is malformed", path);
                goto fail;
            }
            for (uint32_t j = 0; j < d; j++)
                if (!isfinite(m->impute[j])) {
                    util_errf(err, errlen, "%s: imputation value for input %u is invalid", path, j);
                    goto fail;
                }
            m->impute_policy = pol;
            break;
        }
        default: break; /* unknown section: skip */
        }
    }
    if ((seen & ((1 << S_MEAN) | (1 << S_STD) | (1 << S_PARAMS))) !=
        ((1 << S_MEAN) | (1 << S_STD) | (1 << S_PARAMS))) {
        util_errf(err, errlen, "%s lacks a required section (mean, std or parameters)", path);
        goto fail;
    }
    for (uint32_t j = 0; j < d; j++)
        if (!(m->std[j] > 0.0f) || !isfinite(m->mean[j])) {
            util_errf(err, errlen, "%s: standardisation for input %u is invalid", path, j);
            goto fail;
        }
    free(buf);
    return m;
trunc:
    util_errf(err, errlen, "%s is truncated or malformed (a section runs past the end)", path);
    goto fail;
oom:
    util_errf(err, errlen, "out of memory loading %s", path);
fail:
    free(buf);
    mlmodel_destroy(&m);
    errno = eno;
    return NULL;
}

/* ---- prediction -------------------------------------------------------- */

#define S_CHUNK 1024

int mlmodel_predict(const mlmodel_t *m, blas_ctx_t *ctx, const float *X, size_t n, float *out,
                    char *err, size_t errlen)
{
    blas_ctx_t *own = NULL;
    uint32_t L = mlmodel_nlayers(m), maxw = m->k;
    for (uint32_t i = 0; i < m->nhidden; i++)
        if (m->hidden[i] > maxw)
            maxw = m->hidden[i];
    float *hx = NULL, *dp = NULL, *dx = NULL, *da = NULL, *db = NULL;
    int rc = -1, eno = ENOMEM;
    if (!ctx && !(ctx = own = blas_open(0, 1, err, errlen)))
        return -1;
    /* Buffers for at most the rows asked: blas_alloc zeroes them, and 1 MiB
     * of memset for one row was most of a served prediction's time. */
    size_t chunk = n < S_CHUNK ? (n ? n : 1) : S_CHUNK;
    hx = malloc(chunk * m->d * sizeof(float));
    dp = blas_alloc(ctx, m->nparams);
    dx = blas_alloc(ctx, chunk * m->d);
    da = blas_alloc(ctx, chunk * maxw);
    db = blas_alloc(ctx, chunk * maxw);
    if (!hx || !dp || !dx || !da || !db) {
        util_errf(err, errlen, "out of memory for prediction buffers");
        goto done;
    }
    blas_upload(ctx, dp, m->params, m->nparams);
    for (size_t r0 = 0; r0 < n; r0 += S_CHUNK) {
        size_t rows = n - r0 < S_CHUNK ? n - r0 : S_CHUNK;
        for (size_t i = 0; i < rows; i++) {
            const float *x = X + (r0 + i) * m->d;
            float *h = hx + i * m->d;
            for (uint32_t j = 0; j < m->d; j++)
                h[j] = (x[j] - m->mean[j]) / m->std[j];
        }
        blas_upload(ctx, dx, hx, rows * m->d);
        const float *a = dx;
        float *z = da;
        for (uint32_t l = 0; l < L; l++) {
            uint32_t in = 0, o = 0;
            size_t wo = 0, bo = 0;
            mlmodel_layer(m, l, &in, &o, &wo, &bo);
            blas_sgemm(ctx, 0, 0, (int)rows, (int)o, (int)in, 1.0f, a, (int)in, dp + wo, (int)o,
                       0.0f, z, (int)o);
            blas_bias_act(ctx, z, rows, o, dp + bo, l + 1 < L);
            a = z;
            z = z == da ? db : da;
        }
        float *o = out + r0 * m->k;
        blas_download(ctx, o, a, rows * m->k);
        if (m->kind != MLMODEL_LINEAR)
            for (size_t i = 0; i < rows; i++) {
                float *p = o + i * m->k, mx = p[0], s = 0.0f;
                for (uint32_t j = 1; j < m->k; j++)
                    mx = p[j] > mx ? p[j] : mx;
                for (uint32_t j = 0; j < m->k; j++)
                    s += (p[j] = expf(p[j] - mx));
                for (uint32_t j = 0; j < m->k; j++)
                    p[j] /= s;
            }
    }
    if (blas_status(ctx, err, errlen) != 0) {
        eno = EIO;
        goto done;
    }
    rc = 0;
done:
    blas_free(ctx, &db);
    blas_free(ctx, &da);
    blas_free(ctx, &dx);
    blas_free(ctx, &dp);
    free(hx);
    blas_close(&own);
    if (rc)
        errno = eno;
    return rc;
}
