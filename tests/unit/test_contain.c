/* test_contain — unit tests of worker/contain.c with real processes: in
 * each mode (subreaper always; cgroup where this process may create one),
 * a unit's detached grandchild (setsid + double fork) is found and killed
 * with the unit, and a second contain_new() over the same state folder
 * ends what a "crashed" first one left (its record on disk). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "contain.h"

static char s_dir[256];

static void s_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Reaps whatever reparented to us (we are a subreaper). */
static void s_reap_all(void)
{
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

static int s_alive(pid_t pid)
{
    char p[64], buf[512];
    snprintf(p, sizeof p, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(p, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    return rp && rp[2] != 'Z' && rp[2] != 'X';
}

/* Starts a unit whose child (a shell, with the unit's environment tag)
 * leaves a detached grandchild (its own session, double fork) and then
 * sleeps. Returns the child's pid; the grandchild's pid in *gc. */
static pid_t s_spawn(contain_unit_t *u, pid_t *gc)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (contain_unit_child(u) < 0 || dup2(fds[1], 3) < 0)
            _exit(127);
        char *envp[] = {(char *)contain_unit_env(u), "PATH=/usr/bin:/bin", NULL};
        execle("/bin/sh", "sh", "-c",
               "(setsid sh -c 'echo $$ >&3; exec sleep 1000' 3>&3 </dev/null >/dev/null 2>&1 &); "
               "exec sleep 1000 3>&-",
               (char *)NULL, envp);
        _exit(127);
    }
    close(fds[1]);
    char buf[32] = "";
    ssize_t n = 0, k;
    while (n < (ssize_t)sizeof buf - 1 &&
           (k = read(fds[0], buf + n, sizeof buf - 1 - (size_t)n)) > 0) {
        n += k;
        if (memchr(buf, '\n', (size_t)n))
            break;
    }
    close(fds[0]);
    *gc = (pid_t)atoi(buf);
    assert_true(*gc > 0);
    contain_unit_started(u, pid);
    return pid;
}

static void s_kill_and_wait(contain_unit_t *u, pid_t pid, pid_t gc)
{
    assert_true(s_alive(gc));
    contain_unit_signal(u, SIGKILL);
    int i;
    for (i = 0; i < 300 && (s_alive(pid) || s_alive(gc) || !contain_unit_empty(u)); i++) {
        s_reap_all();
        s_sleep_ms(10);
    }
    assert_true(i < 300);
    assert_false(s_alive(gc));
}

static void s_mode(const char *cgroup, int want_cgroup)
{
    char err[512];
    contain_t *c = contain_new(cgroup, s_dir, err, sizeof err);
    assert_non_null(c);
    if (want_cgroup && contain_mode(c) != CONTAIN_CGROUP) {
        contain_destroy(&c);
        skip(); /* no usable cgroup v2 here */
    }
    contain_unit_t *u = contain_unit_new(c, 7, 1, 0, 0, err, sizeof err);
    assert_non_null(u);
    pid_t gc, pid = s_spawn(u, &gc);
    s_kill_and_wait(u, pid, gc);
    contain_unit_destroy(&u);

    /* A "crash": the record stays (no destroy), a new contain ends it. */
    u = contain_unit_new(c, 8, 1, 0, 0, err, sizeof err);
    assert_non_null(u);
    pid = s_spawn(u, &gc);
    kill(pid, SIGKILL); /* the leader dies as with its worker (PDEATHSIG) */
    for (int i = 0; i < 100 && s_alive(pid); i++) {
        s_reap_all();
        s_sleep_ms(10);
    }
    assert_true(s_alive(gc));
    contain_t *c2 = contain_new(cgroup, s_dir, err, sizeof err);
    assert_non_null(c2);
    for (int i = 0; i < 100 && s_alive(gc); i++) {
        s_reap_all();
        s_sleep_ms(10);
    }
    assert_false(s_alive(gc));
    contain_unit_destroy(&u);
    contain_destroy(&c2);
    contain_destroy(&c);
}

static void t_subreaper(void **state)
{
    (void)state;
    s_mode("off", 0);
}

static void t_cgroup(void **state)
{
    (void)state;
    s_mode("", 1);
}

static void t_bad_state_dir(void **state)
{
    (void)state;
    char err[512] = "";
    contain_t *c = contain_new("off", "/proc/drover-no-such/state", err, sizeof err);
    assert_null(c);
    assert_non_null(strstr(err, "cannot create the state folder"));
}

int main(void)
{
    snprintf(s_dir, sizeof s_dir, "%s/drover-test-contain.%d",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_subreaper),
        cmocka_unit_test(t_cgroup),
        cmocka_unit_test(t_bad_state_dir),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", s_dir);
    return rc;
}
