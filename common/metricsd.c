/* metricsd — see metricsd.h. */
#include "metricsd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct metricsd {
    struct MHD_Daemon *d;
    prom_t *reg;
    _Atomic(const char *) not_ready; /* NULL = ready */
};

static enum MHD_Result s_reply(struct MHD_Connection *c, unsigned status, const char *type,
                               char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result s_handle(void *cls, struct MHD_Connection *c, const char *url,
                                const char *method, const char *version, const char *upload,
                                size_t *upload_len, void **con_cls)
{
    metricsd_t *m = cls;
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return s_reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "GET only\n", 9,
                       MHD_RESPMEM_PERSISTENT);
    if (*upload_len) /* a GET with a body: refuse it rather than read it */
        return MHD_NO;
    if (!strcmp(url, "/metrics")) {
        size_t len;
        char *text = prom_render(m->reg, &len);
        if (!text)
            return s_reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", "out of memory\n", 14,
                           MHD_RESPMEM_PERSISTENT);
        return s_reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, len,
                       MHD_RESPMEM_MUST_FREE);
    }
    if (!strcmp(url, "/healthz"))
        return s_reply(c, MHD_HTTP_OK, "text/plain", "ok\n", 3, MHD_RESPMEM_PERSISTENT);
    if (!strcmp(url, "/readyz")) {
        const char *why = atomic_load(&m->not_ready);
        if (!why)
            return s_reply(c, MHD_HTTP_OK, "text/plain", "ready\n", 6, MHD_RESPMEM_PERSISTENT);
        char *body = NULL;
        int n = asprintf(&body, "not ready: %s\n", why);
        if (n < 0)
            return MHD_NO;
        return s_reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", body, (size_t)n,
                       MHD_RESPMEM_MUST_FREE);
    }
    return s_reply(c, MHD_HTTP_NOT_FOUND, "text/plain", "not found (/metrics, /healthz, /readyz)\n",
                   40, MHD_RESPMEM_PERSISTENT);
}

int metricsd_parse_addr(const char *listen, struct sockaddr_storage *ss, unsigned *len)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen + strlen(listen) - 1)
        return -1;
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || *end || port < 1 || port > 65535)
        return -1;
    size_t hl = (size_t)(colon - listen);
    if (hl >= sizeof host)
        return -1;
    memcpy(host, listen, hl);
    host[hl] = '\0';
    memset(ss, 0, sizeof *ss);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        host[hl - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
            return -1;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof *a6;
        return 0;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    if (hl == 0 || !strcmp(host, "*"))
        a4->sin_addr.s_addr = htonl(INADDR_ANY);
    else if (inet_pton(AF_INET, !strcmp(host, "localhost") ? "127.0.0.1" : host, &a4->sin_addr) !=
             1)
        return -1;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    *len = sizeof *a4;
    return 0;
}

metricsd_t *metricsd_start(const char *listen, prom_t *reg, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    unsigned sl;
    if (metricsd_parse_addr(listen, &ss, &sl) < 0) {
        util_errf(err, errlen, "metrics endpoint '%s' is not HOST:PORT (e.g. 127.0.0.1:9460)",
                  listen);
        errno = EINVAL;
        return NULL;
    }
    metricsd_t *m = calloc(1, sizeof *m);
    if (!m) {
        util_errf(err, errlen, "out of memory");
        return NULL;
    }
    m->reg = reg;
    atomic_store(&m->not_ready, "starting");
    /* No MHD_USE_ERROR_LOG: failures are reported through err, once. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    m->d = MHD_start_daemon(flags, 0, NULL, NULL, s_handle, m, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, 16u,
                            MHD_OPTION_CONNECTION_TIMEOUT, 5u, MHD_OPTION_END);
    if (!m->d) {
        util_errf(err, errlen,
                  "cannot serve metrics on %s (port in use? change metrics_listen in the config)",
                  listen);
        free(m);
        errno = EADDRINUSE;
        return NULL;
    }
    return m;
}

void metricsd_ready(metricsd_t *m, const char *reason)
{
    if (m)
        atomic_store(&m->not_ready, reason);
}

void metricsd_stop(metricsd_t **mp)
{
    if (!mp || !*mp)
        return;
    MHD_stop_daemon((*mp)->d);
    free(*mp);
    *mp = NULL;
}
