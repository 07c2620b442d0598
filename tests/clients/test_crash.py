"""kill -9 under load: every acknowledged point survives, no request is half-visible."""

import collections
import random
import threading
import time

import requests

from conftest import TOKEN, Server

WRITERS = 4
POINTS_PER_REQUEST = 50
MAX_REQUESTS_PER_WRITER = 2000


def test_kill_9_under_load_loses_nothing_acknowledged(tmp_path):
    rng = random.Random(42)
    for rnd in range(4):
        s = Server(tmp_path).start()
        acked = set()
        lock = threading.Lock()
        stop = threading.Event()

        def writer(w):
            session = requests.Session()
            for seq in range(MAX_REQUESTS_PER_WRITER):
                if stop.is_set():
                    return
                body = "\n".join(
                    f"crash,round={rnd},writer={w},req={seq} v={i}i,s=\"{'x' * 20}\" {1_700_000_000_000_000_000 + seq * 1000 + i}"
                    for i in range(POINTS_PER_REQUEST))
                try:
                    r = session.post(s.url + "/write", params={"db": "crash"}, data=body,
                                     headers={"Authorization": f"Token {TOKEN}"}, timeout=10)
                except requests.RequestException:
                    return
                if r.status_code == 204:
                    with lock:
                        acked.add((w, seq))

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.3, 1.5))
        s.stop(kill=True)
        stop.set()
        for t in threads:
            t.join(timeout=30)
        assert acked, "the writers got no acknowledgement before the kill"
        counts = collections.Counter()
        for row in s.export("crash"):
            tags = row["tags"]
            if tags["round"] == str(rnd):
                counts[(int(tags["writer"]), int(tags["req"]))] += 1
        missing = [k for k in acked if counts.get(k) != POINTS_PER_REQUEST]
        assert not missing, f"round {rnd}: acknowledged requests missing or partial: {missing[:5]}"
        half = {k: n for k, n in counts.items() if n not in (0, POINTS_PER_REQUEST)}
        assert not half, f"round {rnd}: half-visible requests: {half}"
        print(f"round {rnd}: {len(acked)} requests acknowledged, {len(counts)} visible after restart")
