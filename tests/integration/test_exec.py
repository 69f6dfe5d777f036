#!/usr/bin/env python3
"""
test_exec.py - the exec module: a process per connection (cat in lines and
binary mode, the CGI-like environment, exit codes, a process that ignores
SIGTERM), and afterwards no zombie children and no leaked descriptors.

Run: WSGATED=build/src/wsgated WSG_MODULE_DIR=build/src/modules/.libs \
     /usr/bin/python3 tests/integration/test_exec.py
"""
import os
import struct
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsgtest  # noqa: E402
from wsgtest import (OP_BINARY, OP_CLOSE, OP_TEXT, DaemonTestCase, endpoint,  # noqa: E402
                     expect_close, recv_message, send_frame, text_payload)

SIZES = [0, 1, 125, 126, 65535, 65536, 1 << 20]

IGNORE_TERM = 'trap "" TERM; echo $$; while :; do sleep 0.05; done'


def ex(path, command, endpoint_settings=None, **options):
    opts = {"command": command}
    opts.update(options)
    return endpoint(path, "exec", options=opts, **(endpoint_settings or {}))


def children(pid):
    """(pid, state) of every process whose parent is pid."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[1]) == pid:
            out.append((int(d), fields[0]))
    return out


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


class TestExec(DaemonTestCase):
    daemon_kwargs = dict(
        endpoints=[
            ex("/cat", ["cat"], max_line="2M"),
            ex("/bin", ["cat"], mode="binary"),
            ex("/env", ["/bin/sh", "-c",
                        'echo "$REMOTE_ADDR|$REMOTE_PORT|$SCRIPT_NAME|$PATH_INFO|'
                        '$QUERY_STRING|$SERVER_PROTOCOL|$HTTP_X_TEST|$WEBSOCKET_PROTOCOL|'
                        '$HTTP_USER_AGENT"'],
               endpoint_settings={"match": "prefix", "subprotocols": ["chat"]}),
            ex("/fail", ["sh", "-c", "echo partial; exit 3"]),
            ex("/ok", ["sh", "-c", "echo done"]),
            ex("/stubborn", ["sh", "-c", IGNORE_TERM], kill_grace=1),
            ex("/one", ["sh", "-c", "sleep 30"], max_processes=1, kill_grace=1),
            ex("/stderr", ["sh", "-c", "echo to-the-log-4711 >&2; sleep 0.2"]),
            ex("/wd", ["pwd"], working_directory="/usr"),
        ],
        limits={"max_message": 4 << 20, "max_frame": 4 << 20},
        # max_processes is each worker's (test_max_processes needs one).
        extra={"workers": 1},
    )

    def ws(self, path, headers=None):
        s, _ = wsgtest.connect_raw(self.port, path, headers, timeout=10)
        self.addCleanup(s.close)
        return s

    def test_cat_lines_every_size(self):
        s = self.ws("/cat")
        for n in SIZES:
            p = text_payload(n)
            send_frame(s, OP_TEXT, p)
            self.assertEqual(recv_message(s, timeout=20), (OP_TEXT, p), "size %d" % n)

    def test_cat_binary(self):
        s = self.ws("/bin")
        for n in SIZES:
            p = os.urandom(n)
            send_frame(s, OP_BINARY, p)
            got = b""
            while len(got) < n:
                op, part = recv_message(s, timeout=20)
                self.assertEqual(op, OP_BINARY)
                got += part
            self.assertEqual(got, p, "size %d" % n)

    def test_environment(self):
        s = self.ws("/env/sub/dir?x=1&y=2", [("X-Test", "hello there"),
                                            ("Sec-WebSocket-Protocol", "chat"),
                                            ("User-Agent", "exec-test")])
        op, line = recv_message(s)
        self.assertEqual(line.decode().split("|"), [
            "127.0.0.1", str(s.getsockname()[1]), "/env", "/sub/dir", "x=1&y=2",
            "HTTP/1.1", "hello there", "chat", "exec-test"])
        expect_close(s, 1000)

    def test_exit_zero_closes_1000(self):
        s = self.ws("/ok")
        self.assertEqual(recv_message(s), (OP_TEXT, b"done"))
        expect_close(s, 1000)

    def test_nonzero_exit_closes_1011(self):
        s = self.ws("/fail")
        self.assertEqual(recv_message(s), (OP_TEXT, b"partial"))
        _, reason = expect_close(s, 1011)
        self.assertIn(b"status 3", reason)

    def test_working_directory(self):
        s = self.ws("/wd")
        self.assertEqual(recv_message(s), (OP_TEXT, b"/usr"))

    def test_stderr_goes_to_the_log(self):
        s = self.ws("/stderr")
        expect_close(s, 1000)
        time.sleep(0.2)
        self.assertIn("to-the-log-4711", self.daemon.stderr_text())

    def test_sigterm_ignored_then_killed_after_grace(self):
        s = self.ws("/stubborn")
        op, pid = recv_message(s)
        pid = int(pid)
        self.assertTrue(alive(pid))
        send_frame(s, OP_CLOSE, struct.pack("!H", 1000))
        expect_close(s, 1000)
        t0 = time.monotonic()
        time.sleep(0.5)
        self.assertTrue(alive(pid), "killed before kill_grace")
        while alive(pid) and time.monotonic() - t0 < 5:
            time.sleep(0.05)
        self.assertFalse(alive(pid), "still running 5 s after the client left")
        self.assertGreater(time.monotonic() - t0, 0.9)

    def test_max_processes(self):
        first = self.ws("/one")
        time.sleep(0.2)
        _, reason = expect_close(self.ws("/one"), 1013)
        self.assertIn(b"too many", reason)
        first.close()

    def test_zz_no_zombies_no_leaked_fds(self):
        pid = self.daemon.proc.pid
        time.sleep(2.5)   # let the tests above finish their kill_grace
        before = fd_count(pid)
        for _ in range(3):
            for path in ("/cat", "/bin", "/ok", "/fail", "/stubborn"):
                s = self.ws(path)
                if path in ("/cat", "/bin"):
                    send_frame(s, OP_BINARY if path == "/bin" else OP_TEXT, b"x")
                    recv_message(s)
                send_frame(s, OP_CLOSE, struct.pack("!H", 1000))
                try:
                    expect_close(s, {1000, 1011})
                except AssertionError:
                    pass
                s.close()
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline and (children(pid) or fd_count(pid) > before):
            time.sleep(0.1)
        self.assertEqual([c for c in children(pid) if c[1] == "Z"], [], "zombies")
        self.assertEqual(children(pid), [], "children left")
        self.assertEqual(fd_count(pid), before, "descriptors leaked")


class TestExecOptions(unittest.TestCase):

    def check(self, options, needle):
        import subprocess
        import tempfile
        wsgtest.check_daemon_binary()
        with tempfile.TemporaryDirectory() as tmp:
            conf = os.path.join(tmp, "c.conf")
            with open(conf, "w") as f:
                f.write(wsgtest.render_config(8080, endpoints=[
                    endpoint("/x", "exec", options=options)]))
            r = subprocess.run([wsgtest.WSGATED, "-t", "-c", conf], capture_output=True,
                               text=True, timeout=10)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(needle, r.stderr)

    def test_unknown_option(self):
        self.check({"command": ["cat"], "comand": 1}, 'unknown option "comand"')

    def test_missing_command(self):
        self.check({"mode": "lines"}, "command is required")

    def test_command_not_found(self):
        self.check({"command": ["no-such-program-wsg"]}, "not found in PATH")

    def test_bad_mode(self):
        self.check({"command": ["cat"], "mode": "text"}, "mode must be one of")


if __name__ == "__main__":
    wsgtest.main()
