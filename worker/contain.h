/* contain — every process a task starts stays findable and killable.
 *
 * A task attempt is a "unit": whatever it forks, however it detaches
 * (setsid, double fork), killing, cancelling, timing out or losing the task
 * ends all of it, and a worker restarted after a SIGKILL finds and ends what
 * its predecessor's tasks left behind. Two ways, chosen once at start:
 *
 *   CONTAIN_CGROUP     each unit is a cgroup v2 directory under the worker's
 *                      base cgroup (worker.cgroup = "/sys/fs/cgroup/drover",
 *                      or, automatically, the worker's own cgroup when it is
 *                      the hierarchy's root or delegated to it by systemd,
 *                      Delegate=yes). The child joins it before exec, so
 *                      nothing it starts can leave it (that needs write
 *                      access to another cgroup). Kill = cgroup.kill. Where
 *                      the memory and cpu controllers are enabled, the unit
 *                      gets memory.max (OOM kills are reported as "killed:
 *                      out of memory (limit 100M)") and cpu.max.
 *   CONTAIN_SUBREAPER  no usable cgroup: the child starts its own session
 *                      and process group, and carries DROVER_CONTAIN=TAG in
 *                      its environment (TAG is unique to this worker
 *                      process and attempt). The worker is a child
 *                      subreaper (PR_SET_CHILD_SUBREAPER), so detached
 *                      grandchildren reparent to it. Kill = the process
 *                      group, the session, and every process whose
 *                      environment carries the tag. A process that both
 *                      leaves the session and wipes its environment escapes
 *                      this mode: the docs say so. Memory is limited with
 *                      RLIMIT_AS (allocations beyond it fail); cpus are not
 *                      enforced.
 *
 * The worker is a subreaper in both modes and reaps whatever reparents to
 * it (its waitpid(-1) loop).
 *
 * On disk (state_dir, mode 0700): one file per live unit, "units/ID-ATTEMPT",
 * holding the leader's pid and start time, the tag and the cgroup path,
 * written after the fork and removed once the unit is empty. contain_new()
 * ends every unit such files name (checking start times, so a reused pid is
 * left alone) and, in cgroup mode, every leftover unit cgroup of the base.
 *
 * All functions but contain_unit_child() run in the worker; that one runs
 * between fork and exec and is async-signal-safe.
 */
#ifndef DROVER_WORKER_CONTAIN_H
#define DROVER_WORKER_CONTAIN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum {
    CONTAIN_CGROUP,
    CONTAIN_SUBREAPER,
} contain_mode_t;

typedef struct contain contain_t;
typedef struct contain_unit contain_unit_t;

/* Sets the worker up as a subreaper, creates state_dir (0700), picks the
 * mode and ends what a predecessor left. cgroup: "" = automatic, "off" =
 * never use cgroups, else an absolute cgroup v2 directory to put units
 * under (created if missing; unusable → subreaper mode, with a warning).
 * Logs one line saying what is and is not enforced. Returns NULL with a
 * message in err (state_dir unusable). Caller destroys. */
contain_t *contain_new(const char *cgroup, const char *state_dir, char *err, size_t errlen);

/* Frees c (units must be destroyed first). NULL-safe; nulls *cp. */
void contain_destroy(contain_t **cp);

contain_mode_t contain_mode(const contain_t *c);

/* A unit for one attempt: the cgroup with its limits (memory bytes, cpus
 * as whole cores; 0 = none), the environment tag, the rlimit. Returns NULL
 * with a message in err. Owned by the caller (contain_unit_destroy). */
contain_unit_t *contain_unit_new(contain_t *c, uint64_t task_id, uint32_t attempt, uint64_t memory,
                                 uint32_t cpus, char *err, size_t errlen);

/* "DROVER_CONTAIN=TAG", for the child's environment. Borrowed from u. */
const char *contain_unit_env(const contain_unit_t *u);

/* In the child, before exec: own session and process group, join the
 * cgroup, apply the rlimit. Async-signal-safe. Returns 0 or -1 + errno. */
int contain_unit_child(const contain_unit_t *u);

/* The child pid is known: records the unit on disk (a failure is logged;
 * the task still runs, only a crash of this worker would then leak it). */
void contain_unit_started(contain_unit_t *u, pid_t pid);

/* The leader was reaped: its pid may be reused from now on, so it is no
 * longer signalled by number (its group and session still are). */
void contain_unit_reaped(contain_unit_t *u);

/* Sends sig to every process of the unit. SIGKILL in cgroup mode is
 * cgroup.kill. */
void contain_unit_signal(contain_unit_t *u, int sig);

/* 1 when no process of the unit is left. */
int contain_unit_empty(contain_unit_t *u);

/* 1 when the unit's cgroup saw an OOM kill. */
int contain_unit_oom(const contain_unit_t *u);

/* The memory limit as given (0 = none) and whether it is a cgroup limit
 * (1) or RLIMIT_AS (0). */
uint64_t contain_unit_memory(const contain_unit_t *u, int *by_cgroup);

/* SIGKILLs what is left, removes the cgroup and the record once empty
 * (else leaves both for the next worker start), frees u. NULL-safe. */
void contain_unit_destroy(contain_unit_t **up);

#endif
