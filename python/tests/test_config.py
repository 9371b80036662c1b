"""Unit tests of drover.config: the libconfig subset, the cli section, key
files and the CLI's resolution order. Where the drover CLI is available
($DROVER_CLI), the same config files are also given to it, so the Python
parser is checked against libconfig itself."""

import os
import stat
import subprocess
import tempfile
import unittest
from unittest import mock

from drover import config
from drover.errors import ConfigError, DroverError

PUB = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
SEC = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"


class ParseTest(unittest.TestCase):
    def test_values(self):
        g = config.parse('a = 1; b : "x" "y"; c = 0x1F; d = -2.5e1; e = TRUE, f = false\n'
                         'g = { h = [1, 2]; l = ("s", { x = .5; }); } ; i = 10L;\n'
                         's = "q\\"\\\\\\n\\t\\x41";')
        self.assertEqual(g["a"], 1)
        self.assertEqual(g["b"], "xy")
        self.assertEqual(g["c"], 31)
        self.assertEqual(g["d"], -25.0)
        self.assertIs(g["e"], True)
        self.assertIs(g["f"], False)
        self.assertEqual(g["g"]["h"], [1, 2])
        self.assertEqual(g["g"]["l"], ["s", {"x": 0.5}])
        self.assertEqual(g["i"], 10)
        self.assertEqual(g["s"], 'q"\\\n\tA')

    def test_comments_and_lines(self):
        g = config.parse('# one\n// two\n/* three\n four */ a = 1;\n\nb = "x";\n')
        self.assertEqual(g.lines, {"a": 4, "b": 6})

    def test_errors_carry_file_and_line(self):
        cases = [
            ('a = 1;\nb = ;\n', 2),
            ('a = "open\n\n', 1),
            ('a = 1;\na = 2;\n', 2),
            ('g = { a = 1;\n', 2),
            ('a = [1, 2\n', 2),
            ('@include "x.cfg"\n', 1),
            ('/* never closed\n', 1),
            ('a = trueish;\n', 1),
            ('a = "\\q";\n', 1),
        ]
        for text, line in cases:
            with self.subTest(text=text):
                with self.assertRaises(ConfigError) as cm:
                    config.parse(text, "f.cfg")
                self.assertTrue(str(cm.exception).startswith("f.cfg:%d: " % line), str(cm.exception))
                self.assertIsInstance(cm.exception, DroverError)


class TmpDirTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.d = self.dir.name
        env = {k: v for k, v in os.environ.items()
               if k not in ("DROVER_CONFIG", "DROVER_COORDINATOR", "DROVER_KEY",
                            "DROVER_COORDINATOR_KEY")}
        env["HOME"] = self.d
        p = mock.patch.dict(os.environ, env, clear=True)
        p.start()
        self.addCleanup(p.stop)
        self.addCleanup(self.dir.cleanup)

    def write(self, name, text, mode=0o644):
        path = os.path.join(self.d, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def keypair(self, name="me"):
        sec = self.write(name, 'name = "%s";\npublic = "%s";\nsecret = "%s";\n' % (name, PUB, SEC),
                         0o600)
        pub = self.write(name + ".pub", 'name = "%s";\npublic = "%s";\n' % (name, PUB))
        return sec, pub


class CliSectionTest(TmpDirTest):
    def test_cli_section(self):
        p = self.write("d.cfg", 'coordinator = { client_endpoint = "tcp://x:1"; };\n'
                                'cli = { coordinator = "tcp://h:9"; timeout = "250ms";\n'
                                '  secret_key = "k"; coordinator_key = "c"; insecure = false; };')
        c = config.read_cli_section(p)
        self.assertEqual(c["coordinator"], "tcp://h:9")
        self.assertAlmostEqual(c["timeout"], 0.25)
        self.assertEqual((c["secret_key"], c["coordinator_key"], c["insecure"]), ("k", "c", False))

    def test_durations(self):
        for text, secs in (("5", 5.0), ("1.5", 1.5), ('"2m"', 120.0), ('"1h"', 3600.0),
                           ('"10s"', 10.0), ('"250ms"', 0.25)):
            p = self.write("t.cfg", "cli = { timeout = %s; };" % text)
            self.assertAlmostEqual(config.read_cli_section(p)["timeout"], secs, msg=text)

    def test_refusals(self):
        cases = [
            ("x = { };", 1, "unknown section"),
            ("cli = 3;", 1, "expected a group"),
            ("cli = {\n  timeout = 3;\n  colour = true; };", 3, "unknown setting 'colour'"),
            ("cli = { coordinator = 7; };", 1, "expected a string"),
            ("cli = { insecure = 1; };", 1, "expected true or false"),
            ('cli = { timeout = "soon"; };', 1, "bad duration"),
            ("cli = { timeout = -1; };", 1, "bad duration"),
        ]
        for text, line, what in cases:
            with self.subTest(text=text):
                p = self.write("bad.cfg", text)
                with self.assertRaises(ConfigError) as cm:
                    config.read_cli_section(p)
                self.assertIn("%s:%d: " % (p, line), str(cm.exception))
                self.assertIn(what, str(cm.exception))

    @unittest.skipUnless(os.environ.get("DROVER_CLI"), "DROVER_CLI not set")
    def test_same_verdict_as_the_cli(self):
        """Each file is accepted or refused by both parsers alike: the CLI
        exits 3 (config fine, nobody listening) or 2 (config refused)."""
        texts = [
            'cli = { coordinator = "tcp://127.0.0.1:1"; timeout = 0.05; };',
            'cli = { coordinator = "tcp://127.0.0.1:1"; timeout = "50ms"; }; '
            '/* c */ worker = { slots = 2; };',
            'cli : { coordinator : "tcp://127.0.0.1:" "1", timeout : 0.05 }',
            'cli = { coordinator = "tcp://127.0.0.1:1"; timeout = 0.05; bogus = 1; };',
            'cli = { coordinator = "tcp://127.0.0.1:1"; timeout = 0.05 ',
            'cli = { coordinator = "tcp://127.0.0.1:1"; timeout = 0.05; insecure = "yes"; };',
            'nope = { };',
        ]
        for text in texts:
            with self.subTest(text=text):
                p = self.write("x.cfg", text)
                r = subprocess.run([os.environ["DROVER_CLI"], "--config", p, "info"],
                                   capture_output=True, text=True, timeout=30)
                try:
                    config.read_cli_section(p)
                    py_ok = True
                except ConfigError:
                    py_ok = False
                self.assertIn(r.returncode, (2, 3), r.stderr)
                self.assertEqual(py_ok, r.returncode == 3, "CLI said: " + r.stderr)


class KeyTest(TmpDirTest):
    def test_secret_and_public(self):
        sec, pub = self.keypair("node-1")
        k = config.load_key(sec, True)
        self.assertEqual((k.name, k.public, k.secret), ("node-1", PUB, SEC))
        self.assertNotIn(SEC, repr(k))
        k = config.load_key(pub, False)
        self.assertEqual((k.name, k.public, k.secret), ("node-1", PUB, None))

    def test_name_from_file_name(self):
        p = self.write("alice.pub", 'public = "%s";' % PUB)
        self.assertEqual(config.load_key(p, False).name, "alice")

    def test_refusals(self):
        sec, pub = self.keypair()
        os.chmod(sec, 0o640)
        with self.assertRaisesRegex(ConfigError, "readable by group or others.*chmod 600"):
            config.load_key(sec, True)
        with self.assertRaisesRegex(ConfigError, "looks like a public key file"):
            config.load_key(pub, True)
        bad = self.write("bad", 'public = "short";')
        with self.assertRaisesRegex(ConfigError, "no valid 'public' key"):
            config.load_key(bad, False)
        badname = self.write("n", 'name = "a b"; public = "%s";' % PUB)
        with self.assertRaisesRegex(ConfigError, "not a usable key name"):
            config.load_key(badname, False)
        with self.assertRaisesRegex(ConfigError, "No such file"):
            config.load_key(os.path.join(self.d, "absent"), False)

    @unittest.skipUnless(os.environ.get("DROVER_CLI"), "DROVER_CLI not set")
    def test_reads_drover_keygen_output(self):
        out = os.path.join(self.d, "gen")
        subprocess.run([os.environ["DROVER_CLI"], "keygen", "--out", out], check=True,
                       capture_output=True)
        k = config.load_key(out, True)
        self.assertTrue(config.valid_z85(k.public) and config.valid_z85(k.secret))
        self.assertEqual(config.load_key(out + ".pub", False).public, k.public)
        self.assertEqual(stat.S_IMODE(os.stat(out).st_mode), 0o600)


class ResolveTest(TmpDirTest):
    def test_defaults_without_any_config(self):
        s = config.resolve()
        self.assertEqual((s.endpoint, s.timeout, s.client_key, s.config_path),
                         (config.DEFAULT_ENDPOINT, 3.0, None, None))

    def test_order(self):
        sec, pub = self.keypair()
        cfg = self.write("c.cfg", 'cli = { coordinator = "tcp://cfg:1"; timeout = 7; '
                                  'secret_key = "%s"; coordinator_key = "%s"; };' % (sec, pub))
        os.environ["DROVER_CONFIG"] = cfg
        s = config.resolve()
        self.assertEqual((s.endpoint, s.timeout, s.client_key.name), ("tcp://cfg:1", 7.0, "me"))
        os.environ["DROVER_COORDINATOR"] = "tcp://env:2"
        self.assertEqual(config.resolve().endpoint, "tcp://env:2")
        self.assertEqual(config.resolve(coordinator="tcp://arg:3", timeout=1.5).endpoint,
                         "tcp://arg:3")
        self.assertEqual(config.resolve(timeout=1.5).timeout, 1.5)
        other, _ = self.keypair("other")
        os.environ["DROVER_KEY"] = other
        self.assertEqual(config.resolve().client_key.name, "other")
        self.assertEqual(config.resolve(key=sec).client_key.name, "me")

    def test_home_config(self):
        os.makedirs(os.path.join(self.d, ".config", "drover"))
        self.write(".config/drover/drover.cfg", 'cli = { coordinator = "tcp://home:4"; };')
        self.assertEqual(config.resolve().endpoint, "tcp://home:4")

    def test_insecure_and_half_keys(self):
        sec, pub = self.keypair()
        cfg = self.write("c.cfg", 'cli = { insecure = true; secret_key = "%s"; '
                                  'coordinator_key = "%s"; };' % (sec, pub))
        self.assertIsNone(config.resolve(config=cfg).client_key)
        # A key named outside the file is meant, even with cli.insecure.
        self.assertEqual(config.resolve(config=cfg, key=sec).client_key.name, "me")
        with self.assertRaisesRegex(ConfigError, "not the coordinator's public key"):
            config.resolve(key=sec)
        with self.assertRaisesRegex(ConfigError, "not this client's key"):
            config.resolve(coordinator_key=pub)
        with self.assertRaisesRegex(ConfigError, r"\(client key from key=\)"):
            config.resolve(key=pub, coordinator_key=pub)
        with self.assertRaises(ConfigError):
            config.resolve(timeout=0)


if __name__ == "__main__":
    unittest.main()
