#!/usr/bin/env python3
"""Query benchmark: influxgate vs InfluxDB 1.x on the same data, loopback, bounded.

Loads `--points` field values (default 10,000,000: 100 hosts x 10 fields at 10 s intervals, i.e.
1,000,000 lines spread over ~28 hours, two calendar days) into influxgate (`target/release/
influxgate` or $INFLUXGATE_BIN) and InfluxDB 1.x (`influxd`) in the same run, with gzip-compressed
line-protocol batches from a few concurrent writers, waits until influxgate has persisted its
write buffer to Parquet (the steady state: the buffer only holds the last minute) and until
both servers are idle (InfluxDB compacts for a while after a load), then times
each query through `/query` (JSON, epoch=ms; the median of --runs after one warm-up):

  - mean() GROUP BY time(1m) over one day for one host
  - max() per host over the whole range
  - last() per host
  - SHOW TAG VALUES WITH KEY = host
  - a raw select of 10,000 points

and prints a Markdown table (also written to --out, default bench/query-results.md).

    cargo build --release -p influxgate-server --bin influxgate
    python3 bench/query.py [--points 10000000] [--runs 5] [--servers influxgate,influxdb]
                           [--keep-alive] [--compacted] [--hold]
"""

import argparse
import concurrent.futures
import gzip
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

from peers import cpu_seconds, free_port, start_influxd, wait_http

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "bench-token"
DB = "bench"
BASE = 1704067200  # 2024-01-01T00:00:00Z
FIELDS = [f"f{i}" for i in range(10)]


def request(method, url, body=None, headers=None, timeout=600):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Server:
    def __init__(self, name, proc, url, headers):
        self.name, self.proc, self.url, self.headers = name, proc, url, headers

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def rss_mib(self):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return float("nan")


def start_influxgate(tmp, binary, compaction_secs=3600, name="influxgate", extra=()):
    port = free_port()
    d = os.path.join(tmp, "influxgate")
    os.makedirs(d, exist_ok=True)
    proc = subprocess.Popen([binary, "serve", "--http-bind", f"127.0.0.1:{port}", "--data-dir", d,
                             "--token", TOKEN, "--log", "warn",
                             "--compaction-interval-secs", str(compaction_secs)] + list(extra),
                            stdout=open(os.path.join(d, "log"), "a"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/ping", proc)
    return Server(name, proc, url, {"Authorization": "Token " + TOKEN})


def metric(srv, name):
    status, body = request("GET", srv.url + "/metrics", headers=srv.headers)
    if status == 200:
        for line in body.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return None


def wait_compacted(srv, timeout):
    """Wait until compaction has run and the file count has been stable for 3 s."""
    deadline = time.time() + timeout
    last, stable_since = None, time.time()
    while time.time() < deadline:
        files = metric(srv, "influxgate_parquet_files")
        if files != last:
            last, stable_since = files, time.time()
        elif (metric(srv, "influxgate_compactions_total") or 0) > 0 and time.time() - stable_since >= 3:
            return int(files)
        time.sleep(0.5)
    return None


def start_influxdb(tmp):
    proc, url = start_influxd(os.path.join(tmp, "influxdb"), DB)
    return Server("influxdb", proc, url, {})


def batches(points, hosts, lines_per_batch):
    """Gzipped line-protocol bodies: time-major, every host at every 10 s step."""
    steps = max(1, points // (hosts * len(FIELDS)))
    buf = []
    for s in range(steps):
        t = BASE + s * 10
        for h in range(hosts):
            v = (s * 31 + h * 17) % 1000
            fields = ",".join(f"{f}={(v + i * 7) % 1000 / 10}" for i, f in enumerate(FIELDS))
            buf.append(f"cpu,host=host{h:03d},rack=r{h % 10} {fields} {t}")
            if len(buf) == lines_per_batch:
                yield gzip.compress(("\n".join(buf) + "\n").encode(), 1)
                buf = []
    if buf:
        yield gzip.compress(("\n".join(buf) + "\n").encode(), 1)
    return steps


def load(servers, points, hosts, writers):
    bodies = list(batches(points, hosts, 5000))
    steps = max(1, points // (hosts * len(FIELDS)))
    out = {}
    for srv in servers:
        t0 = time.time()
        headers = dict(srv.headers, **{"Content-Encoding": "gzip"})

        def post(body, srv=srv, headers=headers):
            for _ in range(100):
                status, resp = request("POST", f"{srv.url}/write?db={DB}&precision=s", body, headers)
                if status == 204:
                    return
                if status in (429, 503):
                    time.sleep(0.2)
                    continue
                raise RuntimeError(f"{srv.name} write: {status} {resp[:300]!r}")
            raise RuntimeError(f"{srv.name}: write kept being refused")

        with concurrent.futures.ThreadPoolExecutor(writers) as ex:
            list(ex.map(post, bodies))
        out[srv.name] = time.time() - t0
        print(f"{srv.name}: loaded {steps * hosts:,} lines ({steps * hosts * len(FIELDS):,} values) "
              f"in {out[srv.name]:.1f}s", file=sys.stderr)
    return steps, out


def wait_persisted(srv, timeout):
    """Wait until influxgate's write buffer is empty (everything in Parquet)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        status, body = request("GET", srv.url + "/metrics", headers=srv.headers)
        if status == 200:
            for line in body.decode().splitlines():
                if line.startswith("influxgate_buffer_rows ") and float(line.split()[1]) == 0:
                    return True
        time.sleep(1)
    return False


def wait_idle(servers, timeout, busy=0.05):
    """Wait until every server is idle: under `busy` CPU seconds per second over one second.
    InfluxDB compacts its TSM files for a while after a load; timed queries of either server
    then share the two cores with it, which moved the figures by up to 2x between runs."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        before = [cpu_seconds(s.proc.pid) for s in servers]
        time.sleep(1)
        used = [cpu_seconds(s.proc.pid) - b for s, b in zip(servers, before)]
        # A server that is gone (NaN) counts as idle.
        if all(not u >= busy for u in used):
            return True
    return False


def queries(steps, hosts):
    day0 = "2024-01-01T00:00:00Z"
    end = BASE + steps * 10
    end_s = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end))
    return [
        ("mean() GROUP BY time(1m), 1 host, 1 day",
         f"SELECT mean(f1) FROM cpu WHERE host = 'host007' AND time >= '{day0}' AND time < '{day0}' + 1d GROUP BY time(1m)"),
        ("max() per host, whole range",
         f"SELECT max(f2) FROM cpu WHERE time >= '{day0}' AND time <= '{end_s}' GROUP BY host"),
        ("last() per host",
         "SELECT last(f3) FROM cpu GROUP BY host"),
        ("SHOW TAG VALUES WITH KEY = host",
         "SHOW TAG VALUES FROM cpu WITH KEY = host"),
        ("raw select, 10,000 points",
         f"SELECT f4 FROM cpu WHERE host = 'host042' AND time >= '{day0}' LIMIT 10000"),
    ]


def run_query(srv, q, keep_alive=False):
    path = "/query?" + urllib.parse.urlencode({"db": DB, "q": q, "epoch": "ms"})
    if keep_alive:
        # One persistent connection per server, as Grafana and the client libraries use.
        conn = getattr(srv, "conn", None)
        if conn is None:
            conn = srv.conn = http.client.HTTPConnection(urllib.parse.urlparse(srv.url).netloc, timeout=600)
        t0 = time.perf_counter()
        conn.request("GET", path, headers=srv.headers)
        r = conn.getresponse()
        status, body = r.status, r.read()
        dt = time.perf_counter() - t0
    else:
        t0 = time.perf_counter()
        status, body = request("GET", srv.url + path, headers=srv.headers)
        dt = time.perf_counter() - t0
    if status != 200:
        raise RuntimeError(f"{srv.name} {q!r}: {status} {body[:300]!r}")
    doc = json.loads(body)
    res = doc.get("results", [{}])[0]
    if "error" in res or "error" in doc:
        raise RuntimeError(f"{srv.name} {q!r}: {res.get('error') or doc.get('error')}")
    rows = sum(len(s.get("values", [])) for s in res.get("series", []))
    return dt, rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=10_000_000, help="field values to load")
    ap.add_argument("--hosts", type=int, default=100)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--servers", default="influxgate,influxdb")
    ap.add_argument("--bin", default=os.environ.get("INFLUXGATE_BIN") or os.path.join(ROOT, "target/release/influxgate"))
    ap.add_argument("--persist-timeout", type=float, default=180)
    ap.add_argument("--compacted", action="store_true",
                    help="re-time influxgate after restarting it with compaction every second "
                         "(a past day with no new file is merged into one file)")
    ap.add_argument("--keep-alive", action="store_true",
                    help="send every query of a server over one persistent connection (as Grafana and "
                         "the client libraries do) instead of a new connection per query")
    ap.add_argument("--hold", action="store_true",
                    help="after loading (and compacting), print the servers' URLs and keep them running "
                         "until interrupted (for profiling)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "query-results.md"))
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="query-bench-")
    servers = []
    try:
        for name in args.servers.split(","):
            servers.append(start_influxgate(tmp, args.bin) if name == "influxgate" else start_influxdb(tmp))
        steps, load_secs = load(servers, args.points, args.hosts, args.writers)
        for srv in servers:
            if srv.name == "influxgate":
                ok = wait_persisted(srv, args.persist_timeout)
                files = metric(srv, "influxgate_parquet_files")
                print(f"influxgate: buffer persisted: {ok}, {files} files", file=sys.stderr)
        t = time.time()
        idle = wait_idle(servers, args.persist_timeout)
        print(f"servers idle: {idle} after {time.time() - t:.0f} s", file=sys.stderr)
        results = {}
        time_queries(servers, steps, args, results)
        if "influxgate" in [s.name for s in servers] and args.compacted:
            # The steady state: the same files after background compaction (restart with a
            # short compaction interval on the same data directory).
            ig = next(s for s in servers if s.name == "influxgate")
            rss_fresh = ig.rss_mib()
            ig.stop()
            compacted = start_influxgate(tmp, args.bin, compaction_secs=1, name="influxgate-compacted")
            servers[servers.index(ig)] = compacted
            files = wait_compacted(compacted, args.persist_timeout)
            print(f"influxgate: compacted into {files} files", file=sys.stderr)
            time_queries([compacted], steps, args, results)
            servers.insert(servers.index(compacted), ig)
            ig.rss_override = rss_fresh
        if args.hold:
            for s in servers:
                if s.proc.poll() is None:
                    print(f"{s.name} {s.url} pid={s.proc.pid}", flush=True)
            while True:
                time.sleep(3600)
        names = [s.name for s in servers]
        lines = [f"{steps * args.hosts:,} lines = {steps * args.hosts * len(FIELDS):,} field values "
                 f"({args.hosts} hosts x {len(FIELDS)} fields, 10 s, {steps * 10 / 3600:.1f} h); "
                 f"median of {args.runs} runs after a warm-up, JSON over loopback, "
                 f"{'one keep-alive connection per server' if args.keep_alive else 'a new connection per query'}.", "",
                 "| query | rows | " + " | ".join(f"{n} (ms)" for n in names) + " |",
                 "|---|---:|" + "---:|" * len(names)]
        for label, _ in queries(steps, args.hosts):
            cells = [f"{results[(label, n)][0] * 1000:.1f}" for n in names]
            lines.append(f"| {label} | {results[(label, names[0])][1]:,} | " + " | ".join(cells) + " |")
        lines.append("")
        if "influxdb" in names:
            for n in names:
                if n.startswith("influxgate"):
                    lines.append(f"Speed-up of {n} over influxdb: " + ", ".join(
                        f"{label}: {results[(label, 'influxdb')][0] / results[(label, n)][0]:.1f}x"
                        for label, _ in queries(steps, args.hosts)) + ".")
        lines.append("")
        lines.append("Load time: " + ", ".join(f"{n} {load_secs[n]:.1f} s" for n in load_secs) +
                     "; peak RSS: " + ", ".join(f"{s.name} {getattr(s, 'rss_override', None) or s.rss_mib():.0f} MiB"
                                                for s in servers) + ".")
        text = "\n".join(lines)
        print(text)
        with open(args.out, "w") as f:
            f.write(text + "\n")
        return 0
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def time_queries(servers, steps, args, results):
    for label, q in queries(steps, args.hosts):
        for srv in servers:
            run_query(srv, q, args.keep_alive)  # warm-up
            times, rows = [], 0
            for _ in range(args.runs):
                dt, rows = run_query(srv, q, args.keep_alive)
                times.append(dt)
            results[(label, srv.name)] = (statistics.median(times), rows)
            print(f"{label:45} {srv.name:10} {statistics.median(times) * 1000:9.1f} ms  rows={rows}",
                  file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
