/* drover-coordinator — wires the config and the server; nothing else. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "log.h"
#include "server.h"
#include "util.h"

static void s_usage(FILE *f)
{
    fprintf(f,
            "usage: drover-coordinator [--config FILE] [--database CONNINFO]\n"
            "                          [--client-endpoint EP] [--worker-endpoint EP]\n"
            "\n"
            "The coordinator keeps every run and task in PostgreSQL and dispatches tasks\n"
            "to the workers. Run one per cluster (more may run: one is active, the others\n"
            "stand by until it goes away).\n"
            "\n"
            "  --config FILE         libconfig file (default: $DROVER_CONFIG,\n"
            "                        ~/.config/drover/drover.cfg, /etc/drover/drover.cfg)\n"
            "  --database CONNINFO   libpq connection string (overrides coordinator.database;\n"
            "                        PGHOST, PGPORT, PGPASSWORD... apply as usual)\n"
            "  --client-endpoint EP  where `drover` connects (default %s)\n"
            "  --worker-endpoint EP  where workers connect (default %s)\n"
            "  -h, --help            this text\n"
            "  --version             print the version\n"
            "\n"
            "It applies schema migrations at start, retries while the database is down,\n"
            "and stops cleanly on SIGTERM. See docs/operations.md.\n",
            CONFIG_DEFAULT_CLIENT_ENDPOINT, CONFIG_DEFAULT_WORKER_ENDPOINT);
}

int main(int argc, char **argv)
{
    log_init("coordinator");
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"database", required_argument, NULL, 'd'},
        {"client-endpoint", required_argument, NULL, 'C'},
        {"worker-endpoint", required_argument, NULL, 'W'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL, *database = NULL, *cep = NULL, *wep = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': path = optarg; break;
        case 'd': database = optarg; break;
        case 'C': cep = optarg; break;
        case 'W': wep = optarg; break;
        case 'h': s_usage(stdout); return 0;
        case 'V': printf("drover-coordinator %s\n", DROVER_VERSION); return 0;
        default: s_usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "drover-coordinator: unexpected argument '%s'\n", argv[optind]);
        s_usage(stderr);
        return 2;
    }
    conf_t cfg;
    char err[1024];
    if (!path)
        path = conf_default_path();
    if (conf_load(&cfg, path, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    if ((database && util_strlcpy(cfg.coord.database, database, sizeof cfg.coord.database) < 0) ||
        (cep &&
         util_strlcpy(cfg.coord.client_endpoint, cep, sizeof cfg.coord.client_endpoint) < 0) ||
        (wep &&
         util_strlcpy(cfg.coord.worker_endpoint, wep, sizeof cfg.coord.worker_endpoint) < 0)) {
        fprintf(stderr, "drover-coordinator: an option value is too long\n");
        return 2;
    }
    server_t *s = server_new(&cfg);
    if (!s) {
        log_error("cannot start: out of memory");
        return 1;
    }
    int rc = server_run(s);
    server_destroy(&s);
    return rc == 0 ? 0 : 1;
}
