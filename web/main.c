/* drover-web — the web view of drover: the pages (web/ui/, embedded) and
 * the JSON API they use (docs/http-api.md), over HTTP on libmicrohttpd.
 * It talks to the coordinator only, as a client with its own key of role
 * web, and every request it makes carries the signed-in person's web
 * token: the coordinator decides everything (docs/security.md).
 *
 * main only wires the modules: config (webconf), the coordinator pool
 * (coord), sessions (session), the HTTP server (http, with api and sse).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coord.h"
#include "http.h"
#include "log.h"
#include "session.h"
#include "util.h"
#include "webconf.h"

static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

static void s_usage(FILE *f)
{
    fprintf(f, "usage: drover-web --config FILE\n"
               "Serves drover's web view and its JSON API over HTTP (default 127.0.0.1:7480):\n"
               "runs and their steps live, logs, training curves, the model registry,\n"
               "evaluation reports, approvals, workers, queues and schedules.\n"
               "People sign in with web tokens (drover web-token create KEY); drover-web\n"
               "itself needs a key allowed with --role web. The config file holds a group\n"
               "web = { listen, coordinator, secret_key, coordinator_key, ... }.\n"
               "See docs/http-api.md and docs/operations.md (TLS through a reverse proxy).\n");
}

int main(int argc, char **argv)
{
    const char *config = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((!strcmp(a, "--config") || !strcmp(a, "-c")) && i + 1 < argc && !config)
            config = argv[++i];
        else if (!strncmp(a, "--config=", 9) && !config)
            config = a + 9;
        else if (!strcmp(a, "--help") || !strcmp(a, "-h"))
            return s_usage(stdout), 0;
        else if (!strcmp(a, "--version"))
            return printf("drover-web %s\n", DROVER_VERSION), 0;
        else
            return s_usage(stderr), 2;
    }
    if (!config)
        return s_usage(stderr), 2;
    log_init("drover-web");
    char err[2048];
    webconf_t cfg;
    if (webconf_load(&cfg, config, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    web_ctx_t ctx = {.cfg = &cfg};
    http_t *h = NULL;
    int rc = 1;
    pthread_mutex_init(&ctx.signin_mu, NULL);
    atomic_init(&ctx.streams, 0);
    pthread_mutex_init(&ctx.streams_mu, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (!(ctx.coord = coord_new(&cfg, err, sizeof err))) {
        fprintf(stderr, "drover-web: %s\n", err);
        rc = 2;
        goto done;
    }
    if (!(ctx.stream_users = calloc((size_t)cfg.max_streams, sizeof *ctx.stream_users))) {
        log_error("out of memory");
        goto done;
    }
    if (!(ctx.sessions =
              sessions_new((size_t)cfg.max_sessions, cfg.session_ttl_s, (unsigned)cfg.rate))) {
        log_error("out of memory");
        goto done;
    }
    if (!(h = http_start(&ctx, err, sizeof err))) {
        log_error("%s", err);
        goto done;
    }
    log_info("serving on http://%s (coordinator %s; sessions %lld at most, %llds each)", cfg.listen,
             cfg.coordinator, cfg.max_sessions, cfg.session_ttl_s);
    while (!s_stop) {
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    log_info("stopping");
    rc = 0;
done:
    http_stop(&h);
    sessions_destroy(&ctx.sessions);
    coord_destroy(&ctx.coord);
    free(ctx.stream_users);
    pthread_mutex_destroy(&ctx.streams_mu);
    pthread_mutex_destroy(&ctx.signin_mu);
    return rc;
}
