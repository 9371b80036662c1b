"""drover_build -- a PEP 517 build backend for the drover package, stdlib only.

Builds a pure-Python wheel of python/drover. When protoc is available at
build time, the messages generated from proto/drover.proto are put into the
wheel as drover/_generated/drover_pb2.py; the .proto itself is always packed
(drover/drover.proto), so an installed package without the generated module
can still generate it at first import (drover/_proto.py).

Hooks: build_wheel, build_sdist (and the optional get_requires_* / metadata
hooks, which need nothing). Editable installs are not offered: use
PYTHONPATH=python for a working copy.
"""

import base64
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import zipfile

NAME = "drover"
VERSION = "0.1.0"
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # python/
PKG = os.path.join(HERE, "drover")
TAG = "py3-none-any"

METADATA = """Metadata-Version: 2.1
Name: drover
Version: {v}
Summary: Python client and in-step module for the drover training orchestrator
Requires-Python: >=3.8
Provides-Extra: client
Requires-Dist: pyzmq; extra == "client"
Requires-Dist: protobuf; extra == "client"

The drover client (drover.Client) and the in-step module (drover.task).
See docs/python.md in the drover source tree.
""".format(v=VERSION)


def _proto_path():
    for p in (os.path.join(HERE, "..", "proto", "drover.proto"), os.path.join(PKG, "drover.proto")):
        if os.path.isfile(p):
            return os.path.abspath(p)
    return None


def _package_files():
    """(archive name, bytes) of every file that goes into the package."""
    out = []
    for root, dirs, files in os.walk(PKG):
        dirs[:] = sorted(d for d in dirs if d not in ("__pycache__", "_generated"))
        for f in sorted(files):
            if f.endswith((".pyc", ".pyo")) or f == "drover.proto":
                continue
            full = os.path.join(root, f)
            rel = os.path.relpath(full, HERE).replace(os.sep, "/")
            with open(full, "rb") as fh:
                out.append((rel, fh.read()))
    proto = _proto_path()
    if proto:
        with open(proto, "rb") as fh:
            out.append(("drover/drover.proto", fh.read()))
        protoc = os.environ.get("PROTOC") or shutil.which("protoc")
        if protoc:
            tmp = tempfile.mkdtemp()
            try:
                subprocess.run([protoc, "--python_out=" + tmp, "--proto_path=" +
                                os.path.dirname(proto), os.path.basename(proto)], check=True)
                with open(os.path.join(tmp, "drover_pb2.py"), "rb") as fh:
                    out.append(("drover/_generated/drover_pb2.py", fh.read()))
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    return out


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (name, digest, len(data))


def _dist_info_files():
    di = "%s-%s.dist-info" % (NAME, VERSION)
    wheel = "Wheel-Version: 1.0\nGenerator: drover_build\nRoot-Is-Purelib: true\nTag: %s\n" % TAG
    return di, [(di + "/METADATA", METADATA.encode()), (di + "/WHEEL", wheel.encode()),
                (di + "/top_level.txt", b"drover\n")]


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    di, files = _dist_info_files()
    for name, data in files:
        if name.endswith(("METADATA", "WHEEL", "top_level.txt")):
            path = os.path.join(metadata_directory, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as fh:
                fh.write(data)
    return di


def _zinfo(name):
    zi = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    zi.external_attr = 0o644 << 16
    zi.compress_type = zipfile.ZIP_DEFLATED
    return zi


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    fname = "%s-%s-%s.whl" % (NAME, VERSION, TAG)
    di, meta = _dist_info_files()
    files = _package_files() + meta
    record = [_record_line(n, d) for n, d in files] + [di + "/RECORD,,"]
    files.append((di + "/RECORD", ("\n".join(record) + "\n").encode()))
    with zipfile.ZipFile(os.path.join(wheel_directory, fname), "w") as z:
        for name, data in files:
            z.writestr(_zinfo(name), data)
    return fname


def build_sdist(sdist_directory, config_settings=None):
    base = "%s-%s" % (NAME, VERSION)
    fname = base + ".tar.gz"
    entries = [(n, d) for n, d in _package_files() if not n.startswith("drover/_generated/")]
    for extra in ("pyproject.toml", "_build/drover_build.py"):
        with open(os.path.join(HERE, extra), "rb") as fh:
            entries.append((extra, fh.read()))
    entries.append(("PKG-INFO", METADATA.encode()))
    with tarfile.open(os.path.join(sdist_directory, fname), "w:gz", format=tarfile.PAX_FORMAT) as t:
        for name, data in entries:
            ti = tarfile.TarInfo("%s/%s" % (base, name))
            ti.size = len(data)
            ti.mode = 0o644
            ti.mtime = 1577836800
            t.addfile(ti, io.BytesIO(data))
    return fname
