/* serveconf — drover-serve's configuration file (libconfig, like the other
 * daemons' drover.cfg), one group:
 *
 *   serve = {
 *     listen = "127.0.0.1:8480";            # HOST:PORT of the HTTP API
 *     models = [ "claims-damage" ];         # served at their production version
 *     coordinator = "tcp://127.0.0.1:7460"; # the registry is asked here
 *     secret_key = "/etc/drover/keys/serve";          # this client's CURVE key
 *     coordinator_key = "/etc/drover/keys/coordinator.pub";
 *     insecure = false;                     # true: a plain ZeroMQ connection
 *     artifact_dir = "/srv/drover/artifacts";
 *     tokens = "/etc/drover/serve.tokens";  # mode 0600: NAME TOKEN per line
 *     log_dir = "/var/lib/drover-serve";    # prediction log + feedback journal
 *     feedback_dir = "/data/claims/feedback";  # CSV files, one folder a model
 *     poll_interval = "1s";                 # registry poll
 *     threads = 2;                          # HTTP worker threads
 *     max_body = 1048576;                   # bytes of one request
 *     max_batch = 1000;                     # rows of one request
 *     log_buffer = 8388608;                 # bytes of predictions not yet on disk
 *     log_flush = "5ms";                    # group-commit interval
 *     log_segment = 67108864;               # bytes of a log segment file
 *     feedback_rows = 100;                  # corrections per CSV file ...
 *     feedback_flush = "10s";               # ... or this old, whichever first
 *   };
 *
 * Unknown keys and wrong types are errors reported as "file:line: message";
 * relative paths are taken against the config file's folder. */
#ifndef DROVER_SERVECONF_H
#define DROVER_SERVECONF_H

#include <stddef.h>
#include <stdint.h>

#define SERVECONF_MAX_MODELS 16
#define SERVECONF_PATH_MAX   1024
#define SERVECONF_NAME_MAX   128

typedef struct {
    char listen[256];
    char models[SERVECONF_MAX_MODELS][SERVECONF_NAME_MAX];
    size_t nmodels;
    char coordinator[256];
    char secret_key[SERVECONF_PATH_MAX];
    char coordinator_key[SERVECONF_PATH_MAX];
    int insecure;
    char artifact_dir[SERVECONF_PATH_MAX];
    char tokens[SERVECONF_PATH_MAX];
    char log_dir[SERVECONF_PATH_MAX];
    char feedback_dir[SERVECONF_PATH_MAX];
    int64_t poll_ms;
    unsigned threads;
    size_t max_body;
    size_t max_batch;
    size_t log_buffer;
    int64_t log_flush_ms;
    size_t log_segment;
    size_t feedback_rows;
    int64_t feedback_flush_ms;
} serveconf_t;

/* Fills cfg with defaults, then reads path over them. Returns 0, or -1 with
 * "file:line: message" (or "file: message") in err. */
int serveconf_load(serveconf_t *cfg, const char *path, char *err, size_t errlen);

#endif
