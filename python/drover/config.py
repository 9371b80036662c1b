"""drover.config -- the CLI's config file and CurveZMQ key files, in Python.

drover's config file and key files are libconfig. Rather than depend on a
libconfig binding (Debian has none for Python 3), this module parses the
subset of the syntax those files use, with the stdlib only:

* settings ``name = value;`` or ``name : value;`` (the ``;`` or ``,`` after
  a setting is optional, as in libconfig);
* values: strings (``"..."`` with ``\\" \\\\ \\n \\t \\r \\f \\xNN`` escapes;
  adjacent strings are joined), integers (decimal, ``0x`` hex, optional
  ``L``/``LL`` suffix), floats (``1.5``, ``2e3``, ``.5``), booleans
  (``true``/``false``, any case), groups ``{ ... }``, arrays ``[ ... ]`` and
  lists ``( ... )`` (both become Python lists);
* comments ``# ...``, ``// ...`` and ``/* ... */``.

``@include`` is not supported (drover's own files never use it): it is
reported as an error rather than silently ignored. Errors read
``file:line: message`` like the C programs' messages.

Resolution follows ``cli/cli.h`` exactly (first match wins):

* config file: the ``config`` argument, ``$DROVER_CONFIG``,
  ``~/.config/drover/drover.cfg``, ``/etc/drover/drover.cfg``, else none
  (built-in defaults);
* endpoint: the ``coordinator`` argument, ``$DROVER_COORDINATOR``,
  ``cli.coordinator``, ``tcp://127.0.0.1:7460``;
* timeout: the ``timeout`` argument, ``cli.timeout``, 3 s;
* client secret key file: ``key``, ``$DROVER_KEY``, ``cli.secret_key``;
  the coordinator's public key file: ``coordinator_key``,
  ``$DROVER_COORDINATOR_KEY``, ``cli.coordinator_key``. Neither set (or
  ``cli.insecure = true`` with both taken from the file): a plain
  connection; one without the other is an error.

Only the ``cli`` section is checked in full (its keys and their types, as
``common/conf.c`` does); the ``coordinator`` and ``worker`` sections are
checked for syntax only, since a client never uses them.
"""

import os
import re
import stat

from .errors import ConfigError  # re-exported: drover.config.ConfigError

DEFAULT_ENDPOINT = "tcp://127.0.0.1:7460"
DEFAULT_TIMEOUT = 3.0

Z85_ALPHABET = ("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                ".-:+=^!/*?&<>()[]{}@%$#")
_Z85 = frozenset(Z85_ALPHABET)
_KEY_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,63}$")
_SETTING_NAME = re.compile(r"[A-Za-z*][-A-Za-z0-9_*]*")
_NUMBER = re.compile(
    r"[-+]?(?:0[xX][0-9A-Fa-f]+|(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][-+]?[0-9]+)?)(?:LL|L)?")


class Group(dict):
    """A libconfig group: a dict of its settings, with ``lines`` mapping each
    setting's name to the line it was on (for messages)."""

    def __init__(self):
        super().__init__()
        self.lines = {}


class _Parser:
    def __init__(self, text, path):
        self.s = text
        self.i = 0
        self.path = path
        self.line = 1

    def fail(self, msg, line=None):
        raise ConfigError("%s:%d: %s" % (self.path, line or self.line, msg))

    def skip(self):
        s, n = self.s, len(self.s)
        while self.i < n:
            c = s[self.i]
            if c == "\n":
                self.line += 1
                self.i += 1
            elif c in " \t\r\f\v":
                self.i += 1
            elif c == "#" or s.startswith("//", self.i):
                j = s.find("\n", self.i)
                self.i = n if j < 0 else j
            elif s.startswith("/*", self.i):
                j = s.find("*/", self.i + 2)
                if j < 0:
                    self.fail("unterminated comment")
                self.line += s.count("\n", self.i, j)
                self.i = j + 2
            else:
                break

    def peek(self):
        self.skip()
        return self.s[self.i] if self.i < len(self.s) else ""

    def group_body(self, end):
        g = Group()
        while True:
            c = self.peek()
            if c == end:
                if end:
                    self.i += 1
                return g
            if c == "" and end:
                self.fail("syntax error: missing '%s'" % end)
            if c == "@":
                self.fail("@include is not supported by the Python client")
            m = _SETTING_NAME.match(self.s, self.i)
            if not m:
                self.fail("syntax error")
            name, line = m.group(0), self.line
            self.i = m.end()
            if self.peek() not in ("=", ":"):
                self.fail("syntax error: expected '=' or ':' after '%s'" % name)
            self.i += 1
            value = self.value()
            if name in g:
                self.fail("duplicate setting name '%s'" % name, line)
            g[name] = value
            g.lines[name] = line
            if self.peek() in (";", ","):
                self.i += 1

    def value(self):
        c = self.peek()
        if c == "{":
            self.i += 1
            return self.group_body("}")
        if c in "[(":
            self.i += 1
            return self.sequence("]" if c == "[" else ")")
        if c == '"':
            parts = []
            while self.peek() == '"':
                parts.append(self.string())
            return "".join(parts)
        low = self.s[self.i:self.i + 5].lower()
        if low.startswith("true") and not self._word_continues(4):
            self.i += 4
            return True
        if low.startswith("false") and not self._word_continues(5):
            self.i += 5
            return False
        m = _NUMBER.match(self.s, self.i)
        if m and not self._word_continues(m.end() - self.i):
            self.i = m.end()
            text = m.group(0).rstrip("L")
            if re.fullmatch(r"[-+]?0[xX][0-9A-Fa-f]+", text):
                return int(text, 16)
            if re.fullmatch(r"[-+]?[0-9]+", text):
                return int(text)
            return float(text)
        self.fail("syntax error: expected a value")

    def _word_continues(self, k):
        j = self.i + k
        return j < len(self.s) and (self.s[j].isalnum() or self.s[j] in "_.")

    def sequence(self, end):
        out = []
        while True:
            if self.peek() == end:
                self.i += 1
                return out
            if self.peek() == "":
                self.fail("syntax error: missing '%s'" % end)
            out.append(self.value())
            c = self.peek()
            if c == ",":
                self.i += 1
            elif c != end:
                self.fail("syntax error: expected ',' or '%s'" % end)

    def string(self):
        assert self.s[self.i] == '"'
        self.i += 1
        out = []
        s = self.s
        start = self.line
        while True:
            if self.i >= len(s):
                self.fail("unterminated string", start)
            c = s[self.i]
            if c == '"':
                self.i += 1
                return "".join(out)
            if c == "\n":
                self.line += 1
            if c == "\\":
                e = s[self.i + 1:self.i + 2]
                simple = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "f": "\f"}
                if e in simple:
                    out.append(simple[e])
                    self.i += 2
                    continue
                if e == "x" and re.fullmatch(r"[0-9A-Fa-f]{2}", s[self.i + 2:self.i + 4] or ""):
                    out.append(chr(int(s[self.i + 2:self.i + 4], 16)))
                    self.i += 4
                    continue
                self.fail("syntax error: bad escape in a string")
            out.append(c)
            self.i += 1


def parse(text, path="<string>"):
    """Parses libconfig text (the subset above) into a Group; raises
    ConfigError with 'path:line: message'."""
    p = _Parser(text, path)
    return p.group_body("")


def load(path):
    """Reads and parses a libconfig file; raises ConfigError."""
    try:
        with open(path, "r", encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ConfigError("%s: cannot read the file: %s" % (path, e.strerror)) from None
    except UnicodeDecodeError:
        raise ConfigError("%s: not UTF-8 text" % path) from None
    return parse(text, path)


def parse_duration(v):
    """A duration as conf.c takes it: seconds (int or float) or a string with
    a unit ("250ms", "1.5", "2m", "1h"). Returns seconds (float) or None."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v) if v >= 0 else None
    if isinstance(v, str):
        m = re.fullmatch(r"([0-9][0-9.]*)(ms|s|m|h)?", v)
        if not m:
            return None
        try:
            x = float(m.group(1))
        except ValueError:
            return None
        return x * {"ms": 0.001, "s": 1.0, None: 1.0, "m": 60.0, "h": 3600.0}[m.group(2)]
    return None


# The cli section's keys and their types, as common/conf.c defines them.
_CLI_KEYS = {
    "coordinator": "string",
    "timeout": "duration",
    "secret_key": "string",
    "coordinator_key": "string",
    "insecure": "bool",
}


def read_cli_section(path):
    """Loads a drover config file and returns its cli section as a dict with
    every key of _CLI_KEYS (unset ones None; timeout in seconds). Raises
    ConfigError for syntax errors, unknown sections, and unknown keys or
    wrong types in the cli section."""
    root = load(path)
    out = {k: None for k in _CLI_KEYS}
    for name, val in root.items():
        line = root.lines[name]
        if name not in ("coordinator", "worker", "cli"):
            raise ConfigError("%s:%d: unknown section (expected coordinator, worker or cli): '%s'"
                              % (path, line, name))
        if not isinstance(val, Group):
            raise ConfigError("%s:%d: expected a group { ... } for '%s'" % (path, line, name))
    cli = root.get("cli", Group())
    for name, val in cli.items():
        line = cli.lines[name]
        kind = _CLI_KEYS.get(name)
        if kind is None:
            raise ConfigError("%s:%d: unknown setting '%s'" % (path, line, name))
        if kind == "string":
            if not isinstance(val, str):
                raise ConfigError("%s:%d: expected a string for '%s'" % (path, line, name))
            out[name] = val
        elif kind == "bool":
            if not isinstance(val, bool):
                raise ConfigError("%s:%d: expected true or false for '%s'" % (path, line, name))
            out[name] = val
        else:
            secs = parse_duration(val)
            if secs is None:
                raise ConfigError("%s:%d: bad duration (use 10, 1.5, \"250ms\", \"2m\") for '%s'"
                                  % (path, line, name))
            out[name] = secs
    return out


def default_config_path():
    """$DROVER_CONFIG, else ~/.config/drover/drover.cfg or
    /etc/drover/drover.cfg when they exist, else None (conf_default_path)."""
    env = os.environ.get("DROVER_CONFIG")
    if env:
        return env
    home = os.environ.get("HOME")
    if home:
        p = os.path.join(home, ".config", "drover", "drover.cfg")
        if os.path.exists(p):
            return p
    if os.path.exists("/etc/drover/drover.cfg"):
        return "/etc/drover/drover.cfg"
    return None


def valid_z85(s):
    return isinstance(s, str) and len(s) == 40 and all(c in _Z85 for c in s)


class KeyPair:
    """A CurveZMQ key file's contents: name, public key, secret key (None in
    a public key file). Keys are Z85 text. repr() never shows the secret."""

    __slots__ = ("name", "public", "secret")

    def __init__(self, name, public, secret=None):
        self.name, self.public, self.secret = name, public, secret

    def __repr__(self):
        return "KeyPair(name=%r, public=%r, secret=%s)" % (
            self.name, self.public, "<hidden>" if self.secret else None)


def load_key(path, need_secret):
    """Loads a key file written by `drover keygen` (keys_load in
    common/keys.c): need_secret requires the secret and a private file mode
    (no group/other bits). Raises ConfigError."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise ConfigError("%s: %s" % (path, e.strerror)) from None
    g = load(path)
    name, pub, sec = g.get("name"), g.get("public"), g.get("secret")
    if not valid_z85(pub):
        raise ConfigError("%s: no valid 'public' key (40 Z85 characters)" % path)
    if need_secret:
        if not valid_z85(sec):
            raise ConfigError("%s: no valid 'secret' key: this looks like a public key file" % path)
        if st.st_mode & 0o077:
            raise ConfigError("%s: secret key file is readable by group or others (mode %04o); "
                              "fix it with: chmod 600 %s" % (path, stat.S_IMODE(st.st_mode), path))
    if name is not None and not (isinstance(name, str) and _KEY_NAME.match(name)):
        raise ConfigError("%s: 'name' is not a usable key name" % path)
    if name is None:
        name = os.path.basename(path)
        if len(name) > 4 and name.endswith(".pub"):
            name = name[:-4]
    return KeyPair(name, pub, sec if need_secret else None)


class Settings:
    """Where and how to connect, resolved as the CLI resolves it.
    endpoint: str; timeout: seconds; client_key / server_key: KeyPair or None
    (None: a plain connection); config_path: the file read or None."""

    def __init__(self, endpoint, timeout, client_key, server_key, config_path):
        self.endpoint = endpoint
        self.timeout = timeout
        self.client_key = client_key
        self.server_key = server_key
        self.config_path = config_path

    def __repr__(self):
        return "Settings(endpoint=%r, timeout=%r, key=%r, config=%r)" % (
            self.endpoint, self.timeout, self.client_key and self.client_key.name,
            self.config_path)


def _pick(arg, env_name, cfg_val, arg_name, cfg_name):
    if arg:
        return arg, arg_name
    env = os.environ.get(env_name)
    if env:
        return env, env_name
    if cfg_val:
        return cfg_val, cfg_name
    return None, None


def resolve(coordinator=None, config=None, key=None, coordinator_key=None, timeout=None):
    """Resolves endpoint, timeout and keys (see the module doc). Raises
    ConfigError for anything a user must fix."""
    path = config or default_config_path()
    cli = read_cli_section(path) if path else {k: None for k in _CLI_KEYS}
    endpoint = (coordinator or os.environ.get("DROVER_COORDINATOR") or cli["coordinator"]
                or DEFAULT_ENDPOINT)
    if timeout is None:
        timeout = cli["timeout"] if cli["timeout"] else DEFAULT_TIMEOUT
    elif not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ConfigError("timeout wants a positive number of seconds, not %r" % (timeout,))
    kpath, kfrom = _pick(key, "DROVER_KEY", cli["secret_key"], "key=", "cli.secret_key")
    cpath, cfrom = _pick(coordinator_key, "DROVER_COORDINATOR_KEY", cli["coordinator_key"],
                         "coordinator_key=", "cli.coordinator_key")
    key_cfg = kpath is None or kfrom == "cli.secret_key"
    ckey_cfg = cpath is None or cfrom == "cli.coordinator_key"
    if (cli["insecure"] and key_cfg and ckey_cfg) or (kpath is None and cpath is None):
        return Settings(endpoint, float(timeout), None, None, path)
    if cpath is None:
        raise ConfigError("a client key is set (%s) but not the coordinator's public key: set "
                          "DROVER_COORDINATOR_KEY, coordinator_key= or cli.coordinator_key" % kfrom)
    if kpath is None:
        raise ConfigError("the coordinator's public key is set (%s) but not this client's key: "
                          "set DROVER_KEY, key= or cli.secret_key (make one with: drover keygen "
                          "--out FILE)" % cfrom)
    try:
        mine = load_key(kpath, True)
    except ConfigError as e:
        raise ConfigError("%s (client key from %s)" % (e, kfrom)) from None
    try:
        theirs = load_key(cpath, False)
    except ConfigError as e:
        raise ConfigError("%s (coordinator key from %s)" % (e, cfrom)) from None
    return Settings(endpoint, float(timeout), mine, theirs, path)
