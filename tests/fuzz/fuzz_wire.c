/* fuzz_wire — libFuzzer harness for one wire envelope through wirecheck,
 * the decode-and-validate path the daemons use. Built four times
 * (fuzz_worker_msg, fuzz_coord_msg, fuzz_client_request, fuzz_client_reply)
 * with FUZZ_ENVELOPE naming the envelope; see CMakeLists.txt.
 *
 * Beyond "no crash, no leak, no UB" (the sanitizers), each input checks
 * the module's promises:
 *  - a refusal always carries a reason;
 *  - an accepted message has only valid UTF-8 strings (wire_sanitize ran)
 *    and still passes the validator;
 *  - re-encoding an accepted message (its known fields: see
 *    fuzz_strip_unknown) and decoding it again is accepted too (validity
 *    does not depend on the encoding's incidental details);
 *  - wirecheck_request_id agrees with the decoder for client requests.
 */
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "stepkind.h"
#include "wirecheck.h"

#if FUZZ_ENVELOPE == 1
#define T        Drover__WorkerMsg
#define CHECK    wirecheck_worker_msg
#define VALIDATE wirecheck_validate_worker_msg
#define FREE     drover__worker_msg__free_unpacked
#elif FUZZ_ENVELOPE == 2
#define T        Drover__CoordMsg
#define CHECK    wirecheck_coord_msg
#define VALIDATE wirecheck_validate_coord_msg
#define FREE     drover__coord_msg__free_unpacked
#elif FUZZ_ENVELOPE == 3
#define T        Drover__ClientRequest
#define CHECK    wirecheck_client_request
#define VALIDATE wirecheck_validate_client_request
#define FREE     drover__client_request__free_unpacked
#elif FUZZ_ENVELOPE == 4
#define T        Drover__ClientReply
#define CHECK    wirecheck_client_reply
#define VALIDATE wirecheck_validate_client_reply
#define FREE     drover__client_reply__free_unpacked
#else
#error "FUZZ_ENVELOPE must be 1..4"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[256];
    why[0] = '\0';
    T *m = CHECK(data, size, why, sizeof why);
#if FUZZ_ENVELOPE == 3
    uint64_t id = 0;
    int idrc = wirecheck_request_id(data, size, &id);
    if (m && (idrc != 0 || id != m->request_id))
        abort();
#endif
    if (!m) {
        if (!why[0])
            abort();
        return 0;
    }
    fuzz_assert_utf8(&m->base);
#if FUZZ_ENVELOPE == 3
    /* What the coordinator runs on every submit before writing anything
     * (common/stepkind.c): any input gets 0 or -1 with a message. */
    if (m->body_case == DROVER__CLIENT_REQUEST__BODY_SUBMIT) {
        char err[512] = "";
        errno = 0;
        int rc = stepkind_check_submit(m->submit, err, sizeof err);
        if (rc != 0 && (rc != -1 || !err[0] || (errno != EINVAL && errno != ENOMEM)))
            abort();
    }
#endif
    if (VALIDATE(m, why, sizeof why) != 0) {
        fprintf(stderr, "sanitized message refused: %s\n", why);
        abort();
    }
    size_t n;
    fuzz_strip_unknown(&m->base);
    uint8_t *buf = fuzz_pack(&m->base, &n);
    T *again = CHECK(buf, n, why, sizeof why);
    if (!again) {
        fprintf(stderr, "re-encoded message refused: %s\n", why);
        abort();
    }
    FREE(again, NULL);
    free(buf);
    FREE(m, NULL);
    return 0;
}
