/* artsvc — the coordinator's artifact service: moves step outputs between
 * workers that share no folder, through coordinator.artifact_dir.
 *
 * It runs on a thread of its own with its own ROUTER socket
 * (coordinator.artifact_listen; CURVE with the coordinator's key and the
 * ZAP domain of the worker socket, so only allow-listed worker keys
 * connect), so a 10 GiB upload never stalls the loop. The loop talks to it
 * only through the mutex-guarded tables below: grants, which the loop
 * writes when it assigns an attempt, and the set of verified artifacts,
 * which the loop reads when a Result claims one.
 *
 * Protocol (one WorkerMsg.artifact request, one CoordMsg.artifact answer;
 * docs/artifacts.md). Chunk bytes never travel inside the protobuf: they
 * are a frame of their own after the envelope (wire_send_data), so neither
 * end packs, unpacks or copies a mebibyte; both ends set xfer_version
 * (WIRE_XFER_VERSION) and refuse a message without it, naming the side to
 * upgrade.
 *   PUT_BEGIN  lease, sha256, size -> offset = bytes already held (resume),
 *              or complete when the store already has it (verified);
 *   PUT_CHUNK  lease, sha256, size, offset + a chunk frame (1 B..1 MiB) ->
 *              appended only at the held offset (else CONFLICT with the
 *              offset to resume from; one ahead of it is counted as a
 *              refusal), hashed as it is appended; at size the hash is
 *              checked and the file published into the store (complete),
 *              else deleted. Chunks are pipelined: the worker keeps a
 *              window of them in flight, answered in order;
 *   GET        lease, sha256, offset, length -> size + a chunk frame;
 *   VERIFY     lease, sha256, size -> the store's copy (a shared store the
 *              worker wrote itself) is hashed: complete, or an error.
 * Authorisation: PUT and VERIFY only for an attempt the coordinator
 * assigned to the asking worker key and that declares outputs; GET only of
 * a hash named as an input of such an attempt (after a restart, grants
 * come back as workers register again: server_regrant_artifacts). Refusals are answered
 * (FORBIDDEN, BAD_REQUEST) and counted; malformed frames are dropped and
 * counted.
 *
 * Bounds: one request at a time (a whole-file hash runs on this thread,
 * not the loop); a frame is at most 1 MiB + 4 KiB (ZMQ_MAXMSGSIZE), the
 * socket queues at most ARTSVC_HWM requests per peer and as many answers
 * (ZMQ_SNDHWM: a peer that does not read loses the rest); an artifact is at
 * most coordinator.artifact_max_size; partial uploads live in
 * ROOT/.partial and are removed after ARTSVC_PARTIAL_TTL_S without
 * progress. Disk quotas are the filesystem's (docs/artifacts.md).
 */
#ifndef DROVER_ARTSVC_H
#define DROVER_ARTSVC_H

#include <stddef.h>
#include <stdint.h>

#include "wirecheck.h"

#define ARTSVC_CHUNK         WIRECHECK_MAX_ARTIFACT_CHUNK
#define ARTSVC_HWM           16
#define ARTSVC_PARTIAL_TTL_S (24 * 3600)
#define ARTSVC_MAX_GRANTS    100000
#define ARTSVC_MAX_INPUTS    64

typedef struct artsvc artsvc_t;

/* Starts the thread. sock: a bound ROUTER (CURVE set up by the caller),
 * owned by the service from now on, also on failure. root: the store
 * (coordinator.artifact_dir, must be set). Returns NULL with errno and a
 * message in err. */
artsvc_t *artsvc_start(void *sock, const char *root, uint64_t max_size, int secure, char *err,
                       size_t errlen);
/* Stops the thread and closes the socket. NULL-safe; nulls *sp. */
void artsvc_stop(artsvc_t **sp);

/* The attempt (task_id, attempt) was assigned to the worker whose key is
 * peer (its name without CURVE). upload: it declares outputs. inputs: the
 * hashes it may download. Replaces any grant of the same task. Never
 * fails: when the table is full the oldest grant goes. */
void artsvc_grant(artsvc_t *a, uint64_t task_id, uint32_t attempt, const char *peer, int upload,
                  const char *const *inputs, size_t ninputs);
/* 1 when the attempt has its grant (no need to grant it again). */
int artsvc_granted(artsvc_t *a, uint64_t task_id, uint32_t attempt);
/* The attempt ended: its grant goes (a no-op for another attempt). */
void artsvc_revoke(artsvc_t *a, uint64_t task_id, uint32_t attempt);
/* 1 when hex with size was verified in the store by this service since it
 * started (an upload, or a VERIFY), else 0. */
int artsvc_verified(artsvc_t *a, const char *hex, uint64_t size);
/* Requests refused (authorisation, limits, bad hashes) and dropped. */
uint64_t artsvc_refused(artsvc_t *a);

#endif
