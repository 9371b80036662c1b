/* fuzz_serve_predict — libFuzzer harness for drover-serve's predict body
 * fast path (serve/rowparse.c), differential: whatever it accepts, the full
 * JSON parser (jansson, what drover-serve falls back to) must accept too,
 * with the same rows and the same float32 values, bit for bit (a -0 read
 * as 0 aside). The first byte picks the model's imputation policy; the rest
 * is the body. A mismatch or a crash is a finding. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mlmodel.h"
#include "rowparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static char *names[] = {"a", "bb", "c"};
    mlmodel_t m;
    memset(&m, 0, sizeof m);
    m.d = 3;
    m.feature_names = names;
    m.impute_policy = data[0] & 1 ? MLMODEL_IMPUTE_MEAN : 0;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    float *X = NULL;
    size_t n = 0;
    int many = 0;
    if (rowparse(&m, body, len, 8, &X, &n, &many) < 0)
        return 0;
    json_error_t je;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!doc || !json_is_object(doc) || json_object_size(doc) != 1)
        abort();
    json_t *rows = json_object_get(doc, many ? "rows" : "row");
    if (!rows || (many && (!json_is_array(rows) || json_array_size(rows) != n)) ||
        (!many && n != 1))
        abort();
    for (size_t i = 0; i < n; i++) {
        json_t *row = many ? json_array_get(rows, i) : rows;
        if (!json_is_object(row) || json_object_size(row) != m.d)
            abort();
        for (uint32_t j = 0; j < m.d; j++) {
            json_t *v = json_object_get(row, names[j]);
            float x = X[i * m.d + j];
            if (json_is_null(v)) {
                if (!isnan(x) || !m.impute_policy)
                    abort();
                continue;
            }
            if (!json_is_number(v))
                abort();
            float want = (float)json_number_value(v);
            if (memcmp(&want, &x, sizeof x) && !(want == 0 && x == 0))
                abort();
        }
    }
    json_decref(doc);
    free(X);
    return 0;
}
