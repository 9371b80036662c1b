/* drover-serve — serves the production version of drover models over
 * HTTP/JSON (docs/serving.md).
 *
 * main() only wires things: the config, the tokens, the prediction log,
 * the feedback journal, the model slots and the HTTP API; then the main
 * loop polls the registry every poll_interval (a promotion is picked up
 * within one interval and swapped in atomically: slots.h) and writes due
 * feedback files, until SIGTERM or SIGINT. Shutdown stops the HTTP threads
 * first (requests in flight finish), then writes pending feedback and the
 * rest of the prediction log. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "feedback.h"
#include "log.h"
#include "predlog.h"
#include "serveconf.h"
#include "slots.h"
#include "tokens.h"
#include "util.h"

static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

static void s_usage(FILE *f)
{
    fprintf(f, "usage: drover-serve --config FILE\n"
               "Serves the production version of the models the config names over HTTP/JSON:\n"
               "  POST /v1/models/NAME/predict   {\"row\": {...}} or {\"rows\": [...]}\n"
               "  POST /v1/feedback              {\"request_id\": ID, \"label\": L, \"by\": WHO}\n"
               "  GET  /v1/models, /healthz, /readyz, /metrics\n"
               "Requests need 'Authorization: Bearer TOKEN' (the tokens file). Every prediction\n"
               "is logged under log_dir; corrections become CSV files in feedback_dir/MODEL/.\n"
               "See docs/serving.md.\n");
}

int main(int argc, char **argv)
{
    const char *config = NULL;
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (o) {
        case 'c': config = optarg; break;
        case 'h': s_usage(stdout); return 0;
        case 'V': printf("drover-serve %s\n", DROVER_VERSION); return 0;
        default: s_usage(stderr); return 2;
        }
    }
    if (!config || optind != argc) {
        s_usage(stderr);
        return 2;
    }
    log_init("drover-serve");
    char err[2048];
    serveconf_t *cfg = malloc(sizeof *cfg);
    tokens_t *tokens = NULL;
    predlog_t *pl = NULL;
    feedback_t *fb = NULL;
    slots_t *slots = NULL;
    api_t *api = NULL;
    int rc = 1;
    if (!cfg) {
        log_error("out of memory");
        return 1;
    }
    if (serveconf_load(cfg, config, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        rc = 2;
        goto done;
    }
    if (!cfg->feedback_dir[0])
        snprintf(cfg->feedback_dir, sizeof cfg->feedback_dir, "%.900s/feedback", cfg->log_dir);
    if (!(tokens = tokens_load(cfg->tokens, err, sizeof err))) {
        fprintf(stderr, "%s\n", err);
        rc = 2;
        goto done;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (!(pl = predlog_open(cfg->log_dir, cfg->log_buffer, cfg->log_flush_ms, cfg->log_segment, err,
                            sizeof err)) ||
        !(fb = feedback_open(cfg, pl, err, sizeof err)) ||
        !(slots = slots_new(cfg, err, sizeof err))) {
        log_error("%s", err);
        goto done;
    }
    slots_poll(slots);
    if (!(api = api_start(cfg, slots, pl, fb, tokens, err, sizeof err))) {
        log_error("%s", err);
        goto done;
    }
    log_info("serving on %s (%zu model%s, %u threads); prediction log in %s/predictions",
             cfg->listen, cfg->nmodels, cfg->nmodels == 1 ? "" : "s", cfg->threads, cfg->log_dir);
    int64_t next_poll = util_mono_ms() + cfg->poll_ms;
    while (!s_stop) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
        if (util_mono_ms() >= next_poll) {
            slots_poll(slots);
            next_poll = util_mono_ms() + cfg->poll_ms;
        }
        feedback_tick(fb);
    }
    log_info("stopping");
    rc = 0;
done:
    api_stop(&api);
    feedback_close(&fb);
    predlog_close(&pl);
    slots_destroy(&slots);
    tokens_destroy(&tokens);
    free(cfg);
    return rc;
}
