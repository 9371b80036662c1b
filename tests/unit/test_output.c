/* test_output — the CLI's escaping (cli/output.c): nothing a peer sends
 * reaches a terminal as a control character. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "output.h"

static void t_escape(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int keep;
        const char *out;
    } cases[] = {
        {"plain name", 0, "plain name"},
        {"caf\xc3\xa9 \xe2\x80\x94", 0, "caf\xc3\xa9 \xe2\x80\x94"}, /* UTF-8 stays */
        {"a\x1b[2Jb", 0, "a\\x1b[2Jb"},
        {"run\rsucceeded", 0, "run\\x0dsucceeded"},
        {"t\x1b]0;title\x07", 0, "t\\x1b]0;title\\x07"},
        {"del\x7f", 0, "del\\x7f"},
        {"c1\xc2\x9b"
         "2J",
         0, "c1\\xc2\\x9b2J"}, /* U+009B, the 8-bit CSI */
        {"bad\xff\xc3", 0, "bad\\xff\\xc3"},
        {"two\nlines\tx", 0, "two\\x0alines\\x09x"},
        {"two\nlines\tx", 1, "two\nlines\tx"},
        {"", 0, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *e = out_escape(cases[i].in, cases[i].keep);
        assert_non_null(e);
        assert_string_equal(e, cases[i].out);
        /* Idempotent: escaped text has nothing left to escape. */
        char *e2 = out_escape(e, cases[i].keep);
        assert_string_equal(e2, e);
        free(e2);
        free(e);
    }
}

/* Every string of a reply, nested messages and the JSON document included. */
static void t_escape_reply(void **state)
{
    (void)state;
    Drover__ClientReply *rep = calloc(1, sizeof *rep);
    assert_non_null(rep);
    drover__client_reply__init(rep);
    rep->message = strdup("line one\nerr\x1b[2J\r");
    rep->json = strdup("[{\"name\":\"q\\u001b[2J\",\"n\":1}]");
    rep->n_workers = 1;
    rep->workers = calloc(1, sizeof *rep->workers);
    rep->workers[0] = calloc(1, sizeof **rep->workers);
    drover__worker_info__init(rep->workers[0]);
    rep->workers[0]->name = strdup("w\x1b[31mred\r");
    assert_int_equal(out_escape_reply(rep), 0);
    assert_string_equal(rep->message, "line one\nerr\\x1b[2J\\x0d");
    assert_string_equal(rep->workers[0]->name, "w\\x1b[31mred\\x0d");
    assert_string_equal(rep->json, "[{\"name\":\"q\\\\x1b[2J\",\"n\":1}]");
    drover__client_reply__free_unpacked(rep, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_escape),
        cmocka_unit_test(t_escape_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
