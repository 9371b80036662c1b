/* test_wirecheck — unit tests of common/wirecheck.c, the decode-and-validate
 * path of every envelope.
 *
 * Table-driven: each case starts from a valid message of one body (built by
 * a fixture), applies one mutation, packs it and runs the wirecheck_*
 * function on the bytes. A case expects either acceptance or refusal with a
 * reason containing a given text. Limits are tested on both sides of the
 * bound (127 bytes passes, 128 fails) so an off-by-one in either direction
 * fails a case. Separate tests cover garbage bytes, sanitizing of accepted
 * messages, the ignored version field, wirecheck_request_id, and that every
 * checked-in wire seed of tests/fuzz/corpus is accepted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"
#include "wirecheck.h"

/* Strings made by s_rep for the current case; s_rep_free releases them. */
static char *s_reps[16];
static size_t s_nreps;

static void s_rep_free(void)
{
    for (size_t i = 0; i < s_nreps; i++)
        free(s_reps[i]);
    s_nreps = 0;
}

/* A string of n copies of c, freed by s_rep_free after the case. */
static char *s_rep(char c, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    assert_true(s_nreps < sizeof s_reps / sizeof s_reps[0]);
    s_reps[s_nreps++] = s;
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static uint8_t *s_pack(const ProtobufCMessage *m, size_t *n)
{
    *n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(*n ? *n : 1);
    assert_non_null(buf);
    assert_int_equal(protobuf_c_message_pack(m, buf), *n);
    return buf;
}

/* --------------------------------------------------------- fixtures --- */

/* Everything one message of any envelope points to, valid by default. */
typedef struct {
    Drover__Lease lease, lease2;
    Drover__Lease *leases[2];
    char *labels[40], *kinds[20], *after[2];
    Drover__WorkerMsg wm;
    Drover__Register reg;
    Drover__Heartbeat hb;
    Drover__Started st;
    Drover__Result res;
    Drover__LogChunk log;
    Drover__Metric met;
    Drover__CoordMsg cm;
    Drover__RegisterReply rr;
    Drover__Assign as;
    Drover__Kill kill;
    Drover__ResultAck ack;
    Drover__Reregister rereg;
    Drover__ClientRequest rq;
    Drover__SubmitRequest sub;
    Drover__StepSpec step1, step2;
    Drover__StepSpec *steps[2];
    Drover__RunsRequest runs;
    Drover__StatusRequest status;
    Drover__LogsRequest logs;
    Drover__CancelRequest cancel;
    Drover__StepDataRequest sd;
    Drover__ModelsRequest models;
    Drover__PromoteRequest promote;
    Drover__ApproveRequest approve;
    Drover__WorkflowNotify notify;
    Drover__WorkersRequest workers;
    Drover__InfoRequest info;
    Drover__ClientReply rp;
    Drover__RunInfo run;
    Drover__RunInfo *runsv[1];
    Drover__TaskInfo task;
    Drover__TaskInfo *tasksv[1];
    Drover__WorkerInfo winfo;
    Drover__WorkerInfo *winfov[1];
} fx_t;

static void s_fixture(fx_t *f)
{
    memset(f, 0, sizeof *f);
    drover__lease__init(&f->lease);
    f->lease.task_id = 42;
    f->lease.attempt = 1;
    drover__lease__init(&f->lease2);
    f->lease2.task_id = 43;
    f->lease2.attempt = 2;
    f->leases[0] = &f->lease;
    f->leases[1] = &f->lease2;
    for (size_t i = 0; i < 40; i++)
        f->labels[i] = "gpu";
    for (size_t i = 0; i < 20; i++)
        f->kinds[i] = "exec";
    f->after[0] = "a";
    f->after[1] = "b";

    drover__worker_msg__init(&f->wm);
    f->wm.version = DROVER_PROTOCOL_VERSION;
    drover__register__init(&f->reg);
    f->reg.name = "node-1";
    f->reg.host = "host";
    f->reg.slots = 4;
    f->reg.n_labels = 1;
    f->reg.labels = f->labels;
    f->reg.n_kinds = 1;
    f->reg.kinds = f->kinds;
    f->reg.n_held = 2;
    f->reg.held = f->leases;
    drover__heartbeat__init(&f->hb);
    f->hb.n_running = 1;
    f->hb.running = f->leases;
    drover__started__init(&f->st);
    f->st.lease = &f->lease;
    drover__result__init(&f->res);
    f->res.lease = &f->lease;
    f->res.outcome = DROVER__OUTCOME__OUTCOME_EXITED;
    f->res.error = "boom";
    f->res.outputs_json = "{}";
    drover__log_chunk__init(&f->log);
    f->log.lease = &f->lease;
    f->log.stream = 1;
    f->log.data.data = (uint8_t *)"hi\n";
    f->log.data.len = 3;
    drover__metric__init(&f->met);
    f->met.lease = &f->lease;
    f->met.json = "{\"epoch\":1}";

    drover__coord_msg__init(&f->cm);
    f->cm.version = DROVER_PROTOCOL_VERSION;
    drover__register_reply__init(&f->rr);
    f->rr.accepted = 1;
    f->rr.n_drop = 1;
    f->rr.drop = f->leases;
    drover__assign__init(&f->as);
    f->as.lease = &f->lease;
    f->as.run_id = 7;
    f->as.step = "train";
    f->as.kind = "exec";
    f->as.spec_json = "{}";
    drover__kill__init(&f->kill);
    f->kill.lease = &f->lease;
    drover__result_ack__init(&f->ack);
    f->ack.lease = &f->lease;
    drover__reregister__init(&f->rereg);

    drover__client_request__init(&f->rq);
    f->rq.version = DROVER_PROTOCOL_VERSION;
    f->rq.request_id = 5;
    drover__submit_request__init(&f->sub);
    drover__step_spec__init(&f->step1);
    drover__step_spec__init(&f->step2);
    f->step1.name = "a";
    f->step1.kind = "exec";
    f->step1.spec_json = "{}";
    f->step2.name = "b";
    f->step2.kind = "exec";
    f->step2.spec_json = "{}";
    f->step2.n_after = 1;
    f->step2.after = f->after;
    f->steps[0] = &f->step1;
    f->steps[1] = &f->step2;
    f->sub.workflow = "wf";
    f->sub.n_steps = 2;
    f->sub.steps = f->steps;
    drover__runs_request__init(&f->runs);
    drover__status_request__init(&f->status);
    f->status.run_id = 3;
    drover__logs_request__init(&f->logs);
    f->logs.run_id = 3;
    f->logs.step = "a";
    drover__cancel_request__init(&f->cancel);
    f->cancel.run_id = 3;
    drover__step_data_request__init(&f->sd);
    f->sd.run_id = 3;
    f->sd.step = "a";
    drover__models_request__init(&f->models);
    drover__promote_request__init(&f->promote);
    f->promote.name = "m";
    f->promote.version = 1;
    f->promote.stage = "staging";
    drover__approve_request__init(&f->approve);
    f->approve.run_id = 3;
    f->approve.step = "review";
    f->approve.approve = 1;
    f->approve.reason = "fine";
    drover__workflow_notify__init(&f->notify);
    f->notify.webhook = "https://hooks.example.com/ml";
    drover__workers_request__init(&f->workers);
    drover__info_request__init(&f->info);

    drover__client_reply__init(&f->rp);
    f->rp.version = DROVER_PROTOCOL_VERSION;
    drover__run_info__init(&f->run);
    f->run.id = 3;
    f->run.workflow = "wf";
    f->runsv[0] = &f->run;
    drover__task_info__init(&f->task);
    f->task.name = "a";
    f->task.kind = "exec";
    f->task.n_after = 1;
    f->task.after = f->after;
    f->tasksv[0] = &f->task;
    drover__worker_info__init(&f->winfo);
    f->winfo.name = "node-1";
    f->winfo.n_labels = 1;
    f->winfo.labels = f->labels;
    f->winfov[0] = &f->winfo;
    f->rp.n_runs = 1;
    f->rp.runs = f->runsv;
    f->rp.n_tasks = 1;
    f->rp.tasks = f->tasksv;
    f->rp.n_workers = 1;
    f->rp.workers = f->winfov;
}

/* ------------------------------------------------------ worker cases --- */

typedef struct {
    const char *what;
    Drover__WorkerMsg__BodyCase body;
    void (*mutate)(fx_t *f);
    const char *reason; /* NULL: accepted */
} wcase_t;

static void m_none(fx_t *f)
{
    (void)f;
}
static void m_name_empty(fx_t *f)
{
    f->reg.name = "";
}
static void m_name_127(fx_t *f)
{
    f->reg.name = s_rep('n', 127);
}
static void m_name_128(fx_t *f)
{
    f->reg.name = s_rep('n', 128);
}
static void m_host_256(fx_t *f)
{
    f->reg.host = s_rep('h', 256);
}
static void m_slots_4096(fx_t *f)
{
    f->reg.slots = 4096;
}
static void m_slots_4097(fx_t *f)
{
    f->reg.slots = 4097;
}
static void m_labels_32(fx_t *f)
{
    f->reg.n_labels = 32;
}
static void m_labels_33(fx_t *f)
{
    f->reg.n_labels = 33;
}
static void m_label_63(fx_t *f)
{
    f->labels[0] = s_rep('l', 63);
}
static void m_label_64(fx_t *f)
{
    f->labels[0] = s_rep('l', 64);
}
static void m_kinds_16(fx_t *f)
{
    f->reg.n_kinds = 16;
}
static void m_kinds_17(fx_t *f)
{
    f->reg.n_kinds = 17;
}
static void m_kind_31(fx_t *f)
{
    f->kinds[0] = s_rep('k', 31);
}
static void m_kind_32(fx_t *f)
{
    f->kinds[0] = s_rep('k', 32);
}
static void m_kind_empty(fx_t *f)
{
    f->kinds[0] = "";
}
static void m_rf_gpu(fx_t *f)
{
    f->reg.reserve_for = "gpu";
}
static void m_rf_own(fx_t *f)
{
    f->labels[0] = "a10";
    f->reg.reserve_for = "a10";
}
static void m_rf_other(fx_t *f)
{
    f->reg.reserve_for = "a100";
}
static void m_rf_empty(fx_t *f)
{
    f->reg.reserve_for = "";
}
/* Gang steps (docs/distributed.md). */
static void m_adv_ok(fx_t *f)
{
    f->reg.advertise_addr = "10.0.0.11";
    f->reg.gang_port_lo = 29400;
    f->reg.gang_port_hi = 29499;
}
static void m_adv_bad(fx_t *f)
{
    f->reg.advertise_addr = "10.0.0.1 slots=99\nevil";
}
static void m_ports_low(fx_t *f)
{
    f->reg.gang_port_lo = 22;
    f->reg.gang_port_hi = 80;
}
static void m_ports_wide(fx_t *f)
{
    f->reg.gang_port_lo = 1024;
    f->reg.gang_port_hi = 65535;
}
static void m_held_big(fx_t *f)
{
    static Drover__Lease *many[WIRECHECK_MAX_LEASES + 1];
    for (size_t i = 0; i <= WIRECHECK_MAX_LEASES; i++)
        many[i] = &f->lease;
    f->reg.held = many;
    f->reg.n_held = WIRECHECK_MAX_LEASES + 1;
}
static void m_lease_task_big(fx_t *f)
{
    f->lease.task_id = (uint64_t)INT64_MAX + 1;
}
static void m_lease_attempt_big(fx_t *f)
{
    f->lease.attempt = (uint32_t)INT32_MAX + 1u;
}
static void m_no_lease(fx_t *f)
{
    f->st.lease = NULL;
    f->res.lease = NULL;
    f->log.lease = NULL;
    f->met.lease = NULL;
}
static void m_error_4096(fx_t *f)
{
    f->res.error = s_rep('e', 4096);
}
static void m_error_4097(fx_t *f)
{
    f->res.error = s_rep('e', 4097);
}
static void m_outputs_big(fx_t *f)
{
    f->res.outputs_json = s_rep('o', WIRECHECK_MAX_OUTPUTS_JSON + 1);
}
static void m_outcome_unknown(fx_t *f)
{
    f->res.outcome = (Drover__Outcome)77;
}
static void m_stream_0(fx_t *f)
{
    f->log.stream = 0;
}
static void m_stream_2(fx_t *f)
{
    f->log.stream = 2;
}
static void m_stream_3(fx_t *f)
{
    f->log.stream = 3;
}
static void m_offset_wrap(fx_t *f)
{
    f->log.offset = (uint64_t)INT64_MAX - 1;
}
static void m_metric_64k(fx_t *f)
{
    f->met.json = s_rep('j', WIRECHECK_MAX_METRIC_JSON);
}
static void m_metric_big(fx_t *f)
{
    f->met.json = s_rep('j', WIRECHECK_MAX_METRIC_JSON + 1);
}

static const wcase_t s_wcases[] = {
    {"valid register", DROVER__WORKER_MSG__BODY_REGISTER, m_none, NULL},
    {"empty name", DROVER__WORKER_MSG__BODY_REGISTER, m_name_empty, "name of 1 to 127"},
    {"name 127", DROVER__WORKER_MSG__BODY_REGISTER, m_name_127, NULL},
    {"name 128", DROVER__WORKER_MSG__BODY_REGISTER, m_name_128, "name of 1 to 127"},
    {"host 256", DROVER__WORKER_MSG__BODY_REGISTER, m_host_256, "host"},
    {"slots 4096", DROVER__WORKER_MSG__BODY_REGISTER, m_slots_4096, NULL},
    {"slots 4097", DROVER__WORKER_MSG__BODY_REGISTER, m_slots_4097, "4097 slots"},
    {"32 labels", DROVER__WORKER_MSG__BODY_REGISTER, m_labels_32, NULL},
    {"33 labels", DROVER__WORKER_MSG__BODY_REGISTER, m_labels_33, "33 register labels"},
    {"label 63", DROVER__WORKER_MSG__BODY_REGISTER, m_label_63, NULL},
    {"label 64", DROVER__WORKER_MSG__BODY_REGISTER, m_label_64, "register labels entry 1"},
    {"16 kinds", DROVER__WORKER_MSG__BODY_REGISTER, m_kinds_16, NULL},
    {"17 kinds", DROVER__WORKER_MSG__BODY_REGISTER, m_kinds_17, "17 register kinds"},
    {"kind 31", DROVER__WORKER_MSG__BODY_REGISTER, m_kind_31, NULL},
    {"kind 32", DROVER__WORKER_MSG__BODY_REGISTER, m_kind_32, "register kinds entry 1"},
    {"empty kind", DROVER__WORKER_MSG__BODY_REGISTER, m_kind_empty, "register kinds entry 1"},
    {"reserve_for gpu", DROVER__WORKER_MSG__BODY_REGISTER, m_rf_gpu, NULL},
    {"reserve_for own label", DROVER__WORKER_MSG__BODY_REGISTER, m_rf_own, NULL},
    {"reserve_for empty", DROVER__WORKER_MSG__BODY_REGISTER, m_rf_empty, NULL},
    {"reserve_for not its label", DROVER__WORKER_MSG__BODY_REGISTER, m_rf_other,
     "reserve_for must be"},
    {"too many held", DROVER__WORKER_MSG__BODY_REGISTER, m_held_big, "leases (at most"},
    {"gang address and ports", DROVER__WORKER_MSG__BODY_REGISTER, m_adv_ok, NULL},
    {"advertise_addr with a newline", DROVER__WORKER_MSG__BODY_REGISTER, m_adv_bad,
     "advertise_addr must be"},
    {"gang ports below 1024", DROVER__WORKER_MSG__BODY_REGISTER, m_ports_low, "gang ports"},
    {"gang ports too many", DROVER__WORKER_MSG__BODY_REGISTER, m_ports_wide, "gang ports"},
    {"held task id > int64", DROVER__WORKER_MSG__BODY_REGISTER, m_lease_task_big,
     "out-of-range lease"},
    {"valid heartbeat", DROVER__WORKER_MSG__BODY_HEARTBEAT, m_none, NULL},
    {"running attempt > int32", DROVER__WORKER_MSG__BODY_HEARTBEAT, m_lease_attempt_big,
     "out-of-range lease"},
    {"valid started", DROVER__WORKER_MSG__BODY_STARTED, m_none, NULL},
    {"started no lease", DROVER__WORKER_MSG__BODY_STARTED, m_no_lease, "started without a lease"},
    {"valid result", DROVER__WORKER_MSG__BODY_RESULT, m_none, NULL},
    {"result no lease", DROVER__WORKER_MSG__BODY_RESULT, m_no_lease, "result without a lease"},
    {"error 4096", DROVER__WORKER_MSG__BODY_RESULT, m_error_4096, NULL},
    {"error 4097", DROVER__WORKER_MSG__BODY_RESULT, m_error_4097, "error text"},
    {"outputs too big", DROVER__WORKER_MSG__BODY_RESULT, m_outputs_big, "outputs_json"},
    {"unknown outcome kept", DROVER__WORKER_MSG__BODY_RESULT, m_outcome_unknown, NULL},
    {"valid log", DROVER__WORKER_MSG__BODY_LOG, m_none, NULL},
    {"log no lease", DROVER__WORKER_MSG__BODY_LOG, m_no_lease, "log chunk without a lease"},
    {"stream 0", DROVER__WORKER_MSG__BODY_LOG, m_stream_0, "stream 0"},
    {"stream 2", DROVER__WORKER_MSG__BODY_LOG, m_stream_2, NULL},
    {"stream 3", DROVER__WORKER_MSG__BODY_LOG, m_stream_3, "stream 3"},
    {"offset overflow", DROVER__WORKER_MSG__BODY_LOG, m_offset_wrap, "offset out of range"},
    {"valid metric", DROVER__WORKER_MSG__BODY_METRIC, m_none, NULL},
    {"metric no lease", DROVER__WORKER_MSG__BODY_METRIC, m_no_lease, "metric without a lease"},
    {"metric 64 KiB", DROVER__WORKER_MSG__BODY_METRIC, m_metric_64k, NULL},
    {"metric too big", DROVER__WORKER_MSG__BODY_METRIC, m_metric_big, "metric json"},
    {"no body", DROVER__WORKER_MSG__BODY__NOT_SET, m_none, "without a body"},
};

static void s_set_worker_body(fx_t *f, Drover__WorkerMsg__BodyCase b)
{
    f->wm.body_case = b;
    switch (b) {
    case DROVER__WORKER_MSG__BODY_REGISTER: f->wm.register_ = &f->reg; break;
    case DROVER__WORKER_MSG__BODY_HEARTBEAT: f->wm.heartbeat = &f->hb; break;
    case DROVER__WORKER_MSG__BODY_STARTED: f->wm.started = &f->st; break;
    case DROVER__WORKER_MSG__BODY_RESULT: f->wm.result = &f->res; break;
    case DROVER__WORKER_MSG__BODY_LOG: f->wm.log = &f->log; break;
    case DROVER__WORKER_MSG__BODY_METRIC: f->wm.metric = &f->met; break;
    default: break;
    }
}

static void s_expect(const char *what, void *msg, const char *why, const char *reason)
{
    if (!reason) {
        if (!msg)
            fail_msg("%s: refused (%s), expected acceptance", what, why);
        return;
    }
    if (msg)
        fail_msg("%s: accepted, expected refusal with '%s'", what, reason);
    if (!strstr(why, reason))
        fail_msg("%s: reason '%s' does not contain '%s'", what, why, reason);
}

static void t_worker_cases(void **state)
{
    (void)state;
    static fx_t f;
    for (size_t i = 0; i < sizeof s_wcases / sizeof s_wcases[0]; i++) {
        const wcase_t *c = &s_wcases[i];
        s_fixture(&f);
        c->mutate(&f);
        s_set_worker_body(&f, c->body);
        size_t n;
        uint8_t *buf = s_pack(&f.wm.base, &n);
        char why[256] = "";
        Drover__WorkerMsg *m = wirecheck_worker_msg(buf, n, why, sizeof why);
        s_expect(c->what, m, why, c->reason);
        if (m) {
            assert_int_equal(m->body_case, c->body);
            drover__worker_msg__free_unpacked(m, NULL);
        }
        free(buf);
        s_rep_free();
    }
}

/* ------------------------------------------------- coordinator cases --- */

typedef struct {
    const char *what;
    Drover__CoordMsg__BodyCase body;
    void (*mutate)(fx_t *f);
    const char *reason;
} ccase_t;

static void m_c_no_lease(fx_t *f)
{
    f->as.lease = NULL;
    f->kill.lease = NULL;
    f->ack.lease = NULL;
}
static void m_assign_no_step(fx_t *f)
{
    f->as.step = "";
}
static void m_assign_kind_32(fx_t *f)
{
    f->as.kind = s_rep('k', 32);
}
static void m_assign_run_big(fx_t *f)
{
    f->as.run_id = UINT64_MAX;
}
static void m_assign_gang_ok(fx_t *f)
{
    static char *env[] = {"RANK=1", "MASTER_ADDR=10.0.0.1"};
    f->as.gang_env = env;
    f->as.n_gang_env = 2;
    f->as.gang_hostfile = "10.0.0.1 slots=1\n";
}
static void m_assign_gang_name(fx_t *f)
{
    static char *env[] = {"LD_PRELOAD=/tmp/x.so"};
    f->as.gang_env = env;
    f->as.n_gang_env = 1;
}
static void m_assign_gang_noeq(fx_t *f)
{
    static char *env[] = {"RANK"};
    f->as.gang_env = env;
    f->as.n_gang_env = 1;
}
static void m_rr_reason_big(fx_t *f)
{
    f->rr.reason = s_rep('r', WIRECHECK_MAX_ERROR + 1);
}
static void m_rr_drop_bad(fx_t *f)
{
    f->lease.task_id = UINT64_MAX;
}

static const ccase_t s_ccases[] = {
    {"valid register reply", DROVER__COORD_MSG__BODY_REGISTER_REPLY, m_none, NULL},
    {"reason too long", DROVER__COORD_MSG__BODY_REGISTER_REPLY, m_rr_reason_big, "reason"},
    {"drop lease out of range", DROVER__COORD_MSG__BODY_REGISTER_REPLY, m_rr_drop_bad,
     "out-of-range lease"},
    {"valid assign", DROVER__COORD_MSG__BODY_ASSIGN, m_none, NULL},
    {"assign no lease", DROVER__COORD_MSG__BODY_ASSIGN, m_c_no_lease, "assign without a lease"},
    {"assign no step", DROVER__COORD_MSG__BODY_ASSIGN, m_assign_no_step, "step name"},
    {"assign kind 32", DROVER__COORD_MSG__BODY_ASSIGN, m_assign_kind_32, "kind of 1 to 31"},
    {"assign run id", DROVER__COORD_MSG__BODY_ASSIGN, m_assign_run_big, "out-of-range run id"},
    {"assign gang", DROVER__COORD_MSG__BODY_ASSIGN, m_assign_gang_ok, NULL},
    {"assign gang env name", DROVER__COORD_MSG__BODY_ASSIGN, m_assign_gang_name,
     "bad gang environment name"},
    {"assign gang env entry", DROVER__COORD_MSG__BODY_ASSIGN, m_assign_gang_noeq, "NAME=VALUE"},
    {"valid kill", DROVER__COORD_MSG__BODY_KILL, m_none, NULL},
    {"kill no lease", DROVER__COORD_MSG__BODY_KILL, m_c_no_lease, "kill without a lease"},
    {"valid ack", DROVER__COORD_MSG__BODY_RESULT_ACK, m_none, NULL},
    {"ack no lease", DROVER__COORD_MSG__BODY_RESULT_ACK, m_c_no_lease,
     "result ack without a lease"},
    {"valid reregister", DROVER__COORD_MSG__BODY_REREGISTER, m_none, NULL},
    {"no body", DROVER__COORD_MSG__BODY__NOT_SET, m_none, "without a body"},
};

static void t_coord_cases(void **state)
{
    (void)state;
    static fx_t f;
    for (size_t i = 0; i < sizeof s_ccases / sizeof s_ccases[0]; i++) {
        const ccase_t *c = &s_ccases[i];
        s_fixture(&f);
        c->mutate(&f);
        f.cm.body_case = c->body;
        switch (c->body) {
        case DROVER__COORD_MSG__BODY_REGISTER_REPLY: f.cm.register_reply = &f.rr; break;
        case DROVER__COORD_MSG__BODY_ASSIGN: f.cm.assign = &f.as; break;
        case DROVER__COORD_MSG__BODY_KILL: f.cm.kill = &f.kill; break;
        case DROVER__COORD_MSG__BODY_RESULT_ACK: f.cm.result_ack = &f.ack; break;
        case DROVER__COORD_MSG__BODY_REREGISTER: f.cm.reregister = &f.rereg; break;
        default: break;
        }
        size_t n;
        uint8_t *buf = s_pack(&f.cm.base, &n);
        char why[256] = "";
        Drover__CoordMsg *m = wirecheck_coord_msg(buf, n, why, sizeof why);
        s_expect(c->what, m, why, c->reason);
        if (m)
            drover__coord_msg__free_unpacked(m, NULL);
        free(buf);
        s_rep_free();
    }
}

/* ------------------------------------------------------ client cases --- */

typedef struct {
    const char *what;
    Drover__ClientRequest__BodyCase body;
    void (*mutate)(fx_t *f);
    const char *reason;
} qcase_t;

static void m_wf_empty(fx_t *f)
{
    f->sub.workflow = "";
}
static void m_wf_128(fx_t *f)
{
    f->sub.workflow = s_rep('w', 128);
}
static void m_wf_129(fx_t *f)
{
    f->sub.workflow = s_rep('w', 129);
}
static void m_no_steps(fx_t *f)
{
    f->sub.n_steps = 0;
}
static void m_too_many_steps(fx_t *f)
{
    static Drover__StepSpec *many[WIRECHECK_MAX_STEPS + 1];
    for (size_t i = 0; i <= WIRECHECK_MAX_STEPS; i++)
        many[i] = &f->step1;
    f->sub.steps = many;
    f->sub.n_steps = WIRECHECK_MAX_STEPS + 1;
}
static void m_step_name_129(fx_t *f)
{
    f->step2.name = s_rep('s', 129);
}
static void m_step_no_kind(fx_t *f)
{
    f->step1.kind = "";
}
static void m_after_empty(fx_t *f)
{
    f->after[0] = "";
}
static void m_too_many_after(fx_t *f)
{
    static char *many[WIRECHECK_MAX_AFTER + 1];
    for (size_t i = 0; i <= WIRECHECK_MAX_AFTER; i++)
        many[i] = "a";
    f->step2.after = many;
    f->step2.n_after = WIRECHECK_MAX_AFTER + 1;
}
static void m_spec_big(fx_t *f)
{
    f->step1.spec_json = s_rep(' ', WIRECHECK_MAX_SPEC_JSON + 1);
}
static void m_spec_1m(fx_t *f)
{
    f->step1.spec_json = s_rep(' ', WIRECHECK_MAX_SPEC_JSON);
}
static void m_run_zero(fx_t *f)
{
    f->status.run_id = 0;
    f->logs.run_id = 0;
    f->cancel.run_id = 0;
    f->sd.run_id = 0;
}
static void m_logs_no_step(fx_t *f)
{
    f->logs.step = "";
}
static void m_promote_no_stage(fx_t *f)
{
    f->promote.stage = "";
}
static void m_promote_v0(fx_t *f)
{
    f->promote.version = 0;
}
static void m_models_name_big(fx_t *f)
{
    f->models.name = s_rep('m', 129);
}
static void m_approve_run0(fx_t *f)
{
    f->approve.run_id = 0;
}
static void m_approve_no_step(fx_t *f)
{
    f->approve.step = "";
}
static void m_approve_reason_big(fx_t *f)
{
    f->approve.reason = s_rep('r', WIRECHECK_MAX_TEXT + 1);
}
static void m_notify(fx_t *f)
{
    f->sub.notify = &f->notify;
}
static void m_notify_no_hook(fx_t *f)
{
    f->notify.webhook = "";
    f->sub.notify = &f->notify;
}
static void m_notify_many_kinds(fx_t *f)
{
    static char *kinds[17];
    for (size_t i = 0; i < 17; i++)
        kinds[i] = "failed";
    f->notify.on = kinds;
    f->notify.n_on = 17;
    f->sub.notify = &f->notify;
}

static const qcase_t s_qcases[] = {
    {"valid submit", DROVER__CLIENT_REQUEST__BODY_SUBMIT, m_none, NULL},
    {"empty workflow name", DROVER__CLIENT_REQUEST__BODY_SUBMIT, m_wf_empty,
     "workflow needs a name"},
    {"workflow name 128", DROVER__CLIENT_REQUEST__BODY_SUBMIT, m_wf_128, NULL},
    {"workflow name 129", DROVER__CLIENT_REQUEST__BODY_SUBMIT, m_wf_129, "workflow needs a name"},
    {"no steps", DROVER__CLIENT_REQUEST__BODY_SUBMIT, m_no_steps, "1 to 10000 steps"},
    {"10001 steps", DROVER__CLIENT_REQUEST__BODY_SUBMIT, m_too_many_steps, "this one has 10001"},
    {"step name 129", DROVER__CLIENT_REQUEST__BODY_SUBMIT, m_step_name_129, "step 2 needs a name"},
    {"step without kind", DROVER__CLIENT_REQUEST__BODY_SUBMIT, m_step_no_kind,
     "step 1 needs a kind"},
    {"empty dependency", DROVER__CLIENT_REQUEST__BODY_SUBMIT, m_after_empty,
     "dependencies entry 1"},
    {"10001 dependencies", DROVER__CLIENT_REQUEST__BODY_SUBMIT, m_too_many_after,
     "10001 submit step dependencies"},
    {"spec_json 1 MiB", DROVER__CLIENT_REQUEST__BODY_SUBMIT, m_spec_1m, NULL},
    {"spec_json too big", DROVER__CLIENT_REQUEST__BODY_SUBMIT, m_spec_big, "spec_json longer"},
    {"valid runs", DROVER__CLIENT_REQUEST__BODY_RUNS, m_none, NULL},
    {"valid status", DROVER__CLIENT_REQUEST__BODY_STATUS, m_none, NULL},
    {"status run 0", DROVER__CLIENT_REQUEST__BODY_STATUS, m_run_zero,
     "status request without a valid run id"},
    {"valid logs", DROVER__CLIENT_REQUEST__BODY_LOGS, m_none, NULL},
    {"logs run 0", DROVER__CLIENT_REQUEST__BODY_LOGS, m_run_zero,
     "logs request without a valid run id"},
    {"logs no step", DROVER__CLIENT_REQUEST__BODY_LOGS, m_logs_no_step, "step name"},
    {"valid cancel", DROVER__CLIENT_REQUEST__BODY_CANCEL, m_none, NULL},
    {"cancel run 0", DROVER__CLIENT_REQUEST__BODY_CANCEL, m_run_zero,
     "cancel request without a valid run id"},
    {"valid workers", DROVER__CLIENT_REQUEST__BODY_WORKERS, m_none, NULL},
    {"valid info", DROVER__CLIENT_REQUEST__BODY_INFO, m_none, NULL},
    {"valid report", DROVER__CLIENT_REQUEST__BODY_REPORT, m_none, NULL},
    {"report run 0", DROVER__CLIENT_REQUEST__BODY_REPORT, m_run_zero,
     "report request without a valid run id"},
    {"metrics run 0", DROVER__CLIENT_REQUEST__BODY_METRICS, m_run_zero,
     "metrics request without a valid run id"},
    {"valid models (all)", DROVER__CLIENT_REQUEST__BODY_MODELS, m_none, NULL},
    {"models name too long", DROVER__CLIENT_REQUEST__BODY_MODELS, m_models_name_big, "name longer"},
    {"valid promote", DROVER__CLIENT_REQUEST__BODY_PROMOTE, m_none, NULL},
    {"promote without stage", DROVER__CLIENT_REQUEST__BODY_PROMOTE, m_promote_no_stage,
     "needs a stage"},
    {"promote version 0", DROVER__CLIENT_REQUEST__BODY_PROMOTE, m_promote_v0,
     "needs a model version"},
    {"valid approve", DROVER__CLIENT_REQUEST__BODY_APPROVE, m_none, NULL},
    {"approve run 0", DROVER__CLIENT_REQUEST__BODY_APPROVE, m_approve_run0,
     "approve request without a valid run id"},
    {"approve without step", DROVER__CLIENT_REQUEST__BODY_APPROVE, m_approve_no_step,
     "needs a step name"},
    {"approve reason too long", DROVER__CLIENT_REQUEST__BODY_APPROVE, m_approve_reason_big,
     "longer than"},
    {"submit with notify", DROVER__CLIENT_REQUEST__BODY_SUBMIT, m_notify, NULL},
    {"notify without webhook", DROVER__CLIENT_REQUEST__BODY_SUBMIT, m_notify_no_hook,
     "malformed notify"},
    {"notify 17 kinds", DROVER__CLIENT_REQUEST__BODY_SUBMIT, m_notify_many_kinds,
     "malformed notify"},
    {"no body", DROVER__CLIENT_REQUEST__BODY__NOT_SET, m_none, "without a body"},
};

static void t_request_cases(void **state)
{
    (void)state;
    static fx_t f;
    for (size_t i = 0; i < sizeof s_qcases / sizeof s_qcases[0]; i++) {
        const qcase_t *c = &s_qcases[i];
        s_fixture(&f);
        c->mutate(&f);
        f.rq.body_case = c->body;
        switch (c->body) {
        case DROVER__CLIENT_REQUEST__BODY_SUBMIT: f.rq.submit = &f.sub; break;
        case DROVER__CLIENT_REQUEST__BODY_RUNS: f.rq.runs = &f.runs; break;
        case DROVER__CLIENT_REQUEST__BODY_STATUS: f.rq.status = &f.status; break;
        case DROVER__CLIENT_REQUEST__BODY_LOGS: f.rq.logs = &f.logs; break;
        case DROVER__CLIENT_REQUEST__BODY_CANCEL: f.rq.cancel = &f.cancel; break;
        case DROVER__CLIENT_REQUEST__BODY_WORKERS: f.rq.workers = &f.workers; break;
        case DROVER__CLIENT_REQUEST__BODY_INFO: f.rq.info = &f.info; break;
        case DROVER__CLIENT_REQUEST__BODY_REPORT: f.rq.report = &f.sd; break;
        case DROVER__CLIENT_REQUEST__BODY_METRICS: f.rq.metrics = &f.sd; break;
        case DROVER__CLIENT_REQUEST__BODY_MODELS: f.rq.models = &f.models; break;
        case DROVER__CLIENT_REQUEST__BODY_PROMOTE: f.rq.promote = &f.promote; break;
        case DROVER__CLIENT_REQUEST__BODY_APPROVE: f.rq.approve = &f.approve; break;
        default: break;
        }
        size_t n;
        uint8_t *buf = s_pack(&f.rq.base, &n);
        char why[256] = "";
        Drover__ClientRequest *m = wirecheck_client_request(buf, n, why, sizeof why);
        s_expect(c->what, m, why, c->reason);
        /* A refused request still yields its id, so it can be answered. */
        uint64_t id = 0;
        assert_int_equal(wirecheck_request_id(buf, n, &id), 0);
        assert_int_equal(id, 5);
        if (m)
            drover__client_request__free_unpacked(m, NULL);
        free(buf);
        s_rep_free();
    }
}

static void m_r_msg_big(fx_t *f)
{
    f->rp.message = s_rep('x', WIRECHECK_MAX_REPLY_MESSAGE + 1);
}
static void m_r_label_big(fx_t *f)
{
    f->labels[0] = s_rep('l', 64);
}
static void m_r_task_name_big(fx_t *f)
{
    f->task.name = s_rep('t', 129);
}

static void t_reply_cases(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        void (*mutate)(fx_t *f);
        const char *reason;
    } cases[] = {
        {"valid reply", m_none, NULL},
        {"message too long", m_r_msg_big, "reply message longer"},
        {"worker label too long", m_r_label_big, "reply worker labels entry 1"},
        {"task name too long", m_r_task_name_big, "reply task 1 is invalid"},
    };
    static fx_t f;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s_fixture(&f);
        cases[i].mutate(&f);
        size_t n;
        uint8_t *buf = s_pack(&f.rp.base, &n);
        char why[256] = "";
        Drover__ClientReply *m = wirecheck_client_reply(buf, n, why, sizeof why);
        s_expect(cases[i].what, m, why, cases[i].reason);
        if (m)
            drover__client_reply__free_unpacked(m, NULL);
        free(buf);
        s_rep_free();
    }
}

/* ------------------------------------------------------------ others --- */

static void t_garbage(void **state)
{
    (void)state;
    static const uint8_t junk[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
    char why[64] = "";
    assert_null(wirecheck_worker_msg(junk, sizeof junk, why, sizeof why));
    assert_string_equal(why, "malformed protobuf");
    assert_null(wirecheck_coord_msg(junk, sizeof junk, why, sizeof why));
    assert_string_equal(why, "malformed protobuf");
    assert_null(wirecheck_client_request(junk, sizeof junk, why, sizeof why));
    assert_string_equal(why, "malformed protobuf");
    assert_null(wirecheck_client_reply(junk, sizeof junk, why, sizeof why));
    assert_string_equal(why, "malformed protobuf");
    uint64_t id = 99;
    assert_int_equal(wirecheck_request_id(junk, sizeof junk, &id), -1);
    assert_int_equal(id, 99);
    /* Zero bytes decode to an envelope without a body. */
    assert_null(wirecheck_worker_msg(junk, 0, why, sizeof why));
    assert_non_null(strstr(why, "without a body"));
    /* No reason buffer: still refused, nothing written. */
    assert_null(wirecheck_worker_msg(junk, sizeof junk, NULL, 0));
    /* An empty reply is valid: it is an answer without content. */
    Drover__ClientReply *r = wirecheck_client_reply(junk, 0, why, sizeof why);
    assert_non_null(r);
    drover__client_reply__free_unpacked(r, NULL);
}

/* Accepted messages come back sanitized; the version is left to the caller. */
static void t_sanitize_and_version(void **state)
{
    (void)state;
    static fx_t f;
    s_fixture(&f);
    f.wm.version = 99;
    f.reg.name = "n\xff"
                 "de";
    f.labels[0] = "g\xc3";
    s_set_worker_body(&f, DROVER__WORKER_MSG__BODY_REGISTER);
    size_t n;
    uint8_t *buf = s_pack(&f.wm.base, &n);
    char why[128] = "";
    Drover__WorkerMsg *m = wirecheck_worker_msg(buf, n, why, sizeof why);
    assert_non_null(m);
    assert_int_equal(m->version, 99);
    assert_string_equal(m->register_->name, "n?de");
    assert_string_equal(m->register_->labels[0], "g?");
    assert_int_equal(m->register_->n_held, 2);
    assert_int_equal(m->register_->held[1]->task_id, 43);
    drover__worker_msg__free_unpacked(m, NULL);
    free(buf);
}

/* Every checked-in wire seed is a message the daemons would accept. */
static void t_seeds_accepted(void **state)
{
    (void)state;
    static const char *const dirs[] = {"fuzz_worker_msg", "fuzz_coord_msg", "fuzz_client_request",
                                       "fuzz_client_reply"};
    size_t seen = 0;
    for (size_t d = 0; d < 4; d++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", FUZZ_CORPUS_DIR, dirs[d]);
        DIR *dir = opendir(path);
        assert_non_null(dir);
        struct dirent *e;
        while ((e = readdir(dir))) {
            if (e->d_name[0] == '.')
                continue;
            char fp[1300];
            snprintf(fp, sizeof fp, "%s/%s", path, e->d_name);
            FILE *fh = fopen(fp, "rb");
            assert_non_null(fh);
            uint8_t buf[65536];
            size_t n = fread(buf, 1, sizeof buf, fh);
            fclose(fh);
            char why[256] = "";
            void *m = NULL;
            switch (d) {
            case 0: m = wirecheck_worker_msg(buf, n, why, sizeof why); break;
            case 1: m = wirecheck_coord_msg(buf, n, why, sizeof why); break;
            case 2: m = wirecheck_client_request(buf, n, why, sizeof why); break;
            default: m = wirecheck_client_reply(buf, n, why, sizeof why); break;
            }
            if (!m)
                fail_msg("seed %s refused: %s", fp, why);
            protobuf_c_message_free_unpacked(m, NULL);
            seen++;
        }
        closedir(dir);
    }
    assert_true(seen >= 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_worker_cases),   cmocka_unit_test(t_coord_cases),
        cmocka_unit_test(t_request_cases),  cmocka_unit_test(t_reply_cases),
        cmocka_unit_test(t_garbage),        cmocka_unit_test(t_sanitize_and_version),
        cmocka_unit_test(t_seeds_accepted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
