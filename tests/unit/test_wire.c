/* test_wire — unit tests of the wire protocol and common/wire.c.
 *
 * Round trips: each envelope, with each body, is packed, unpacked and packed
 * again; the two encodings must be byte-identical and the fields that matter
 * must survive. Garbage and truncated frames must unpack to NULL, never
 * crash. wire_send/wire_recv are checked over an inproc ROUTER/DEALER pair,
 * waiting with zmq_poll and a deadline rather than sleeping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "wire.h"

/* Packs m, unpacks it with its own descriptor, re-packs and compares.
 * Returns the unpacked copy (free with protobuf_c_message_free_unpacked). */
static ProtobufCMessage *s_roundtrip(const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *a = malloc(n ? n : 1);
    assert_non_null(a);
    assert_int_equal(protobuf_c_message_pack(m, a), n);
    ProtobufCMessage *u = protobuf_c_message_unpack(m->descriptor, NULL, n, a);
    assert_non_null(u);
    size_t n2 = protobuf_c_message_get_packed_size(u);
    assert_int_equal(n2, n);
    uint8_t *b = malloc(n2 ? n2 : 1);
    assert_non_null(b);
    protobuf_c_message_pack(u, b);
    assert_memory_equal(a, b, n);
    free(a);
    free(b);
    return u;
}

static void t_worker_msgs(void **state)
{
    (void)state;
    Drover__Lease lease = DROVER__LEASE__INIT, held = DROVER__LEASE__INIT;
    lease.task_id = 77;
    lease.attempt = 3;
    held.task_id = 5;
    held.attempt = 1;
    Drover__Lease *helds[] = {&held};

    Drover__Register reg = DROVER__REGISTER__INIT;
    char *labels[] = {"gpu", "a100"}, *kinds[] = {"exec"};
    reg.name = "node-1";
    reg.host = "host";
    reg.slots = 8;
    reg.n_labels = 2;
    reg.labels = labels;
    reg.n_kinds = 1;
    reg.kinds = kinds;
    reg.n_held = 1;
    reg.held = helds;
    reg.pid = 1234;
    Drover__Heartbeat hb = DROVER__HEARTBEAT__INIT;
    Drover__Lease *running[] = {&lease};
    hb.n_running = 1;
    hb.running = running;
    Drover__Started st = DROVER__STARTED__INIT;
    st.lease = &lease;
    st.pid = 99;
    st.started_at_us = 1700000000000000;
    Drover__Result res = DROVER__RESULT__INIT;
    res.lease = &lease;
    res.outcome = DROVER__OUTCOME__OUTCOME_TIMED_OUT;
    res.exit_code = -1;
    res.term_signal = 15;
    res.error = "timed out";
    Drover__LogChunk log = DROVER__LOG_CHUNK__INIT;
    log.lease = &lease;
    log.stream = 2;
    log.offset = 4096;
    log.data.data = (uint8_t *)"a\0b\n";
    log.data.len = 4;

    for (int body = DROVER__WORKER_MSG__BODY_REGISTER; body <= DROVER__WORKER_MSG__BODY_LOG;
         body++) {
        Drover__WorkerMsg m = DROVER__WORKER_MSG__INIT;
        m.version = DROVER_PROTOCOL_VERSION;
        m.body_case = (Drover__WorkerMsg__BodyCase)body;
        switch (body) {
        case DROVER__WORKER_MSG__BODY_REGISTER: m.register_ = &reg; break;
        case DROVER__WORKER_MSG__BODY_HEARTBEAT: m.heartbeat = &hb; break;
        case DROVER__WORKER_MSG__BODY_STARTED: m.started = &st; break;
        case DROVER__WORKER_MSG__BODY_RESULT: m.result = &res; break;
        case DROVER__WORKER_MSG__BODY_LOG: m.log = &log; break;
        default: fail_msg("body %d", body);
        }
        Drover__WorkerMsg *u = (Drover__WorkerMsg *)s_roundtrip(&m.base);
        assert_int_equal(u->version, DROVER_PROTOCOL_VERSION);
        assert_int_equal(u->body_case, body);
        switch (body) {
        case DROVER__WORKER_MSG__BODY_REGISTER:
            assert_string_equal(u->register_->name, "node-1");
            assert_int_equal(u->register_->n_labels, 2);
            assert_string_equal(u->register_->labels[1], "a100");
            assert_int_equal(u->register_->held[0]->task_id, 5);
            break;
        case DROVER__WORKER_MSG__BODY_HEARTBEAT:
            assert_int_equal(u->heartbeat->running[0]->attempt, 3);
            break;
        case DROVER__WORKER_MSG__BODY_STARTED:
            assert_int_equal(u->started->started_at_us, 1700000000000000);
            break;
        case DROVER__WORKER_MSG__BODY_RESULT:
            assert_int_equal(u->result->outcome, DROVER__OUTCOME__OUTCOME_TIMED_OUT);
            assert_int_equal(u->result->exit_code, -1);
            assert_string_equal(u->result->error, "timed out");
            break;
        case DROVER__WORKER_MSG__BODY_LOG:
            assert_int_equal(u->log->data.len, 4);
            assert_memory_equal(u->log->data.data, "a\0b\n", 4);
            break;
        }
        drover__worker_msg__free_unpacked(u, NULL);
    }
}

static void t_coord_msgs(void **state)
{
    (void)state;
    Drover__Lease lease = DROVER__LEASE__INIT;
    lease.task_id = 9;
    lease.attempt = 2;
    Drover__Lease *drops[] = {&lease};
    Drover__RegisterReply rr = DROVER__REGISTER_REPLY__INIT;
    rr.accepted = 1;
    rr.heartbeat_ms = 1000;
    rr.n_drop = 1;
    rr.drop = drops;
    Drover__Assign as = DROVER__ASSIGN__INIT;
    as.lease = &lease;
    as.run_id = 42;
    as.step = "train";
    as.kind = "exec";
    as.spec_json = "{\"argv\":[\"true\"]}";
    as.timeout_ms = 60000;
    Drover__Kill kill = DROVER__KILL__INIT;
    kill.lease = &lease;
    Drover__ResultAck ack = DROVER__RESULT_ACK__INIT;
    ack.lease = &lease;
    Drover__Reregister rereg = DROVER__REREGISTER__INIT;

    for (int body = DROVER__COORD_MSG__BODY_REGISTER_REPLY;
         body <= DROVER__COORD_MSG__BODY_REREGISTER; body++) {
        Drover__CoordMsg m = DROVER__COORD_MSG__INIT;
        m.version = DROVER_PROTOCOL_VERSION;
        m.body_case = (Drover__CoordMsg__BodyCase)body;
        switch (body) {
        case DROVER__COORD_MSG__BODY_REGISTER_REPLY: m.register_reply = &rr; break;
        case DROVER__COORD_MSG__BODY_ASSIGN: m.assign = &as; break;
        case DROVER__COORD_MSG__BODY_KILL: m.kill = &kill; break;
        case DROVER__COORD_MSG__BODY_RESULT_ACK: m.result_ack = &ack; break;
        case DROVER__COORD_MSG__BODY_REREGISTER: m.reregister = &rereg; break;
        default: fail_msg("body %d", body);
        }
        Drover__CoordMsg *u = (Drover__CoordMsg *)s_roundtrip(&m.base);
        assert_int_equal(u->body_case, body);
        if (body == DROVER__COORD_MSG__BODY_ASSIGN) {
            assert_string_equal(u->assign->spec_json, "{\"argv\":[\"true\"]}");
            assert_int_equal(u->assign->lease->attempt, 2);
        }
        if (body == DROVER__COORD_MSG__BODY_REGISTER_REPLY)
            assert_int_equal(u->register_reply->drop[0]->task_id, 9);
        drover__coord_msg__free_unpacked(u, NULL);
    }
}

static void t_client_msgs(void **state)
{
    (void)state;
    Drover__StepSpec s1 = DROVER__STEP_SPEC__INIT, s2 = DROVER__STEP_SPEC__INIT;
    char *after[] = {"prepare"};
    s1.name = "prepare";
    s1.kind = "exec";
    s1.spec_json = "{}";
    s2.name = "train";
    s2.kind = "exec";
    s2.n_after = 1;
    s2.after = after;
    s2.retries = 2;
    s2.timeout_ms = 600000;
    s2.retry_delay_ms = 1000;
    Drover__StepSpec *steps[] = {&s1, &s2};
    Drover__SubmitRequest sub = DROVER__SUBMIT_REQUEST__INIT;
    sub.workflow = "hello";
    sub.n_steps = 2;
    sub.steps = steps;
    sub.source = "pipeline.cfg";
    Drover__RunsRequest runs = DROVER__RUNS_REQUEST__INIT;
    runs.limit = 10;
    Drover__StatusRequest status = DROVER__STATUS_REQUEST__INIT;
    status.run_id = 7;
    status.known_version = 3;
    status.wait_ms = 500;
    Drover__LogsRequest logs = DROVER__LOGS_REQUEST__INIT;
    logs.run_id = 7;
    logs.step = "train";
    logs.stdout_offset = 100;
    Drover__CancelRequest cancel = DROVER__CANCEL_REQUEST__INIT;
    cancel.run_id = 7;
    Drover__WorkersRequest workers = DROVER__WORKERS_REQUEST__INIT;
    Drover__InfoRequest info = DROVER__INFO_REQUEST__INIT;

    for (int body = DROVER__CLIENT_REQUEST__BODY_SUBMIT; body <= DROVER__CLIENT_REQUEST__BODY_INFO;
         body++) {
        Drover__ClientRequest m = DROVER__CLIENT_REQUEST__INIT;
        m.version = DROVER_PROTOCOL_VERSION;
        m.request_id = 1000 + (uint64_t)body;
        m.body_case = (Drover__ClientRequest__BodyCase)body;
        switch (body) {
        case DROVER__CLIENT_REQUEST__BODY_SUBMIT: m.submit = &sub; break;
        case DROVER__CLIENT_REQUEST__BODY_RUNS: m.runs = &runs; break;
        case DROVER__CLIENT_REQUEST__BODY_STATUS: m.status = &status; break;
        case DROVER__CLIENT_REQUEST__BODY_LOGS: m.logs = &logs; break;
        case DROVER__CLIENT_REQUEST__BODY_CANCEL: m.cancel = &cancel; break;
        case DROVER__CLIENT_REQUEST__BODY_WORKERS: m.workers = &workers; break;
        case DROVER__CLIENT_REQUEST__BODY_INFO: m.info = &info; break;
        default: fail_msg("body %d", body);
        }
        Drover__ClientRequest *u = (Drover__ClientRequest *)s_roundtrip(&m.base);
        assert_int_equal(u->body_case, body);
        assert_int_equal(u->request_id, 1000 + (uint64_t)body);
        if (body == DROVER__CLIENT_REQUEST__BODY_SUBMIT) {
            assert_int_equal(u->submit->n_steps, 2);
            assert_string_equal(u->submit->steps[1]->after[0], "prepare");
            assert_int_equal(u->submit->steps[1]->timeout_ms, 600000);
        }
        drover__client_request__free_unpacked(u, NULL);
    }

    /* A reply carrying every repeated and nested field at once. */
    Drover__RunInfo ri = DROVER__RUN_INFO__INIT;
    ri.id = 7;
    ri.workflow = "hello";
    ri.state = DROVER__RUN_STATE__RUN_FAILED;
    ri.tasks_total = 4;
    Drover__RunInfo *ris[] = {&ri};
    Drover__TaskInfo ti = DROVER__TASK_INFO__INIT;
    ti.name = "train";
    ti.state = DROVER__TASK_STATE__TASK_SKIPPED;
    ti.has_exit_code = 1;
    ti.exit_code = 0;
    Drover__TaskInfo *tis[] = {&ti};
    Drover__WorkerInfo wi = DROVER__WORKER_INFO__INIT;
    wi.name = "node-1";
    wi.connected = 1;
    Drover__WorkerInfo *wis[] = {&wi};
    Drover__LogsReply lr = DROVER__LOGS_REPLY__INIT;
    lr.stdout_data.data = (uint8_t *)"out";
    lr.stdout_data.len = 3;
    lr.finished = 1;
    Drover__CoordinatorInfo ci = DROVER__COORDINATOR_INFO__INIT;
    ci.dropped_messages = 5;
    Drover__ClientReply r = DROVER__CLIENT_REPLY__INIT;
    r.version = DROVER_PROTOCOL_VERSION;
    r.request_id = 9;
    r.error = DROVER__ERROR_CODE__ERROR_BAD_REQUEST;
    r.message = "pipeline.cfg:5: dependency cycle: a -> b -> a";
    r.n_runs = 1;
    r.runs = ris;
    r.n_tasks = 1;
    r.tasks = tis;
    r.n_workers = 1;
    r.workers = wis;
    r.logs = &lr;
    r.info = &ci;
    Drover__ClientReply *u = (Drover__ClientReply *)s_roundtrip(&r.base);
    assert_int_equal(u->error, DROVER__ERROR_CODE__ERROR_BAD_REQUEST);
    assert_string_equal(u->message, r.message);
    assert_int_equal(u->runs[0]->state, DROVER__RUN_STATE__RUN_FAILED);
    assert_int_equal(u->tasks[0]->state, DROVER__TASK_STATE__TASK_SKIPPED);
    assert_true(u->tasks[0]->has_exit_code);
    assert_true(u->workers[0]->connected);
    assert_memory_equal(u->logs->stdout_data.data, "out", 3);
    assert_int_equal(u->info->dropped_messages, 5);
    drover__client_reply__free_unpacked(u, NULL);
}

typedef struct {
    const char *what;
    const uint8_t *data;
    size_t len;
} garbage_t;

static void t_garbage(void **state)
{
    (void)state;
    /* Each vector is invalid for any message type, not merely unusual. */
    static const uint8_t overlong_varint[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
                                              0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    static const uint8_t bad_wire_type[] = {0x0f, 0x01};           /* field 1, wire type 7 */
    static const uint8_t short_bytes[] = {0x52, 0x64, 0x0a, 0x00}; /* field 10, says 100 bytes */
    static const uint8_t cut_varint[] = {0x08, 0x80};
    static const uint8_t field_zero[] = {0x00, 0x01};
    static const uint8_t short_fixed64[] = {0x09, 0x01, 0x02}; /* fixed64 with 2 bytes */
    static const garbage_t cases[] = {
        {"overlong varint", overlong_varint, sizeof overlong_varint},
        {"wire type 7", bad_wire_type, sizeof bad_wire_type},
        {"length past the end", short_bytes, sizeof short_bytes},
        {"truncated varint", cut_varint, sizeof cut_varint},
        {"field number 0", field_zero, sizeof field_zero},
        {"truncated fixed64", short_fixed64, sizeof short_fixed64},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const garbage_t *g = &cases[i];
        if (drover__worker_msg__unpack(NULL, g->len, g->data) ||
            drover__coord_msg__unpack(NULL, g->len, g->data) ||
            drover__client_request__unpack(NULL, g->len, g->data) ||
            drover__client_reply__unpack(NULL, g->len, g->data))
            fail_msg("%s unpacked", g->what);
    }

    /* A valid message cut inside its nested body is rejected too. */
    Drover__Assign as = DROVER__ASSIGN__INIT;
    as.step = "a-fairly-long-step-name";
    Drover__CoordMsg m = DROVER__COORD_MSG__INIT;
    m.version = DROVER_PROTOCOL_VERSION;
    m.body_case = DROVER__COORD_MSG__BODY_ASSIGN;
    m.assign = &as;
    uint8_t buf[128];
    size_t n = drover__coord_msg__pack(&m, buf);
    assert_true(n > 10 && n <= sizeof buf);
    assert_null(drover__coord_msg__unpack(NULL, n - 5, buf));
}

static void t_state_names(void **state)
{
    (void)state;
    static const struct {
        Drover__TaskState s;
        const char *name;
    } tasks[] = {
        {DROVER__TASK_STATE__TASK_PENDING, "pending"},
        {DROVER__TASK_STATE__TASK_READY, "ready"},
        {DROVER__TASK_STATE__TASK_ASSIGNED, "assigned"},
        {DROVER__TASK_STATE__TASK_RUNNING, "running"},
        {DROVER__TASK_STATE__TASK_RETRY_WAIT, "retry_wait"},
        {DROVER__TASK_STATE__TASK_SUCCEEDED, "succeeded"},
        {DROVER__TASK_STATE__TASK_FAILED, "failed"},
        {DROVER__TASK_STATE__TASK_SKIPPED, "skipped"},
        {DROVER__TASK_STATE__TASK_CANCELLED, "cancelled"},
    };
    for (size_t i = 0; i < sizeof tasks / sizeof tasks[0]; i++) {
        assert_string_equal(wire_task_state_name(tasks[i].s), tasks[i].name);
        assert_int_equal(wire_task_state_from_name(tasks[i].name), tasks[i].s);
    }
    static const struct {
        Drover__RunState s;
        const char *name;
    } runs[] = {
        {DROVER__RUN_STATE__RUN_RUNNING, "running"},
        {DROVER__RUN_STATE__RUN_SUCCEEDED, "succeeded"},
        {DROVER__RUN_STATE__RUN_FAILED, "failed"},
        {DROVER__RUN_STATE__RUN_CANCELLED, "cancelled"},
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        assert_string_equal(wire_run_state_name(runs[i].s), runs[i].name);
        assert_int_equal(wire_run_state_from_name(runs[i].name), runs[i].s);
    }
    static const struct {
        Drover__Outcome o;
        const char *name;
    } outcomes[] = {
        {DROVER__OUTCOME__OUTCOME_EXITED, "exited"},
        {DROVER__OUTCOME__OUTCOME_SIGNALED, "signaled"},
        {DROVER__OUTCOME__OUTCOME_TIMED_OUT, "timed_out"},
        {DROVER__OUTCOME__OUTCOME_KILLED, "killed"},
        {DROVER__OUTCOME__OUTCOME_SPAWN_FAILED, "spawn_failed"},
    };
    for (size_t i = 0; i < sizeof outcomes / sizeof outcomes[0]; i++)
        assert_string_equal(wire_outcome_name(outcomes[i].o), outcomes[i].name);

    assert_string_equal(wire_task_state_name((Drover__TaskState)99), "unknown");
    assert_string_equal(wire_task_state_name((Drover__TaskState)-1), "unknown");
    assert_string_equal(wire_run_state_name((Drover__RunState)42), "unknown");
    assert_string_equal(wire_outcome_name((Drover__Outcome)42), "unknown");
    assert_int_equal(wire_task_state_from_name("bogus"),
                     DROVER__TASK_STATE__TASK_STATE_UNSPECIFIED);
    assert_int_equal(wire_task_state_from_name("unknown"),
                     DROVER__TASK_STATE__TASK_STATE_UNSPECIFIED);
    assert_int_equal(wire_task_state_from_name("PENDING"),
                     DROVER__TASK_STATE__TASK_STATE_UNSPECIFIED);
    assert_int_equal(wire_run_state_from_name(""), DROVER__RUN_STATE__RUN_STATE_UNSPECIFIED);
}

/* Waits up to 5 s for sock to become readable. */
static void s_wait_readable(void *sock)
{
    zmq_pollitem_t it = {.socket = sock, .events = ZMQ_POLLIN};
    int rc = zmq_poll(&it, 1, 5000);
    assert_int_equal(rc, 1);
}

/* A ROUTER bound at ep (frames up to max_msg) and a DEALER named id
 * connected to it, in a fresh context. */
static void *s_pair(const char *ep, const char *id, size_t max_msg, void **router, void **dealer)
{
    void *ctx = zmq_ctx_new();
    assert_non_null(ctx);
    *router = zmq_socket(ctx, ZMQ_ROUTER);
    *dealer = zmq_socket(ctx, ZMQ_DEALER);
    assert_non_null(*router);
    assert_non_null(*dealer);
    assert_int_equal(wire_socket_setup(*router, max_msg), 0);
    assert_int_equal(wire_socket_setup(*dealer, 0), 0);
    assert_int_equal(zmq_setsockopt(*dealer, ZMQ_ROUTING_ID, id, strlen(id)), 0);
    assert_int_equal(zmq_bind(*router, ep), 0);
    assert_int_equal(zmq_connect(*dealer, ep), 0);
    return ctx;
}

static void t_send_recv(void **state)
{
    (void)state;
    void *router, *dealer;
    void *ctx = s_pair("inproc://test-wire", "w1", 4096, &router, &dealer);

    wire_msg_t in;
    assert_int_equal(wire_recv(router, 1, &in), 0); /* nothing yet, no block */

    Drover__Heartbeat hb = DROVER__HEARTBEAT__INIT;
    Drover__WorkerMsg wm = DROVER__WORKER_MSG__INIT;
    wm.version = DROVER_PROTOCOL_VERSION;
    wm.body_case = DROVER__WORKER_MSG__BODY_HEARTBEAT;
    wm.heartbeat = &hb;
    assert_int_equal(wire_send(dealer, NULL, 0, &wm.base), 0);
    s_wait_readable(router);
    assert_int_equal(wire_recv(router, 1, &in), 1);
    assert_int_equal(in.ident_len, 2);
    assert_memory_equal(in.ident, "w1", 2);
    Drover__WorkerMsg *u = drover__worker_msg__unpack(NULL, in.len, in.data);
    assert_non_null(u);
    assert_int_equal(u->body_case, DROVER__WORKER_MSG__BODY_HEARTBEAT);
    drover__worker_msg__free_unpacked(u, NULL);

    /* Reply to that identity; the DEALER sees one frame. */
    Drover__Reregister rr = DROVER__REREGISTER__INIT;
    Drover__CoordMsg cm = DROVER__COORD_MSG__INIT;
    cm.version = DROVER_PROTOCOL_VERSION;
    cm.body_case = DROVER__COORD_MSG__BODY_REREGISTER;
    cm.reregister = &rr;
    assert_int_equal(wire_send(router, in.ident, in.ident_len, &cm.base), 0);
    wire_msg_clear(&in);
    assert_null(in.data);
    s_wait_readable(dealer);
    wire_msg_t back;
    assert_int_equal(wire_recv(dealer, 0, &back), 1);
    assert_int_equal(back.ident_len, 0);
    Drover__CoordMsg *cu = drover__coord_msg__unpack(NULL, back.len, back.data);
    assert_non_null(cu);
    assert_int_equal(cu->body_case, DROVER__COORD_MSG__BODY_REREGISTER);
    drover__coord_msg__free_unpacked(cu, NULL);
    wire_msg_clear(&back);

    /* A multi-frame message is dropped (2) and the socket keeps working. */
    assert_int_equal(zmq_send(dealer, "x", 1, ZMQ_SNDMORE), 1);
    assert_int_equal(zmq_send(dealer, "y", 1, 0), 1);
    assert_int_equal(wire_send(dealer, NULL, 0, &wm.base), 0);
    s_wait_readable(router);
    assert_int_equal(wire_recv(router, 1, &in), 2);
    s_wait_readable(router);
    assert_int_equal(wire_recv(router, 1, &in), 1);
    wire_msg_clear(&in);

    /* A large envelope (above the stack buffer in wire_send) survives. */
    char *big = malloc(10000);
    assert_non_null(big);
    memset(big, 'z', 9999);
    big[9999] = '\0';
    Drover__Assign as = DROVER__ASSIGN__INIT;
    as.spec_json = big;
    cm.body_case = DROVER__COORD_MSG__BODY_ASSIGN;
    cm.assign = &as;
    assert_int_equal(wire_send(router, (const uint8_t *)"w1", 2, &cm.base), 0);
    s_wait_readable(dealer);
    assert_int_equal(wire_recv(dealer, 0, &back), 1);
    cu = drover__coord_msg__unpack(NULL, back.len, back.data);
    assert_non_null(cu);
    assert_string_equal(cu->assign->spec_json, big);
    drover__coord_msg__free_unpacked(cu, NULL);
    wire_msg_clear(&back);
    free(big);

    assert_int_equal(zmq_close(dealer), 0);
    assert_int_equal(zmq_close(router), 0);
    assert_int_equal(zmq_ctx_term(ctx), 0);
}

static int s_freed;
static void s_count_free(void *data, void *hint)
{
    (void)hint;
    free(data);
    s_freed++;
}

/* The artifact service's form: an envelope and a frame of raw bytes, sent
 * without a copy (the buffer is libzmq's once sent) and received as
 * libzmq's message; a third frame is dropped. */
static void t_send_recv_data(void **state)
{
    (void)state;
    void *router, *dealer;
    void *ctx = s_pair("inproc://test-wire-data", "w2", 1 << 20, &router, &dealer);

    Drover__Lease l = DROVER__LEASE__INIT;
    Drover__ArtifactRequest r = DROVER__ARTIFACT_REQUEST__INIT;
    r.op = DROVER__ARTIFACT_OP__ARTIFACT_PUT_CHUNK;
    r.lease = &l;
    r.xfer_version = WIRE_XFER_VERSION;
    Drover__WorkerMsg wm = DROVER__WORKER_MSG__INIT;
    wm.version = DROVER_PROTOCOL_VERSION;
    wm.body_case = DROVER__WORKER_MSG__BODY_ARTIFACT;
    wm.artifact = &r;
    size_t n = 300000;
    uint8_t *chunk = malloc(n);
    assert_non_null(chunk);
    for (size_t i = 0; i < n; i++)
        chunk[i] = (uint8_t)(i * 7);
    zmq_msg_t data;
    s_freed = 0;
    assert_int_equal(zmq_msg_init_data(&data, chunk, n, s_count_free, NULL), 0);
    assert_int_equal(wire_send_data(dealer, NULL, 0, &wm.base, &data), 0);

    wire_msg_t in;
    zmq_msg_t got;
    s_wait_readable(router);
    assert_int_equal(wire_recv_data(router, 1, &in, &got), 1);
    assert_int_equal(in.ident_len, 2);
    Drover__WorkerMsg *u = drover__worker_msg__unpack(NULL, in.len, in.data);
    assert_non_null(u);
    assert_int_equal(u->artifact->xfer_version, WIRE_XFER_VERSION);
    assert_int_equal(u->artifact->data.len, 0);
    drover__worker_msg__free_unpacked(u, NULL);
    assert_int_equal(zmq_msg_size(&got), n);
    const uint8_t *p = zmq_msg_data(&got);
    for (size_t i = 0; i < n; i += 4099)
        assert_int_equal(p[i], (uint8_t)(i * 7));
    zmq_msg_close(&got);
    /* inproc hands the sender's message over as it is: freed once, here. */
    assert_int_equal(s_freed, 1);

    /* An envelope alone: data comes back empty. */
    assert_int_equal(wire_send_data(router, in.ident, in.ident_len, &wm.base, NULL), 0);
    wire_msg_clear(&in);
    s_wait_readable(dealer);
    assert_int_equal(wire_recv_data(dealer, 0, &in, &got), 1);
    assert_int_equal(zmq_msg_size(&got), 0);
    zmq_msg_close(&got);
    wire_msg_clear(&in);

    /* Three frames: dropped (2), data left empty; the socket keeps working.
     * And wire_recv (no data wanted) drops a two-frame message. */
    assert_int_equal(zmq_send(dealer, "a", 1, ZMQ_SNDMORE), 1);
    assert_int_equal(zmq_send(dealer, "b", 1, ZMQ_SNDMORE), 1);
    assert_int_equal(zmq_send(dealer, "c", 1, 0), 1);
    assert_int_equal(zmq_send(dealer, "a", 1, ZMQ_SNDMORE), 1);
    assert_int_equal(zmq_send(dealer, "b", 1, 0), 1);
    assert_int_equal(wire_send(dealer, NULL, 0, &wm.base), 0);
    s_wait_readable(router);
    assert_int_equal(wire_recv_data(router, 1, &in, &got), 2);
    assert_int_equal(zmq_msg_size(&got), 0);
    zmq_msg_close(&got);
    s_wait_readable(router);
    assert_int_equal(wire_recv(router, 1, &in), 2);
    s_wait_readable(router);
    assert_int_equal(wire_recv_data(router, 1, &in, &got), 1);
    assert_int_equal(zmq_msg_size(&got), 0);
    zmq_msg_close(&got);
    wire_msg_clear(&in);

    /* A failed send still releases the data (no peer: EAGAIN at once). */
    void *lone = zmq_socket(ctx, ZMQ_DEALER);
    assert_non_null(lone);
    assert_int_equal(wire_socket_setup(lone, 0), 0);
    chunk = malloc(16);
    assert_non_null(chunk);
    s_freed = 0;
    assert_int_equal(zmq_msg_init_data(&data, chunk, 16, s_count_free, NULL), 0);
    assert_int_equal(wire_send_data(lone, NULL, 0, &wm.base, &data), -1);
    assert_int_equal(errno, EAGAIN);
    assert_int_equal(s_freed, 1);
    assert_int_equal(zmq_close(lone), 0);

    assert_int_equal(zmq_close(dealer), 0);
    assert_int_equal(zmq_close(router), 0);
    assert_int_equal(zmq_ctx_term(ctx), 0);
}

/* Invalid UTF-8 in nested, repeated and oneof strings is replaced. */
static void t_sanitize(void **state)
{
    (void)state;
    Drover__StepSpec st = DROVER__STEP_SPEC__INIT;
    Drover__SubmitRequest sub = DROVER__SUBMIT_REQUEST__INIT;
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    char *after[] = {"ok", "b\xff"
                           "d"};
    st.name = "st\xfe";
    st.kind = "exec";
    st.n_after = 2;
    st.after = after;
    st.spec_json = "{}";
    Drover__StepSpec *steps[] = {&st};
    sub.workflow = "w\xc3";
    sub.n_steps = 1;
    sub.steps = steps;
    req.version = DROVER_PROTOCOL_VERSION;
    req.body_case = DROVER__CLIENT_REQUEST__BODY_SUBMIT;
    req.submit = &sub;
    uint8_t buf[512];
    size_t n = protobuf_c_message_pack(&req.base, buf);
    Drover__ClientRequest *in = drover__client_request__unpack(NULL, n, buf);
    assert_non_null(in);
    assert_int_equal(wire_sanitize(&in->base), 3);
    assert_string_equal(in->submit->workflow, "w?");
    assert_string_equal(in->submit->steps[0]->name, "st?");
    assert_string_equal(in->submit->steps[0]->after[1], "b?d");
    assert_int_equal(wire_sanitize(&in->base), 0);
    drover__client_request__free_unpacked(in, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_worker_msgs),    cmocka_unit_test(t_coord_msgs),
        cmocka_unit_test(t_client_msgs),    cmocka_unit_test(t_garbage),
        cmocka_unit_test(t_state_names),    cmocka_unit_test(t_send_recv),
        cmocka_unit_test(t_send_recv_data), cmocka_unit_test(t_sanitize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
