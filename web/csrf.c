/* csrf — see csrf.h. */
#include "csrf.h"

#include <string.h>

#include "session.h"

const char *csrf_origin(const char *origin, const char *host)
{
    if (!origin)
        return NULL; /* same-origin GETs and non-browser clients send none */
    const char *rest = !strncmp(origin, "http://", 7)    ? origin + 7
                       : !strncmp(origin, "https://", 8) ? origin + 8
                                                         : NULL;
    if (!host || !rest || strcmp(rest, host) != 0)
        return "cross-origin request refused";
    return NULL;
}

const char *csrf_token(const char *sent, const char *expected)
{
    if (!sent || !expected || !*expected || !sessions_equal(sent, expected))
        return "CSRF token missing or wrong";
    return NULL;
}

const char *csrf_signin_type(const char *content_type)
{
    if (!content_type || strncmp(content_type, "application/json", 16) != 0)
        return "sign in with Content-Type: application/json";
    return NULL;
}
