#!/usr/bin/env python3
"""Reference tests: the same InfluxQL on a real InfluxDB 1.x and on influxgate, answers compared.

Starts `influxd` (config in a temp dir, loopback ports) and `influxgate serve` (`$INFLUXGATE_BIN`
or target/release/influxgate), writes the same deterministic data set to both, runs every query
of queries.txt on both through `/query`, and compares the answers: per statement the error
presence, and per series the name, tags, columns and values in order (floats to 1e-9 relative).
Known differences are listed with a justification in allowlist.txt.

    python3 tests/reference/run.py                 # both servers, report, exit 1 on new failures
    python3 tests/reference/run.py --influxdb-only # print InfluxDB's answers (developing queries)
    python3 tests/reference/run.py --show 'SHOW SERIES'   # both answers for matching queries
    python3 -m pytest tests/reference              # the same as a test
"""

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from peers import free_port, start_influxd, wait_http  # noqa: E402
DB = "ref"
TOKEN = "reference-token"
BASE = 1704067200  # 2024-01-01T00:00:00Z


# ---------------------------------------------------------------------------------------------
# The data set


def dataset():
    """Two batches of line protocol (seconds precision). The second overwrites some points of the
    first, field by field, to check that the later write wins per field."""
    first, second = [], []
    hosts = [("h1", "us"), ("h2", "us"), ("h3", "eu")]
    for i in range(3 * 144):  # every 10 minutes over 3 days
        t = BASE + i * 600
        for hi, (h, r) in enumerate(hosts):
            if (i + hi) % 17 == 0:
                continue  # gaps, for fill()
            uu = round(((i * 7 + hi * 13) % 100) + 0.25 * hi + (i % 3) * 0.1, 2)
            idle = round(100 - uu, 2)
            n = (i * 3 + hi) % 50 - 10
            ok = "true" if (i + hi) % 3 else "false"
            label = ["low", "mid", "high"][(i // 7 + hi) % 3]
            first.append(f'cpu,host={h},region={r} usage_user={uu},usage_idle={idle},n={n}i,'
                         f'ok={ok},label="{label}" {t}')
    for i in range(3 * 48):  # every 30 minutes
        t = BASE + i * 1800
        for hi, h in enumerate(["h1", "h2"]):
            used = 1000 + (i * 37 + hi * 101) % 500
            fields = f"used={used}i"
            if i % 5 != 0:
                fields += f",free={2000 - used + hi}i"
            first.append(f"mem,host={h} {fields} {t}")
    for i in range(3 * 24):  # hourly
        t = BASE + i * 3600
        for pi, path in enumerate(["/", "/var/log", r"C:\ data"]):
            first.append(f"disk,host=h1,path={path} used_pct={round(10 + (i * 3 + pi * 7) % 80 + 0.5, 1)} {t}")
    for i in range(3 * 4):  # every 6 hours
        t = BASE + i * 21600
        for ci, city in enumerate([r"New\ York", "Paris"]):
            desc = ['sunny', 'rain "light"', 'cloudy, cold'][(i + ci) % 3]
            desc = desc.replace('"', '\\"')
            first.append(f'weather,city={city} temp={-5 + (i * 4 + ci * 3) % 25}.5,desc="{desc}" {t}')
    # Overwrites: same series and time, some fields only.
    for i in range(0, 12, 3):
        t = BASE + i * 21600
        second.append(f"weather,city=Paris temp=99.5 {t}")
    for i in range(0, 30, 4):
        t = BASE + i * 600
        second.append(f"cpu,host=h1,region=us usage_user=55.5,label=\"over\" {t}")
    return first, second


# ---------------------------------------------------------------------------------------------
# Servers


class InfluxDB:
    name = "influxdb"

    def __init__(self, tmp):
        self.tmp = os.path.join(tmp, "influxdb")
        self.proc, self.url = start_influxd(self.tmp, DB)

    def headers(self):
        return {}

    def stop(self):
        stop(self.proc)


class Influxgate:
    name = "influxgate"

    def __init__(self, tmp, binary):
        self.tmp = os.path.join(tmp, "influxgate")
        os.makedirs(self.tmp)
        self.port = free_port()
        self.log = open(os.path.join(self.tmp, "server.log"), "w")
        self.proc = subprocess.Popen(
            [binary, "serve", "--http-bind", f"127.0.0.1:{self.port}", "--data-dir", self.tmp,
             "--token", TOKEN], stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        wait_http(self.url + "/ping", self.proc)

    def headers(self):
        return {"Authorization": "Token " + TOKEN}

    def stop(self):
        stop(self.proc)


class EngineExample:
    """The engine without the HTTP server (crates/engine/examples/influxql.rs): all queries are
    answered in one run of the example, before the server's /query is wired."""
    name = "engine-example"

    def __init__(self, tmp, queries, flush=False):
        first, second = dataset()
        lp = os.path.join(tmp, "data.lp")
        with open(lp, "w") as f:
            f.write("\n".join(first) + "\n\n" + "\n".join(second) + "\n")
        exe = os.environ.get("INFLUXGATE_ENGINE_EXAMPLE") or os.path.join(
            os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "debug", "examples", "influxql")
        args = [exe, "--db", DB, "--lp", lp] + (["--flush"] if flush else [])
        out = subprocess.run(args, input="\n".join(queries) + "\n", capture_output=True, text=True,
                             timeout=1800)
        if out.returncode != 0:
            raise RuntimeError(f"engine example failed: {out.stderr[-3000:]}")
        answers = [json.loads(l) for l in out.stdout.splitlines() if l.strip()]
        self.answers = dict(zip(queries, answers))

    def answer(self, line):
        a = self.answers[line]
        opts, _ = parse_line(line)
        if "csv" in opts:
            return {"status": a["status"], "csv": a["body"]}
        docs = [json.loads(c) for c in a["body"].splitlines() if c.strip()]
        return {"status": a["status"], "docs": docs}

    def stop(self):
        pass


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def http(method, url, params, body=None, headers=None):
    if params:
        url += "?" + urllib.parse.urlencode(params)
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def write(server, lines):
    body = ("\n".join(lines) + "\n").encode()
    status, _, resp = http("POST", server.url + "/write", {"db": DB, "precision": "s"}, body=body,
                           headers=server.headers())
    if status != 204:
        raise RuntimeError(f"{server.name} write: {status} {resp[:500]!r}")


def load(server):
    first, second = dataset()
    for i in range(0, len(first), 2000):
        write(server, first[i:i + 2000])
    write(server, second)


# ---------------------------------------------------------------------------------------------
# Queries and comparison


def read_queries(path=os.path.join(HERE, "queries.txt")):
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            out.append(line)
    return out


def read_allowlist(path=os.path.join(HERE, "allowlist.txt")):
    """`<query line exactly as in queries.txt> ## <justification>` per line."""
    allow = {}
    if not os.path.exists(path):
        return allow
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            q, sep, why = line.partition(" ## ")
            if not sep or not why.strip():
                raise ValueError(f"allowlist entry without a justification: {line!r}")
            allow[q.strip()] = why.strip()
    return allow


def parse_line(line):
    """Options and the query text of a queries.txt line."""
    opts = {}
    while line.startswith("@"):
        word, _, line = line.partition(" ")
        k, _, v = word[1:].partition("=")
        opts[k] = v
        line = line.strip()
    return opts, line


def run_query(server, line):
    if isinstance(server, EngineExample):
        return server.answer(line)
    opts, q = parse_line(line)
    params = {"db": DB, "q": q}
    headers = dict(server.headers())
    if "epoch" in opts:
        params["epoch"] = opts["epoch"]
    if "chunked" in opts:
        params["chunked"] = "true"
        params["chunk_size"] = opts["chunked"]
    if "csv" in opts:
        headers["Accept"] = "application/csv"
    status, ctype, body = http("GET", server.url + "/query", params, headers=headers)
    text = body.decode("utf-8", "replace")
    if "csv" in opts:
        return {"status": status, "csv": text}
    docs = []
    for chunk in text.splitlines():
        if chunk.strip():
            try:
                docs.append(json.loads(chunk))
            except ValueError:
                docs.append({"unparsable": chunk[:300]})
    return {"status": status, "docs": docs}


def close(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, int) and isinstance(b, int):
            return a == b
        if math.isnan(a) and math.isnan(b):
            return True
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def diff_values(path, a, b, out):
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: {len(a)} vs {len(b)} items")
        for i, (x, y) in enumerate(zip(a, b)):
            diff_values(f"{path}[{i}]", x, y, out)
            if len(out) > 5:
                return
    elif isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{path}.{k}: only in {'influxdb' if k in a else 'influxgate'}")
            else:
                diff_values(f"{path}.{k}", a[k], b[k], out)
    elif not close(a, b):
        out.append(f"{path}: {json.dumps(a)[:120]} vs {json.dumps(b)[:120]}")


def normalize(docs):
    """What is compared: per document, the top-level error's presence and per result the statement
    id, error presence, partial flags and the series (name, tags, columns, values, partial)."""
    out = []
    for d in docs:
        if "unparsable" in d:
            out.append(d)
            continue
        nd = {}
        if "error" in d:
            nd["error"] = True
        results = []
        for r in d.get("results", []):
            nr = {"statement_id": r.get("statement_id")}
            if "error" in r:
                nr["error"] = True
            if r.get("partial"):
                nr["partial"] = True
            nr["series"] = [{k: (tie_order(s[k]) if k == "values" else s[k])
                             for k in ("name", "tags", "columns", "values", "partial") if k in s}
                            for s in r.get("series", [])]
            results.append(nr)
        if results or "results" in d:
            nd["results"] = results
        out.append(nd)
    return out


def tie_order(values):
    """Rows of a series with the same time in a canonical order. InfluxDB does not define the
    order of points of different series that share a timestamp in one series (a raw SELECT
    without GROUP BY): it depends on its shard iterators. Times themselves must still agree."""
    out, i = [], 0
    while i < len(values):
        j = i
        while j < len(values) and values[j][:1] == values[i][:1]:
            j += 1
        out.extend(sorted(values[i:j], key=lambda r: json.dumps(r, sort_keys=True)))
        i = j
    return out


def csv_cells(text):
    if text.startswith("error\n"):
        return [["error"]]  # as for JSON, errors are compared by presence, not wording
    rows = []
    for line in text.splitlines():
        cells = []
        for c in line.split(","):
            try:
                cells.append(float(c) if any(ch in c for ch in ".eE") else int(c))
            except ValueError:
                cells.append(c)
        rows.append(cells)
    return rows


def compare(ref, got):
    """A list of differences (empty when the answers agree)."""
    diffs = []
    if (ref["status"] == 200) != (got["status"] == 200):
        diffs.append(f"status {ref['status']} vs {got['status']}")
    if "csv" in ref:
        diff_values("csv", csv_cells(ref["csv"]), csv_cells(got.get("csv", "")), diffs)
    else:
        diff_values("", normalize(ref["docs"]), normalize(got.get("docs", [])), diffs)
    return diffs


class Harness:
    """Both servers loaded with the data set."""

    def __init__(self, binary=None, influxdb_only=False, engine_example=None):
        self.tmp = tempfile.mkdtemp(prefix="influxgate-reference-")
        self.servers = []
        try:
            self.influxdb = InfluxDB(self.tmp)
            self.servers.append(self.influxdb)
            load(self.influxdb)
            self.influxgate = None
            if engine_example is not None:
                self.influxgate = EngineExample(self.tmp, read_queries(), flush=engine_example == "flush")
            elif not influxdb_only:
                self.influxgate = Influxgate(self.tmp, binary or default_binary())
                self.servers.append(self.influxgate)
                load(self.influxgate)
        except BaseException:
            self.close()
            raise

    def check(self, line):
        ref = run_query(self.influxdb, line)
        got = run_query(self.influxgate, line)
        return ref, got, compare(ref, got)

    def close(self):
        for s in self.servers:
            s.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def default_binary():
    return os.environ.get("INFLUXGATE_BIN") or os.path.join(ROOT, "target", "release", "influxgate")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--influxdb-only", action="store_true", help="print InfluxDB's answers only")
    ap.add_argument("--show", help="print both answers of the queries containing this text")
    ap.add_argument("--bin", help="the influxgate binary")
    ap.add_argument("--engine-example", choices=["buffer", "flush"],
                    help="compare with crates/engine/examples/influxql.rs instead of the server "
                         "(data in the write buffer, or flushed to Parquet after each write)")
    args = ap.parse_args()
    queries = read_queries()
    allow = read_allowlist()
    h = Harness(args.bin, influxdb_only=args.influxdb_only, engine_example=args.engine_example)
    try:
        if args.influxdb_only:
            for q in queries:
                if args.show and args.show not in q:
                    continue
                r = run_query(h.influxdb, q)
                print(q)
                print("   ", r.get("csv") or json.dumps(r["docs"])[:2000])
            return 0
        passed, allowed, failed, fixed, skipped = 0, 0, [], [], 0
        for q in queries:
            if args.engine_example and "@chunked" in q:
                skipped += 1  # the example does not chunk
                continue
            ref, got, diffs = h.check(q)
            if args.show and args.show in q:
                print(q, "\n  influxdb:  ", json.dumps(ref)[:3000], "\n  influxgate:", json.dumps(got)[:3000])
            if not diffs:
                passed += 1
                if q in allow:
                    fixed.append(q)
            elif q in allow:
                allowed += 1
            else:
                failed.append((q, diffs))
        for q, diffs in failed:
            print(f"FAIL {q}")
            for d in diffs[:6]:
                print(f"     {d}")
        for q in fixed:
            print(f"NOW PASSING (remove from allowlist.txt): {q}")
        print(f"{len(queries)} queries: {passed} identical, {allowed} allow-listed differences, "
              f"{len(failed)} failures" + (f", {skipped} skipped" if skipped else ""))
        return 1 if failed else 0
    finally:
        h.close()


if __name__ == "__main__":
    sys.exit(main())
