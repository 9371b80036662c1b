/* slots — the models drover-serve serves, one slot a configured name, each
 * holding the version now in `production` in the registry.
 *
 * A loaded version (servemodel_t) is immutable and reference counted. A
 * request takes a reference (slots_acquire) and predicts with that one
 * version from start to end; slots_poll, on the main loop, asks the
 * coordinator which version is in production, and when it changed it loads
 * the new artifact FULLY (checksum verified, signature present) before it
 * swaps the slot's pointer under the slot's mutex. The old version is freed
 * when its last request releases it. So a promotion never fails a request
 * and no request mixes versions; a version that cannot be loaded is logged
 * and the slot keeps the one it has (a wrong model is worse than an old
 * one). A coordinator that does not answer costs nothing but a log line:
 * the slot keeps serving.
 *
 * Threads: slots_poll and slots_destroy from the main thread only;
 * slots_acquire/slots_release from any thread. */
#ifndef DROVER_SERVE_SLOTS_H
#define DROVER_SERVE_SLOTS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "mlmodel.h"
#include "serveconf.h"

/* One loaded version. Fields are read-only once published. */
typedef struct servemodel {
    atomic_uint refs;
    char name[SERVECONF_NAME_MAX];
    uint64_t version;
    mlmodel_t *m;      /* owned */
    const char *label; /* the label column: m->label_name or "label" */
} servemodel_t;

typedef struct slots slots_t;

/* Creates the slots for cfg->models and the registry client (CURVE keys
 * from the config). Loads nothing yet: call slots_poll. NULL + err. */
slots_t *slots_new(const serveconf_t *cfg, char *err, size_t errlen);

/* Asks the registry for each model's production version and swaps in every
 * one that changed. Returns the number of slots that changed. Main thread. */
int slots_poll(slots_t *s);

/* A reference to the version model `name` serves now; NULL with errno
 * ENOENT (not configured) or EAGAIN (no production version loaded yet).
 * Release it with slots_release. Any thread. */
servemodel_t *slots_acquire(slots_t *s, const char *name);
void slots_release(servemodel_t **m);

/* The configured models and what each serves (version 0: none), for
 * /readyz and /v1/models. i < slots_count. */
size_t slots_count(const slots_t *s);
servemodel_t *slots_acquire_at(slots_t *s, size_t i);
const char *slots_name(const slots_t *s, size_t i);

/* Swaps done since start (a counter for /metrics). */
uint64_t slots_reloads(const slots_t *s);

/* Frees everything; NULL-safe, nulls *s. No request may run any more. */
void slots_destroy(slots_t **s);

#endif
