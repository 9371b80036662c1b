/* fuzz_workflow — libFuzzer harness for the workflow parser and validator
 * (workflow_parse: libconfig syntax, per-kind keys, DAG checks, spec_json).
 *
 * The input is the file text. It is given a fixed path in a directory that
 * exists, so relative cwd/dataset paths resolve the same way every run. An
 * accepted workflow must satisfy what the submit path relies on: 1 to
 * WORKFLOW_MAX_STEPS steps, each with a name, a kind and a spec_json that
 * is a JSON object.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "workflow.h"

#define FUZZ_WF_DIR "/tmp/drover-fuzz-wf"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    if (mkdir(FUZZ_WF_DIR, 0700) < 0 && errno != EEXIST)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* workflow_load refuses NUL bytes; the text API takes a C string. */
    if (memchr(data, '\0', size))
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    char err[1024];
    err[0] = '\0';
    workflow_t *wf = workflow_parse(text, FUZZ_WF_DIR "/wf.cfg", err, sizeof err);
    if (!wf) {
        if (!err[0])
            abort();
    } else {
        if (wf->nsteps < 1 || wf->nsteps > WORKFLOW_MAX_STEPS || !wf->name)
            abort();
        for (size_t i = 0; i < wf->nsteps; i++) {
            const workflow_step_t *s = &wf->steps[i];
            if (!s->name || !*s->name || !s->kind || !workflow_kind_known(s->kind) || !s->spec_json)
                abort();
            json_t *j = json_loads(s->spec_json, 0, NULL);
            if (!j || !json_is_object(j))
                abort();
            json_decref(j);
        }
        workflow_destroy(&wf);
        if (wf)
            abort();
    }
    free(text);
    return 0;
}
