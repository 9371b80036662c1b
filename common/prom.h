/* prom — metrics a daemon's loop publishes and an HTTP thread reads, in
 * Prometheus' text exposition format (version 0.0.4).
 *
 * Two threads, no locks: the daemon's single-threaded loop is the only
 * writer of every value (counters, gauges, histograms) and updates them with
 * relaxed atomic stores; the HTTP thread (metricsd) renders a snapshot with
 * atomic loads. A scrape therefore never blocks the loop, and the loop never
 * allocates to publish: every metric is registered at start-up, and a
 * labelled child (a queue's depth, a refusal reason) is claimed once, the
 * first time its label values are seen, from a fixed array.
 *
 * Lifecycle: prom_new() → prom_counter()/prom_gauge()/prom_histogram()/
 * prom_family() during start-up (not thread-safe: before the HTTP thread
 * starts) → updates from the loop, prom_render() from any thread →
 * prom_destroy() after the HTTP thread has stopped.
 *
 * Names follow Prometheus' conventions: base units in the name (_seconds,
 * _bytes), counters end in _total. Children beyond PROM_MAX_CHILDREN of one
 * family are folded into one child whose label values are all "other", so a
 * peer that invents label values cannot grow memory. */
#ifndef DROVER_PROM_H
#define DROVER_PROM_H

#include <stddef.h>
#include <stdint.h>

#define PROM_MAX_CHILDREN 64 /* labelled children per family (+1 "other") */
#define PROM_MAX_LABELS   2  /* label names per family */
#define PROM_LABEL_MAX    64 /* bytes of one label value, NUL included */
#define PROM_MAX_BUCKETS  16 /* histogram bucket bounds */

typedef struct prom prom_t;
typedef struct prom_metric prom_metric_t; /* one series: counter, gauge or histogram */
typedef struct prom_family prom_family_t; /* labelled series of one name */

typedef enum { PROM_COUNTER, PROM_GAUGE, PROM_HISTOGRAM } prom_type_t;

/* A new, empty registry, or NULL (ENOMEM). Caller owns it: prom_destroy. */
prom_t *prom_new(void);
/* Frees the registry and every metric in it; NULL-safe, nulls *p. */
void prom_destroy(prom_t **p);

/* Registers an unlabelled series. name and help must be string literals (or
 * outlive the registry). Returns the series, owned by the registry, or NULL
 * (ENOMEM, or EINVAL for a name that is not [a-zA-Z_:][a-zA-Z0-9_:]*). */
prom_metric_t *prom_counter(prom_t *p, const char *name, const char *help);
prom_metric_t *prom_gauge(prom_t *p, const char *name, const char *help);
/* bounds: nbounds (1..PROM_MAX_BUCKETS) increasing upper bounds; +Inf is
 * implied. Copied. */
prom_metric_t *prom_histogram(prom_t *p, const char *name, const char *help, const double *bounds,
                              size_t nbounds);

/* Registers a labelled family of type t (histograms use bounds as above;
 * NULL/0 otherwise) with nlabels (1..PROM_MAX_LABELS) label names (literals).
 * Returns it, owned by the registry, or NULL. */
prom_family_t *prom_family(prom_t *p, prom_type_t t, const char *name, const char *help,
                           const char *const *labels, size_t nlabels, const double *bounds,
                           size_t nbounds);
/* The child of family f with these label values (as many as its labels;
 * longer values are cut at PROM_LABEL_MAX-1 bytes, invalid UTF-8 replaced).
 * Claims a new child the first time; the "other" child once the family is
 * full. Writer thread only. Never NULL for a valid family. */
prom_metric_t *prom_child(prom_family_t *f, const char *v1, const char *v2);
/* Sets every child's value of a gauge family to 0 (before re-publishing a
 * set of gauges whose members come and go, e.g. queue depths). */
void prom_family_zero(prom_family_t *f);

/* Updates (writer thread; m may be NULL: a no-op, so an optional metric
 * costs its callers nothing to skip). */
void prom_inc(prom_metric_t *m, uint64_t n);   /* counters */
void prom_set(prom_metric_t *m, double v);     /* gauges */
void prom_add(prom_metric_t *m, double v);     /* gauges */
void prom_observe(prom_metric_t *m, double v); /* histograms */

/* Reads (any thread): a counter's count or a gauge's value; a histogram's
 * number of observations. */
double prom_value(const prom_metric_t *m);

/* Renders every series in registration order. Returns a malloc'd,
 * NUL-terminated text (caller frees) with its length in *len, or NULL
 * (ENOMEM). Any thread. */
char *prom_render(const prom_t *p, size_t *len);

#endif
