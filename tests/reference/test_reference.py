"""pytest entry point of the reference tests (see run.py): every query of queries.txt on InfluxDB
1.x and on influxgate, answers compared; a difference fails unless allowlist.txt lists the query
with a justification. The queries run twice: on the server (data in its write buffer) and on the
engine with the data flushed to Parquet after each write (`crates/engine/examples/influxql.rs`,
built by `cargo test`), which reads files: merged days, decoded columns, series selections."""

import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402

QUERIES = run.read_queries()
ALLOW = run.read_allowlist()


@pytest.fixture(scope="module")
def harness():
    if not shutil.which("influxd"):
        pytest.skip("influxd (Debian package influxdb) is not installed")
    binary = run.default_binary()
    if not os.path.exists(binary):
        pytest.fail(f"influxgate binary not found at {binary} (set INFLUXGATE_BIN)")
    h = run.Harness(binary)
    yield h
    h.close()


@pytest.fixture(scope="module")
def flushed():
    if not shutil.which("influxd"):
        pytest.skip("influxd (Debian package influxdb) is not installed")
    exe = os.environ.get("INFLUXGATE_ENGINE_EXAMPLE") or os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(run.ROOT, "target")), "debug", "examples", "influxql")
    if not os.path.exists(exe):
        pytest.fail(f"engine example not found at {exe} (cargo test builds it; or set INFLUXGATE_ENGINE_EXAMPLE)")
    h = run.Harness(engine_example="flush")
    yield h
    h.close()


def test_enough_queries():
    assert len(QUERIES) >= 100
    assert all(q in QUERIES for q in ALLOW), [q for q in ALLOW if q not in QUERIES]


def same_answers(h, line):
    """The answers of InfluxDB and influxgate are the same, or the query is allow-listed."""
    ref, got, diffs = h.check(line)
    if line in ALLOW:
        if not diffs:
            pytest.xfail("allow-listed but now identical: remove it from allowlist.txt")
        pytest.xfail(ALLOW[line])
    assert not diffs, f"{line}\n" + "\n".join(diffs[:8])


@pytest.mark.parametrize("line", QUERIES)
def test_query(harness, line):
    same_answers(harness, line)


@pytest.mark.parametrize("line", QUERIES)
def test_query_flushed(flushed, line):
    if "chunked" in run.parse_line(line)[0]:
        pytest.skip("the engine example does not chunk (the server's test covers it)")
    same_answers(flushed, line)
