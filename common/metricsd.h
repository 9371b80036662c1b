/* metricsd — the HTTP side of a daemon's observability: /metrics (the
 * prom registry, Prometheus text format), /healthz and /readyz.
 *
 * libmicrohttpd serves from a thread of its own, so a scrape never blocks
 * the daemon's loop; the loop publishes readiness with metricsd_ready()
 * (an atomic store) and its figures through prom (prom.h). Only GET and
 * HEAD are answered; at most 16 connections, 5 s each, so a slow or hostile
 * scraper costs the daemon nothing beyond that.
 *
 *   /metrics  200, text/plain; version=0.0.4
 *   /healthz  200 "ok": the process serves HTTP (liveness)
 *   /readyz   200 "ready", or 503 with the reason the loop last published
 *             ("standing by", "database unreachable", ...)
 *   other     404 */
#ifndef DROVER_METRICSD_H
#define DROVER_METRICSD_H

#include <stddef.h>

#include "prom.h"

typedef struct metricsd metricsd_t;

/* Starts serving reg on listen ("HOST:PORT", "[v6]:PORT" or ":PORT" for
 * every address). reg is borrowed: it must outlive the server. Returns the
 * server (stop with metricsd_stop), or NULL with a message in err (bad
 * address, port in use). Readiness starts as "starting". */
metricsd_t *metricsd_start(const char *listen, prom_t *reg, char *err, size_t errlen);

/* Publishes readiness: reason NULL = ready, else why not (a string literal:
 * it is read by the HTTP thread later). Any thread; cheap. */
void metricsd_ready(metricsd_t *m, const char *reason);

/* "HOST:PORT" / "[V6]:PORT" / ":PORT" (every address) into a socket
 * address, for other HTTP servers of drover's (drover-serve). 0, or -1 on
 * a malformed address. */
struct sockaddr_storage;
int metricsd_parse_addr(const char *listen, struct sockaddr_storage *ss, unsigned *len);

/* Stops the HTTP thread and frees the server; NULL-safe, nulls *mp. */
void metricsd_stop(metricsd_t **mp);

#endif
