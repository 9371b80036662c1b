/* fuzz_dataset — libFuzzer harness for dataset_load, built twice:
 * fuzz_dataset_csv (FUZZ_DATASET_BIN=0: the CSV reader) and
 * fuzz_dataset_bin (FUZZ_DATASET_BIN=1: the "DRVDSET1" binary reader; an
 * input that does not start with the magic gets it prepended, so every
 * input reaches the header checks).
 *
 * The first input byte picks the load options (label name, label kind,
 * fixed class list, hashing), the rest is the file, written to a
 * per-process tmpfs file. A loaded dataset must satisfy the invariants
 * dataset.h states; every array is read end to end (so ASan sees any
 * short mapping or allocation), and the statistics the validate kind runs
 * (inspect, duplicate ratio, missing ratio, PSI against itself) must not
 * crash on it.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const s_classes[] = {"0", "1", "a", "b"};

static int s_names_utf8(const dataset_t *ds)
{
    for (size_t c = 0; c < ds->cols; c++)
        if (!fuzz_utf8_ok(ds->col_names[c]))
            return 0;
    for (size_t k = 0; ds->label_kind == DATASET_LABEL_CLASS && k < ds->nclasses; k++)
        if (!fuzz_utf8_ok(ds->classes[k]))
            return 0;
    return fuzz_utf8_ok(ds->label_name) && fuzz_utf8_ok(ds->path);
}

static void s_check(const dataset_t *ds)
{
    /* A loaded dataset's names are valid UTF-8 (dataset_load refuses others). */
    if (!s_names_utf8(ds))
        abort();
    if (!ds->col_names || !ds->label_name || !ds->path)
        abort();
    for (size_t c = 0; c < ds->cols; c++)
        if (!ds->col_names[c])
            abort();
    if ((ds->rows * ds->cols > 0) != (ds->X != NULL))
        abort();
    volatile float sink = 0;
    for (size_t i = 0; i < ds->rows * ds->cols; i++)
        sink += ds->X[i];
    switch (ds->label_kind) {
    case DATASET_LABEL_NONE:
        if (ds->y_class || ds->y_value)
            abort();
        break;
    case DATASET_LABEL_CLASS:
        if ((!ds->y_class && ds->rows > 0) || ds->y_value || (ds->nclasses && !ds->classes))
            abort();
        for (size_t i = 0; i < ds->rows; i++)
            if (ds->y_class[i] < 0 || (size_t)ds->y_class[i] >= ds->nclasses)
                abort();
        for (size_t k = 0; k < ds->nclasses; k++)
            if (!ds->classes[k])
                abort();
        break;
    case DATASET_LABEL_VALUE:
        if ((!ds->y_value && ds->rows > 0) || ds->y_class)
            abort();
        for (size_t i = 0; i < ds->rows; i++)
            sink += ds->y_value[i];
        break;
    default: abort();
    }
    (void)sink;
    json_t *j = dataset_inspect(ds);
    /* dataset_load refuses names that are not UTF-8 and inspect shows
     * non-finite figures as null, so a NULL here is a bug. */
    if (!j)
        abort();
    json_decref(j);
    if (dataset_duplicate_ratio(ds) < 0)
        abort();
    if (ds->cols > 0) {
        if (dataset_missing_ratio(ds, 0) < 0)
            abort();
        (void)dataset_psi(ds, ds, 0, 10);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    data++;
    size--;
    const char *path = fuzz_tmp_path(FUZZ_DATASET_BIN ? ".bin" : ".csv");
#if FUZZ_DATASET_BIN
    if (size < 8 || memcmp(data, "DRVDSET1", 8) != 0) {
        uint8_t *buf = malloc(size + 8);
        if (!buf)
            abort();
        memcpy(buf, "DRVDSET1", 8);
        memcpy(buf + 8, data, size);
        fuzz_write_file(path, buf, size + 8);
        free(buf);
    } else {
        fuzz_write_file(path, data, size);
    }
#else
    /* Leading "DRVDSET1" would switch to the binary reader: not this harness. */
    if (size >= 8 && memcmp(data, "DRVDSET1", 8) == 0)
        return 0;
    fuzz_write_file(path, data, size);
#endif
    dataset_opts_t opts = {0};
    static const char *const labels[] = {NULL, "label", "y", "label"};
    static const dataset_label_kind_t kinds[] = {DATASET_LABEL_AUTO, DATASET_LABEL_CLASS,
                                                 DATASET_LABEL_VALUE, DATASET_LABEL_NONE};
    opts.label = labels[sel & 3];
    opts.label_kind = kinds[(sel >> 2) & 3];
    if ((sel & 3) == 3) {
        opts.classes = s_classes;
        opts.nclasses = sizeof s_classes / sizeof s_classes[0];
    }
    opts.compute_hash = (sel >> 4) & 1;
    char err[1024];
    err[0] = '\0';
    dataset_t *ds = dataset_load(path, &opts, err, sizeof err);
    if (!ds) {
        if (!err[0])
            abort();
        return 0;
    }
    s_check(ds);
    if (opts.compute_hash && strlen(ds->sha256) != 64)
        abort();
    dataset_destroy(&ds);
    if (ds)
        abort();
    return 0;
}
