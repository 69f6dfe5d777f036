#!/usr/bin/python3
"""
test_backplane.py - broadcast rooms across wsgated nodes through a real
redis-server (Debian's, on a free 127.0.0.1 port): 60 clients in three
rooms on three nodes get every message of their room exactly once, in order
per sender, and nothing else; Redis killed mid-run (local rooms go on,
cross-node delivery resumes with no duplicates, memory stays bounded);
Redis down at start; malformed envelopes; room presence across nodes read
through the public module API; SIGHUP reloads; nodes with workers = 2
(every worker a node of its own, still exactly once); and a real HAProxy
in front of three nodes, health-checking /healthz.
"""

import collections
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import types
import unittest

import wsgtest
from wsgtest import OP_BINARY, OP_TEXT, Daemon, endpoint, render_config
from test_broadcast import Client, asan_friendly_environment, pump
from test_metrics import MetricsDaemon, value

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
PREFIX = "wsgtest:"


# --------------------------------------------------------------------------
# a redis-server of our own, and just enough RESP to ask it things

def resp_encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def resp_read(f):
    line = f.readline()
    if not line:
        raise ConnectionError("redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError("redis: " + rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2]
    if kind == b"*":
        return [resp_read(f) for _ in range(int(rest))]
    raise RuntimeError("bad RESP line %r" % line)


# Every test here counts Redis subscribers per daemon, one per worker:
# WSG_TEST_WORKERS does not apply (the Workers class sets its own).
wsgtest.TEST_WORKERS = 1

class Redis:
    def __init__(self, port=None, args=(), password=None):
        self.port = port or wsgtest.free_port()
        self.tmp = tempfile.mkdtemp(prefix="wsgtest-redis-")
        self.proc = None
        self.password = password
        self.args = list(args) + (["--requirepass", password] if password else [])

    @property
    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def start(self):
        self.log = open(os.path.join(self.tmp, "redis.log"), "ab")
        self.proc = subprocess.Popen(
            [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.tmp] + self.args,
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.command("PING") == "PONG":
                    return self
            except (OSError, RuntimeError):
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError("redis-server did not start on %d" % self.port)

    def command(self, *args, db=0):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            pre = [("AUTH", self.password)] if self.password else []
            pre += [("SELECT", db)] if db else []
            s.sendall(b"".join(resp_encode(*c) for c in pre) + resp_encode(*args))
            with s.makefile("rb") as f:
                for _ in pre:
                    resp_read(f)
                return resp_read(f)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        self.log.close()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            self.log.close()
        self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def need(path, package):
    if not os.access(path, os.X_OK):
        raise unittest.SkipTest("no %s (apt-get install %s)" % (path, package))


def chat(url, prefix=PREFIX, **options):
    opts = collections.OrderedDict(room="query", backplane=url, backplane_prefix=prefix)
    opts.update(options)
    return endpoint("/chat", "broadcast", options=opts)


def wait_for(what, cond, timeout=10.0, nodes=()):
    """Until cond(); on timeout fail with what, and the log of nodes
    without its debug lines."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            logs = "".join("\n--- :%d ---\n%s" % (d.port, "\n".join(
                l for l in d.stderr_text().splitlines() if "debug:" not in l)[-3000:])
                for d in nodes)
            raise AssertionError("timed out waiting for " + what + logs)
        time.sleep(0.05)


# --------------------------------------------------------------------------

class ClusterCase(unittest.TestCase):
    """A redis-server and NODES wsgated nodes sharing it, per class."""
    NODES = 3
    WORKERS = 1
    module_dir = None

    @classmethod
    def endpoints(cls, url):
        return [chat(url), endpoint("/echo")]

    @classmethod
    def setUpClass(cls):
        need(REDIS, "redis-server")
        wsgtest.check_daemon_binary()
        asan_friendly_environment()
        cls.redis = Redis().start()
        cls.nodes = []
        try:
            # Each worker is a node of its own: the subscriber counts below
            # are for WORKERS per daemon, whatever WSG_TEST_WORKERS says.
            extra = {"module_dir": cls.module_dir} if cls.module_dir else {}
            extra["workers"] = cls.WORKERS
            for _ in range(cls.NODES):
                d = Daemon(endpoints=cls.endpoints(cls.redis.url), extra=extra)
                d.start()
                cls.nodes.append(d)
            for d in cls.nodes:
                wait_for("the backplane to connect", lambda: "connected" in d.stderr_text())
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        problems = []
        for d in cls.nodes:
            try:
                d.stop()
            except AssertionError as e:
                problems.append(str(e))
        cls.nodes = []
        cls.redis.cleanup()
        if problems:
            raise AssertionError("\n".join(problems))

    def tearDown(self):
        for d in self.nodes:
            d.assert_alive()

    def client(self, node, path, **kw):
        """A raw client of test_broadcast on the given node."""
        shim = types.SimpleNamespace(port=node.port, addCleanup=self.addCleanup)
        c = Client(shim, path, **kw)
        c.node = node
        return c

    def numsub(self, room, endpoint_path="/chat"):
        chan = "%s%s:%s" % (PREFIX, endpoint_path, room)
        return self.redis.command("PUBSUB", "NUMSUB", chan)[1]

    def wait_subscribed(self, room, nodes):
        wait_for("%d nodes subscribed to room %s" % (nodes, room),
                 lambda: self.numsub(room) == nodes)

    def send_numbered(self, clients, per_client, tag=""):
        """Each client sends per_client messages "tag|room|id|seq", text and
        binary alternately; returns {client: [(op, payload)]}."""
        sent = {}
        for i, c in enumerate(clients):
            sent[c] = []
            for j in range(per_client):
                p = ("%s|%s|%d|%d" % (tag, c.path, i, j)).encode()
                op = OP_TEXT if j % 2 == 0 else OP_BINARY
                c.send(p, op)
                sent[c].append((op, p))
        return sent

    def check_delivery(self, groups, sent, timeout=15):
        """Every client of every group gets exactly what the other members
        of its group sent (once each, in order per sender), nothing else."""
        everyone = [c for g in groups for c in g]
        want = {}
        for g in groups:
            for c in g:
                want[c] = collections.Counter(m for o in g if o is not c
                                              for m in sent.get(o, []))
        done = lambda: all(len(c.msgs) >= sum(want[c].values()) for c in everyone)
        pump(everyone, done, timeout=timeout, linger=0.5)
        for c in everyone:
            got = collections.Counter(c.msgs)
            missing, extra = want[c] - got, got - want[c]
            if missing or extra:
                self.fail("%s on :%d: %d missing (e.g. %r), %d extra or duplicated "
                          "(e.g. %r)" % (c.path, c.node.port, sum(missing.values()),
                                         list(missing)[:2], sum(extra.values()),
                                         list(extra)[:2]))
            self.assertIsNone(c.close)
            # In order per sender: the sequence numbers of each sender rise.
            last = {}
            for _, p in c.msgs:
                _, _, sender, seq = p.rstrip(b"\x00\xff").split(b"|")
                self.assertLess(last.get(sender, -1), int(seq), "%s: out of order" % c.path)
                last[sender] = int(seq)
        for c in everyone:
            c.msgs.clear()


class Cluster(ClusterCase):

    def test_60_clients_in_3_rooms_on_3_nodes_get_each_message_once_in_order(self):
        rooms = collections.defaultdict(list)
        for i in range(60):
            room = "abc"[i % 3]
            node = self.nodes[(i // 3) % 3]
            rooms[room].append(self.client(node, "/chat?room=" + room))
        for room in rooms:
            self.wait_subscribed(room, 3)
        groups = list(rooms.values())
        sent = self.send_numbered([c for g in groups for c in g], 6)
        self.check_delivery(groups, sent)

    def test_a_node_does_not_deliver_its_own_messages_twice(self):
        """Two members on one node, one on another: the local receiver gets
        each message once although the node also hears it from Redis."""
        a, b = self.nodes[0], self.nodes[1]
        group = [self.client(a, "/chat?room=own"), self.client(a, "/chat?room=own"),
                 self.client(b, "/chat?room=own")]
        self.wait_subscribed("own", 2)
        sent = self.send_numbered(group, 20)
        self.check_delivery([group], sent)

    def test_channels_are_unsubscribed_when_the_last_local_member_leaves(self):
        a, b = self.nodes[0], self.nodes[1]
        x = [self.client(a, "/chat?room=leave"), self.client(b, "/chat?room=leave")]
        self.wait_subscribed("leave", 2)
        x[1].send_close()
        wait_for("node b to unsubscribe", lambda: self.numsub("leave") == 1)
        x[0].send_close()
        wait_for("node a to unsubscribe", lambda: self.numsub("leave") == 0)

    def test_join_leave_join_quickly_stays_subscribed(self):
        """An UNSUBSCRIBE still in flight when the room is joined again must
        not leave the node deaf to it."""
        a, b = self.nodes[0], self.nodes[1]
        far = self.client(b, "/chat?room=flap")
        for _ in range(20):
            c = self.client(a, "/chat?room=flap")
            c.abort()
        near = self.client(a, "/chat?room=flap")
        self.wait_subscribed("flap", 2)
        sent = self.send_numbered([far, near], 5)
        self.check_delivery([[far, near]], sent)

    def test_malformed_envelopes_are_dropped_with_one_log_line(self):
        a = self.nodes[2]
        c = [self.client(a, "/chat?room=junk"), self.client(self.nodes[0], "/chat?room=junk")]
        self.wait_subscribed("junk", 2)
        for junk in (b"", b"hello", b"WSGB\x09" + b"\x00" * 40, b"WSGB\x01\x07" + b"\x00" * 30):
            self.redis.command("PUBLISH", PREFIX + "/chat:junk", junk)
        pump(c, timeout=1.0)
        self.assertEqual([m for x in c for m in x.msgs], [])
        self.assertEqual(a.stderr_text().count("malformed"), 1)
        sent = self.send_numbered(c, 2)
        self.check_delivery([c], sent)

    def test_binary_payloads_cross_nodes_byte_for_byte(self):
        a, b = self.nodes[0], self.nodes[2]
        x, y = self.client(a, "/chat?room=bin"), self.client(b, "/chat?room=bin")
        self.wait_subscribed("bin", 2)
        payloads = [bytes(range(256)) * 4, b"", b"\x00" * 70000, "é€😀".encode()]
        for p in payloads:
            x.send(p, OP_BINARY)
        x.send("é€😀")
        pump([y], lambda: len(y.msgs) == 5, timeout=10)
        self.assertEqual(y.msgs, [(OP_BINARY, p) for p in payloads]
                         + [(OP_TEXT, "é€😀".encode())])


class Workers(ClusterCase):
    """Nodes with workers = 2: with a backplane every worker is a node of
    its own on Redis (the in-memory bus between workers stays out of it),
    and delivery is still exactly once."""
    NODES = 2
    WORKERS = 2

    def test_40_clients_over_2_nodes_of_2_workers_get_each_message_once_in_order(self):
        room = [self.client(self.nodes[i % 2], "/chat?room=w") for i in range(40)]
        self.wait_subscribed("w", 4)
        sent = self.send_numbered(room, 5)
        self.check_delivery([room], sent)


class Outage(ClusterCase):
    """Redis killed mid-run and started again on the same port."""
    NODES = 2

    def test_redis_killed_local_rooms_go_on_then_cross_node_delivery_resumes(self):
        a, b = self.nodes
        ga = [self.client(a, "/chat?room=o"), self.client(a, "/chat?room=o")]
        gb = [self.client(b, "/chat?room=o"), self.client(b, "/chat?room=o")]
        self.wait_subscribed("o", 2)
        self.check_delivery([ga + gb], self.send_numbered(ga + gb, 3, "before"))

        self.redis.kill()
        for d in self.nodes:
            wait_for("the loss to be logged", lambda: "lost" in d.stderr_text())
        # Local rooms keep working; nothing crosses; memory stays bounded
        # however much is published during the outage (80 MB here).
        listener = self.client(a, "/chat?room=o", keep=16)
        pump(ga + gb, timeout=0.2)
        rss0 = a.rss_kb()
        big = b"x" * 4096
        n = 20000
        for i in range(n):
            ga[0].send(b"outage|%d|" % i + big, OP_BINARY)
            if i % 500 == 499:      # the readers keep up: no slow consumer
                pump(ga + gb + [listener], lambda: len(listener.msgs) > i, timeout=10)
        pump(ga + gb + [listener], lambda: len(listener.msgs) >= n, timeout=10)
        pump(ga + gb, timeout=0.5)
        self.assertEqual(len(listener.msgs), n)
        self.assertEqual([len(c.msgs) for c in gb], [0, 0])
        growth = a.rss_kb() - rss0
        self.assertLess(growth, 32 << 10, "RSS grew %d KB during the outage" % growth)
        listener.send_close()
        for c in ga + gb:
            c.msgs.clear()
        sent = self.send_numbered(ga + gb, 3, "during")
        self.check_delivery([ga, gb], sent)

        time.sleep(0.5)                 # a few reconnect attempts fail
        self.redis.start()
        for d in self.nodes:
            wait_for("the reconnection", lambda: d.stderr_text().count("connected (node") == 2,
                     nodes=self.nodes)
        self.wait_subscribed("o", 2)
        self.check_delivery([ga + gb], self.send_numbered(ga + gb, 5, "after"))
        for d in self.nodes:
            err = d.stderr_text()
            self.assertEqual(err.count("backplane"), 3, "one line per state change:\n" + err)
            self.assertEqual(err.count(": lost ("), 1)


class Hung(ClusterCase):
    """A Redis that stops answering (SIGSTOP) is dropped after about 5 s of
    silence, like one that died; once it answers again, delivery resumes."""
    NODES = 2

    def test_silent_redis_is_dropped_then_rejoined(self):
        a, b = self.nodes
        g = [self.client(a, "/chat?room=h"), self.client(b, "/chat?room=h")]
        self.wait_subscribed("h", 2)
        self.redis.proc.send_signal(signal.SIGSTOP)
        try:
            for d in self.nodes:
                wait_for("the silence to be noticed",
                         lambda: "lost (no answer for 5 s)" in d.stderr_text(), timeout=15,
                         nodes=self.nodes)
        finally:
            self.redis.proc.send_signal(signal.SIGCONT)
        for d in self.nodes:
            wait_for("the reconnection", lambda: d.stderr_text().count("connected (node") == 2,
                     nodes=self.nodes)
        self.wait_subscribed("h", 2)
        self.check_delivery([g], self.send_numbered(g, 3))


class DownAtStart(unittest.TestCase):
    """Nodes started while Redis is down deliver locally, log it once, and
    join the cluster when Redis comes."""

    def test_redis_down_at_start_then_up(self):
        need(REDIS, "redis-server")
        wsgtest.check_daemon_binary()
        redis = Redis()
        self.addCleanup(redis.cleanup)
        nodes = [Daemon(endpoints=[chat(redis.url)]) for _ in range(2)]
        for d in nodes:
            d.start()
            self.addCleanup(d.stop)
        wait_for("the failure to be logged",
                 lambda: all("cannot connect" in d.stderr_text() for d in nodes))
        shim = types.SimpleNamespace(addCleanup=self.addCleanup)
        clients = []
        for d in nodes:
            shim.port = d.port
            clients += [Client(shim, "/chat?room=d"), Client(shim, "/chat?room=d")]
        time.sleep(1.0)                 # several retries, still one line each
        clients[0].send("local")
        pump(clients, timeout=1.0)
        self.assertEqual([len(c.msgs) for c in clients], [0, 1, 0, 0])
        redis.start()
        wait_for("both nodes to connect",
                 lambda: all("connected (node" in d.stderr_text() for d in nodes))
        wait_for("both subscribed", lambda: redis.command(
            "PUBSUB", "NUMSUB", PREFIX + "/chat:d")[1] == 2)
        clients[3].send("cluster")
        pump(clients, lambda: all(len(c.msgs) >= 1 for c in clients[:3]), timeout=5,
             linger=0.3)
        self.assertEqual([c.msgs[-1] for c in clients[:3]], [(OP_TEXT, b"cluster")] * 3)
        for d in nodes:
            self.assertEqual(d.stderr_text().count("cannot connect"), 1)


class Metrics(unittest.TestCase):
    """The backplane's state and counters on each node's /metrics: up,
    published, received; down and dropped while Redis is away."""

    def test_backplane_figures_follow_traffic_and_outages(self):
        need(REDIS, "redis-server")
        wsgtest.check_daemon_binary()
        redis = Redis()
        self.addCleanup(redis.cleanup)
        redis.start()
        nodes = [MetricsDaemon(endpoints=[chat(redis.url)]) for _ in range(2)]
        for d in nodes:
            d.start()
            self.addCleanup(d.stop)
        ep = {"endpoint": "/chat"}
        for d in nodes:
            self.assertEqual(d.wait_for("wsgate_backplane_up", 1.0, **ep), 1.0)
            self.assertEqual(value(d.scrape(), "wsgate_backplane_connects_total", **ep), 1.0)
        shim = types.SimpleNamespace(addCleanup=self.addCleanup)
        clients = []
        for d in nodes:
            shim.port = d.port
            clients.append(Client(shim, "/chat?room=m"))
        wait_for("both subscribed", lambda: redis.command(
            "PUBSUB", "NUMSUB", PREFIX + "/chat:m")[1] == 2)
        for i in range(5):
            clients[0].send("m%d" % i)
        pump(clients, lambda: len(clients[1].msgs) >= 5, timeout=5, linger=0.2)
        self.assertEqual(len(clients[1].msgs), 5)
        self.assertEqual(nodes[0].wait_for("wsgate_backplane_published_total", 5.0, **ep), 5.0)
        self.assertEqual(nodes[1].wait_for("wsgate_backplane_received_total", 5.0, **ep), 5.0)
        self.assertEqual(value(nodes[0].scrape(), "wsgate_backplane_received_total", **ep), 0.0)
        redis.kill()
        self.assertEqual(nodes[0].wait_for("wsgate_backplane_up", 0.0, timeout=10, **ep), 0.0)
        clients[0].send("while down")
        self.assertEqual(nodes[0].wait_for("wsgate_backplane_dropped_total", 1.0, **ep), 1.0)
        self.assertEqual(value(nodes[0].scrape(), "wsgate_backplane_published_total", **ep), 5.0)


class Connecting(unittest.TestCase):
    """The ways to reach Redis: a Unix socket, AUTH, a database number."""

    def setUp(self):
        need(REDIS, "redis-server")
        wsgtest.check_daemon_binary()

    def pair(self, url, password=None, room="u"):
        """Two nodes on url with two clients each, in room."""
        opts = {"backplane_password": password} if password else {}
        nodes = [Daemon(endpoints=[chat(url, **opts)]) for _ in range(2)]
        for d in nodes:
            d.start()
            self.addCleanup(d.stop)
        shim = types.SimpleNamespace(addCleanup=self.addCleanup)
        clients = []
        for d in nodes:
            shim.port = d.port
            clients += [Client(shim, "/chat?room=" + room) for _ in range(2)]
        return nodes, clients

    def test_unix_socket(self):
        redis = Redis(args=["--unixsocket", "redis.sock", "--unixsocketperm", "700"])
        self.addCleanup(redis.cleanup)
        redis.start()
        nodes, clients = self.pair("unix:" + os.path.join(redis.tmp, "redis.sock"))
        wait_for("both subscribed", lambda: redis.command(
            "PUBSUB", "NUMSUB", PREFIX + "/chat:u")[1] == 2)
        clients[0].send("over the socket")
        pump(clients, lambda: all(len(c.msgs) == 1 for c in clients[1:]), timeout=5,
             linger=0.3)
        self.assertEqual([c.msgs for c in clients],
                         [[]] + [[(OP_TEXT, b"over the socket")]] * 3)

    def test_password_and_database(self):
        redis = Redis(password="s3cret")
        self.addCleanup(redis.cleanup)
        redis.start()
        nodes, clients = self.pair(redis.url + "/2", password="s3cret")
        wait_for("both subscribed", lambda: redis.command(
            "PUBSUB", "NUMSUB", PREFIX + "/chat:u")[1] == 2)
        clients[3].send("authenticated")
        pump(clients, lambda: all(len(c.msgs) == 1 for c in clients[:3]), timeout=5,
             linger=0.3)
        self.assertEqual([c.msgs for c in clients],
                         [[(OP_TEXT, b"authenticated")]] * 3 + [[]])
        # Presence lives in database 2.
        wait_for("presence in db 2", lambda: redis.command(
            "HLEN", PREFIX + "presence:/chat:u", db=2) == 2)
        self.assertEqual(redis.command("EXISTS", PREFIX + "presence:/chat:u"), 0)

    def test_wrong_password_is_logged_once_and_local_delivery_goes_on(self):
        redis = Redis(password="right")
        self.addCleanup(redis.cleanup)
        redis.start()
        nodes, clients = self.pair(redis.url, password="wrong")
        wait_for("the refusal to be logged", lambda: all(
            "cannot connect (Redis said:" in d.stderr_text() for d in nodes))
        time.sleep(1.0)                 # several retries
        clients[0].send("local only")
        pump(clients, timeout=1.0)
        self.assertEqual([len(c.msgs) for c in clients], [0, 1, 0, 0])
        for d in nodes:
            self.assertEqual(d.stderr_text().count("backplane"), 1, d.stderr_text())


class Presence(ClusterCase):
    """Room member counts across nodes, read by another module through
    wsg_room_members() (tests/modules/presence_probe)."""

    @classmethod
    def setUpClass(cls):
        test_dir = os.environ.get("WSG_TEST_MODULE_DIR")
        if not test_dir:
            raise unittest.SkipTest("WSG_TEST_MODULE_DIR not set (make check sets it)")
        cls.tmp = tempfile.mkdtemp(prefix="wsgtest-mods-")
        os.symlink(os.path.join(wsgtest.MODULE_DIR, "broadcast.so"),
                   os.path.join(cls.tmp, "broadcast.so"))
        os.symlink(os.path.join(test_dir, "presence_probe.so"),
                   os.path.join(cls.tmp, "presence_probe.so"))
        cls.module_dir = cls.tmp
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def endpoints(cls, url):
        return [chat(url), endpoint("/probe", "presence_probe")]

    def members(self, node, room, endpoint_path="/chat"):
        s, _ = wsgtest.connect_raw(node.port, "/probe")
        try:
            wsgtest.send_frame(s, OP_TEXT, ("%s %s" % (endpoint_path, room)).encode())
            op, payload = wsgtest.recv_message(s)
            return int(payload)
        finally:
            s.close()

    def wait_members(self, room, want, nodes):
        for d in nodes:
            wait_for("node :%d to count %d in %s" % (d.port, want, room),
                     lambda: self.members(d, room) == want)

    def test_counts_span_the_nodes_and_follow_leaves(self):
        a, b, c = self.nodes
        xs = [self.client(n, "/chat?room=p") for n in (a, a, a, b, b, c)]
        self.wait_members("p", 6, self.nodes)
        for x in xs[3:5]:
            x.send_close()
        self.wait_members("p", 4, (a, c))
        # Unknown where no member is local; 0 for an endpoint without rooms.
        self.assertEqual(self.members(b, "p"), -1)
        self.assertEqual(self.members(a, "p", "/nowhere"), -1)
        self.assertEqual(self.members(a, "p", "/probe"), -1)

    def test_a_dead_nodes_members_stop_counting(self):
        a, b, c = self.nodes
        xs = [self.client(a, "/chat?room=dead"), self.client(c, "/chat?room=dead"),
              self.client(c, "/chat?room=dead")]
        self.wait_members("dead", 3, (a, c))
        c.proc.send_signal(signal.SIGSTOP)  # no heartbeat, no goodbye
        try:
            wait_for("the stopped node's count to expire",
                     lambda: self.members(a, "dead") == 1, timeout=15)
        finally:
            c.proc.send_signal(signal.SIGCONT)
        self.wait_members("dead", 3, (a, c))
        del xs


class Reload(ClusterCase):
    """SIGHUP keeps the backplane when its settings are unchanged and makes
    a fresh one (new connections) when they change; neither leaks."""
    NODES = 2

    def reload(self, d, endpoints):
        before = d.stderr_text().count("reloaded configuration")
        with open(d.config_path, "w") as f:
            f.write(render_config(d.port, endpoints=endpoints))
        d.proc.send_signal(signal.SIGHUP)
        wait_for("the reload", lambda: d.stderr_text().count("reloaded configuration") > before)

    def test_reload_keeps_or_replaces_the_backplane(self):
        a, b = self.nodes
        old = [self.client(a, "/chat?room=r"), self.client(b, "/chat?room=r")]
        self.wait_subscribed("r", 2)
        self.reload(a, [chat(self.redis.url), endpoint("/echo")])
        self.assertEqual(a.stderr_text().count("connected (node"), 1)
        self.check_delivery([old], self.send_numbered(old, 3))

        self.reload(a, [chat(self.redis.url, echo_to_sender=False), endpoint("/echo")])
        self.reload(b, [chat(self.redis.url, prefix="other:"), endpoint("/echo")])
        wait_for("the fresh instance to connect",
                 lambda: b.stderr_text().count("connected (node") == 2)
        # Old members keep the old backplane; a new one on b gets the fresh
        # instance, on the new prefix, and hears nothing of the old room.
        nb = self.client(b, "/chat?room=r")
        wait_for("the fresh instance to subscribe", lambda: self.redis.command(
            "PUBSUB", "NUMSUB", "other:/chat:r")[1] == 1)
        self.check_delivery([old, [nb]], self.send_numbered(old, 3))


@unittest.skipIf(wsgtest.EXTERNAL_PORT, "WSG_TEST_PORT set")
class BehindHAProxy(ClusterCase):
    """A real HAProxy spreads clients over three nodes (round robin, health
    checks on /healthz): one room across all of them, end to end."""

    @classmethod
    def setUpClass(cls):
        need(HAPROXY, "haproxy")
        super().setUpClass()
        cls.port = wsgtest.free_port()
        # Checks every 500 ms, with room for a loaded sanitizer build.
        servers = "".join("    server n%d 127.0.0.1:%d check inter 500ms fall 3 rise 1\n"
                          % (i, d.port) for i, d in enumerate(cls.nodes))
        cfg = os.path.join(cls.redis.tmp, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(HAPROXY_CFG.format(port=cls.port, servers=servers))
        cls.haproxy_log = open(os.path.join(cls.redis.tmp, "haproxy.log"), "wb")
        cls.haproxy = subprocess.Popen([HAPROXY, "-f", cfg, "-db"], stdin=subprocess.DEVNULL,
                                       stdout=cls.haproxy_log, stderr=subprocess.STDOUT)
        try:
            wait_for("haproxy to answer /healthz", lambda: cls.healthz(cls.port) == 200)
        except AssertionError as e:
            cls.haproxy_log.flush()
            with open(cls.haproxy_log.name, errors="replace") as f:
                log = f.read()
            cls.tearDownClass()
            raise AssertionError("%s\n--- haproxy ---\n%s" % (e, log)) from None
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        p = getattr(cls, "haproxy", None)
        if p is not None:
            p.terminate()
            p.wait(timeout=10)
            cls.haproxy_log.close()
        super().tearDownClass()

    @staticmethod
    def healthz(port):
        try:
            return wsgtest.http_get(port, "/healthz", timeout=1).status
        except OSError:
            return None

    def test_healthz_on_every_node(self):
        for d in self.nodes:
            r = wsgtest.http_get(d.port, "/healthz")
            self.assertEqual((r.status, r.body.strip()), (200, b"ok"))

    def test_clients_through_haproxy_share_one_room_across_the_nodes(self):
        shim = types.SimpleNamespace(port=self.port, addCleanup=self.addCleanup)
        clients = [Client(shim, "/chat?room=lb") for _ in range(30)]
        for c in clients:
            c.node = types.SimpleNamespace(port=self.port)
        self.wait_subscribed("lb", 3)
        for d in self.nodes:
            self.assertGreaterEqual(d.stderr_text().count('joined room "lb"'), 5)
        self.check_delivery([clients], self.send_numbered(clients, 4))


@unittest.skipIf(wsgtest.EXTERNAL_PORT, "WSG_TEST_PORT set: no daemon binary under test")
class Options(unittest.TestCase):
    """The backplane options, checked by wsgated -t (which never connects)."""

    def check(self, options):
        wsgtest.check_daemon_binary()
        tmp = tempfile.TemporaryDirectory(prefix="wsgtest-bp-")
        self.addCleanup(tmp.cleanup)
        path = os.path.join(tmp.name, "wsgated.conf")
        with open(path, "w") as f:
            f.write(render_config(wsgtest.free_port(), endpoints=[
                endpoint("/b", "broadcast", options=options)]))
        r = subprocess.run([wsgtest.WSGATED, "-t", "-c", path], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        out = (r.stdout + r.stderr).decode(errors="replace")
        for marker in wsgtest.SANITIZER_MARKERS:
            self.assertNotIn(marker, out)
        return r.returncode, out

    def test_good_backplanes_are_accepted_without_connecting(self):
        for options in ({"backplane": "redis://127.0.0.1:1"},
                        {"backplane": "redis://localhost/3", "backplane_password": "s"},
                        {"backplane": "unix:/run/redis/redis.sock",
                         "backplane_prefix": "app1:"},
                        {"backplane": ""}):
            code, out = self.check(options)
            self.assertEqual(code, 0, "%r refused:\n%s" % (options, out))
            self.assertNotIn("backplane redis", out)

    def test_bad_backplanes_are_refused(self):
        for url, message in (("http://x", "want redis://"), ("redis://", "no host"),
                             ("redis://h:0", "bad port"), ("redis://h:99999", "bad port"),
                             ("redis://h/x", "bad database"),
                             ("redis://:pw@h", "backplane_password"),
                             ("unix:relative", "unix:/absolute/path")):
            code, out = self.check({"backplane": url})
            self.assertNotEqual(code, 0, "%s accepted" % url)
            self.assertIn(message, out)

    def test_password_without_backplane_is_refused(self):
        code, out = self.check({"backplane_password": "x"})
        self.assertNotEqual(code, 0)
        self.assertIn("only used with a backplane", out)

    def test_prefix_longer_than_64_bytes_is_refused(self):
        code, out = self.check({"backplane": "redis://h", "backplane_prefix": "p" * 65})
        self.assertNotEqual(code, 0)
        self.assertIn("at most 64 bytes", out)


HAPROXY_CFG = """\
global
    maxconn 2000
defaults
    mode http
    timeout connect 2s
    timeout check 2s
    timeout client 30s
    timeout server 30s
    timeout tunnel 1h
frontend ws
    bind 127.0.0.1:{port}
    default_backend nodes
backend nodes
    balance roundrobin
    option httpchk
    http-check send meth GET uri /healthz
    http-check expect status 200
{servers}"""


if __name__ == "__main__":
    wsgtest.main()
