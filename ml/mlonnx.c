/* mlonnx — see mlonnx.h. Field numbers are those of onnx/onnx.proto
 * (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto,
 * ValueInfoProto, TypeProto, TensorShapeProto, OperatorSetIdProto,
 * StringStringEntryProto). Each message is built in its own buffer and
 * embedded length-delimited in its parent.
 */
#include "mlonnx.h"
#include "util.h"

#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytebuf.h"

/* The protobuf written by hand (ONNX's ModelProto), into a bytebuf. */
typedef bytebuf_t pb_t;

static void pb_raw(pb_t *b, const void *src, size_t n)
{
    bytebuf_put(b, src, n);
}

static void pb_varint(pb_t *b, uint64_t v)
{
    unsigned char x[10];
    size_t n = 0;
    do {
        x[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v)
            x[n] |= 0x80;
        n++;
    } while (v);
    pb_raw(b, x, n);
}

static void pb_tag(pb_t *b, uint32_t field, unsigned wt)
{
    pb_varint(b, (uint64_t)field << 3 | wt);
}

static void pb_int(pb_t *b, uint32_t field, int64_t v)
{
    pb_tag(b, field, 0);
    pb_varint(b, (uint64_t)v);
}

static void pb_bytes(pb_t *b, uint32_t field, const void *data, size_t n)
{
    pb_tag(b, field, 2);
    pb_varint(b, n);
    pb_raw(b, data, n);
}

static void pb_str(pb_t *b, uint32_t field, const char *s)
{
    pb_bytes(b, field, s, strlen(s));
}

/* Embeds sub as field and frees it (its OOM spreads to b). */
static void pb_msg(pb_t *b, uint32_t field, pb_t *sub)
{
    if (sub->oom)
        b->oom = 1;
    else
        pb_bytes(b, field, sub->p ? (const void *)sub->p : "", sub->len);
    free(sub->p);
    memset(sub, 0, sizeof *sub);
}

/* TensorProto: float32, dims, name, raw_data (little-endian). */
static void s_tensor(pb_t *graph, const char *name, const float *v, const int64_t *dims, int ndims)
{
    pb_t t = {0};
    size_t n = 1;
    for (int i = 0; i < ndims; i++) {
        pb_int(&t, 1, dims[i]);
        n *= (size_t)dims[i];
    }
    pb_int(&t, 2, 1); /* FLOAT */
    pb_str(&t, 8, name);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    pb_bytes(&t, 9, v, n * sizeof(float));
#else
    pb_tag(&t, 9, 2);
    pb_varint(&t, n * 4);
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        unsigned char x[4] = {u, u >> 8, u >> 16, u >> 24};
        pb_raw(&t, x, 4);
    }
#endif
    pb_msg(graph, 5, &t);
}

/* An INT attribute. */
static void s_attr_int(pb_t *node, const char *name, int64_t v)
{
    pb_t a = {0};
    pb_str(&a, 1, name);
    pb_int(&a, 3, v);
    pb_int(&a, 20, 2); /* AttributeType INT */
    pb_msg(node, 5, &a);
}

static void s_node(pb_t *graph, const char *op, const char *name, const char *in0, const char *in1,
                   const char *in2, const char *out, int64_t axis, int keepdims0)
{
    pb_t n = {0};
    const char *ins[3] = {in0, in1, in2};
    for (int i = 0; i < 3; i++)
        if (ins[i])
            pb_str(&n, 1, ins[i]);
    pb_str(&n, 2, out);
    pb_str(&n, 3, name);
    pb_str(&n, 4, op);
    if (axis >= 0)
        s_attr_int(&n, "axis", axis);
    if (keepdims0)
        s_attr_int(&n, "keepdims", 0);
    pb_msg(graph, 1, &n);
}

/* ValueInfoProto: name, tensor type elem (1 float, 7 int64), shape [N, w]
 * (w = 0: [N]). */
static void s_value_info(pb_t *graph, uint32_t field, const char *name, int elem, int64_t w)
{
    pb_t vi = {0}, type = {0}, tt = {0}, shape = {0}, dim = {0};
    pb_str(&dim, 2, "N");
    pb_msg(&shape, 1, &dim);
    if (w > 0) {
        pb_int(&dim, 1, w);
        pb_msg(&shape, 1, &dim);
    }
    pb_int(&tt, 1, elem);
    pb_msg(&tt, 2, &shape);
    pb_msg(&type, 1, &tt);
    pb_str(&vi, 1, name);
    pb_msg(&vi, 2, &type);
    pb_msg(graph, field, &vi);
}

static void s_meta(pb_t *model, const char *key, const char *value)
{
    pb_t e = {0};
    pb_str(&e, 1, key);
    pb_str(&e, 2, value);
    pb_msg(model, 14, &e);
}

static char *s_names_json(char *const *names, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_string(names[i]));
    char *s = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    return s;
}

int mlonnx_encode(const mlmodel_t *m, unsigned char **out, size_t *len, char *err, size_t errlen)
{
    *out = NULL;
    *len = 0;
    pb_t model = {0}, graph = {0}, opset = {0};
    char cur[64], next[64], name[64];
    int64_t dims[2];
    const int cls = m->kind != MLMODEL_LINEAR;

    /* inputs and initialisers */
    s_value_info(&graph, 11, "input", 1, m->d);
    dims[0] = m->d;
    snprintf(cur, sizeof cur, "input");
    if (m->impute_policy == MLMODEL_IMPUTE_MEAN && m->impute) {
        s_tensor(&graph, "impute", m->impute, dims, 1);
        s_node(&graph, "IsNaN", "isnan", "input", NULL, NULL, "missing", -1, 0);
        s_node(&graph, "Where", "impute_missing", "missing", "impute", "input", "imputed", -1, 0);
        snprintf(cur, sizeof cur, "imputed");
    }
    s_tensor(&graph, "mean", m->mean, dims, 1);
    s_tensor(&graph, "std", m->std, dims, 1);
    s_node(&graph, "Sub", "centre", cur, "mean", NULL, "centred", -1, 0);
    s_node(&graph, "Div", "scale", "centred", "std", NULL, "z0", -1, 0);
    snprintf(cur, sizeof cur, "z0");
    uint32_t L = mlmodel_nlayers(m);
    for (uint32_t l = 0; l < L; l++) {
        uint32_t in, o;
        size_t w_off, b_off;
        mlmodel_layer(m, l, &in, &o, &w_off, &b_off);
        char wn[32], bn[32];
        snprintf(wn, sizeof wn, "W%u", l);
        snprintf(bn, sizeof bn, "b%u", l);
        dims[0] = in;
        dims[1] = o;
        s_tensor(&graph, wn, m->params + w_off, dims, 2);
        dims[0] = o;
        s_tensor(&graph, bn, m->params + b_off, dims, 1);
        snprintf(next, sizeof next, "matmul%u", l);
        snprintf(name, sizeof name, "layer%u_matmul", l);
        s_node(&graph, "MatMul", name, cur, wn, NULL, next, -1, 0);
        int last = l + 1 == L;
        snprintf(name, sizeof name, "layer%u_bias", l);
        const char *after = last ? (cls ? "logits" : "value") : NULL;
        char hb[64];
        snprintf(hb, sizeof hb, "pre%u", l);
        s_node(&graph, "Add", name, next, bn, NULL, after ? after : hb, -1, 0);
        if (!last) {
            snprintf(name, sizeof name, "layer%u_relu", l);
            snprintf(cur, sizeof cur, "h%u", l);
            s_node(&graph, "Relu", name, hb, NULL, NULL, cur, -1, 0);
        }
    }
    if (cls) {
        s_node(&graph, "Softmax", "softmax", "logits", NULL, NULL, "probabilities", 1, 0);
        s_node(&graph, "ArgMax", "argmax", "probabilities", NULL, NULL, "label", 1, 1);
        s_value_info(&graph, 12, "probabilities", 1, m->k);
        s_value_info(&graph, 12, "label", 7, 0);
    } else {
        s_value_info(&graph, 12, "value", 1, 1);
    }
    pb_str(&graph, 2, "drover");

    pb_int(&model, 1, 7); /* IR version 7 (ONNX 1.8+), opset 13 */
    pb_str(&model, 2, "drover");
    pb_str(&model, 3, "1");
    pb_msg(&model, 7, &graph);
    pb_str(&opset, 1, "");
    pb_int(&opset, 2, 13);
    pb_msg(&model, 8, &opset);
    s_meta(&model, "drover.kind", mlmodel_kind_name(m->kind));
    if (m->label_name)
        s_meta(&model, "drover.label", m->label_name);
    char *fj = m->feature_names ? s_names_json(m->feature_names, m->d) : NULL;
    char *cj = cls && m->class_names ? s_names_json(m->class_names, m->k) : NULL;
    if (fj)
        s_meta(&model, "drover.features", fj);
    if (cj)
        s_meta(&model, "drover.classes", cj);
    int oom = model.oom || (m->feature_names && !fj) || (cls && m->class_names && !cj);
    free(fj);
    free(cj);
    if (oom) {
        free(model.p);
        util_errf(err, errlen, "out of memory encoding the ONNX graph");
        errno = ENOMEM;
        return -1;
    }
    *out = model.p;
    *len = model.len;
    return 0;
}

int mlonnx_save(const mlmodel_t *m, const char *path, char *err, size_t errlen)
{
    unsigned char *buf;
    size_t len;
    if (mlonnx_encode(m, &buf, &len, err, errlen) < 0)
        return -1;
    int rc = mlmodel_write_atomic_(path, buf, len, err, errlen);
    free(buf);
    return rc;
}
