#!/usr/bin/python3
"""
test_cli.py - wsgated's command line: -t checks a configuration (nginx -t
style) and reports every error as "FILE:LINE: message"; -c with a missing
file fails naming it; -v prints the version.
"""

import os
import re
import subprocess
import tempfile
import unittest

import wsgtest
from wsgtest import endpoint, line_of, render_config

OK_RE = re.compile(r"\bis ok\b|syntax is ok|test is successful", re.I)


@unittest.skipIf(wsgtest.EXTERNAL_PORT, "WSG_TEST_PORT set: no daemon binary under test")
class CommandLine(unittest.TestCase):

    def setUp(self):
        wsgtest.check_daemon_binary()
        self.tmp = tempfile.TemporaryDirectory(prefix="wsgtest-cli-")
        self.addCleanup(self.tmp.cleanup)

    def write(self, text, name="wsgated.conf"):
        path = os.path.join(self.tmp.name, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def run_daemon(self, *args, timeout=10, env=None):
        try:
            r = subprocess.run([wsgtest.WSGATED] + list(args), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=timeout, cwd=self.tmp.name,
                               env=dict(os.environ, **(env or {})))
        except subprocess.TimeoutExpired:
            self.fail("wsgated %s did not exit within %d s" % (" ".join(args), timeout))
        out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
        for marker in wsgtest.SANITIZER_MARKERS:
            self.assertNotIn(marker, err)
        return r.returncode, out, err

    def good_config(self, **kw):
        return render_config(wsgtest.free_port(), **kw)

    def check_rejected(self, text, lines):
        """-t fails and stderr has "FILE:LINE:" with LINE in lines."""
        path = self.write(text)
        code, out, err = self.run_daemon("-t", "-c", path)
        self.assertNotEqual(code, 0, "accepted:\n%s\n%s%s" % (text, out, err))
        found = [int(n) for n in re.findall(re.escape(path) + r":(\d+):", err)]
        self.assertTrue(found, "no %s:LINE: in stderr:\n%s" % (path, err))
        self.assertTrue(set(found) & set(lines),
                        "stderr names line(s) %s, want one of %s:\n%s\n--- config ---\n%s"
                        % (found, sorted(lines), err, numbered(text)))
        self.assertFalse(OK_RE.search(out + err), out + err)
        return err

    # -- -t on a good config
    def test_t_on_good_config_exits_0_and_says_ok(self):
        path = self.write(self.good_config())
        code, out, err = self.run_daemon("-t", "-c", path)
        self.assertEqual(code, 0, out + err)
        self.assertRegex(out + err, OK_RE)

    def test_t_on_config_with_every_limit_and_fractional_seconds_is_ok(self):
        limits = {"max_frame": "64K", "max_message": "2M", "max_connections": 100,
                  "max_connections_per_ip": 10, "handshake_timeout": 2.5,
                  "idle_timeout": 0.5, "ping_interval": 10, "close_timeout": 1,
                  "output_high_watermark": "1M", "slow_consumer": "drop"}
        path = self.write(self.good_config(limits=limits))
        code, out, err = self.run_daemon("-t", "-c", path)
        self.assertEqual(code, 0, out + err)
        self.assertRegex(out + err, OK_RE)

    # -- -t on bad configs: "FILE:LINE: message"
    def test_t_unknown_top_level_key_names_its_line(self):
        text = self.good_config(extra={"bogus_setting": 1})
        self.check_rejected(text, {line_of(text, "bogus_setting")})

    def test_t_unknown_limit_key_names_its_line(self):
        text = self.good_config(limits={"idle_tiemout": 5})
        err = self.check_rejected(text, {line_of(text, "idle_tiemout")})
        self.assertIn("idle_tiemout", err)

    def test_t_unknown_endpoint_key_names_its_line(self):
        eps = list(wsgtest.DEFAULT_ENDPOINTS) + [endpoint("/typo", modul="echo")]
        text = self.good_config(endpoints=eps)
        self.check_rejected(text, {line_of(text, "modul =")})

    def test_t_wrong_type_port_names_its_line(self):
        text = self.good_config().replace("port = ", 'port = "eighty"; #', 1)
        self.check_rejected(text, {line_of(text, 'port = "eighty"')})

    def test_t_wrong_type_limit_names_its_line(self):
        text = self.good_config(limits={"idle_timeout": True})
        self.check_rejected(text, {line_of(text, "idle_timeout")})

    def test_t_port_out_of_range_names_its_line(self):
        text = render_config(70000)
        self.check_rejected(text, {line_of(text, "port = 70000")})

    def test_t_duplicate_endpoint_path_names_a_line(self):
        eps = list(wsgtest.DEFAULT_ENDPOINTS) + [endpoint("/echo")]
        text = self.good_config(endpoints=eps)
        first = line_of(text, 'path = "/echo"')
        second = line_of(text, 'path = "/echo"', first + 1)
        # the second endpoint's group: its path line and the lines around it
        self.check_rejected(text, set(range(second - 1, second + 3)))

    def test_t_missing_module_names_a_line(self):
        eps = list(wsgtest.DEFAULT_ENDPOINTS) + [endpoint("/nomod", "no_such_module")]
        text = self.good_config(endpoints=eps)
        mod = line_of(text, '"no_such_module"')
        err = self.check_rejected(text, set(range(mod - 2, mod + 2)))
        self.assertIn("no_such_module", err)

    def test_t_syntax_error_names_its_line(self):
        text = self.good_config() + "this is = not libconfig;\n"
        self.check_rejected(text, {line_of(text, "this is")})

    def test_t_missing_file_fails(self):
        code, out, err = self.run_daemon("-t", "-c", "/nonexistent/wsgated.conf")
        self.assertNotEqual(code, 0)
        self.assertIn("/nonexistent/wsgated.conf", err)

    # -- running
    def test_c_with_nonexistent_file_exits_nonzero_naming_it(self):
        code, out, err = self.run_daemon("-c", "/nonexistent/wsgated.conf")
        self.assertNotEqual(code, 0)
        self.assertIn("/nonexistent/wsgated.conf", err)

    def test_c_with_bad_config_exits_nonzero_with_file_line(self):
        text = self.good_config(extra={"bogus_setting": 1})
        path = self.write(text)
        code, out, err = self.run_daemon("-c", path)
        self.assertNotEqual(code, 0)
        self.assertIn("%s:%d:" % (path, line_of(text, "bogus_setting")), err)

    # An OpenSSL whose configuration loads only the base provider has no
    # SHA-1: the daemon says so at start instead of failing every handshake.
    def test_openssl_without_sha1_stops_the_daemon_at_start(self):
        cnf = self.write("openssl_conf = init\n[init]\nproviders = providers\n"
                         "[providers]\nbase = base\n[base]\nactivate = 1\n", "openssl.cnf")
        path = self.write(self.good_config())
        code, out, err = self.run_daemon("-c", path, env={"OPENSSL_CONF": cnf})
        self.assertEqual(code, 1, out + err)
        self.assertIn("OpenSSL cannot compute SHA-1", err)

    # -- the module loader: third-party modules it must refuse
    def loader_config(self, module, **settings):
        test_dir = os.environ.get("WSG_TEST_MODULE_DIR")
        if not test_dir or not os.path.isdir(test_dir):
            self.skipTest("WSG_TEST_MODULE_DIR not set (make check sets it)")
        return self.good_config(module_dir=test_dir,
                                endpoints=[endpoint("/m", module, **settings)])

    def test_t_module_built_for_another_abi_is_refused(self):
        text = self.loader_config("bad_abi")
        err = self.check_rejected(text, {line_of(text, '"bad_abi"')})
        self.assertRegex(err, r"ABI 1003.*ABI 3\b")

    def test_t_shared_object_without_descriptor_is_refused(self):
        text = self.loader_config("no_symbol")
        err = self.check_rejected(text, {line_of(text, '"no_symbol"')})
        self.assertIn('does not export "wsg_module"', err)

    def test_t_module_refusing_its_options_names_the_options_line(self):
        text = self.loader_config("bad_options", options={"ok": 1, "nope": 2})
        err = self.check_rejected(text, set(range(line_of(text, '"bad_options"'),
                                                  line_of(text, "nope") + 1)))
        self.assertIn('unknown option "nope"', err)

    # -- the embedded default, straight from the build tree, any directory
    def test_t_without_c_uses_the_embedded_default_from_any_directory(self):
        if os.path.exists("/etc/wsgate/wsgated.conf") or \
           os.path.exists("/usr/local/etc/wsgate/wsgated.conf"):
            self.skipTest("an installed configuration would be used instead")
        code, out, err = self.run_daemon("-t")
        self.assertEqual(code, 0, out + err)
        self.assertIn("(embedded default)", out + err)
        self.assertRegex(out + err, OK_RE)

    def test_v_prints_version(self):
        code, out, err = self.run_daemon("-v")
        self.assertEqual(code, 0, out + err)
        self.assertRegex(out + err, r"(?i)wsgate.*\d+\.\d+")

    def test_h_prints_a_manual_listing_every_option_and_signal(self):
        code, out, err = self.run_daemon("-h")
        self.assertEqual(code, 0, out + err)
        for opt in ("-c FILE", "-t ", "-d ", "-v ", "-h "):
            self.assertIn("    " + opt, out)
        for word in ("SYNOPSIS", "SIGHUP", "SIGTERM", "EXIT STATUS"):
            self.assertIn(word, out)

    def test_unknown_option_fails(self):
        code, out, err = self.run_daemon("--no-such-option")
        self.assertNotEqual(code, 0)
        self.assertTrue(err.strip(), "no usage message on stderr")


def numbered(text):
    return "".join("%3d  %s\n" % (n, l) for n, l in enumerate(text.splitlines(), 1))


if __name__ == "__main__":
    wsgtest.main()
