/* rawsubmit — sends a hand-built SubmitRequest, as a hostile client would.
 *
 * The CLI checks a workflow file before it sends anything, so it cannot
 * test whether the coordinator checks the same rules itself. This tool
 * skips the CLI's loader: it reads a JSON description of the request and
 * packs exactly that into a ClientRequest:
 *
 *   {"workflow": "w", "queue": "q", "priority": 0,
 *    "steps": [{"name": "s", "kind": "exec", "after": ["a"], "retries": 0,
 *               "timeout_ms": 0, "retry_delay_ms": 0,
 *               "spec": {"argv": ["true"]}          (an object: dumped as spec_json)
 *               "spec_json": "[1]",                 (or the raw text)
 *               "resources": {"cpus": 1, "gpus": 0, "memory_bytes": 0, "labels": []}}],
 *    "schedule": {"cron": "...", "timezone": "UTC", "catchup": "none", "max_active": 1},
 *    "trigger": {"watch": "/x", "min_new_rows": 1}}
 *
 * It connects like the CLI (DROVER_COORDINATOR, DROVER_KEY and
 * DROVER_COORDINATOR_KEY; CurveZMQ when the keys are given) and prints one
 * line: "run RUN_ID", or "error CODE: MESSAGE" (CODE the ErrorCode's name).
 *
 * Usage: drover-test-rawsubmit FILE|-    Exit: 0 a run id (or a schedule's
 * message), 1 an error reply, 2 bad usage/input, 3 no reply.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "drover.pb-c.h"
#include "keys.h"
#include "util.h"

static char *s_str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? (char *)json_string_value(v) : NULL;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE|-\n", argv[0]);
        return 2;
    }
    json_error_t je;
    json_t *doc =
        strcmp(argv[1], "-") == 0 ? json_loadf(stdin, 0, &je) : json_load_file(argv[1], 0, &je);
    if (!json_is_object(doc)) {
        fprintf(stderr, "rawsubmit: %s: %s\n", argv[1], doc ? "not an object" : je.text);
        return 2;
    }
    Drover__SubmitRequest sub = DROVER__SUBMIT_REQUEST__INIT;
    sub.workflow = s_str(doc, "workflow");
    sub.queue = s_str(doc, "queue");
    sub.priority = (int32_t)json_integer_value(json_object_get(doc, "priority"));
    sub.source = "rawsubmit";
    json_t *steps = json_object_get(doc, "steps");
    size_t n = json_array_size(steps);
    Drover__StepSpec *specs = calloc(n ? n : 1, sizeof *specs);
    Drover__StepSpec **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    Drover__Resources *res = calloc(n ? n : 1, sizeof *res);
    char **texts = calloc(n ? n : 1, sizeof *texts);
    if (!specs || !ptrs || !res || !texts)
        return 2;
    for (size_t i = 0; i < n; i++) {
        json_t *st = json_array_get(steps, i);
        Drover__StepSpec *s = &specs[i];
        drover__step_spec__init(s);
        s->name = s_str(st, "name");
        s->kind = s_str(st, "kind");
        json_t *after = json_object_get(st, "after");
        s->n_after = json_array_size(after);
        s->after = calloc(s->n_after ? s->n_after : 1, sizeof *s->after);
        for (size_t a = 0; a < s->n_after; a++)
            s->after[a] = (char *)json_string_value(json_array_get(after, a));
        s->retries = (uint32_t)json_integer_value(json_object_get(st, "retries"));
        s->timeout_ms = (uint64_t)json_integer_value(json_object_get(st, "timeout_ms"));
        s->retry_delay_ms = (uint64_t)json_integer_value(json_object_get(st, "retry_delay_ms"));
        json_t *spec = json_object_get(st, "spec");
        texts[i] = spec ? json_dumps(spec, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        s->spec_json = texts[i] ? texts[i] : s_str(st, "spec_json");
        if (!s->spec_json)
            s->spec_json = "{}";
        json_t *r = json_object_get(st, "resources");
        if (r) {
            drover__resources__init(&res[i]);
            res[i].cpus = (uint32_t)json_integer_value(json_object_get(r, "cpus"));
            res[i].gpus = (uint32_t)json_integer_value(json_object_get(r, "gpus"));
            res[i].memory_bytes = (uint64_t)json_integer_value(json_object_get(r, "memory_bytes"));
            json_t *labels = json_object_get(r, "labels");
            res[i].n_labels = json_array_size(labels);
            res[i].labels = calloc(res[i].n_labels ? res[i].n_labels : 1, sizeof(char *));
            for (size_t j = 0; j < res[i].n_labels; j++)
                res[i].labels[j] = (char *)json_string_value(json_array_get(labels, j));
            s->resources = &res[i];
        }
        ptrs[i] = s;
    }
    sub.steps = ptrs;
    sub.n_steps = n;
    Drover__Schedule sc = DROVER__SCHEDULE__INIT;
    Drover__Trigger tr = DROVER__TRIGGER__INIT;
    json_t *js = json_object_get(doc, "schedule");
    if (js) {
        sc.cron = s_str(js, "cron");
        sc.timezone = s_str(js, "timezone");
        sc.catchup = s_str(js, "catchup");
        sc.max_active = (uint32_t)json_integer_value(json_object_get(js, "max_active"));
        sub.schedule = &sc;
    }
    json_t *jt = json_object_get(doc, "trigger");
    if (jt) {
        tr.watch = s_str(jt, "watch");
        tr.min_new_rows = (uint64_t)json_integer_value(json_object_get(jt, "min_new_rows"));
        sub.trigger = &tr;
    }

    const char *ep = getenv("DROVER_COORDINATOR");
    const char *kf = getenv("DROVER_KEY"), *ckf = getenv("DROVER_COORDINATOR_KEY");
    if (!ep) {
        fprintf(stderr, "rawsubmit: set DROVER_COORDINATOR\n");
        return 2;
    }
    client_curve_t curve;
    char err[1200];
    int secure = kf && *kf && ckf && *ckf;
    if (secure) {
        keys_pair_t mine, theirs;
        if (keys_load(kf, 1, &mine, err, sizeof err) < 0 ||
            keys_load(ckf, 0, &theirs, err, sizeof err) < 0) {
            fprintf(stderr, "rawsubmit: %s\n", err);
            return 2;
        }
        util_strlcpy(curve.server_public, theirs.public_z85, sizeof curve.server_public);
        util_strlcpy(curve.public_key, mine.public_z85, sizeof curve.public_key);
        util_strlcpy(curve.secret_key, mine.secret_z85, sizeof curve.secret_key);
        keys_wipe(&mine);
    }
    client_t *c = client_new(ep, secure ? &curve : NULL, err, sizeof err);
    if (!c) {
        fprintf(stderr, "rawsubmit: %s\n", err);
        return 2;
    }
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    req.body_case = DROVER__CLIENT_REQUEST__BODY_SUBMIT;
    req.submit = &sub;
    Drover__ClientReply *rep = client_call(c, &req, 10000);
    int rc;
    if (!rep) {
        fprintf(stderr, "rawsubmit: no reply: %s\n", strerror(errno));
        rc = 3;
    } else if (rep->error != DROVER__ERROR_CODE__ERROR_NONE) {
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value(&drover__error_code__descriptor, rep->error);
        printf("error %s: %s\n", ev ? ev->name : "?", rep->message ? rep->message : "");
        rc = 1;
    } else if (rep->run_id) {
        printf("run %llu\n", (unsigned long long)rep->run_id);
        rc = 0;
    } else {
        printf("ok: %s\n", rep->message ? rep->message : "");
        rc = 0;
    }
    if (rep)
        drover__client_reply__free_unpacked(rep, NULL);
    client_destroy(&c);
    for (size_t i = 0; i < n; i++) {
        free(specs[i].after);
        free(res[i].labels);
        free(texts[i]);
    }
    free(specs);
    free(ptrs);
    free(res);
    free(texts);
    json_decref(doc);
    return rc;
}
