/* register — an exec step's model, made something drover can vouch for.
 *
 * An exec step asks for a model version with one line on its output
 * channel (docs/python.md, "Registering a model"):
 *
 *   {"register_model": {"name": "digits", "path": "model.pkl",
 *                       "flavour": "sklearn-pickle", "signature": {...},
 *                       "metrics": {"val_accuracy": 0.93},
 *                       "datasets": ["data/train.csv"]}}
 *
 * The step is untrusted; the worker (trusted runtime) carries the request
 * out once the step has exited 0: it copies the file into the artifact
 * store (artifact_put_file: hashed, written, fsynced, renamed) and hashes
 * each dataset itself. What it did goes to the coordinator as the key
 * "registered" of the Result's outputs (a step cannot write that key: the
 * worker drops it from the step's own output lines), and the coordinator
 * verifies the artifact in the store before it registers the version.
 *
 * Rules (a request that breaks one gives {"error": "..."}, which fails the
 * step with that text):
 *   - path: a regular file (not a symlink, not a folder; relative to the
 *     step's working directory), at most REGISTER_MAX_MODEL bytes; when
 *     the step ran as another user (run_as), a file that user owns, so the
 *     worker never copies what the step itself could not read (without
 *     run_as the step has the worker's own rights);
 *   - name: a model name (util_name_ok); flavour: [a-z0-9._-], 1..64, not
 *     one of drover's own model kinds (softmax, mlp, linear); default
 *     "file";
 *   - metrics: an object of at most 64 numbers; signature: any object;
 *   - datasets: at most 16 CSV files, each named by the step's spec (an
 *     argv element or env value, as written or resolved against the
 *     working directory), the same file rules, at most
 *     REGISTER_MAX_DATASET bytes each; recorded with sha256, rows (lines
 *     after the header) and cols (header fields), role "train".
 *
 * Cost: the worker reads the model twice and each dataset once, in its own
 * loop; the size bounds keep that to a few hundred milliseconds.
 */
#ifndef DROVER_WORKER_REGISTER_H
#define DROVER_WORKER_REGISTER_H

#include <jansson.h>
#include <sys/types.h>

#define REGISTER_MAX_MODEL    (256LL * 1024 * 1024)
#define REGISTER_MAX_DATASET  (256LL * 1024 * 1024)
#define REGISTER_MAX_DATASETS 16
#define REGISTER_MAX_METRICS  64

/* Carries out req (the step's "register_model" object). cwd: the step's
 * working directory (NULL: the worker's); spec_json: the step's spec;
 * run_uid: the step's user when run_as (else (uid_t)-1). Returns a new
 * object: the registration, or {"error": "..."}; NULL only when out of
 * memory. */
json_t *register_model_run(json_t *req, const char *cwd, const char *artifact_dir,
                           const char *spec_json, uid_t run_uid);

#endif
