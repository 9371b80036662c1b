"""drover.errors -- the exceptions of the Python client (stdlib only).

DroverError
 +-- ConfigError          config or key file unusable (drover.config)
 +-- WorkflowError        the workflow file is invalid: .path, .line, .message
 +-- Unreachable          no reply in time (also a TimeoutError)
 +-- WaitTimeout          Client.wait(deadline=...) ran out (also a TimeoutError)
 +-- CoordinatorError     the coordinator answered with an ErrorCode:
      .code (int), .code_name ("ERROR_FORBIDDEN"), .message (its text)
      +-- BadRequest       1  malformed or invalid request (e.g. a cyclic workflow)
      +-- NotFound         2
      +-- Unavailable      3  not ready: database down, standby
      +-- Internal         4
      +-- VersionMismatch  5  protocol versions differ
      +-- Conflict         6  e.g. cancel of a finished run
      +-- Forbidden        7  this key lacks the role, or is revoked
      +-- RateLimited      8  too many requests from this key
"""

class DroverError(Exception):
    """Base of every error the client raises on purpose."""


class ConfigError(DroverError):
    """A config or key file that cannot be used; str() is 'file:line: message'
    or 'file: message'."""


class WorkflowError(DroverError):
    """`drover workflow check` refused the file: 'file:line: message'."""

    def __init__(self, text, path=None, line=None, message=None):
        super().__init__(text)
        self.path, self.line, self.message = path, line, message or text


class Unreachable(DroverError, TimeoutError):
    """The coordinator did not answer in time (or refused the key: a CURVE
    handshake the coordinator rejects looks the same as silence)."""


class WaitTimeout(DroverError, TimeoutError):
    """Client.wait() reached its deadline while the run was still going."""


class CoordinatorError(DroverError):
    """The coordinator refused a request with an ErrorCode."""

    code = None
    code_name = "ERROR_UNKNOWN"

    def __init__(self, message, code=None, code_name=None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if code_name is not None:
            self.code_name = code_name

    def __str__(self):
        return "%s (%s)" % (self.message, self.code_name)


def _cls(name, code, code_name, doc):
    return type(name, (CoordinatorError,), {"code": code, "code_name": code_name, "__doc__": doc})


BadRequest = _cls("BadRequest", 1, "ERROR_BAD_REQUEST", "Malformed or invalid request.")
NotFound = _cls("NotFound", 2, "ERROR_NOT_FOUND", "No such run, step, model or version.")
Unavailable = _cls("Unavailable", 3, "ERROR_UNAVAILABLE", "The coordinator cannot serve now.")
Internal = _cls("Internal", 4, "ERROR_INTERNAL", "An error inside the coordinator.")
VersionMismatch = _cls("VersionMismatch", 5, "ERROR_VERSION", "Protocol versions differ.")
Conflict = _cls("Conflict", 6, "ERROR_CONFLICT", "The request conflicts with the current state.")
Forbidden = _cls("Forbidden", 7, "ERROR_FORBIDDEN", "This client's key may not do that.")
RateLimited = _cls("RateLimited", 8, "ERROR_RATE_LIMITED", "Too many requests: slow down.")

BY_CODE = {c.code: c for c in (BadRequest, NotFound, Unavailable, Internal, VersionMismatch,
                               Conflict, Forbidden, RateLimited)}

_FALLBACK = {
    1: "the coordinator rejected the request",
    2: "not found",
    3: "it is not ready",
    4: "internal error",
    5: "protocol version mismatch between this client and the coordinator",
    6: "the request conflicts with the current state",
    7: "permission denied: this client's key may not do that",
    8: "too many requests from this client: slow down",
}


def from_reply(code, message, not_found=None):
    """The exception for a reply's ErrorCode (an int) and message."""
    msg = message or (not_found if code == 2 and not_found else None) or _FALLBACK.get(
        code, "unknown error")
    cls = BY_CODE.get(code)
    if cls is None:
        return CoordinatorError(msg, code, "ERROR_%d" % code)
    return cls(msg)
