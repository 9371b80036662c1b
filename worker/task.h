/* task — the life of one task attempt's child process on a worker.
 *
 * A task_t is one (task, attempt) lease the worker holds. task_start() parses
 * the exec spec, forks and execs the child in its own process group with its
 * stdout/stderr on two pipes; from then on the worker's loop feeds the task
 * events (pipe readable, child reaped, time passing) and the task moves
 * through three phases:
 *
 *   TASK_RUNNING   the child has not been reaped yet
 *   TASK_DRAINING  the child was reaped; what is left in its pipes is still
 *                  being read, for at most TASK_DRAIN_MS (a grandchild may
 *                  keep the pipe open forever), and whatever else the
 *                  attempt started is killed and must be gone (contain.h)
 *   TASK_FINISHED  outcome known and both pipes closed; the task now only
 *                  carries its result until the coordinator acknowledges it
 *
 * Output is handed over one chunk per stream at a time: task_read() fills the
 * stream's chunk buffer, the worker sends it and calls task_chunk_done(). A
 * stream with a chunk waiting is not read again, so a coordinator that cannot
 * take logs slows the child down (its pipe fills) instead of losing bytes.
 *
 * Every child also gets fd 3 (DROVER_OUTPUT_FD=3), a pipe for JSON lines:
 * {"metric": {...}} lines queue up for task_metric(), the last
 * {"output": {...}} becomes Result.outputs_json. Built-in kinds (validate,
 * train, evaluate) run as `drover-task KIND` with DROVER_SPEC and
 * DROVER_ARTIFACTS set.
 *
 * This module knows nothing of ZeroMQ or the session; it only fills
 * Drover__Result. Signals are the caller's business: the worker blocks them
 * and reads them through a signalfd, and the child resets mask and
 * dispositions before exec.
 */
#ifndef DROVER_WORKER_TASK_H
#define DROVER_WORKER_TASK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "contain.h"
#include "drover.pb-c.h"

#define TASK_STREAM_STDOUT 1
#define TASK_STREAM_STDERR 2

/* Largest LogChunk payload. */
#define TASK_CHUNK_MAX (64u * 1024u)
/* Of each stream, the newest bytes handed over that are kept to be sent
 * again (task_sent_tail). */
#define TASK_TAIL_MAX (256u * 1024u)

/* How long the output of a reaped child may stay silent before the worker
 * stops reading it (a grandchild may keep the pipe open forever). */
#define TASK_DRAIN_MS 1000

/* Longest line accepted on the fd 3 output channel; longer ones are
 * counted and dropped. */
#define TASK_LINE_MAX (1024u * 1024u)

/* Metrics queued before the output channel is no longer read. */
#define TASK_METRIC_QUEUE 256

typedef enum {
    TASK_RUNNING,  /* child not reaped yet */
    TASK_DRAINING, /* child reaped, pipes still being read */
    TASK_FINISHED, /* outcome known, pipes closed; the result awaits its ack */
} task_phase_t;

typedef struct task task_t;

/* What an Assign asks for. All strings are borrowed for the call only. */
typedef struct {
    uint64_t task_id;
    uint32_t attempt;
    uint64_t run_id;
    const char *step;
    const char *kind;
    const char *spec_json;
    uint64_t timeout_ms;      /* 0 = none */
    const char *default_cwd;  /* NULL or "" = the worker's own cwd */
    int64_t kill_grace_ms;    /* SIGTERM → SIGKILL grace */
    const char *task_bin;     /* drover-task for built-in kinds; NULL/"" = none */
    const char *artifact_dir; /* DROVER_ARTIFACTS of built-in kinds */
    /* CUDA_VISIBLE_DEVICES of the child, overriding the worker's and the
     * step's: "0,2" = the GPUs assigned, "" = none (so the task sees no
     * GPU it was not given). NULL = leave the environment as it is. */
    const char *cuda_visible_devices;
    /* run_as: the child drops to run_uid/run_gid (supplementary groups:
     * just run_gid) before chdir and exec; 0 = keep the worker's. */
    int run_as;
    uid_t run_uid;
    gid_t run_gid;
    /* Containment (contain.h): NULL = none (the child's own session only).
     * memory_bytes and cpus are the step's resources, enforced as far as
     * the containment mode can (0 = no limit). Borrowed; must outlive the
     * task. */
    contain_t *contain;
    uint64_t memory_bytes;
    uint32_t cpus;
    const char *contain_env; /* set by task_start itself; leave NULL */
    /* A gang member (docs/distributed.md): "NAME=VALUE" rendezvous
     * variables that override the worker's and the step's, and the Open MPI
     * hostfile written as `hostfile` in the child's working folder before
     * it starts. ngang_env 0 and gang_hostfile NULL/"" = not a gang. */
    char *const *gang_env;
    size_t ngang_env;
    const char *gang_hostfile;
} task_spec_t;

/* 1 for the kinds run by drover-task (validate, train, evaluate). */
int task_kind_builtin(const char *kind);

/* Starts an attempt. A "noop" attempt is TASK_FINISHED (exit 0) at once,
 * with no process. Otherwise returns a task in TASK_RUNNING (child exec'd), or in
 * TASK_FINISHED with outcome SPAWN_FAILED and a human error when the kind is
 * neither "exec" nor built-in (or built-in without task_bin), the spec is
 * invalid, or fork/chdir/exec failed. Returns NULL
 * (errno ENOMEM) only when the task itself cannot be allocated. now_ms is
 * the monotonic clock (util_mono_ms). The caller owns the task. */
task_t *task_start(const task_spec_t *spec, int64_t now_ms);

/* A TASK_FINISHED task with no process, with outcome and error (copied):
 * an assignment handed back without running it (NOT_ATTEMPTED: the worker
 * is stopping, or was cut off), or an attempt whose inputs could not be
 * staged (SPAWN_FAILED, or NOT_ATTEMPTED when the cause is the
 * infrastructure), or that was killed while staging. NULL (errno ENOMEM)
 * when it cannot be allocated. */
task_t *task_not_started(uint64_t task_id, uint32_t attempt, Drover__Outcome outcome,
                         const char *error, int64_t now_ms);

/* Frees a task. A child still running is SIGKILLed (with its process group)
 * and reaped if it is already gone; pipes are closed. NULL-safe; nulls *tp. */
void task_destroy(task_t **tp);

task_phase_t task_phase(const task_t *t);
const char *task_phase_name(task_phase_t p);
uint64_t task_id(const task_t *t);
uint32_t task_attempt(const task_t *t);
pid_t task_pid(const task_t *t); /* 0 when never started */
int64_t task_started_at_us(const task_t *t);

/* The read end of a stream's pipe when it should be polled: open and no
 * chunk waiting. -1 otherwise. */
int task_poll_fd(const task_t *t, int stream);

/* Reads once from a stream's pipe (non-blocking) into its chunk buffer.
 * Returns 1 when a chunk is waiting afterwards, 0 when nothing was read.
 * EOF or a read error closes the stream, which may finish the task. */
int task_read(task_t *t, int stream);

/* The waiting chunk of a stream, or NULL: *len bytes at stream byte offset
 * *offset. Borrowed until task_chunk_done() or task_destroy(). */
const uint8_t *task_chunk(const task_t *t, int stream, size_t *len, uint64_t *offset);

/* The waiting chunk was handed over; the stream's offset moves past it. */
void task_chunk_done(task_t *t, int stream);
/* The newest bytes of stream already handed over (at most TASK_TAIL_MAX),
 * in order as seg[0] then seg[1] (len[] bytes each; 0 and 0 for none), and
 * the offset they start at: what a coordinator that lost this worker's
 * session may have lost with it, sent again after the worker registers
 * anew. Borrowed until the next task_chunk_done() or task_destroy(). */
uint64_t task_sent_tail(const task_t *t, int stream, const uint8_t *seg[2], size_t len[2]);

/* The read end of the fd 3 output channel when it should be polled: open
 * and fewer than TASK_METRIC_QUEUE metrics waiting. -1 otherwise. */
int task_output_fd(const task_t *t);

/* Reads what the output channel holds (non-blocking) and handles each
 * complete line. EOF closes the channel, which may finish the task. */
void task_read_output(task_t *t);

/* The oldest queued metric (compact JSON of the "metric" object) and its
 * seq (from 0 per attempt), or NULL. Borrowed until task_metric_done() or
 * task_destroy(). */
const char *task_metric(const task_t *t, uint32_t *seq);

/* The oldest metric was handed over; the next one gets seq + 1. */
void task_metric_done(task_t *t);

/* Output lines dropped so far (not JSON, wrong shape, over TASK_LINE_MAX). */
uint64_t task_bad_output_lines(const task_t *t);

/* The child was reaped with wait status `status` at now_ms. */
void task_reaped(task_t *t, int status, int64_t now_ms);

/* Asks a running child to stop: SIGTERM to its process group now, SIGKILL
 * after the kill grace. outcome (TIMED_OUT, KILLED or NOT_ATTEMPTED) becomes the attempt's
 * outcome whatever the exit status. Returns 1 when a kill was started, 0
 * when the task is not running or is already being killed. */
int task_kill(task_t *t, Drover__Outcome outcome, int64_t now_ms);

/* SIGKILLs the child's unit at once (second shutdown signal); the outcome
 * is KILLED unless task_kill() set one. */
void task_kill_now(task_t *t, int64_t now_ms);

/* Fires due timers: timeout → SIGTERM, grace over → SIGKILL, drain window
 * over → close the pipes. */
void task_tick(task_t *t, int64_t now_ms);

/* Monotonic ms of the task's next timer, or INT64_MAX when none. */
int64_t task_next_deadline(const task_t *t);

/* Fills r (initialised with DROVER__RESULT__INIT by the caller) and lease
 * from a TASK_FINISHED task, outputs_json included ("" when the child wrote
 * no output line). Strings in r stay owned by the task. */
void task_result(const task_t *t, Drover__Result *r, Drover__Lease *lease);

/* One line for logs: "exit 0 in 1.2s", "signal 9 in 3.0s", "timed out after
 * 10.0s", "killed after 2.1s", "spawn failed: cannot run ...". */
void task_describe(const task_t *t, char *buf, size_t len);

#endif
