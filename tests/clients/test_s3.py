"""The object-store path for real: S3 (moto's server on loopback) behind a TCP proxy that the
test can take down and bring back, with moto keeping its state."""

import os
import socket
import subprocess
import sys
import threading
import time

import boto3
import requests

from conftest import TOKEN, Server, expected, free_port, points_of

AUTH = {"Authorization": f"Token {TOKEN}"}


class Proxy:
    """A loopback TCP proxy that can refuse connections while 'down'."""

    def __init__(self, target_port):
        self.target = ("127.0.0.1", target_port)
        self.port = free_port()
        self.conns = []
        self.listener = None
        self.up()

    def up(self):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(64)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def down(self):
        self.listener.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
        self.conns = []

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass


def start_moto():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            requests.get(f"http://127.0.0.1:{port}/", timeout=1)
            return proc, port
        except requests.RequestException:
            time.sleep(0.05)
    raise RuntimeError("moto server did not start")


def s3_env(port):
    return {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT": f"http://127.0.0.1:{port}",
            "AWS_ALLOW_HTTP": "true"}


def parquet_keys(moto_port):
    s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{moto_port}", region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
    resp = s3.list_objects_v2(Bucket="lake", Prefix="prefix/")
    return [o["Key"] for o in resp.get("Contents", []) if o["Key"].endswith(".parquet")]


def wait_for(cond, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.2)
    return False


def make_server(tmp_path, proxy_port, extra=()):
    args = ["--object-store", "s3://lake/prefix", "--persist-bytes", "1", "--persist-interval-secs", "1"]
    return Server(tmp_path, args + list(extra), env=s3_env(proxy_port))


def test_s3_write_persist_restart(tmp_path):
    moto, moto_port = start_moto()
    proxy = Proxy(moto_port)
    try:
        boto3.client("s3", endpoint_url=f"http://127.0.0.1:{moto_port}", region_name="us-east-1",
                     aws_access_key_id="test", aws_secret_access_key="test").create_bucket(Bucket="lake")
        s = make_server(tmp_path, proxy.port).start()
        body = "\n".join(f"weather,city=c{i % 4} temp={i}.5 {1_700_000_000_000_000_000 + i}" for i in range(500))
        r = requests.post(s.url + "/api/v2/write", params={"bucket": "s3db"}, data=body, headers=AUTH)
        assert r.status_code == 204, r.text
        assert wait_for(lambda: parquet_keys(moto_port)), "no Parquet file reached S3"
        keys = parquet_keys(moto_port)
        assert all(k.startswith("prefix/s3db/weather/2023-11-14/") for k in keys), keys
        s.stop()
        s.start()
        s.stop()
        want = [expected("weather", {"city": f"c{i % 4}"}, {"temp": i + 0.5}, 1_700_000_000_000_000_000 + i)
                for i in range(500)]
        assert points_of(s.export("s3db")) == sorted(want)
    finally:
        proxy.down()
        moto.kill()


def test_s3_outage_gives_503_and_loses_nothing_acknowledged(tmp_path):
    moto, moto_port = start_moto()
    proxy = Proxy(moto_port)
    try:
        boto3.client("s3", endpoint_url=f"http://127.0.0.1:{moto_port}", region_name="us-east-1",
                     aws_access_key_id="test", aws_secret_access_key="test").create_bucket(Bucket="lake")
        s = make_server(tmp_path, proxy.port, ["--buffer-limit-bytes", "300000"]).start()
        proxy.down()
        acked, statuses = [], set()
        deadline = time.time() + 60
        for req in range(400):
            if time.time() > deadline:
                break
            body = "\n".join(f"out,req={req} v={i}i {1_700_000_000_000_000_000 + req * 100 + i}" for i in range(100))
            r = requests.post(s.url + "/write", params={"db": "outage"}, data=body, headers=AUTH, timeout=30)
            statuses.add(r.status_code)
            if r.status_code == 204:
                acked.append(req)
            elif r.status_code == 503:
                assert int(r.headers["Retry-After"]) >= 1
                break
            elif r.status_code == 429:
                # The buffer is full while the first persist is still retrying; once it has
                # failed, the storage reports the outage as 503.
                assert int(r.headers["Retry-After"]) >= 1
                time.sleep(0.5)
            else:
                raise AssertionError(f"unexpected {r.status_code}: {r.text}")
        assert 503 in statuses, f"never saw 503 while S3 was down: {statuses}"
        assert acked, "some writes should be acknowledged into the WAL before the buffer fills"
        proxy.up()
        assert wait_for(lambda: len(parquet_keys(moto_port)) > 0, timeout=60), "nothing persisted after recovery"
        # Clients retry after Retry-After; once the backlog is persisted, writes succeed again.
        deadline = time.time() + 60
        while True:
            r = requests.post(s.url + "/write", params={"db": "outage"}, data="out,req=after v=1i 1", headers=AUTH)
            if r.status_code == 204 or time.time() > deadline:
                break
            assert r.status_code in (429, 503), r.text
            time.sleep(int(r.headers["Retry-After"]))
        assert r.status_code == 204, r.text
        s.stop()
        counts = {}
        for row in s.export("outage"):
            counts[row["tags"]["req"]] = counts.get(row["tags"]["req"], 0) + 1
        for req in acked:
            assert counts.get(str(req)) == 100, f"acknowledged request {req} lost"
        assert counts.get("after") == 1
    finally:
        proxy.down()
        moto.kill()
