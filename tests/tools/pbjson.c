/* pbjson — see pbjson.h. Messages are built field by field in memory laid
 * out the way protobuf-c's generated structs are (the descriptors give every
 * offset), with malloc, exactly as protobuf-c's unpacker would build them:
 * so protobuf-c packs them and protobuf_c_message_free_unpacked frees them. */
#include "pbjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int s_fill(const ProtobufCMessageDescriptor *d, void *msg, const json_t *j, char *err,
                  size_t errlen);

static size_t s_elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: return 8;
    case PROTOBUF_C_TYPE_DOUBLE: return sizeof(double);
    case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(void *);
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    default: return 4;
    }
}

/* Stores one value of field fd at p. */
static int s_set_one(const ProtobufCFieldDescriptor *fd, void *p, const json_t *v, char *err,
                     size_t errlen)
{
    switch (fd->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        if (!json_is_integer(v))
            goto type;
        long long x = json_integer_value(v);
        if (s_elem_size(fd->type) == 8)
            *(int64_t *)p = (int64_t)x;
        else
            *(int32_t *)p = (int32_t)x;
        return 0;
    }
    case PROTOBUF_C_TYPE_FLOAT:
        if (!json_is_number(v))
            goto type;
        *(float *)p = (float)json_number_value(v);
        return 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        if (!json_is_number(v))
            goto type;
        *(double *)p = json_number_value(v);
        return 0;
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean(v) && !json_is_integer(v))
            goto type;
        *(protobuf_c_boolean *)p =
            json_is_integer(v) ? json_integer_value(v) != 0 : json_is_true(v);
        return 0;
    case PROTOBUF_C_TYPE_ENUM: {
        if (json_is_integer(v)) {
            *(int *)p = (int)json_integer_value(v);
            return 0;
        }
        const ProtobufCEnumValue *ev =
            json_is_string(v)
                ? protobuf_c_enum_descriptor_get_value_by_name(fd->descriptor, json_string_value(v))
                : NULL;
        if (!ev) {
            snprintf(err, errlen, "field %s: no such enum value", fd->name);
            return -1;
        }
        *(int *)p = ev->value;
        return 0;
    }
    case PROTOBUF_C_TYPE_STRING:
        if (!json_is_string(v))
            goto type;
        if (!(*(char **)p = strdup(json_string_value(v))))
            goto oom;
        return 0;
    case PROTOBUF_C_TYPE_BYTES: {
        if (!json_is_string(v))
            goto type;
        ProtobufCBinaryData *b = p;
        b->len = json_string_length(v);
        if (!(b->data = malloc(b->len ? b->len : 1)))
            goto oom;
        memcpy(b->data, json_string_value(v), b->len);
        return 0;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessageDescriptor *sd = fd->descriptor;
        if (!json_is_object(v))
            goto type;
        void *sub = calloc(1, sd->sizeof_message);
        if (!sub)
            goto oom;
        sd->message_init(sub);
        *(void **)p = sub;
        return s_fill(sd, sub, v, err, errlen);
    }
    }
type:
    snprintf(err, errlen, "field %s: wrong JSON type", fd->name);
    return -1;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

static int s_fill(const ProtobufCMessageDescriptor *d, void *msg, const json_t *j, char *err,
                  size_t errlen)
{
    const char *k;
    json_t *v;
    char *base = msg;
    json_object_foreach((json_t *)j, k, v)
    {
        const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field_by_name(d, k);
        if (!fd) {
            snprintf(err, errlen, "%s has no field '%s'", d->name, k);
            return -1;
        }
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            if (!json_is_array(v)) {
                snprintf(err, errlen, "field %s: expected an array", k);
                return -1;
            }
            size_t n = json_array_size(v), es = s_elem_size(fd->type);
            char *arr = calloc(n ? n : 1, es);
            if (!arr) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            for (size_t i = 0; i < n; i++)
                if (s_set_one(fd, arr + i * es, json_array_get(v, i), err, errlen) < 0)
                    return -1;
            *(size_t *)(base + fd->quantifier_offset) = n;
            *(void **)(base + fd->offset) = arr;
            continue;
        }
        if (s_set_one(fd, base + fd->offset, v, err, errlen) < 0)
            return -1;
        if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
            *(uint32_t *)(base + fd->quantifier_offset) = fd->id;
        else if (fd->label == PROTOBUF_C_LABEL_OPTIONAL && fd->quantifier_offset &&
                 fd->type != PROTOBUF_C_TYPE_MESSAGE && fd->type != PROTOBUF_C_TYPE_STRING)
            *(protobuf_c_boolean *)(base + fd->quantifier_offset) = 1;
    }
    return 0;
}

int pbjson_pack(const ProtobufCMessageDescriptor *d, const json_t *j, uint8_t **out, size_t *len,
                char *err, size_t errlen)
{
    if (!json_is_object(j)) {
        snprintf(err, errlen, "a message is a JSON object");
        return -1;
    }
    void *msg = calloc(1, d->sizeof_message);
    if (!msg) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    d->message_init(msg);
    int rc = -1;
    if (s_fill(d, msg, j, err, errlen) < 0)
        goto out;
    *len = protobuf_c_message_get_packed_size(msg);
    if (!(*out = malloc(*len ? *len : 1))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    protobuf_c_message_pack(msg, *out);
    rc = 0;
out:
    protobuf_c_message_free_unpacked(msg, NULL);
    return rc;
}

static json_t *s_get_one(const ProtobufCFieldDescriptor *fd, const void *p);

static json_t *s_to_json(const ProtobufCMessageDescriptor *d, const void *msg)
{
    json_t *o = json_object();
    const char *base = msg;
    for (unsigned i = 0; o && i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            if (*(const uint32_t *)(base + fd->quantifier_offset) != fd->id)
                continue;
        }
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + fd->quantifier_offset), es = s_elem_size(fd->type);
            const char *arr = *(char *const *)(base + fd->offset);
            json_t *a = json_array();
            for (size_t k = 0; a && k < n; k++)
                json_array_append_new(a, s_get_one(fd, arr + k * es));
            json_object_set_new(o, fd->name, a);
            continue;
        }
        if (fd->type == PROTOBUF_C_TYPE_MESSAGE && !*(void *const *)(base + fd->offset))
            continue;
        json_object_set_new(o, fd->name, s_get_one(fd, base + fd->offset));
    }
    return o;
}

static json_t *s_get_one(const ProtobufCFieldDescriptor *fd, const void *p)
{
    switch (fd->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: return json_integer(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: return json_integer(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: return json_integer((json_int_t) * (const int64_t *)p);
    case PROTOBUF_C_TYPE_FLOAT: return json_real(*(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE: return json_real(*(const double *)p);
    case PROTOBUF_C_TYPE_BOOL: return json_boolean(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value(fd->descriptor, *(const int *)p);
        return ev ? json_string(ev->name) : json_integer(*(const int *)p);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        json_t *j = json_string(s ? s : "");
        return j ? j : json_string("(not UTF-8)");
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        char *t = malloc(b->len + 1);
        if (!t)
            return json_null();
        for (size_t i = 0; i < b->len; i++)
            t[i] = (b->data[i] >= 0x20 && b->data[i] < 0x7f) || b->data[i] == '\n'
                       ? (char)b->data[i]
                       : '?';
        json_t *j = json_stringn(t, b->len);
        free(t);
        return j;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const void *sub = *(void *const *)p;
        return sub ? s_to_json(fd->descriptor, sub) : json_null();
    }
    }
    return json_null();
}

json_t *pbjson_unpack(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len)
{
    ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, data);
    if (!m)
        return NULL;
    json_t *j = s_to_json(d, m);
    protobuf_c_message_free_unpacked(m, NULL);
    return j;
}
