"""Error paths over real HTTP; nothing half-written."""

import gzip
import time

import requests

from conftest import TOKEN, Server, expected, points_of

AUTH = {"Authorization": f"Token {TOKEN}"}


def write(server, body, path="/write", params=None, headers=None):
    h = dict(AUTH)
    h.update(headers or {})
    return requests.post(server.url + path, params=params or {"db": "db"}, data=body, headers=h, timeout=30)


def test_auth_failures(server):
    r = requests.post(server.url + "/write", params={"db": "db"}, data=b"m v=1")
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    r = write(server, b"m v=1", headers={"Authorization": "Token nope"})
    assert r.status_code == 401
    r = write(server, b"m v=1", headers={"Authorization": "Weird x"})
    assert r.status_code == 400 and "Authorization" in r.json()["message"]
    r = requests.post(server.url + "/write", params={"db": "db", "u": "x", "p": TOKEN}, data=b"m v=1 1")
    assert r.status_code == 204
    r = requests.post(server.url + "/write", params={"db": "db"}, data=b"m v=1 1", auth=("user", TOKEN))
    assert r.status_code == 204


def test_parameter_errors(server):
    r = write(server, b"m v=1", params={"precision": "s"})
    assert r.status_code == 400 and r.json()["message"] == "database is required"
    r = write(server, b"m v=1", path="/api/v2/write", params={"org": "o"})
    assert r.status_code == 400 and r.json()["message"] == "missing bucket value"
    r = write(server, b"m v=1", path="/api/v2/write", params={"bucket": "b", "precision": "u"})
    assert r.status_code == 400
    assert r.json()["message"].startswith("failed to deserialize org/bucket/precision in request: unknown variant `u`")


def test_gzip_bomb_and_oversized_bodies(tmp_path):
    s = Server(tmp_path, ["--max-body-bytes", "1048576"]).start()
    try:
        bomb = gzip.compress(b"#" * (64 * 1024 * 1024), compresslevel=9)
        assert len(bomb) < 1048576
        r = write(s, bomb, headers={"Content-Encoding": "gzip"})
        assert r.status_code == 413 and r.json()["code"] == "request too large"
        r = write(s, b"m v=1 1\n" * 200_000)
        assert r.status_code == 413
        r = write(s, b"\x1f\x8bnot really gzip", headers={"Content-Encoding": "gzip"})
        assert r.status_code == 400 and "gzip" in r.json()["message"]
    finally:
        s.stop()
    assert s.export() == []


def test_invalid_utf8_and_empty(server):
    r = write(server, b"m v=1 1\nm s=\"\xff\xfe\" 2\n")
    assert r.status_code == 400 and "UTF-8" in r.json()["message"]
    r = write(server, b"")
    assert r.status_code == 400
    server.stop()
    assert server.export() == []


def test_mixed_lines_v1_201_and_good_lines_stored(server):
    body = b"cpu,host=a v=1 1000\ncpu,host=a v=oops 2000\ncpu,host=b v=3 3000\n"
    r = write(server, body)
    assert r.status_code == 201
    j = r.json()
    assert j["line"] == 2 and "line 2" in j["message"]
    r = write(server, b"cpu,host=c v=4 4000\nbad line here\n", path="/api/v2/write", params={"bucket": "db"})
    assert r.status_code == 400 and "partial write" in r.json()["message"]
    server.stop()
    assert points_of(server.export("db")) == sorted([
        expected("cpu", {"host": "a"}, {"v": 1.0}, 1000),
        expected("cpu", {"host": "b"}, {"v": 3.0}, 3000),
        expected("cpu", {"host": "c"}, {"v": 4.0}, 4000),
    ])


def test_type_conflict_across_requests_and_restart(server):
    assert write(server, b"m v=1 1").status_code == 204
    r = write(server, b"m v=2i 2")
    assert r.status_code == 400 and "field type conflict" in r.json()["message"]
    server.stop()
    server.start()
    r = write(server, b"m v=\"s\" 3\nm v=4 4")
    assert r.status_code == 201 and "field type conflict" in r.json()["message"]
    server.stop()
    assert points_of(server.export("db")) == sorted([
        expected("m", {}, {"v": 1.0}, 1), expected("m", {}, {"v": 4.0}, 4)])


def test_same_point_twice_later_wins_field_by_field(server):
    assert write(server, b"m,t=a x=1,y=1 10").status_code == 204
    assert write(server, b"m,t=a y=2,z=3 10").status_code == 204
    server.stop()
    assert points_of(server.export("db")) == [expected("m", {"t": "a"}, {"x": 1.0, "y": 2.0, "z": 3.0}, 10)]


def test_ping_health_metrics(server):
    r = requests.get(server.url + "/ping")
    assert r.status_code == 204 and r.headers["X-Influxdb-Version"]
    assert requests.head(server.url + "/ping").status_code == 204
    assert requests.get(server.url + "/health").json()["status"] == "pass"
    write(server, b"m v=1 1")
    assert requests.get(server.url + "/metrics").status_code == 401
    m = requests.get(server.url + "/metrics", headers=AUTH)
    assert m.status_code == 200
    assert 'influxgate_http_requests_total{endpoint="write_v1",status="204"} 1' in m.text
    assert "influxgate_lines_accepted_total 1" in m.text
    r = requests.options(server.url + "/write", headers={"Origin": "http://example.com",
                                                         "Access-Control-Request-Method": "POST"})
    assert r.headers.get("access-control-allow-origin") == "*"
    big = requests.get(server.url + "/metrics", headers=dict(AUTH, **{"Accept-Encoding": "gzip"}))
    assert big.status_code == 200


def test_query_limits_result_size_and_timeout(tmp_path):
    """A statement over --query-result-bytes or --query-timeout-secs fails on its own; the
    server stays up and answers the next statement."""
    # The timeout through its environment variable: every serve option has one.
    s = Server(tmp_path, ["--query-result-bytes", "100000"], env={"INFLUXGATE_QUERY_TIMEOUT_SECS": "2"}).start()
    try:
        body = "\n".join(f"m,host=h{i % 10} v={i}.5 {i}" for i in range(20000)).encode()
        assert write(s, body).status_code == 204
        q = lambda q: requests.get(s.url + "/query", params={"db": "db", "q": q}, headers=AUTH, timeout=60)
        # 20,000 rows of time, tag and float are more than 100,000 bytes of Arrow data.
        r = q("SELECT * FROM m; SELECT count(v) FROM m")
        assert r.status_code == 200
        results = r.json()["results"]
        assert "query result exceeds the limit of 100000 bytes" in results[0]["error"]
        assert results[1]["series"][0]["values"][0][1] == 20000
        # A statement that would run for hours is stopped by the timeout.
        start = time.time()
        r = requests.get(s.url + "/api/v3/query_sql", headers=AUTH, timeout=60, params={
            "db": "db", "q": "SELECT count(*) FROM generate_series(1, 100000000000) WHERE value % 7 = 3"})
        assert time.time() - start < 20
        assert r.status_code == 400 and r.json()["message"] == "query-timeout limit exceeded", r.text
        r = q("SELECT count(v) FROM m WHERE host = 'h3'")
        assert r.json()["results"][0]["series"][0]["values"][0][1] == 2000
    finally:
        s.stop(kill=True)
