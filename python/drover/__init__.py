"""drover -- the Python side of drover (docs/python.md).

* ``drover.Client``: submit workflows, wait for runs, read runs, logs,
  workers and the model registry, with the same keys and roles as the
  ``drover`` CLI (needs python3-zmq and python3-protobuf);
* ``drover.task``: the in-step module for exec steps (stdlib only):
  ``log_metric(epoch=..., **values)``, ``report(dict)``, ``dataset(path)``;
* ``drover.errors``: the exceptions, one per coordinator ErrorCode family.

``import drover.task`` never loads ZeroMQ or protobuf: Client is imported on
first use.
"""

from .errors import (BadRequest, ConfigError, Conflict, CoordinatorError, DroverError,  # noqa: F401
                     Forbidden, Internal, NotFound, RateLimited, Unavailable, Unreachable,
                     VersionMismatch, WaitTimeout, WorkflowError)

__version__ = "0.1.0"


def __getattr__(name):
    if name == "Client":
        from .client import Client
        return Client
    raise AttributeError("module 'drover' has no attribute %r" % name)
