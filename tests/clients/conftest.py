"""Shared harness: start the real influxgate binary on a free loopback port, stop it, and read
back what it stored with `influxgate export` (the storage crate's own reader)."""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

BIN = os.environ.get("INFLUXGATE_BIN", os.path.join(os.path.dirname(__file__), "../../target/release/influxgate"))
TOKEN = "test-admin-token"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, data_dir, extra_args=(), env=None):
        self.data_dir = str(data_dir)
        self.extra_args = list(extra_args)
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.port = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=30):
        self.port = free_port()
        log = open(os.path.join(self.data_dir, f"server-{self.port}.log"), "w")
        self.proc = subprocess.Popen(
            [BIN, "serve", "--http-bind", f"127.0.0.1:{self.port}", "--data-dir", self.data_dir,
             "--token", TOKEN, "--log", "info"] + self.extra_args,
            stdout=log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"influxgate exited with {self.proc.returncode}: {self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/ping", timeout=1) as r:
                    if r.status == 204:
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("influxgate did not answer /ping in time: " + self.log())

    def log(self):
        path = os.path.join(self.data_dir, f"server-{self.port}.log")
        with open(path) as f:
            return f.read()[-4000:]

    def stop(self, kill=False, timeout=30):
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        self.proc.wait(timeout=timeout)
        self.proc = None

    def export(self, db=None):
        """Every stored point as dicts, read from the data directory (server stopped)."""
        assert self.proc is None, "export reads the data directory; stop the server first"
        args = [BIN, "export", "--data-dir", self.data_dir] + self.storage_args()
        if db:
            args += ["--db", db]
        out = subprocess.run(args, check=True, capture_output=True, text=True, env=self.env, timeout=120)
        return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]

    def storage_args(self):
        args = []
        if "--object-store" in self.extra_args:
            i = self.extra_args.index("--object-store")
            args += self.extra_args[i:i + 2]
        return args


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path).start()
    yield s
    s.stop(kill=True)


def points_of(rows, measurement=None):
    """(measurement, sorted tag items, sorted field items, time) tuples, for exact comparison."""
    def typed(fields):
        # Keep the type: 1 (integer) and 1.0 (float) are different points.
        return tuple(sorted((k, type(v).__name__, v) for k, v in fields.items()))
    return sorted(
        (r["measurement"], tuple(sorted(r["tags"].items())), typed(r["fields"]), r["time"])
        for r in rows if measurement is None or r["measurement"] == measurement)


def expected(measurement, tags, fields, time_ns):
    return (measurement, tuple(sorted(tags.items())),
            tuple(sorted((k, type(v).__name__, v) for k, v in fields.items())), time_ns)
