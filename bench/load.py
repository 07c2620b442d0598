#!/usr/bin/env python3
"""Whole-server write load benchmark (loopback only, bounded in time and count).

Starts influxgate (release build), InfluxDB 1.x (`influxd`, Debian package `influxdb`) and
VictoriaMetrics (Debian package `victoria-metrics`) on free loopback ports with their data in a
temp dir, then for every server x {1, 4, 16} clients x {1000, 5000}-line batches x gzip {off, on}
runs `loadgen` (crates/host-native/examples/loadgen.rs) and prints a Markdown table of durable
points/s, ack latency p50/p99 and each server's peak RSS.

    cargo build --release -p influxgate-server --bin influxgate --example loadgen
    python3 bench/load.py [--seconds 4] [--servers influxgate,influxdb,victoriametrics]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

from peers import free_port, start_influxd, wait_http

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target/release/influxgate")
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=4)
    ap.add_argument("--max-requests", type=int, default=4000)
    ap.add_argument("--servers", default="influxgate,influxdb,victoriametrics")
    ap.add_argument("--concurrency", default="1,4,16")
    ap.add_argument("--batches", default="1000,5000")
    args = ap.parse_args()
    rows = []
    for name in args.servers.split(","):
        tmp = tempfile.mkdtemp(prefix=f"load-{name}-")
        try:
            proc, url, token = SERVERS[name](tmp)
        except (OSError, RuntimeError) as e:
            print(f"skipping {name}: {e}", file=sys.stderr)
            continue
        try:
            for conc in map(int, args.concurrency.split(",")):
                for batch in map(int, args.batches.split(",")):
                    for gz in (False, True):
                        cmd = [LOADGEN, "--url", url, "--concurrency", str(conc), "--batch", str(batch),
                               "--seconds", str(args.seconds), "--max-requests", str(args.max_requests)]
                        if gz:
                            cmd.append("--gzip")
                        if token:
                            cmd += ["--token", token]
                        out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.seconds * 10 + 60)
                        r = json.loads(out.stdout.strip().splitlines()[-1])
                        r.update(server=name, concurrency=conc, batch=batch, gzip=gz)
                        rows.append(r)
                        print(json.dumps(r), file=sys.stderr)
            rss = peak_rss_mib(proc.pid)
            for r in rows:
                if r["server"] == name:
                    r["peak_rss_mib"] = rss
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            shutil.rmtree(tmp, ignore_errors=True)
    print("| server | clients | batch | gzip | points/s | p50 ms | p99 ms | errors | peak RSS MiB |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['server']} | {r['concurrency']} | {r['batch']} | {'on' if r['gzip'] else 'off'} | "
              f"{r['points_per_sec']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} | {r['peak_rss_mib']:.0f} |")


if __name__ == "__main__":
    main()
