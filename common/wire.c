/* wire — see wire.h. */
#include "wire.h"

#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

void wire_msg_clear(wire_msg_t *m)
{
    if (!m)
        return;
    free(m->data);
    m->data = NULL;
    m->len = 0;
    m->ident_len = 0;
}

int wire_socket_setup(void *sock, size_t max_msg)
{
    int linger = 0;
    if (zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger) != 0)
        return -1;
    if (max_msg > 0) {
        int64_t mx = (int64_t)max_msg;
        if (zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &mx, sizeof mx) != 0)
            return -1;
    }
    return 0;
}

/* Reads and discards the rest of a multipart message. */
static void s_drain(void *sock)
{
    int more = 1;
    size_t sz = sizeof more;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&part);
            return;
        }
        more = zmq_msg_more(&part);
        zmq_msg_close(&part);
        (void)sz;
    }
}

static int s_recv_part(void *sock, zmq_msg_t *part)
{
    for (;;) {
        if (zmq_msg_recv(part, sock, ZMQ_DONTWAIT) >= 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

/* wire_recv, and with data != NULL a second frame after the envelope,
 * kept as libzmq delivered it (no copy). */
static int s_recv(void *sock, int router, wire_msg_t *out, zmq_msg_t *data)
{
    zmq_msg_t part;
    out->ident_len = 0;
    out->data = NULL;
    out->len = 0;
    out->user_id[0] = '\0';
    if (data)
        zmq_msg_init(data);
    zmq_msg_init(&part);
    if (s_recv_part(sock, &part) < 0) {
        int e = errno;
        zmq_msg_close(&part);
        if (e == EAGAIN)
            return 0;
        errno = e;
        return -1;
    }
    if (router) {
        size_t n = zmq_msg_size(&part);
        int more = zmq_msg_more(&part);
        if (n > WIRE_MAX_IDENT || !more) {
            zmq_msg_close(&part);
            if (more)
                s_drain(sock);
            return 2;
        }
        memcpy(out->ident, zmq_msg_data(&part), n);
        out->ident_len = n;
        zmq_msg_close(&part);
        zmq_msg_init(&part);
        /* The rest of a multipart message is delivered atomically. */
        if (s_recv_part(sock, &part) < 0) {
            zmq_msg_close(&part);
            return 2;
        }
    }
    if (zmq_msg_more(&part)) {
        if (!data || s_recv_part(sock, data) < 0 || zmq_msg_more(data)) {
            zmq_msg_close(&part);
            if (data) {
                zmq_msg_close(data);
                zmq_msg_init(data);
            }
            s_drain(sock);
            return 2;
        }
    }
    size_t n = zmq_msg_size(&part);
    out->data = malloc(n ? n : 1);
    if (!out->data) {
        zmq_msg_close(&part);
        if (data) {
            zmq_msg_close(data);
            zmq_msg_init(data);
        }
        errno = ENOMEM;
        return -1;
    }
    memcpy(out->data, zmq_msg_data(&part), n);
    out->len = n;
    /* Set by the ZAP handler for CURVE peers; absent otherwise. */
    const char *uid = zmq_msg_gets(&part, "User-Id");
    if (uid)
        snprintf(out->user_id, sizeof out->user_id, "%s", uid);
    const char *peer = zmq_msg_gets(&part, "Peer-Address");
    if (peer)
        snprintf(out->peer_addr, sizeof out->peer_addr, "%s", peer);
    zmq_msg_close(&part);
    return 1;
}

int wire_recv(void *sock, int router, wire_msg_t *out)
{
    return s_recv(sock, router, out, NULL);
}

int wire_recv_data(void *sock, int router, wire_msg_t *out, zmq_msg_t *data)
{
    return s_recv(sock, router, out, data);
}

static int s_send_buf(void *sock, const void *buf, size_t len, int flags)
{
    for (;;) {
        if (zmq_send(sock, buf, len, flags) >= 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

int wire_send_data(void *sock, const uint8_t *ident, size_t ident_len, const ProtobufCMessage *msg,
                   zmq_msg_t *data)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t stackbuf[4096];
    uint8_t *buf = n <= sizeof stackbuf ? stackbuf : malloc(n);
    if (!buf) {
        if (data)
            zmq_msg_close(data);
        errno = ENOMEM;
        return -1;
    }
    protobuf_c_message_pack(msg, buf);
    int rc = 0;
    if (ident_len > 0 && s_send_buf(sock, ident, ident_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        rc = -1;
    if (rc == 0 && s_send_buf(sock, buf, n, ZMQ_DONTWAIT | (data ? ZMQ_SNDMORE : 0)) < 0)
        rc = -1;
    /* The data frame: libzmq takes the message (and the buffer it points
     * to) on success; otherwise it is still ours to close. */
    while (rc == 0 && data && zmq_msg_send(data, sock, ZMQ_DONTWAIT) < 0)
        if (errno != EINTR)
            rc = -1;
    int e = errno;
    if (rc < 0 && data)
        zmq_msg_close(data);
    if (buf != stackbuf)
        free(buf);
    errno = e;
    return rc;
}

int wire_send(void *sock, const uint8_t *ident, size_t ident_len, const ProtobufCMessage *msg)
{
    return wire_send_data(sock, ident, ident_len, msg, NULL);
}

static const char *s_task_states[] = {
    "unknown",    "pending",   "ready",  "assigned", "running",
    "retry_wait", "succeeded", "failed", "skipped",  "cancelled",
};
static const char *s_run_states[] = {"unknown", "running",   "succeeded",
                                     "failed",  "cancelled", "rejected"};
static const char *s_outcomes[] = {"unknown",   "exited", "signaled",
                                   "timed_out", "killed", "spawn_failed"};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

const char *wire_task_state_name(Drover__TaskState s)
{
    return (unsigned)s < NELEM(s_task_states) ? s_task_states[s] : "unknown";
}

const char *wire_run_state_name(Drover__RunState s)
{
    return (unsigned)s < NELEM(s_run_states) ? s_run_states[s] : "unknown";
}

const char *wire_outcome_name(Drover__Outcome o)
{
    if (o == DROVER__OUTCOME__OUTCOME_NOT_ATTEMPTED)
        return "not_attempted";
    return (unsigned)o < NELEM(s_outcomes) ? s_outcomes[o] : "unknown";
}

Drover__TaskState wire_task_state_from_name(const char *name)
{
    for (unsigned i = 1; i < NELEM(s_task_states); i++)
        if (strcmp(name, s_task_states[i]) == 0)
            return (Drover__TaskState)i;
    return DROVER__TASK_STATE__TASK_STATE_UNSPECIFIED;
}

Drover__RunState wire_run_state_from_name(const char *name)
{
    for (unsigned i = 1; i < NELEM(s_run_states); i++)
        if (strcmp(name, s_run_states[i]) == 0)
            return (Drover__RunState)i;
    return DROVER__RUN_STATE__RUN_STATE_UNSPECIFIED;
}

size_t wire_sanitize(ProtobufCMessage *msg)
{
    if (!msg)
        return 0;
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    size_t fixed = 0;
    char *base = (char *)msg;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            /* Only the member the oneof's case names is set. */
            if (*(uint32_t *)(base + f->quantifier_offset) != f->id)
                continue;
        }
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(size_t *)(base + f->quantifier_offset);
            void **arr = *(void ***)(base + f->offset);
            for (size_t k = 0; arr && k < n; k++)
                fixed += f->type == PROTOBUF_C_TYPE_STRING ? util_utf8_sanitize(arr[k])
                                                           : wire_sanitize(arr[k]);
        } else {
            void *v = *(void **)(base + f->offset);
            if (v)
                fixed +=
                    f->type == PROTOBUF_C_TYPE_STRING ? util_utf8_sanitize(v) : wire_sanitize(v);
        }
    }
    return fixed;
}
