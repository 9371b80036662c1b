/* csrf — drover-web's defence against cross-site requests, as pure checks
 * on a request's headers (http.c applies them before any handler runs).
 *
 * The session cookie is SameSite=Strict, so a browser sends it only with
 * requests from drover-web's own pages; on top of that:
 *   - every POST and DELETE of a session must carry X-CSRF-Token equal to
 *     the session's CSRF token (returned by sign-in and /api/me; a page on
 *     another origin cannot read it, and a plain HTML form cannot set a
 *     header);
 *   - a request that carries an Origin header must name the host it was
 *     sent to (Host), over http or https: a request from a page elsewhere
 *     is refused even where a browser would send the cookie;
 *   - sign-in, which has no session yet, must send a JSON body (a form
 *     cannot, and a cross-origin script needs a CORS pre-flight that
 *     drover-web never grants) and pass the same Origin rule.
 * Each check returns NULL when the request passes, else the reason to
 * answer with 403 (400 for the content type).
 */
#ifndef DROVER_WEB_CSRF_H
#define DROVER_WEB_CSRF_H

/* origin and host: the request's headers (NULL when absent). */
const char *csrf_origin(const char *origin, const char *host);
/* sent: X-CSRF-Token (NULL when absent); expected: the session's. */
const char *csrf_token(const char *sent, const char *expected);
/* content_type: the sign-in request's Content-Type (NULL when absent). */
const char *csrf_signin_type(const char *content_type);

#endif
