"""Querying influxgate's /query with the Python `influxdb` client: msgpack (its default Accept),
JSON, epochs, chunked responses, several statements and errors, and Grafana's request pattern
(GET /query with epoch=ms, several statements, SHOW TAG VALUES WITH KEY)."""

import json
import urllib.parse
import urllib.request

import influxdb

from conftest import TOKEN

LINES = "\n".join([
    "cpu,host=a,region=us usage=1.5,n=3i,ok=true,label=\"x y\" 1700000000",
    "cpu,host=b,region=eu usage=2,n=-4i,ok=false,label=\"q\\\"z\" 1700000001",
    "cpu,host=a,region=us usage=3.25 1700000060",
    "mem,host=a free=10i 1700000000",
])


def client(server, **kw):
    return influxdb.InfluxDBClient("127.0.0.1", server.port, username="u", password=TOKEN,
                                   database="qdb", **kw)


def load(server):
    c = client(server)
    c.write_points(LINES.split("\n"), protocol="line", time_precision="s")
    return c


def test_msgpack_and_json_give_the_same_points(server):
    load(server)
    msgpack = client(server)  # Accept: application/x-msgpack by default
    js = client(server, headers={"Accept": "application/json"})
    for c in (msgpack, js):
        rs = c.query("SELECT * FROM cpu GROUP BY host")
        a = list(rs.get_points(tags={"host": "a"}))
        assert a == [
            {"time": "2023-11-14T22:13:20Z", "label": "x y", "n": 3, "ok": True, "region": "us", "usage": 1.5},
            {"time": "2023-11-14T22:14:20Z", "label": None, "n": None, "ok": None, "region": "us", "usage": 3.25},
        ]
        b = list(rs.get_points(tags={"host": "b"}))
        assert b == [{"time": "2023-11-14T22:13:21Z", "label": 'q"z', "n": -4, "ok": False, "region": "eu",
                      "usage": 2.0}]
        rs = c.query("SELECT mean(usage) FROM cpu", epoch="ms")
        assert list(rs.get_points()) == [{"time": 0, "mean": 2.25}]


def test_several_statements_errors_and_empty_results(server):
    c = load(server)
    rs = c.query("SELECT free FROM mem; SELECT * FROM nosuch; SHOW MEASUREMENTS")
    assert [list(r.get_points()) for r in rs] == [
        [{"time": "2023-11-14T22:13:20Z", "free": 10}],
        [],
        [{"name": "cpu"}, {"name": "mem"}],
    ]
    try:
        c.query("SELECT FROM")
        raise AssertionError("a query that does not parse must raise")
    except influxdb.exceptions.InfluxDBClientError as e:
        assert "error parsing query" in str(e)


def test_chunked(server):
    c = load(server)
    # influxdb-python yields one ResultSet per chunk document.
    chunks = list(c.query("SELECT usage FROM cpu", chunked=True, chunk_size=1))
    assert len(chunks) == 3
    assert [p["usage"] for rs in chunks for p in rs.get_points()] == [1.5, 2.0, 3.25]


def test_grafana_request_pattern(server):
    load(server)
    q = ("SELECT mean(\"usage\") FROM \"cpu\" WHERE time >= 1699999000000ms and time <= 1700001000000ms "
         "GROUP BY time(1m) fill(null);SHOW TAG VALUES WITH KEY = \"host\"")
    url = f"{server.url}/query?" + urllib.parse.urlencode({"db": "qdb", "q": q, "epoch": "ms"})
    req = urllib.request.Request(url, headers={"Authorization": "Token " + TOKEN})
    with urllib.request.urlopen(req) as r:
        assert r.headers["Content-Type"].startswith("application/json")
        body = json.loads(r.read())
    first, second = body["results"]
    assert first["statement_id"] == 0 and second["statement_id"] == 1
    assert first["series"][0]["columns"] == ["time", "mean"]
    values = first["series"][0]["values"]
    assert [1700000000000 - 1700000000000 % 60000, 1.75] in values
    assert second["series"][0]["values"] == [["host", "a"], ["host", "b"]]
