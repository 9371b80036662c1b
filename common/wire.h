/* wire — ZeroMQ and protobuf-c, wrapped in one place.
 *
 * Every message is one frame holding one envelope from proto/drover.proto;
 * a ROUTER peer sees [identity, envelope]. The one exception is the
 * artifact service, whose chunks travel as a frame of raw bytes after the
 * envelope (wire_send_data/wire_recv_data), so a mebibyte is never packed
 * into, or unpacked out of, a protobuf. Sends retry on EINTR; receives
 * are non-blocking (ZMQ_DONTWAIT) so the caller's zmq_poll loop stays in
 * charge. A NULL from *__unpack is a bad message (counted by the caller),
 * never a crash.
 */
#ifndef DROVER_WIRE_H
#define DROVER_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include <zmq.h>

#include "drover.pb-c.h"

/* Bumped on any incompatible change to drover.proto (see proto/README.md).
 * Overridable for tests of the version check only. */
#define DROVER_PROTOCOL_VERSION 1

/* The artifact transfer protocol (ArtifactRequest/ArtifactReply
 * xfer_version): 2 = chunk bytes in a frame after the envelope. Checked by
 * both ends on every message, so an old worker or an old coordinator gets
 * a refusal that names the one to upgrade. */
#define WIRE_XFER_VERSION 2

/* Largest envelope accepted by default (coordinator.max_message). */
#define WIRE_MAX_MSG_DEFAULT (16u * 1024u * 1024u)
/* What the coordinator lets libzmq deliver (ZMQ_MAXMSGSIZE) for a limit of
 * max_message: a quarter more, so that a frame just over the limit reaches
 * the coordinator, which refuses it by its size — counted and, for a
 * client, answered "request of N bytes exceeds the limit of M". A larger
 * frame still makes libzmq drop the peer's connection before anyone sees
 * it; libzmq then reports only a disconnect, the same event as a peer that
 * simply leaves, so that kind cannot be counted (docs/security.md). The
 * quarter bounds what one frame in flight may cost. 0 stays 0 (no limit). */
#define WIRE_HARD_MAX(max_message) ((max_message) + (max_message) / 4)

#define WIRE_MAX_IDENT 256

/* A received message: the ROUTER identity (empty on DEALER sockets) and
 * the envelope bytes. The caller owns it; wire_msg_clear() releases it. */
typedef struct {
    uint8_t ident[WIRE_MAX_IDENT];
    size_t ident_len;
    uint8_t *data; /* malloc'd */
    size_t len;
    char user_id[128];  /* ZAP User-Id of an authenticated peer, "" without CURVE */
    char peer_addr[64]; /* the peer's IP address (TCP), "" when unknown */
} wire_msg_t;

void wire_msg_clear(wire_msg_t *m);

/* Sets linger 0 and, when max_msg > 0, ZMQ_MAXMSGSIZE. Returns 0 or -1. */
int wire_socket_setup(void *sock, size_t max_msg);

/* Receives one message without blocking. Returns 1 when a message was read,
 * 0 when none was waiting, -1 on error (errno set). On a ROUTER (router=1)
 * the first frame is the identity; messages with an unexpected frame count
 * or an identity longer than WIRE_MAX_IDENT are discarded and reported as
 * 2 ("dropped") so the caller can count them. */
int wire_recv(void *sock, int router, wire_msg_t *out);

/* wire_recv for messages that may carry bulk bytes after the envelope
 * (the artifact service's chunks): a second frame, when there is one, is
 * left in *data as libzmq delivered it, without a copy; *data is always
 * initialised (empty without one) and the caller zmq_msg_close()s it.
 * Three frames or more are dropped (2). */
int wire_recv_data(void *sock, int router, wire_msg_t *out, zmq_msg_t *data);

/* Packs msg and sends it, preceded by the identity frame when ident_len > 0.
 * Returns 0, or -1 with errno set (EHOSTUNREACH for a gone ROUTER peer when
 * ZMQ_ROUTER_MANDATORY is set, EAGAIN when the peer's queue is full). */
int wire_send(void *sock, const uint8_t *ident, size_t ident_len, const ProtobufCMessage *msg);

/* wire_send followed by data (when not NULL) as a second frame, handed to
 * libzmq without a copy (zmq_msg_init_size and fill it in place, or
 * zmq_msg_init_data over a buffer of one's own). data is consumed on
 * success and failure. */
int wire_send_data(void *sock, const uint8_t *ident, size_t ident_len, const ProtobufCMessage *msg,
                   zmq_msg_t *data);

/* Replaces invalid UTF-8 in every string field of an unpacked message
 * (recursively) with '?': peers may send any bytes, PostgreSQL takes only
 * valid UTF-8. Returns the number of bytes replaced. */
size_t wire_sanitize(ProtobufCMessage *msg);

/* Human name of a TaskState / RunState / Outcome, lower-case as stored in the
 * database ("pending", "running", ...). Unknown values give "unknown". */
const char *wire_task_state_name(Drover__TaskState s);
const char *wire_run_state_name(Drover__RunState s);
const char *wire_outcome_name(Drover__Outcome o);
/* Inverse of the above; returns 0 (UNSPECIFIED) for an unknown name. */
Drover__TaskState wire_task_state_from_name(const char *name);
Drover__RunState wire_run_state_from_name(const char *name);

#endif
