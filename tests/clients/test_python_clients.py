"""Real Python client libraries against the real binary; the stored points are read back from
the data directory after a graceful stop."""

import gzip

import influxdb
import influxdb_client
from influxdb_client.client.write_api import SYNCHRONOUS

from conftest import TOKEN, expected, points_of

BASE_S = 1_700_000_000


def test_influxdb_v1_client_write_points_in_several_precisions(server):
    client = influxdb.InfluxDBClient(host="127.0.0.1", port=server.port, username="anyone",
                                     password=TOKEN, database="pydb")
    want = []
    for precision, scale in [("s", 10**9), ("ms", 10**6), ("u", 10**3), ("n", 1)]:
        points = []
        for i in range(250):
            t = (BASE_S + i) * (10**9 // scale)
            points.append({"measurement": "cpu", "tags": {"host": f"h{i % 5}", "precision": precision},
                           "time": t, "fields": {"usage": i * 0.5, "count": i, "ok": i % 2 == 0, "note": f"p{i}"}})
            want.append(expected("cpu", {"host": f"h{i % 5}", "precision": precision},
                                 {"usage": i * 0.5, "count": i, "ok": i % 2 == 0, "note": f"p{i}"},
                                 t * scale))
        # batch_size splits the 250 points into several requests.
        assert client.write_points(points, time_precision=precision, batch_size=100)
    server.stop()
    assert points_of(server.export("pydb")) == sorted(want)


def test_influxdb_client_v2_sync_write_with_and_without_gzip(server):
    want = []
    for gz in (False, True):
        with influxdb_client.InfluxDBClient(url=server.url, token=TOKEN, org="my-org", enable_gzip=gz) as c:
            api = c.write_api(write_options=SYNCHRONOUS)
            records = []
            for i in range(300):
                p = (influxdb_client.Point("mem").tag("host", f"h{i % 3}").tag("gzip", str(gz))
                     .field("used", float(i)).field("pages", i).time(BASE_S * 10**9 + i, "ns"))
                records.append(p)
                want.append(expected("mem", {"host": f"h{i % 3}", "gzip": str(gz)},
                                     {"used": float(i), "pages": i}, BASE_S * 10**9 + i))
            api.write(bucket="v2db", record=records)
            # Line protocol strings in ms precision as well.
            api.write(bucket="v2db", record=f"disk,gzip={gz} free=1i {BASE_S * 1000}",
                      write_precision="ms")
            want.append(expected("disk", {"gzip": str(gz)}, {"free": 1}, BASE_S * 10**9))
    server.stop()
    assert points_of(server.export("v2db")) == sorted(want)


def test_influxdb_client_reports_errors_as_exceptions(server):
    with influxdb_client.InfluxDBClient(url=server.url, token="wrong", org="o") as c:
        api = c.write_api(write_options=SYNCHRONOUS)
        try:
            api.write(bucket="b", record="m v=1")
            raise AssertionError("a bad token must fail")
        except influxdb_client.rest.ApiException as e:
            assert e.status == 401
    with influxdb_client.InfluxDBClient(url=server.url, token=TOKEN, org="o") as c:
        api = c.write_api(write_options=SYNCHRONOUS)
        try:
            api.write(bucket="b", record="m v=1\nm v=oops")
            raise AssertionError("a bad line must fail")
        except influxdb_client.rest.ApiException as e:
            assert e.status == 400
            assert "partial write" in e.body and "line 2" in e.body
