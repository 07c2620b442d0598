"""Starting the servers the benchmarks and the reference tests compare: free loopback ports,
waiting for a server to answer, and InfluxDB 1.x (`influxd`) with its data in a given directory.
Also a process's CPU time. Used by bench/load.py, bench/query.py and tests/reference/run.py."""

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request


def cpu_seconds(pid):
    """User + system CPU time a process has used so far (Linux /proc); NaN once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, proc=None, timeout=60):
    """Wait until `url` answers (any HTTP status); fail early if `proc` exits."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: server exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {timeout}s")


def start_influxd(directory, database):
    """InfluxDB 1.x on a free loopback port, data in `directory` (created), every write fsynced
    before it is answered (`wal-fsync-delay = 0s`), `database` created. Returns (proc, url)."""
    os.makedirs(directory, exist_ok=True)
    port, rpc = free_port(), free_port()
    conf = os.path.join(directory, "influxdb.conf")
    with open(conf, "w") as f:
        f.write(f"""reporting-disabled = true
bind-address = "127.0.0.1:{rpc}"
[meta]
  dir = "{directory}/meta"
[data]
  dir = "{directory}/data"
  wal-dir = "{directory}/wal"
  wal-fsync-delay = "0s"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:{port}"
  log-enabled = false
  max-body-size = 0
[monitor]
  store-enabled = false
""")
    log = open(os.path.join(directory, "influxd.log"), "w")
    proc = subprocess.Popen(["influxd", "-config", conf], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/ping", proc)
    req = urllib.request.Request(url + "/query", data=f"q=CREATE DATABASE {database}".encode(), method="POST",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    urllib.request.urlopen(req, timeout=30).read()
    return proc, url
