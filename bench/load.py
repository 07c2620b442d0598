#!/usr/bin/env python3
"""Whole-server write load benchmark (loopback only, bounded in time and count).

For every {1, 4, 16} clients x {1000, 5000}-line batches x gzip {off, on} cell, starts each of
influxgate (release build), InfluxDB 1.x (`influxd`, Debian package `influxdb`) and
VictoriaMetrics (Debian package `victoria-metrics`) in turn, fresh, on a free loopback port with
its data in a temp dir, runs `loadgen` (crates/host-native/examples/loadgen.rs) against it and
stops it. Prints a Markdown table of durable points/s, ack latency p50/p99, the server's CPU
time (user + system, from /proc) per accepted point during the run, and peak RSS (the median of
--rounds runs), and the ratios of the first server to the others.

    cargo build --release -p influxgate-server --bin influxgate --example loadgen
    python3 bench/load.py [--seconds 4] [--rounds 3] [--servers influxgate,influxdb,victoriametrics]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

from peers import cpu_seconds, free_port, start_influxd, wait_http

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_BIN = os.path.join(ROOT, "target/release/influxgate")
BIN = DEFAULT_BIN  # --bin
LOADGEN = os.path.join(ROOT, "target/release/examples/loadgen")
TOKEN = "bench-token"


def peak_rss_mib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def start_influxgate(tmp):
    port = free_port()
    proc = subprocess.Popen([BIN, "serve", "--http-bind", f"127.0.0.1:{port}", "--data-dir", os.path.join(tmp, "ig"),
                             "--token", TOKEN, "--log", "warn"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_http(f"http://127.0.0.1:{port}/ping")
    return proc, f"http://127.0.0.1:{port}/write?db=bench", TOKEN


def start_influxdb(tmp):
    proc, url = start_influxd(os.path.join(tmp, "influxdb"), "bench")
    return proc, url + "/write?db=bench", None


def start_victoriametrics(tmp):
    port = free_port()
    exe = shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics"
    proc = subprocess.Popen([exe, f"-httpListenAddr=127.0.0.1:{port}", f"-storageDataPath={tmp}/vm",
                             "-loggerLevel=ERROR"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_http(f"http://127.0.0.1:{port}/health")
    return proc, f"http://127.0.0.1:{port}/write?db=bench", None


SERVERS = {"influxgate": start_influxgate, "influxdb": start_influxdb, "victoriametrics": start_victoriametrics}


def run_cell(name, args, conc, batch, gz):
    """One fresh server, one loadgen run against it; returns loadgen's result and the peak RSS."""
    tmp = tempfile.mkdtemp(prefix=f"load-{name}-")
    try:
        proc, url, token = SERVERS[name](tmp)
    except (OSError, RuntimeError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"skipping {name}: {e}", file=sys.stderr)
        return None
    try:
        cmd = [LOADGEN, "--url", url, "--concurrency", str(conc), "--batch", str(batch),
               "--seconds", str(args.seconds), "--max-requests", str(args.max_requests)]
        if gz:
            cmd.append("--gzip")
        if token:
            cmd += ["--token", token]
        cpu0 = cpu_seconds(proc.pid)
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.seconds * 10 + 60)
        cpu = cpu_seconds(proc.pid) - cpu0
        r = json.loads(out.stdout.strip().splitlines()[-1])
        # Server CPU per accepted point: steadier than points/s on a shared machine.
        points = r["points_per_sec"] * r.get("seconds", args.seconds)
        r["cpu_us_per_point"] = cpu * 1e6 / points if points else float("nan")
        r["peak_rss_mib"] = peak_rss_mib(proc.pid)
        return r
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    global BIN
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.environ.get("INFLUXGATE_BIN") or DEFAULT_BIN,
                    help="the influxgate binary (default target/release/influxgate)")
    ap.add_argument("--seconds", type=float, default=4)
    ap.add_argument("--max-requests", type=int, default=4000)
    ap.add_argument("--servers", default="influxgate,influxdb,victoriametrics")
    ap.add_argument("--concurrency", default="1,4,16")
    ap.add_argument("--batches", default="1000,5000")
    ap.add_argument("--rounds", type=int, default=1,
                    help="runs of every cell; the table shows the median run by points/s "
                         "(of an even number, the upper one)")
    args = ap.parse_args()
    BIN = args.bin
    names = args.servers.split(",")
    cells = [(c, b, gz) for c in map(int, args.concurrency.split(","))
             for b in map(int, args.batches.split(",")) for gz in (False, True)]
    runs = {}
    # Servers take turns cell by cell, each on a fresh data directory: the machine's speed drifts
    # over minutes (a shared VM), and a server measured long after another would see a
    # different machine.
    for _ in range(args.rounds):
        for conc, batch, gz in cells:
            for name in names:
                r = run_cell(name, args, conc, batch, gz)
                if r is None:
                    continue
                r.update(server=name, concurrency=conc, batch=batch, gzip=gz)
                runs.setdefault((name, conc, batch, gz), []).append(r)
                print(json.dumps(r), file=sys.stderr)

    def median_run(name, cell):
        """The median run of a server in a cell by points/s (of two, the better), or None."""
        rs = sorted(runs.get((name, *cell), []), key=lambda r: r["points_per_sec"])
        return rs[len(rs) // 2] if rs else None

    print("| server | clients | batch | gzip | points/s | p50 ms | p99 ms | errors | CPU µs/point | peak RSS MiB |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for name in names:
        for conc, batch, gz in cells:
            r = median_run(name, (conc, batch, gz))
            if r is None:
                continue
            rs = runs[(name, conc, batch, gz)]
            print(f"| {name} | {conc} | {batch} | {'on' if gz else 'off'} | {r['points_per_sec']:,.0f} | "
                  f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} | {r['cpu_us_per_point']:.2f} | {max(x['peak_rss_mib'] for x in rs):.0f} |")
    if len(names) > 1:
        print()
        print("| clients | batch | gzip | " + " | ".join(f"{names[0]} / {n}" for n in names[1:]) + " |")
        print("|---:|---:|---|" + "---:|" * (len(names) - 1))
        for conc, batch, gz in cells:
            def pps(n):
                r = median_run(n, (conc, batch, gz))
                return r["points_per_sec"] if r else float("nan")
            print(f"| {conc} | {batch} | {'on' if gz else 'off'} | " +
                  " | ".join(f"{pps(names[0]) / pps(n):.2f}x" for n in names[1:]) + " |")


if __name__ == "__main__":
    main()
