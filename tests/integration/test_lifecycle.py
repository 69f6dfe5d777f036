#!/usr/bin/python3
"""
test_lifecycle.py - wsgated as systemd runs it: sd_notify states (READY,
RELOADING, STOPPING), SIGHUP reloads (new configuration for new
connections, old connections untouched, a broken file changes nothing),
SIGTERM closes every client with 1001 and exits 0, privileges dropped
after binding, and the systemd unit passes systemd-analyze verify.
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import wsgtest
from wsgtest import (OP_TEXT, Daemon, connect_raw, endpoint, expect_close, recv_message,
                     render_config, send_frame)  # noqa: F401


def echo_ok(sock, text):
    send_frame(sock, OP_TEXT, text.encode())
    return recv_message(sock) == (OP_TEXT, text.encode())


class NotifySocket:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="wsgtest-notify-")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.seen = []

    def wait_for(self, state, timeout=10):
        """Collect messages until one holds state (e.g. "READY=1")."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for msg in self.seen:
                if state in msg.split("\n"):
                    self.seen.remove(msg)
                    return
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                self.seen.append(self.sock.recv(4096).decode())
            except socket.timeout:
                break
        raise AssertionError("no %s from sd_notify; got %r" % (state, self.seen))

    def close(self):
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def built_with_systemd():
    out = subprocess.run(["ldd", wsgtest.WSGATED], capture_output=True, text=True).stdout
    return "libsystemd" in out


@unittest.skipIf(wsgtest.EXTERNAL_PORT, "WSG_TEST_PORT set: no daemon binary under test")
class Notify(unittest.TestCase):

    def setUp(self):
        if not built_with_systemd():
            self.skipTest("wsgated built without libsystemd")
        self.notify = NotifySocket()
        self.addCleanup(self.notify.close)

    def test_ready_reloading_ready_and_stopping_are_sent(self):
        d = Daemon(env={"NOTIFY_SOCKET": self.notify.path})
        d.start()
        try:
            self.notify.wait_for("READY=1")
            d.proc.send_signal(signal.SIGHUP)
            self.notify.wait_for("RELOADING=1")
            self.notify.wait_for("READY=1")
        finally:
            d.proc.send_signal(signal.SIGTERM)
            d._terminated = True      # stop() must not count the exit as a death
            self.notify.wait_for("STOPPING=1")
            d.stop()


@unittest.skipIf(wsgtest.EXTERNAL_PORT, "WSG_TEST_PORT set: no daemon binary under test")
class Reload(unittest.TestCase):

    def setUp(self):
        self.d = Daemon()
        self.d.start()
        self.addCleanup(self.d.stop)

    def rewrite(self, text):
        with open(self.d.config_path, "w") as f:
            f.write(text)
        self.d.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            log = self.d.stderr_text()
            if "reloaded configuration" in log or "reload failed" in log:
                return log
            time.sleep(0.02)
        self.fail("no reload line in the log:\n" + self.d.stderr_tail())

    def test_sighup_serves_new_endpoints_while_old_connections_keep_echoing(self):
        old, _ = connect_raw(self.d.port, "/echo")
        self.assertTrue(echo_ok(old, "before"))
        log = self.rewrite(render_config(self.d.port, endpoints=[endpoint("/fresh")]))
        self.assertIn("reloaded configuration", log)
        self.assertTrue(echo_ok(old, "after reload, on the old endpoint"))
        new, _ = connect_raw(self.d.port, "/fresh")
        self.assertTrue(echo_ok(new, "on the new endpoint"))
        resp = wsgtest.http_exchange(self.d.port, wsgtest.upgrade_request(self.d.port, "/echo"))
        self.assertEqual(resp.status, 404)
        old.close()
        new.close()

    def test_sighup_applies_new_limits_to_new_connections_only(self):
        old, _ = connect_raw(self.d.port, "/echo")
        self.rewrite(render_config(self.d.port, limits={"max_message": 100, "max_frame": 100},
                                   endpoints=[endpoint("/echo")]))
        self.assertTrue(echo_ok(old, "x" * 1000))       # old limit: 16 MiB
        new, _ = connect_raw(self.d.port, "/echo")
        send_frame(new, OP_TEXT, b"x" * 1000)
        expect_close(new, 1009)
        old.close()

    def test_sighup_with_a_broken_file_keeps_the_running_configuration(self):
        old, _ = connect_raw(self.d.port, "/echo")
        log = self.rewrite("endpoints = ( { path = ; } );\n")
        self.assertRegex(log, r"reload failed.*%s:1:" % self.d.config_path)
        self.assertTrue(echo_ok(old, "still here"))
        new, _ = connect_raw(self.d.port, "/echo")
        self.assertTrue(echo_ok(new, "and new ones too"))
        old.close()
        new.close()

    def test_sighup_with_a_missing_module_keeps_the_running_configuration(self):
        log = self.rewrite(render_config(self.d.port, endpoints=[endpoint("/x", "no_such")]))
        self.assertIn("reload failed", log)
        self.assertIn('"no_such"', log)
        s, _ = connect_raw(self.d.port, "/echo")
        self.assertTrue(echo_ok(s, "old configuration"))
        s.close()


@unittest.skipIf(wsgtest.EXTERNAL_PORT, "WSG_TEST_PORT set: no daemon binary under test")
class Stop(unittest.TestCase):

    def test_sigterm_closes_clients_with_1001_and_exits_0(self):
        d = Daemon(limits={"close_timeout": 5})
        d.start()
        socks = [connect_raw(d.port, "/echo")[0] for _ in range(5)]
        t0 = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        for s in socks:
            f = wsgtest.recv_frame(s)
            self.assertEqual((f.opcode, f.payload[:2]), (wsgtest.OP_CLOSE, b"\x03\xe9"))
            send_frame(s, wsgtest.OP_CLOSE, f.payload[:2])    # the client's reply
            wsgtest.assert_eof(s)
            s.close()
        d.proc.wait(timeout=5)
        self.assertLess(time.monotonic() - t0, 4, "waited for the close timeout")
        d._terminated = True
        d.stop()                      # exit status 0, clean stderr

    def test_sigterm_gives_up_on_silent_clients_after_close_timeout(self):
        d = Daemon(limits={"close_timeout": 1})
        d.start()
        silent, _ = connect_raw(d.port, "/echo")
        t0 = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        d.proc.wait(timeout=8)
        self.assertLess(time.monotonic() - t0, 4)
        silent.close()
        d._terminated = True
        d.stop()


@unittest.skipIf(wsgtest.EXTERNAL_PORT, "WSG_TEST_PORT set: no daemon binary under test")
class Privileges(unittest.TestCase):

    def test_user_and_group_are_taken_after_binding(self):
        if os.geteuid() != 0:
            self.skipTest("needs root")
        nobody = pwd.getpwnam("nobody")
        d = Daemon(extra={"user": "nobody"})
        d.start()
        try:
            with open("/proc/%d/status" % d.proc.pid) as f:
                status = dict(line.split(":", 1) for line in f if ":" in line)
            self.assertEqual(int(status["Uid"].split()[1]), nobody.pw_uid)
            self.assertEqual(int(status["Gid"].split()[1]), nobody.pw_gid)
            s, _ = connect_raw(d.port, "/echo")
            self.assertTrue(echo_ok(s, "unprivileged"))
            s.close()
        finally:
            d.stop()

    def test_unknown_user_is_a_startup_error(self):
        d = Daemon(extra={"user": "no-such-user-wsgate"})
        with self.assertRaises(wsgtest.DaemonError) as cm:
            d.start()
        self.assertIn("no-such-user-wsgate", str(cm.exception))


class SystemdUnit(unittest.TestCase):

    def test_unit_passes_systemd_analyze_verify(self):
        analyze = shutil.which("systemd-analyze")
        if analyze is None:
            self.skipTest("systemd-analyze not installed")
        src = os.path.join(wsgtest.REPO, "systemd", "wsgated.service.in")
        sbindir = os.path.dirname(os.path.abspath(wsgtest.WSGATED))
        with tempfile.TemporaryDirectory() as tmp:
            unit = os.path.join(tmp, "wsgated.service")
            with open(src) as f, open(unit, "w") as out:
                out.write(f.read().replace("@sbindir@", sbindir)
                          .replace("@sysconfdir@", "/etc"))
            r = subprocess.run([analyze, "verify", "--man=no", unit],
                               capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("wsgated.service:", r.stdout + r.stderr)


if __name__ == "__main__":
    wsgtest.main()
