/* gen_seeds — writes the seed corpora of the wire and dataset harnesses.
 *
 * Usage: fuzz_gen_seeds DIR   (writes DIR/fuzz_<harness>/<seed>)
 *
 * The checked-in corpora under tests/fuzz/corpus/ were produced by this
 * program; rerun it after changing proto/drover.proto (new fields, new
 * bodies) so the fuzzer starts from messages with every body and field set.
 * Each wire seed is a valid envelope as the daemons send it; the dataset
 * seeds are a selector byte (load options, see fuzz_dataset.c) followed by a
 * small CSV or a "DRVDSET1" file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "drover.pb-c.h"

static const char *s_dir;

static void s_write(const char *harness, const char *name, const void *data, size_t len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", s_dir, harness);
    if (mkdir(path, 0755) < 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof path, "%s/%s/%s", s_dir, harness, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void s_msg(const char *harness, const char *name, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        exit(1);
    protobuf_c_message_pack(m, buf);
    s_write(harness, name, buf, n);
    free(buf);
}

static void s_worker(void)
{
    const char *H = "fuzz_worker_msg";
    Drover__Lease l1 = DROVER__LEASE__INIT, l2 = DROVER__LEASE__INIT;
    l1.task_id = 42;
    l1.attempt = 1;
    l2.task_id = 7;
    l2.attempt = 3;
    Drover__Lease *held[] = {&l1, &l2};

    Drover__WorkerMsg m = DROVER__WORKER_MSG__INIT;
    m.version = 1;
    Drover__Register reg = DROVER__REGISTER__INIT;
    char *labels[] = {"gpu", "zone-a"};
    char *kinds[] = {"exec", "train", "validate", "evaluate", "promote"};
    reg.name = "node-1";
    reg.host = "host.example";
    reg.slots = 8;
    reg.n_labels = 2;
    reg.labels = labels;
    reg.n_kinds = 5;
    reg.kinds = kinds;
    reg.n_held = 2;
    reg.held = held;
    reg.pid = 1234;
    m.body_case = DROVER__WORKER_MSG__BODY_REGISTER;
    m.register_ = &reg;
    s_msg(H, "register", &m.base);

    Drover__Heartbeat hb = DROVER__HEARTBEAT__INIT;
    hb.n_running = 2;
    hb.running = held;
    m.body_case = DROVER__WORKER_MSG__BODY_HEARTBEAT;
    m.heartbeat = &hb;
    s_msg(H, "heartbeat", &m.base);

    Drover__Started st = DROVER__STARTED__INIT;
    st.lease = &l1;
    st.pid = 999;
    st.started_at_us = 1700000000000000;
    m.body_case = DROVER__WORKER_MSG__BODY_STARTED;
    m.started = &st;
    s_msg(H, "started", &m.base);

    Drover__Result r = DROVER__RESULT__INIT;
    r.lease = &l1;
    r.outcome = DROVER__OUTCOME__OUTCOME_EXITED;
    r.exit_code = 3;
    r.error = "exit status 3";
    r.started_at_us = 1700000000000000;
    r.finished_at_us = 1700000001000000;
    r.outputs_json =
        "{\"model\":{\"name\":\"m\",\"version\":1},\"datasets\":[{\"path\":\"/d.csv\"}]}";
    m.body_case = DROVER__WORKER_MSG__BODY_RESULT;
    m.result = &r;
    s_msg(H, "result", &m.base);

    Drover__LogChunk lc = DROVER__LOG_CHUNK__INIT;
    lc.lease = &l1;
    lc.stream = 2;
    lc.offset = 4096;
    lc.data.data = (uint8_t *)"hello \xff\xfe world\n";
    lc.data.len = 16;
    m.body_case = DROVER__WORKER_MSG__BODY_LOG;
    m.log = &lc;
    s_msg(H, "log", &m.base);

    Drover__Metric mt = DROVER__METRIC__INIT;
    mt.lease = &l1;
    mt.seq = 5;
    mt.json = "{\"epoch\":5,\"loss\":0.25,\"val_accuracy\":0.9}";
    m.body_case = DROVER__WORKER_MSG__BODY_METRIC;
    m.metric = &mt;
    s_msg(H, "metric", &m.base);
}

static void s_coord(void)
{
    const char *H = "fuzz_coord_msg";
    Drover__Lease l1 = DROVER__LEASE__INIT;
    l1.task_id = 42;
    l1.attempt = 2;
    Drover__Lease *drop[] = {&l1};
    Drover__CoordMsg m = DROVER__COORD_MSG__INIT;
    m.version = 1;

    Drover__RegisterReply rr = DROVER__REGISTER_REPLY__INIT;
    rr.accepted = 1;
    rr.heartbeat_ms = 1000;
    rr.n_drop = 1;
    rr.drop = drop;
    m.body_case = DROVER__COORD_MSG__BODY_REGISTER_REPLY;
    m.register_reply = &rr;
    s_msg(H, "register_reply", &m.base);
    rr.accepted = 0;
    rr.n_drop = 0;
    rr.reason = "protocol version 2 is not supported";
    s_msg(H, "register_refused", &m.base);

    Drover__Assign a = DROVER__ASSIGN__INIT;
    a.lease = &l1;
    a.run_id = 9;
    a.step = "train";
    a.kind = "exec";
    a.spec_json = "{\"argv\":[\"echo\",\"hi\"],\"env\":{\"A\":\"1\"},\"cwd\":\"/tmp\"}";
    a.timeout_ms = 60000;
    m.body_case = DROVER__COORD_MSG__BODY_ASSIGN;
    m.assign = &a;
    s_msg(H, "assign", &m.base);

    Drover__Kill k = DROVER__KILL__INIT;
    k.lease = &l1;
    m.body_case = DROVER__COORD_MSG__BODY_KILL;
    m.kill = &k;
    s_msg(H, "kill", &m.base);

    Drover__ResultAck ack = DROVER__RESULT_ACK__INIT;
    ack.lease = &l1;
    m.body_case = DROVER__COORD_MSG__BODY_RESULT_ACK;
    m.result_ack = &ack;
    s_msg(H, "result_ack", &m.base);

    Drover__Reregister re = DROVER__REREGISTER__INIT;
    m.body_case = DROVER__COORD_MSG__BODY_REREGISTER;
    m.reregister = &re;
    s_msg(H, "reregister", &m.base);
}

static void s_request(void)
{
    const char *H = "fuzz_client_request";
    Drover__ClientRequest m = DROVER__CLIENT_REQUEST__INIT;
    m.version = 1;
    m.request_id = 17;

    Drover__StepSpec s1 = DROVER__STEP_SPEC__INIT, s2 = DROVER__STEP_SPEC__INIT;
    s1.name = "fetch";
    s1.kind = "exec";
    s1.spec_json = "{\"argv\":[\"echo\",\"fetch\"]}";
    char *after[] = {"fetch"};
    s2.name = "train";
    s2.kind = "train";
    s2.n_after = 1;
    s2.after = after;
    s2.retries = 2;
    s2.timeout_ms = 600000;
    s2.retry_delay_ms = 1000;
    s2.spec_json = "{\"dataset\":\"/data/train.csv\",\"label\":\"y\",\"model\":\"logreg\"}";
    Drover__StepSpec *steps[] = {&s1, &s2};
    Drover__SubmitRequest sub = DROVER__SUBMIT_REQUEST__INIT;
    sub.workflow = "hello";
    sub.n_steps = 2;
    sub.steps = steps;
    sub.source = "examples/hello/pipeline.cfg";
    sub.submitted_by = "alice@host";
    m.body_case = DROVER__CLIENT_REQUEST__BODY_SUBMIT;
    m.submit = &sub;
    s_msg(H, "submit", &m.base);

    Drover__RunsRequest runs = DROVER__RUNS_REQUEST__INIT;
    runs.limit = 20;
    m.body_case = DROVER__CLIENT_REQUEST__BODY_RUNS;
    m.runs = &runs;
    s_msg(H, "runs", &m.base);

    Drover__StatusRequest st = DROVER__STATUS_REQUEST__INIT;
    st.run_id = 3;
    st.known_version = 5;
    st.wait_ms = 1000;
    m.body_case = DROVER__CLIENT_REQUEST__BODY_STATUS;
    m.status = &st;
    s_msg(H, "status", &m.base);

    Drover__LogsRequest lg = DROVER__LOGS_REQUEST__INIT;
    lg.run_id = 3;
    lg.step = "train";
    lg.attempt = 1;
    lg.stdout_offset = 100;
    lg.stderr_offset = 5;
    lg.wait_ms = 500;
    m.body_case = DROVER__CLIENT_REQUEST__BODY_LOGS;
    m.logs = &lg;
    s_msg(H, "logs", &m.base);

    Drover__CancelRequest c = DROVER__CANCEL_REQUEST__INIT;
    c.run_id = 3;
    m.body_case = DROVER__CLIENT_REQUEST__BODY_CANCEL;
    m.cancel = &c;
    s_msg(H, "cancel", &m.base);

    Drover__WorkersRequest w = DROVER__WORKERS_REQUEST__INIT;
    m.body_case = DROVER__CLIENT_REQUEST__BODY_WORKERS;
    m.workers = &w;
    s_msg(H, "workers", &m.base);

    Drover__InfoRequest in = DROVER__INFO_REQUEST__INIT;
    m.body_case = DROVER__CLIENT_REQUEST__BODY_INFO;
    m.info = &in;
    s_msg(H, "info", &m.base);

    Drover__StepDataRequest sd = DROVER__STEP_DATA_REQUEST__INIT;
    sd.run_id = 3;
    sd.step = "evaluate";
    m.body_case = DROVER__CLIENT_REQUEST__BODY_REPORT;
    m.report = &sd;
    s_msg(H, "report", &m.base);
    m.body_case = DROVER__CLIENT_REQUEST__BODY_METRICS;
    m.metrics = &sd;
    s_msg(H, "metrics", &m.base);

    Drover__ModelsRequest md = DROVER__MODELS_REQUEST__INIT;
    md.name = "claims-damage";
    md.version = 2;
    m.body_case = DROVER__CLIENT_REQUEST__BODY_MODELS;
    m.models = &md;
    s_msg(H, "models", &m.base);

    Drover__PromoteRequest pr = DROVER__PROMOTE_REQUEST__INIT;
    pr.name = "claims-damage";
    pr.version = 2;
    pr.stage = "production";
    pr.by = "alice@host";
    pr.reason = "beats v1 on the holdout";
    m.body_case = DROVER__CLIENT_REQUEST__BODY_PROMOTE;
    m.promote = &pr;
    s_msg(H, "promote", &m.base);
}

static void s_reply(void)
{
    const char *H = "fuzz_client_reply";
    Drover__ClientReply m = DROVER__CLIENT_REPLY__INIT;
    m.version = 1;
    m.request_id = 17;
    m.run_id = 3;

    Drover__RunInfo ri = DROVER__RUN_INFO__INIT;
    ri.id = 3;
    ri.workflow = "hello";
    ri.state = DROVER__RUN_STATE__RUN_RUNNING;
    ri.submitted_at_us = 1700000000000000;
    ri.tasks_total = 2;
    ri.tasks_done = 1;
    ri.version = 4;
    Drover__RunInfo *runs[] = {&ri};
    Drover__TaskInfo t = DROVER__TASK_INFO__INIT;
    char *after[] = {"fetch"};
    t.id = 11;
    t.name = "train";
    t.kind = "train";
    t.state = DROVER__TASK_STATE__TASK_FAILED;
    t.attempt = 1;
    t.worker = "node-1";
    t.has_exit_code = 1;
    t.exit_code = 2;
    t.error = "exit status 2";
    t.n_after = 1;
    t.after = after;
    Drover__TaskInfo *tasks[] = {&t};
    m.n_runs = 1;
    m.runs = runs;
    m.n_tasks = 1;
    m.tasks = tasks;
    s_msg(H, "status", &m.base);

    Drover__ClientReply w = DROVER__CLIENT_REPLY__INIT;
    w.version = 1;
    w.request_id = 18;
    Drover__WorkerInfo wi = DROVER__WORKER_INFO__INIT;
    char *labels[] = {"gpu"};
    wi.name = "node-1";
    wi.host = "host.example";
    wi.slots = 4;
    wi.running = 1;
    wi.n_labels = 1;
    wi.labels = labels;
    wi.connected = 1;
    Drover__WorkerInfo *wis[] = {&wi};
    w.n_workers = 1;
    w.workers = wis;
    s_msg(H, "workers", &w.base);

    Drover__ClientReply l = DROVER__CLIENT_REPLY__INIT;
    l.version = 1;
    Drover__LogsReply lr = DROVER__LOGS_REPLY__INIT;
    lr.attempt = 1;
    lr.stdout_data.data = (uint8_t *)"out\n";
    lr.stdout_data.len = 4;
    lr.stderr_data.data = (uint8_t *)"err\n";
    lr.stderr_data.len = 4;
    lr.stdout_offset = 4;
    lr.stderr_offset = 4;
    lr.finished = 1;
    lr.state = DROVER__TASK_STATE__TASK_SUCCEEDED;
    l.logs = &lr;
    s_msg(H, "logs", &l.base);

    Drover__ClientReply i = DROVER__CLIENT_REPLY__INIT;
    i.version = 1;
    Drover__CoordinatorInfo ci = DROVER__COORDINATOR_INFO__INIT;
    ci.version = 1;
    ci.build = "drover 0.1.0";
    ci.dropped_messages = 2;
    ci.workers = 2;
    i.info = &ci;
    s_msg(H, "info", &i.base);

    Drover__ClientReply e = DROVER__CLIENT_REPLY__INIT;
    e.version = 1;
    e.error = DROVER__ERROR_CODE__ERROR_BAD_REQUEST;
    e.message = "step 'b' depends on unknown step 'x'";
    s_msg(H, "error", &e.base);
    e.error = DROVER__ERROR_CODE__ERROR_NONE;
    e.message = "";
    e.json = "{\"models\":[{\"name\":\"m\",\"version\":1,\"stage\":\"staging\"}]}";
    s_msg(H, "json", &e.base);
}

/* Dataset seeds: a selector byte (fuzz_dataset.c) then the file. */
static void s_seed(const char *harness, const char *name, uint8_t sel, const void *data, size_t len)
{
    uint8_t *buf = malloc(len + 1);
    if (!buf)
        exit(1);
    buf[0] = sel;
    memcpy(buf + 1, data, len);
    s_write(harness, name, buf, len + 1);
    free(buf);
}

static void s_csv(void)
{
    const char *H = "fuzz_dataset_csv";
    /* sel: bits 0-1 label (none, "label", "y", "label"+fixed classes),
     * bits 2-3 kind (auto, class, value, none), bit 4 hash. */
    static const char a[] = "age,income,label\n34,52000.5,yes\n51,,no\n29,31000,yes\n";
    s_seed(H, "class_auto", 0x11, a, sizeof a - 1);
    static const char b[] = "\xEF\xBB\xBFx,\"y\"\r\n1.5,2\r\n-3e2,\"4\"\r\n,nan\r\n";
    s_seed(H, "bom_crlf_value", 0x0A, b, sizeof b - 1);
    static const char c[] = "a,\"b,c\",label\n1,2,0\n3,4,1\n\n5,6,1";
    s_seed(H, "quoted_fixed_classes", 0x03, c, sizeof c - 1);
    static const char d[] = "f0,f1\n1,2\n1,2\n3,4\n";
    s_seed(H, "nolabel_dupes", 0x00, d, sizeof d - 1);
    static const char e[] = "name,label\n\"multi\nline\",a\n\"x\"\"y\",b\n";
    s_seed(H, "multiline_bad_number", 0x01, e, sizeof e - 1);
}

static void s_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void s_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void s_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* A DRVDSET1 file: cols features, rows rows, kind 0/1/2 with names. */
static size_t s_bin(uint8_t *out, uint32_t kind, uint64_t rows, uint32_t cols,
                    const char *const *names, const char *label, const char *const *classes,
                    uint32_t nclasses)
{
    uint64_t names_bytes = 2 + strlen(label);
    for (uint32_t c = 0; c < cols; c++)
        names_bytes += 2 + strlen(names[c]);
    for (uint32_t k = 0; k < nclasses; k++)
        names_bytes += 2 + strlen(classes[k]);
    uint64_t data_off = (64 + names_bytes + 63) / 64 * 64;
    memset(out, 0, (size_t)data_off);
    memcpy(out, "DRVDSET1", 8);
    s_put_u32(out + 8, 1);
    s_put_u32(out + 12, kind);
    s_put_u64(out + 16, rows);
    s_put_u32(out + 24, cols);
    s_put_u32(out + 28, nclasses);
    s_put_u64(out + 32, names_bytes);
    s_put_u64(out + 40, data_off);
    uint8_t *p = out + 64;
    for (uint32_t c = 0; c < cols; c++) {
        size_t k = strlen(names[c]);
        s_put_u16(p, (uint16_t)k);
        memcpy(p + 2, names[c], k);
        p += 2 + k;
    }
    size_t n = strlen(label);
    s_put_u16(p, (uint16_t)n);
    memcpy(p + 2, label, n);
    p += 2 + n;
    for (uint32_t k = 0; k < nclasses; k++) {
        n = strlen(classes[k]);
        s_put_u16(p, (uint16_t)n);
        memcpy(p + 2, classes[k], n);
        p += 2 + n;
    }
    uint8_t *d = out + data_off;
    for (uint64_t i = 0; i < rows * cols; i++) {
        float f = i == 1 ? __builtin_nanf("") : (float)i * 0.5f;
        memcpy(d, &f, 4);
        d += 4;
    }
    for (uint64_t i = 0; kind != 0 && i < rows; i++) {
        if (kind == 1) {
            int32_t v = (int32_t)(i % nclasses);
            memcpy(d, &v, 4);
        } else {
            float v = (float)i * 1.25f;
            memcpy(d, &v, 4);
        }
        d += 4;
    }
    return (size_t)(d - out);
}

static void s_binary(void)
{
    const char *H = "fuzz_dataset_bin";
    static uint8_t buf[4096];
    static const char *const names[] = {"age", "income", "region"};
    static const char *const classes[] = {"no", "yes"};
    size_t n = s_bin(buf, 1, 4, 3, names, "label", classes, 2);
    s_seed(H, "class", 0x01, buf, n);
    s_seed(H, "class_hash_nolabel_opt", 0x10, buf, n);
    n = s_bin(buf, 2, 3, 2, names, "price", NULL, 0);
    s_seed(H, "value", 0x00, buf, n);
    n = s_bin(buf, 0, 5, 1, names, "", NULL, 0);
    s_seed(H, "nolabel", 0x00, buf, n);
    n = s_bin(buf, 0, 0, 0, names, "", NULL, 0);
    s_seed(H, "empty", 0x00, buf, n);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    s_dir = argv[1];
    if (mkdir(s_dir, 0755) < 0 && errno != EEXIST) {
        perror(s_dir);
        return 1;
    }
    s_worker();
    s_coord();
    s_request();
    s_reply();
    s_csv();
    s_binary();
    return 0;
}
