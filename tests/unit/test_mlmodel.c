/* Unit tests for mlmodel: save/load round trip, every corruption class
 * (bit flip, truncation, foreign file, other version) giving a clean
 * error, and prediction on hand-computed models. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "mlmodel.h"

static char s_path[64];

static int s_setup(void **state)
{
    (void)state;
    snprintf(s_path, sizeof s_path, "/tmp/drover-test-mlmodel-%d.bin", (int)getpid());
    return 0;
}

static int s_teardown(void **state)
{
    (void)state;
    unlink(s_path);
    return 0;
}

static mlmodel_t *s_mlp(void)
{
    uint32_t hidden[2] = {4, 3};
    char err[256];
    mlmodel_t *m = mlmodel_create(MLMODEL_MLP, 5, 3, 2, hidden, err, sizeof err);
    assert_non_null(m);
    for (size_t i = 0; i < m->nparams; i++)
        m->params[i] = (float)sin((double)i);
    for (uint32_t j = 0; j < 5; j++) {
        m->mean[j] = (float)j;
        m->std[j] = 1.0f + j;
    }
    const char *names[3] = {"glass", "dent", "total loss"};
    assert_int_equal(mlmodel_set_class_names(m, names), 0);
    assert_int_equal(mlmodel_set_label_name(m, "damage"), 0);
    assert_int_equal(mlmodel_set_meta(m, "{\"seed\":1}"), 0);
    const char *feats[5] = {"age", "speed", "weight", "hour", "km"};
    assert_int_equal(mlmodel_set_feature_names(m, feats), 0);
    const float fill[5] = {40, 50, 1200, 12, 30000};
    assert_int_equal(mlmodel_set_impute(m, MLMODEL_IMPUTE_MEAN, fill), 0);
    return m;
}

static void test_round_trip(void **state)
{
    (void)state;
    mlmodel_t *m = s_mlp();
    char err[256];
    assert_int_equal(mlmodel_save(m, s_path, err, sizeof err), 0);
    mlmodel_t *l = mlmodel_load(s_path, err, sizeof err);
    assert_non_null(l);
    assert_int_equal(l->kind, MLMODEL_MLP);
    assert_int_equal(l->d, 5);
    assert_int_equal(l->k, 3);
    assert_int_equal(l->nhidden, 2);
    assert_int_equal(l->hidden[1], 3);
    assert_int_equal(l->nparams, m->nparams);
    assert_memory_equal(l->params, m->params, m->nparams * sizeof(float));
    assert_memory_equal(l->mean, m->mean, 5 * sizeof(float));
    assert_memory_equal(l->std, m->std, 5 * sizeof(float));
    assert_string_equal(l->class_names[2], "total loss");
    assert_string_equal(l->label_name, "damage");
    assert_string_equal(l->meta_json, "{\"seed\":1}");
    assert_int_equal(l->format_version, 2);
    assert_non_null(l->feature_names);
    assert_string_equal(l->feature_names[0], "age");
    assert_string_equal(l->feature_names[4], "km");
    assert_int_equal(l->feature_types[3], MLMODEL_FEATURE_FLOAT);
    assert_int_equal(l->impute_policy, MLMODEL_IMPUTE_MEAN);
    assert_memory_equal(l->impute, m->impute, 5 * sizeof(float));

    float X[2 * 5] = {1, 2, 3, 4, 5, -1, 0, 2, 9, 3}, p1[6], p2[6];
    assert_int_equal(mlmodel_predict(m, NULL, X, 2, p1, err, sizeof err), 0);
    assert_int_equal(mlmodel_predict(l, NULL, X, 2, p2, err, sizeof err), 0);
    assert_memory_equal(p1, p2, sizeof p1);
    for (int i = 0; i < 2; i++)
        assert_float_equal(p1[i * 3] + p1[i * 3 + 1] + p1[i * 3 + 2], 1.0, 1e-5);
    mlmodel_destroy(&l);
    mlmodel_destroy(&m);
    assert_null(m);
}

static long s_size(void)
{
    struct stat st;
    assert_int_equal(stat(s_path, &st), 0);
    return (long)st.st_size;
}

static void s_poke(long off, unsigned char v)
{
    FILE *f = fopen(s_path, "r+b");
    assert_non_null(f);
    fseek(f, off, SEEK_SET);
    fputc(v, f);
    fclose(f);
}

static void test_corrupt(void **state)
{
    (void)state;
    mlmodel_t *m = s_mlp();
    char err[256];
    assert_int_equal(mlmodel_save(m, s_path, err, sizeof err), 0);
    long size = s_size();

    /* Every single-byte flip is caught (CRC32C detects all of them). */
    for (long off = 0; off < size; off += 7) {
        assert_int_equal(mlmodel_save(m, s_path, err, sizeof err), 0);
        FILE *f = fopen(s_path, "r+b");
        fseek(f, off, SEEK_SET);
        int c = fgetc(f);
        fseek(f, off, SEEK_SET);
        fputc(c ^ 0x10, f);
        fclose(f);
        assert_null(mlmodel_load(s_path, err, sizeof err));
        assert_true(errno == EINVAL || errno == ENOTSUP);
    }

    /* Truncation at every length. */
    for (long len = 0; len < size; len += 5) {
        assert_int_equal(mlmodel_save(m, s_path, err, sizeof err), 0);
        assert_int_equal(truncate(s_path, len), 0);
        assert_null(mlmodel_load(s_path, err, sizeof err));
        assert_int_equal(errno, EINVAL);
    }
    assert_non_null(strstr(err, "truncated"));

    assert_int_equal(mlmodel_save(m, s_path, err, sizeof err), 0);
    s_poke(8, 3); /* version 3 */
    assert_null(mlmodel_load(s_path, err, sizeof err));
    assert_int_equal(errno, ENOTSUP);
    assert_non_null(strstr(err, "version 3"));

    s_poke(0, 'X');
    assert_null(mlmodel_load(s_path, err, sizeof err));
    assert_int_equal(errno, EINVAL);
    assert_non_null(strstr(err, "magic"));

    assert_int_equal(mlmodel_save(m, s_path, err, sizeof err), 0);
    s_poke(size - 20, 0xff);
    assert_null(mlmodel_load(s_path, err, sizeof err));
    assert_non_null(strstr(err, "checksum"));

    unlink(s_path);
    assert_null(mlmodel_load(s_path, err, sizeof err));
    assert_int_equal(errno, ENOENT);
    mlmodel_destroy(&m);
}

static void test_predict_by_hand(void **state)
{
    (void)state;
    char err[256];
    /* Linear: y = 2 * (x0 - 1) / 2 - 1 * x1 + 3. */
    mlmodel_t *m = mlmodel_create(MLMODEL_LINEAR, 2, 1, 0, NULL, err, sizeof err);
    m->mean[0] = 1;
    m->std[0] = 2;
    m->params[0] = 2;
    m->params[1] = -1;
    m->params[2] = 3;
    float X[4] = {5, 1, 1, 0}, y[2];
    assert_int_equal(mlmodel_predict(m, NULL, X, 2, y, err, sizeof err), 0);
    assert_float_equal(y[0], 4 - 1 + 3, 1e-6);
    assert_float_equal(y[1], 3, 1e-6);
    mlmodel_destroy(&m);

    /* Softmax with logits (x0, 0): p1 = 1 / (1 + e^x0). */
    m = mlmodel_create(MLMODEL_SOFTMAX, 1, 2, 0, NULL, err, sizeof err);
    m->params[0] = 1; /* W[0][0] */
    float x[3] = {0, 1, -2}, p[6];
    assert_int_equal(mlmodel_predict(m, NULL, x, 3, p, err, sizeof err), 0);
    assert_float_equal(p[0], 0.5, 1e-6);
    assert_float_equal(p[2], exp(1) / (1 + exp(1)), 1e-6);
    assert_float_equal(p[5], 1 / (1 + exp(-2)), 1e-6);
    mlmodel_destroy(&m);

    /* Chunking: more rows than one chunk give the same answer per row. */
    m = s_mlp();
    size_t n = 2500;
    float *Xb = malloc(n * 5 * sizeof(float)), *Pb = malloc(n * 3 * sizeof(float)), one[3];
    for (size_t i = 0; i < n * 5; i++)
        Xb[i] = (float)cos((double)i);
    assert_int_equal(mlmodel_predict(m, NULL, Xb, n, Pb, err, sizeof err), 0);
    assert_int_equal(mlmodel_predict(m, NULL, Xb + 2400 * 5, 1, one, err, sizeof err), 0);
    assert_memory_equal(one, Pb + 2400 * 3, sizeof one);
    free(Xb);
    free(Pb);
    mlmodel_destroy(&m);
}

static void test_create_rejects(void **state)
{
    (void)state;
    char err[256];
    uint32_t h[1] = {4};
    assert_null(mlmodel_create(MLMODEL_LINEAR, 3, 2, 0, NULL, err, sizeof err));
    assert_int_equal(errno, EINVAL);
    assert_null(mlmodel_create(MLMODEL_SOFTMAX, 3, 1, 0, NULL, err, sizeof err));
    assert_null(mlmodel_create(MLMODEL_SOFTMAX, 3, 2, 1, h, err, sizeof err));
    assert_null(mlmodel_create(MLMODEL_MLP, 3, 2, 0, h, err, sizeof err));
    assert_null(mlmodel_create(MLMODEL_MLP, 0, 2, 1, h, err, sizeof err));
    mlmodel_kind_t k;
    assert_int_equal(mlmodel_kind_parse("mlp", &k), 0);
    assert_int_equal(k, MLMODEL_MLP);
    assert_int_equal(mlmodel_kind_parse("svm", &k), -1);
}

/* Rewrites the file's version field to v and fixes the CRC, so the file
 * is a well-formed file of that version. */
static void s_set_version(uint32_t v)
{
    long size = s_size();
    unsigned char *b = malloc((size_t)size);
    FILE *f = fopen(s_path, "r+b");
    assert_non_null(f);
    assert_int_equal(fread(b, 1, (size_t)size, f), (size_t)size);
    b[8] = (unsigned char)v;
    b[9] = b[10] = b[11] = 0;
    uint32_t crc = mlmodel_crc32c(0, b, (size_t)size - 4);
    for (int i = 0; i < 4; i++)
        b[size - 4 + i] = (unsigned char)(crc >> (8 * i));
    fseek(f, 0, SEEK_SET);
    assert_int_equal(fwrite(b, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    free(b);
}

static dataset_t *s_ds(size_t rows, size_t cols, const char *const *names, const float *X)
{
    char err[256];
    dataset_t *ds =
        dataset_new(rows, cols, names, DATASET_LABEL_NONE, NULL, NULL, 0, err, sizeof err);
    assert_non_null(ds);
    memcpy(ds->X, X, rows * cols * sizeof(float));
    return ds;
}

/* Issue 11, observation 1: columns are matched by name, never position. */
static void test_map_by_name(void **state)
{
    (void)state;
    char err[512];
    mlmodel_t *m = s_mlp();
    const char *fwd[5] = {"age", "speed", "weight", "hour", "km"};
    const char *rev[5] = {"km", "hour", "weight", "speed", "age"};
    const float Xf[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    const float Xr[10] = {5, 4, 3, 2, 1, 10, 9, 8, 7, 6};
    dataset_t *a = s_ds(2, 5, fwd, Xf), *b = s_ds(2, 5, rev, Xr);
    float *xa, *xb, pa[6], pb[6];
    assert_int_equal(mlmodel_map_dataset(m, a, MLMODEL_EXTRA_REFUSE, &xa, err, sizeof err), 0);
    assert_int_equal(mlmodel_map_dataset(m, b, MLMODEL_EXTRA_REFUSE, &xb, err, sizeof err), 0);
    assert_memory_equal(xa, Xf, sizeof Xf);
    assert_memory_equal(xa, xb, sizeof Xf);
    assert_int_equal(mlmodel_predict(m, NULL, xa, 2, pa, err, sizeof err), 0);
    assert_int_equal(mlmodel_predict(m, NULL, xb, 2, pb, err, sizeof err), 0);
    assert_memory_equal(pa, pb, sizeof pa);
    free(xa);
    free(xb);
    dataset_destroy(&a);
    dataset_destroy(&b);

    /* A renamed column: the model's is missing (named), the new one extra. */
    const char *ren[5] = {"age", "speed", "mass", "hour", "km"};
    a = s_ds(2, 5, ren, Xf);
    assert_int_equal(mlmodel_map_dataset(m, a, MLMODEL_EXTRA_IGNORE, &xa, err, sizeof err), -1);
    assert_int_equal(errno, EINVAL);
    assert_null(xa);
    assert_non_null(strstr(err, "no column 'weight'"));
    dataset_destroy(&a);

    /* An extra column: refused unless ignored. */
    const char *ext[6] = {"age", "speed", "weight", "hour", "km", "colour"};
    const float Xe[6] = {1, 2, 3, 4, 5, 99};
    a = s_ds(1, 6, ext, Xe);
    assert_int_equal(mlmodel_map_dataset(m, a, MLMODEL_EXTRA_REFUSE, &xa, err, sizeof err), -1);
    assert_non_null(strstr(err, "column 'colour'"));
    assert_non_null(strstr(err, "extra_columns"));
    assert_int_equal(mlmodel_map_dataset(m, a, MLMODEL_EXTRA_IGNORE, &xa, err, sizeof err), 0);
    assert_memory_equal(xa, Xf, 5 * sizeof(float));
    free(xa);
    dataset_destroy(&a);
    mlmodel_destroy(&m);
}

/* Observation 2: a missing value is refused (row and column named) unless
 * the model carries an imputation policy. */
static void test_map_missing(void **state)
{
    (void)state;
    char err[512];
    mlmodel_t *m = s_mlp();
    const char *fwd[5] = {"age", "speed", "weight", "hour", "km"};
    const float X[10] = {1, 2, 3, 4, 5, 6, 7, NAN, 9, 10};
    dataset_t *a = s_ds(2, 5, fwd, X);
    float *x;
    assert_int_equal(mlmodel_map_dataset(m, a, MLMODEL_EXTRA_REFUSE, &x, err, sizeof err), 0);
    assert_float_equal(x[7], 1200, 0);
    free(x);
    assert_int_equal(mlmodel_set_impute(m, 0, NULL), 0);
    assert_int_equal(mlmodel_map_dataset(m, a, MLMODEL_EXTRA_REFUSE, &x, err, sizeof err), -1);
    /* data row 2 is file row 3 (the header is row 1), as the loader counts */
    assert_non_null(strstr(err, "row 3, column 'weight' is missing"));
    float bad[5] = {1, NAN, 3, 4, 5};
    assert_int_equal(mlmodel_set_impute(m, MLMODEL_IMPUTE_MEAN, bad), -1);
    assert_int_equal(mlmodel_set_impute(m, 7, X), -1);
    dataset_destroy(&a);
    mlmodel_destroy(&m);
}

/* Format 1 files (no signature) still load; mapping by name refuses them. */
static void test_format1(void **state)
{
    (void)state;
    char err[512];
    mlmodel_t *m = s_mlp();
    mlmodel_set_impute(m, 0, NULL);
    for (uint32_t j = 0; j < m->d; j++)
        free(m->feature_names[j]);
    free(m->feature_names);
    free(m->feature_types);
    m->feature_names = NULL;
    m->feature_types = NULL;
    assert_int_equal(mlmodel_save(m, s_path, err, sizeof err), 0);
    s_set_version(1);
    mlmodel_t *l = mlmodel_load(s_path, err, sizeof err);
    assert_non_null(l);
    assert_int_equal(l->format_version, 1);
    assert_null(l->feature_names);
    assert_memory_equal(l->params, m->params, m->nparams * sizeof(float));
    const char *fwd[5] = {"age", "speed", "weight", "hour", "km"};
    const float X[5] = {1, 2, 3, 4, 5};
    dataset_t *a = s_ds(1, 5, fwd, X);
    float *x;
    assert_int_equal(mlmodel_map_dataset(l, a, MLMODEL_EXTRA_REFUSE, &x, err, sizeof err), -1);
    assert_non_null(strstr(err, "retrain to get a signature"));
    dataset_destroy(&a);
    mlmodel_destroy(&l);
    mlmodel_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),      cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_predict_by_hand), cmocka_unit_test(test_create_rejects),
        cmocka_unit_test(test_map_by_name),     cmocka_unit_test(test_map_missing),
        cmocka_unit_test(test_format1),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
