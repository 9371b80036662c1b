"""drover._proto -- finds the message classes generated from proto/drover.proto.

The Python messages are generated from the same .proto as the C code, never
checked in. The first of these that exists is used:

1. ``$DROVER_PB2``: a ``drover_pb2.py`` file, or a folder holding one;
2. ``drover/_generated/drover_pb2.py`` inside the package (a wheel built by
   ``pip install ./python`` carries it when protoc was there at build time);
3. ``<repo>/build/python/drover_pb2.py``: what the CMake build generates
   (target ``drover_python``) when the package is used from the source tree;
4. generated now, at first import, into a cache folder
   (``$XDG_CACHE_HOME/drover`` or ``~/.cache/drover``, one subfolder per
   sha256 of the .proto, so a changed .proto regenerates), by running
   ``protoc`` (``$PROTOC`` or on PATH) on ``$DROVER_PROTO``, the source
   tree's ``proto/drover.proto`` or the copy packed into the wheel.

Nothing here touches the network.
"""

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.dirname(os.path.dirname(_HERE))

_pb2 = None


def _load_file(path):
    spec = importlib.util.spec_from_file_location("drover._generated_drover_pb2", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _proto_source():
    for p in (os.environ.get("DROVER_PROTO"), os.path.join(_REPO, "proto", "drover.proto"),
              os.path.join(_HERE, "drover.proto")):
        if p and os.path.isfile(p):
            return p
    return None


def _generate(proto):
    protoc = os.environ.get("PROTOC") or shutil.which("protoc")
    if not protoc:
        raise ImportError("drover: the protobuf messages are not generated yet and protoc is not "
                          "installed: apt-get install protobuf-compiler (or build with CMake, or "
                          "set DROVER_PB2 to a generated drover_pb2.py)")
    with open(proto, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    out_dir = os.path.join(cache, "drover", "pb2-" + digest)
    target = os.path.join(out_dir, "drover_pb2.py")
    if os.path.isfile(target):
        return target
    os.makedirs(out_dir, exist_ok=True)
    # Generate in a temporary folder and rename, so a concurrent import never
    # sees half a file.
    tmp = tempfile.mkdtemp(dir=out_dir)
    try:
        r = subprocess.run([protoc, "--python_out=" + tmp, "--proto_path=" + os.path.dirname(proto),
                            os.path.basename(proto)], capture_output=True, text=True)
        if r.returncode != 0:
            raise ImportError("drover: protoc failed on %s: %s" % (proto, r.stderr.strip()))
        os.replace(os.path.join(tmp, "drover_pb2.py"), target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def locate():
    """The path of the drover_pb2.py that pb2() loads (generating it if
    needed); raises ImportError with what to do."""
    env = os.environ.get("DROVER_PB2")
    if env:
        p = os.path.join(env, "drover_pb2.py") if os.path.isdir(env) else env
        if not os.path.isfile(p):
            raise ImportError("drover: DROVER_PB2=%s holds no drover_pb2.py" % env)
        return p
    for p in (os.path.join(_HERE, "_generated", "drover_pb2.py"),
              os.path.join(_REPO, "build", "python", "drover_pb2.py")):
        if os.path.isfile(p):
            return p
    proto = _proto_source()
    if not proto:
        raise ImportError("drover: no generated drover_pb2.py and no drover.proto to generate it "
                          "from; set DROVER_PB2 or DROVER_PROTO")
    return _generate(proto)


def pb2():
    """The generated module (drover_pb2), loaded once."""
    global _pb2
    if _pb2 is None:
        try:
            import google.protobuf  # noqa: F401
        except ImportError:
            raise ImportError("drover: the client needs the protobuf runtime: apt-get install "
                              "python3-protobuf") from None
        _pb2 = _load_file(locate())
        sys.modules.setdefault("drover_pb2", _pb2)
    return _pb2
