/* artifact — a content-addressed store of immutable files (model
 * artifacts, checkpoints, converted datasets) rooted at a folder.
 *
 * Layout: ROOT/sha256/ab/cdef...  — the first two hex characters of the
 * SHA-256 of the content name a fan-out directory, the other 62 the file.
 * The name is the content's hash, so a stored file never changes; storing
 * the same bytes twice is a no-op.
 *
 * Durability: content is written to a temporary name in the destination
 * directory (".tmp-..."), fsynced, renamed into place, then the directory
 * is fsynced — a reader sees either no file or the complete file, also
 * after a crash, also on a shared filesystem where several workers write.
 * Readers verify: artifact_open_verified recomputes the hash and refuses a
 * file whose bytes do not match its name.
 *
 * Hashes are accepted only as exactly 64 lowercase hex characters, which
 * rules out path traversal through a hash supplied by a user or a peer.
 */
#ifndef DROVER_ARTIFACT_H
#define DROVER_ARTIFACT_H

#include <stddef.h>

/* Writes ROOT/sha256/ab/cdef... for hex into out[outlen]. Touches no file.
 * Returns 0, or -1 with errno=EINVAL (hex is not 64 lowercase hex
 * characters, or root is NULL/empty) or ENAMETOOLONG (out too small). */
int artifact_path(const char *root, const char *hex, char *out, size_t outlen);

/* Stores a copy of the file src_path; hex_out receives its sha256. The
 * source is hashed, then copied while hashed again; if the two hashes
 * differ (the source changed meanwhile) nothing is stored. Creates ROOT's
 * subdirectories as needed. Idempotent: when the artifact is already
 * present with the right size, nothing is written. Returns 0, or -1 with
 * errno (from the system, or EAGAIN when the source changed during the
 * copy) and a message in err; no temporary file is left behind. */
int artifact_put_file(const char *root, const char *src_path, char hex_out[65], char *err,
                      size_t errlen);

/* Stores what is left to read of the open file fd, in one pass: the bytes
 * are hashed as they are copied (to ROOT/.partial, then renamed into their
 * content name), so the stored file always matches its name even if the
 * source changes meanwhile (then it holds what was read). For files no
 * one writes any more (a finished step's outputs); fd stays open.
 * durable: fsynced as the other put functions do; 0 for a store that is
 * only a cache whose every use hashes the file first (a worker's private
 * store: after a crash a file that lost its bytes is fetched again).
 * Returns 0 with the sha256 in hex_out, or -1 (errno, err). */
int artifact_put_fd(const char *root, int fd, int durable, char hex_out[65], char *err,
                    size_t errlen);

/* Stores len bytes of data (data may be NULL when len is 0) like
 * artifact_put_file. Returns 0 or -1 (errno, err). */
int artifact_put_buffer(const char *root, const void *data, size_t len, char hex_out[65], char *err,
                        size_t errlen);

/* Finds the artifact hex and checks that its content still hashes to hex.
 * Returns 0 with its path in path_out, or -1 with errno and a message:
 * EINVAL (bad hex), ENOENT ("artifact sha256:HEX not found in ROOT"),
 * EBADMSG ("artifact sha256:HEX is corrupt (content hashes to OTHER)"),
 * ENAMETOOLONG, or a read error. path_out is only written on success. */
int artifact_open_verified(const char *root, const char *hex, char *path_out, size_t path_len,
                           char *err, size_t errlen);

/* Transfers (coordinator/artsvc.c, worker/xfer.c) grow a partial file
 * outside the content names, then adopt it. Writes ROOT/.partial/HEX into
 * out and creates ROOT/.partial. Returns 0 or -1 (errno, err). */
int artifact_partial_path(const char *root, const char *hex, char *out, size_t outlen, char *err,
                          size_t errlen);

/* Hashes the file at partial (which must be on ROOT's filesystem); when its
 * content hashes to hex it is made read-only, fsynced and renamed into its
 * content name (durably, as the put functions do), else it is deleted and
 * -1 returned with errno EBADMSG and "content hashes to OTHER" in err.
 * Other failures: -1 with errno and err; the partial file stays. */
int artifact_adopt(const char *root, const char *hex, const char *partial, char *err,
                   size_t errlen);

/* The same when the caller hashed the bytes as it wrote them: content_hex
 * is their sha256 and the file is not read again; durable 0 skips the
 * fsyncs (a cache, as for artifact_put_fd). */
int artifact_adopt_hashed(const char *root, const char *hex, const char *partial,
                          const char *content_hex, int durable, char *err, size_t errlen);

#endif
