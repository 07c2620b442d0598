// Node InfluxDB client libraries against the real binary; points read back with `influxgate export`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";
import { InfluxDB, Point } from "@influxdata/influxdb-client";
import Influx from "influx";

const BIN = process.env.INFLUXGATE_BIN ?? new URL("../../target/release/influxgate", import.meta.url).pathname;
const TOKEN = "node-token";

async function freePort() {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.listen(0, "127.0.0.1", () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
  });
}

async function startServer() {
  const dir = mkdtempSync(join(tmpdir(), "influxgate-node-"));
  const port = await freePort();
  // The server's log (with axum's per-connection errors) goes to a file that failures quote.
  const log = join(dir, "server.log");
  const fd = openSync(log, "w");
  const args = ["serve", "--http-bind", `127.0.0.1:${port}`, "--data-dir", dir, "--token", TOKEN, "--log", "info,axum::serve=trace"];
  const proc = spawn(BIN, args, { stdio: ["ignore", fd, fd] });
  closeSync(fd); // the child has its own copy
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    try { if ((await fetch(url + "/ping")).status === 204) return { proc, url, port, dir, log }; } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  proc.kill("SIGKILL");
  throw new Error("influxgate did not start");
}

async function stopAndExport(srv, db) {
  const exited = new Promise((r) => srv.proc.on("exit", r));
  srv.proc.kill("SIGTERM");
  await exited;
  const log = readFileSync(srv.log, "utf8");
  srv.lastLog = log.slice(-4000);
  assert.doesNotMatch(log, /panicked/, `the server panicked:\n${srv.lastLog}`);
  const out = execFileSync(BIN, ["export", "--data-dir", srv.dir, "--db", db], { encoding: "utf8" });
  return out.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
}

test("@influxdata/influxdb-client writeApi stores exactly the points", async () => {
  const srv = await startServer();
  // A batch whose connection drops is retried, as the client does by default; writes are
  // idempotent (same series and time), so the count stays exact. The server's log is checked
  // for panics, so a server that drops connections by crashing still fails here.
  const api = new InfluxDB({ url: srv.url, token: TOKEN }).getWriteApi("org", "nodedb", "ms", {
    batchSize: 100, maxRetries: 3, minRetryDelay: 50, maxRetryDelay: 200, retryJitter: 0,
  });
  for (let i = 0; i < 350; i++) {
    api.writePoint(new Point("net").tag("iface", `eth${i % 2}`).floatField("rx", i + 0.25).intField("pk", i).timestamp(1700000000000 + i));
  }
  await api.close();
  const rows = await stopAndExport(srv, "nodedb");
  assert.equal(rows.length, 350, `server log:\n${srv.lastLog}`);
  const r7 = rows.find((r) => r.time === (1700000000000 + 7) * 1e6);
  assert.deepEqual(r7, { db: "nodedb", measurement: "net", tags: { iface: "eth1" }, fields: { pk: 7, rx: 7.25 }, time: (1700000000000 + 7) * 1e6 });
});

test("@influxdata/influxdb-client surfaces a partial write as an error", async () => {
  const srv = await startServer();
  const api = new InfluxDB({ url: srv.url, token: TOKEN }).getWriteApi("org", "nodedb", "ns", { maxRetries: 0 });
  api.writeRecords(["m v=1 1", "m v=bad 2"]);
  await assert.rejects(api.close(), (e) => e.statusCode === 400 && /partial write/.test(e.body));
  const rows = await stopAndExport(srv, "nodedb");
  assert.equal(rows.length, 1);
});

test("influx (1.x client) writePoints with precision and retention policy", async () => {
  const srv = await startServer();
  const client = new Influx.InfluxDB({ host: "127.0.0.1", port: srv.port, database: "legacy", username: "u", password: TOKEN });
  const points = [];
  for (let i = 0; i < 120; i++) {
    points.push({ measurement: "temp", tags: { room: `r${i % 3}` }, fields: { c: 20 + i / 10, n: i }, timestamp: 1700000000 + i });
  }
  await client.writePoints(points, { precision: "s" });
  await client.writePoints([{ measurement: "temp", tags: { room: "rp" }, fields: { c: 1.5 }, timestamp: 5 }], { precision: "s", retentionPolicy: "week" });
  const rows = await stopAndExport(srv, "legacy");
  assert.equal(rows.length, 120);
  const r5 = rows.find((r) => r.time === (1700000000 + 5) * 1e9);
  assert.deepEqual(r5.tags, { room: "r2" });
  assert.equal(r5.fields.c, 20.5);
  assert.equal(r5.fields.n, 5);
  const rp = execFileSync(BIN, ["export", "--data-dir", srv.dir, "--db", "legacy/week"], { encoding: "utf8" });
  assert.match(rp, /"room":"rp"/);
});

test("influx (1.x client) query(): raw rows, GROUP BY a tag, SHOW statements, auth", async () => {
  const srv = await startServer();
  const client = new Influx.InfluxDB({ host: "127.0.0.1", port: srv.port, database: "q", username: "u", password: TOKEN });
  const points = [];
  for (let i = 0; i < 30; i++) {
    points.push({ measurement: "temp", tags: { room: `r${i % 3}` }, fields: { c: i, ok: i % 2 === 0 }, timestamp: 1700000000 + i });
  }
  await client.writePoints(points, { precision: "s" });
  try {
    const raw = await client.query("SELECT c, ok FROM temp WHERE room = 'r1' ORDER BY time LIMIT 3");
    assert.deepEqual(
      raw.map((r) => [r.time.getNanoTime(), r.c, r.ok]),
      [["1700000001000000000", 1, false], ["1700000004000000000", 4, true], ["1700000007000000000", 7, false]],
    );
    const grouped = await client.query("SELECT count(c), max(c) FROM temp GROUP BY room");
    assert.deepEqual(grouped.groups().map((g) => g.tags.room), ["r0", "r1", "r2"]);
    assert.deepEqual(grouped.map((r) => [r.room, r.count, r.max]), [["r0", 10, 27], ["r1", 10, 28], ["r2", 10, 29]]);
    // Several statements in one call come back as one result array each.
    const [mean, last] = await client.query(["SELECT mean(c) FROM temp WHERE room = 'r0'", "SELECT last(c) FROM temp"]);
    assert.equal(mean[0].mean, 13.5);
    assert.equal(last[0].last, 29);
    assert.deepEqual(await client.getMeasurements(), ["temp"]);
    assert.ok((await client.getDatabaseNames()).includes("q"));
    const values = await client.query("SHOW TAG VALUES FROM temp WITH KEY = room");
    assert.deepEqual(values.map((r) => r.value), ["r0", "r1", "r2"]);
    const fields = await client.query("SHOW FIELD KEYS FROM temp");
    assert.deepEqual(fields.map((r) => [r.fieldKey, r.fieldType]), [["c", "float"], ["ok", "boolean"]]);
    const stranger = new Influx.InfluxDB({ host: "127.0.0.1", port: srv.port, database: "q", username: "u", password: "wrong" });
    await assert.rejects(stranger.query("SELECT * FROM temp"), /unauthorized|401/);
  } finally {
    await stopAndExport(srv, "q");
  }
});
