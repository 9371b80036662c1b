/* fuzz_conf — libFuzzer harness for conf_load (the libconfig file shared by
 * the three programs). The input is written to a per-process tmpfs file.
 * An accepted file must leave every fixed-size field NUL-terminated and the
 * label count within CONFIG_MAX_LABELS (the daemons copy these as C strings).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TERMINATED(a) (memchr((a), '\0', sizeof(a)) != NULL)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_tmp_path(".cfg");
    fuzz_write_file(path, data, size);
    conf_t cfg;
    char err[1024];
    err[0] = '\0';
    if (conf_load(&cfg, path, err, sizeof err) < 0) {
        if (!err[0])
            abort();
        return 0;
    }
    if (!TERMINATED(cfg.coord.client_endpoint) || !TERMINATED(cfg.coord.worker_endpoint) ||
        !TERMINATED(cfg.coord.database) || !TERMINATED(cfg.worker.coordinator) ||
        !TERMINATED(cfg.worker.name) || !TERMINATED(cfg.worker.work_dir) ||
        !TERMINATED(cfg.worker.artifact_dir) || !TERMINATED(cfg.cli.coordinator) ||
        !TERMINATED(cfg.path))
        abort();
    if (cfg.worker.nlabels < 0 || cfg.worker.nlabels > CONFIG_MAX_LABELS)
        abort();
    for (int i = 0; i < cfg.worker.nlabels; i++)
        if (!TERMINATED(cfg.worker.labels[i]))
            abort();
    return 0;
}
