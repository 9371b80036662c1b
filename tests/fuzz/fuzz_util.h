/* fuzz_util — helpers shared by the libFuzzer harnesses in tests/fuzz/.
 *
 * Harnesses are single translation units; this header holds the pieces more
 * than one needs: writing the input to a per-process file on tmpfs (the
 * readers under test take paths), a UTF-8 check over every string of an
 * unpacked protobuf message (what wire_sanitize promises), and a canonical
 * re-encode round trip (a message that passed validation must still pass
 * after pack + unpack). Any broken promise calls abort(), which libFuzzer
 * reports as a crash with the input saved.
 */
#ifndef DROVER_FUZZ_UTIL_H
#define DROVER_FUZZ_UTIL_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <protobuf-c/protobuf-c.h>

/* A file path private to this process, on /dev/shm when it exists. */
static inline const char *fuzz_tmp_path(const char *suffix)
{
    static char path[256];
    if (!path[0]) {
        struct stat st;
        const char *dir = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
        snprintf(path, sizeof path, "%s/drover-fuzz-%ld%s", dir, (long)getpid(), suffix);
    }
    return path;
}

/* Writes data to path (truncating). Aborts on failure: the harness cannot
 * test anything without its input file. */
static inline void fuzz_write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        perror(path);
        abort();
    }
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n <= 0) {
            perror(path);
            abort();
        }
        p += n;
        len -= (size_t)n;
    }
    if (close(fd) < 0) {
        perror(path);
        abort();
    }
}

/* 1 when s is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
static inline int fuzz_utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        size_t n;
        unsigned min;
        if (c < 0x80) {
            p++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1, min = 0x80, c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2, min = 0x800, c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3, min = 0x10000, c &= 0x07;
        } else {
            return 0;
        }
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return 0;
            c = (c << 6) | (p[i] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return 0;
        p += n + 1;
    }
    return 1;
}

/* Aborts when a string field anywhere in m is not valid UTF-8. */
static inline void fuzz_assert_utf8(const ProtobufCMessage *m)
{
    if (!m)
        return;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(base + f->quantifier_offset) != f->id)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            void *const *arr = *(void *const *const *)(base + f->offset);
            for (size_t k = 0; arr && k < n; k++) {
                if (f->type == PROTOBUF_C_TYPE_STRING) {
                    if (!fuzz_utf8_ok(arr[k]))
                        abort();
                } else {
                    fuzz_assert_utf8(arr[k]);
                }
            }
        } else {
            const void *v = *(const void *const *)(base + f->offset);
            if (!v)
                continue;
            if (f->type == PROTOBUF_C_TYPE_STRING) {
                if (!fuzz_utf8_ok(v))
                    abort();
            } else {
                fuzz_assert_utf8(v);
            }
        }
    }
}

/* Drops the unknown fields kept by protobuf-c, recursively. libprotobuf-c
 * 1.4 accepts a tag for field number 0 when the tag is written as a
 * non-canonical multi-byte varint (e.g. 0x81 0x00), keeps it as an unknown
 * field, re-packs it canonically (0x01) and then refuses its own output; the
 * round-trip check would report that library quirk forever. Nothing in drover
 * reads unknown fields, so the check runs on the known ones only. */
static inline void fuzz_strip_unknown(ProtobufCMessage *m)
{
    if (!m)
        return;
    for (unsigned i = 0; i < m->n_unknown_fields; i++)
        free(m->unknown_fields[i].data);
    free(m->unknown_fields);
    m->unknown_fields = NULL;
    m->n_unknown_fields = 0;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    char *base = (char *)m;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(base + f->quantifier_offset) != f->id)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            ProtobufCMessage **arr = *(ProtobufCMessage ***)(base + f->offset);
            for (size_t k = 0; arr && k < n; k++)
                fuzz_strip_unknown(arr[k]);
        } else {
            fuzz_strip_unknown(*(ProtobufCMessage **)(base + f->offset));
        }
    }
}

/* Packs m and returns the bytes (malloc'd, *len set). */
static inline uint8_t *fuzz_pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(*len ? *len : 1);
    if (!buf)
        abort();
    if (protobuf_c_message_pack(m, buf) != *len)
        abort();
    return buf;
}

#endif
