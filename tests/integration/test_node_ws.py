#!/usr/bin/python3
"""
test_node_ws.py - Node's `ws` client (node_ws_client.js) against wsgated:
text and binary echo, fragmented sends, ping/pong and a clean close.
Skipped, with the reason, only when node or the ws module is missing.
"""

import json
import os
import shutil
import subprocess
import unittest

import wsgtest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "node_ws_client.js")


def node_env():
    env = dict(os.environ)
    paths = [p for p in env.get("NODE_PATH", "").split(":") if p]
    if "/usr/share/nodejs" not in paths:
        paths.append("/usr/share/nodejs")
    env["NODE_PATH"] = ":".join(paths)
    return env


def node_missing():
    node = shutil.which("node")
    if node is None:
        return "node is not installed"
    r = subprocess.run([node, "-e", "require('ws')"], env=node_env(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    if r.returncode != 0:
        return "node cannot load the ws module (apt-get install node-ws): " \
            + r.stderr.decode(errors="replace").strip().splitlines()[0]
    return None


NODE_MISSING = node_missing()


@unittest.skipIf(NODE_MISSING, NODE_MISSING or "")
class NodeWsClient(wsgtest.DaemonTestCase):

    def run_client(self, path):
        r = subprocess.run(["node", SCRIPT, self.daemon.url(path)], env=node_env(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
        out = r.stdout.decode(errors="replace")
        err = r.stderr.decode(errors="replace")
        try:
            result = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            self.fail("no JSON from the node client (exit %d):\n%s\n%s" % (r.returncode, out, err))
        return r.returncode, result, out + err

    def test_node_ws_client_echo_fragments_ping_and_close(self):
        code, result, text = self.run_client("/echo")
        failed = [s for s in result["steps"] if not s["ok"]]
        self.assertEqual(failed, [], text)
        names = [s["name"] for s in result["steps"]]
        self.assertEqual(names, ["text_echo", "binary_echo", "fragmented_text",
                                 "fragmented_binary", "ping_pong", "close_1000"], text)
        self.assertTrue(result["ok"], text)
        self.assertEqual(code, 0, text)

    def test_node_ws_client_on_small_endpoint_gets_1009_for_big_binary(self):
        # /small allows 1024 bytes; the client's 70000-byte binary step must
        # fail with a 1009 close (RFC 6455 7.4.1), reported as a failed step.
        code, result, text = self.run_client("/small")
        self.assertNotEqual(code, 0, text)
        self.assertIn("1009", text, text)


if __name__ == "__main__":
    wsgtest.main()
