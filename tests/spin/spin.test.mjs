// The Spin component (crates/host-spin) under `wasmtime serve`, in front of a real
// `influxgate serve` upstream, over real HTTP. Data is read back from the upstream with
// `influxgate export` after a graceful stop.
//
// Needs: `wasmtime` (48, with serve + component-model-async) on PATH or $WASMTIME,
// $INFLUXGATE_BIN (default target/release/influxgate), and the component built by build.sh
// ($SPIN_WASM, default tests/spin/build/influxgate_spin.wasm).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import net from "node:net";

const HERE = new URL(".", import.meta.url).pathname;
const BIN = process.env.INFLUXGATE_BIN ?? join(HERE, "../../target/release/influxgate");
const WASMTIME = process.env.WASMTIME ?? "wasmtime";
const WASM = process.env.SPIN_WASM ?? join(HERE, "build/influxgate_spin.wasm");
const UP_TOKEN = "upstream-token";
const ADMIN = "edge-admin";
const WRITER = "edge-writer"; // write on `edge` only
const TOKENS = JSON.stringify({
  tokens: [{ name: "writer", token: WRITER, permissions: [{ access: "write", database: "edge" }] }],
});
const LIMIT = 65536;

async function freePort() {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function waitFor(url, ok, what, proc) {
  for (let i = 0; i < 1200; i++) {
    if (proc.exitCode !== null) throw new Error(`${what} exited with ${proc.exitCode}`);
    try {
      if (ok((await fetch(url)).status)) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not start`);
}

async function startUpstream() {
  const dir = mkdtempSync(join(tmpdir(), "influxgate-spin-up-"));
  const port = await freePort();
  const proc = spawn(BIN, ["serve", "--http-bind", `127.0.0.1:${port}`, "--data-dir", dir, "--token", UP_TOKEN], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(url + "/ping", (s) => s === 204, "influxgate", proc);
  return { proc, url, dir };
}

/// `wasmtime serve` running the component with `env`.
async function startEdge(env) {
  const port = await freePort();
  const args = ["serve", "--addr", `127.0.0.1:${port}`, "-Scli", "-O", "pooling-allocator=n"];
  for (const [k, v] of Object.entries(env)) args.push("--env", `${k}=${v}`);
  args.push(WASM);
  const proc = spawn(WASMTIME, args, { stdio: ["ignore", "ignore", "inherit"] });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(url + "/ping", (s) => s === 204, "wasmtime serve", proc);
  return { proc, url };
}

async function stop(proc) {
  if (proc.exitCode !== null) return;
  const exited = new Promise((r) => proc.on("exit", r));
  proc.kill("SIGTERM");
  await exited;
}

function exportDb(dir, db) {
  const out = execFileSync(BIN, ["export", "--data-dir", dir, "--db", db], { encoding: "utf8" });
  return out
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}

function edgeEnv(upstreamUrl, extra = {}) {
  return {
    INFLUXGATE_TOKEN: ADMIN,
    INFLUXGATE_TOKENS: TOKENS,
    UPSTREAM_URL: upstreamUrl,
    UPSTREAM_TOKEN: UP_TOKEN,
    UPSTREAM_TIMEOUT_MS: "3000",
    RETRY_AFTER_SECS: "7",
    MAX_BODY_BYTES: String(LIMIT),
    ...extra,
  };
}

let up; // the influxgate upstream
let edge; // UPSTREAM_KIND=influxgate (Arrow envelope)
let edgeLp; // UPSTREAM_KIND=influxdb (gzip line protocol to /api/v2/write)
let hang; // an upstream that accepts connections and never answers
let edgeHang;

before(async () => {
  for (const [what, path] of [["wasm", WASM], ["influxgate", BIN]]) {
    if (!existsSync(path)) throw new Error(`${what} not found at ${path}: run tests/spin/build.sh`);
  }
  up = await startUpstream();
  hang = net.createServer(() => {});
  await new Promise((r) => hang.listen(0, "127.0.0.1", r));
  [edge, edgeLp, edgeHang] = await Promise.all([
    startEdge(edgeEnv(up.url)),
    startEdge(edgeEnv(up.url, { UPSTREAM_KIND: "influxdb" })),
    startEdge(edgeEnv(`http://127.0.0.1:${hang.address().port}`, { UPSTREAM_TIMEOUT_MS: "500" })),
  ]);
});

after(async () => {
  for (const p of [edge, edgeLp, edgeHang, up]) if (p) await stop(p.proc);
  hang?.close();
});

const auth = (t) => ({ Authorization: `Token ${t}` });

async function post(base, path, body, headers = {}) {
  const r = await fetch(base + path, { method: "POST", body, headers });
  const text = await r.text();
  return { status: r.status, headers: r.headers, text, json: text ? safeJson(text) : null };
}

function safeJson(t) {
  try {
    return JSON.parse(t);
  } catch {
    return null;
  }
}

test("ping and health are answered locally, without a token", async () => {
  const ping = await fetch(edge.url + "/ping");
  assert.equal(ping.status, 204);
  assert.ok(ping.headers.get("x-influxdb-version"));
  assert.equal(ping.headers.get("x-influxdb-build"), "influxgate-spin");
  assert.equal((await fetch(edge.url + "/ping", { method: "HEAD" })).status, 204);
  const health = await fetch(edge.url + "/health");
  assert.equal(health.status, 200);
  assert.equal((await health.json()).status, "pass");
  // Also locally when the upstream hangs.
  assert.equal((await fetch(edgeHang.url + "/ping")).status, 204);
});

test("writes with every auth scheme are forwarded and acknowledged after the upstream", async () => {
  const lines = (h, t) => `cpu,host=${h} usage=${t / 10},n=${t}i,ok=true,msg="x ${t}" ${1700000000 + t}`;
  let r = await post(edge.url, "/api/v2/write?bucket=edge&org=o&precision=s", lines("token", 1), auth(ADMIN));
  assert.equal(r.status, 204, r.text);
  r = await post(edge.url, "/api/v2/write?bucket=edge&precision=s", lines("bearer", 2), {
    Authorization: `Bearer ${WRITER}`,
  });
  assert.equal(r.status, 204, r.text);
  const basic = Buffer.from(`someone:${ADMIN}`).toString("base64");
  r = await post(edge.url, "/write?db=edge&precision=s", lines("basic", 3), { Authorization: `Basic ${basic}` });
  assert.equal(r.status, 204, r.text);
  r = await post(edge.url, `/write?db=edge&precision=s&u=x&p=${WRITER}`, lines("query", 4));
  assert.equal(r.status, 204, r.text);
  assert.ok(r.headers.get("x-influxdb-version"));
});

test("gzip bodies, several members, and a retention policy", async () => {
  const body = Buffer.concat([
    gzipSync("mem,host=g free=1i 1700000100000\n"),
    gzipSync("mem,host=g free=2i 1700000101000\nmem,host=h free=3i\n"),
  ]);
  let r = await post(edge.url, "/api/v2/write?bucket=edge&precision=ms", body, {
    ...auth(ADMIN),
    "Content-Encoding": "gzip",
  });
  assert.equal(r.status, 204, r.text);
  r = await post(edge.url, "/write?db=edge&rp=week", "rpm v=1 5", auth(ADMIN));
  assert.equal(r.status, 204, r.text);
});

test("auth failures never reach the upstream", async () => {
  const body = "denied v=1 1";
  let r = await post(edge.url, "/api/v2/write?bucket=edge", body);
  assert.equal(r.status, 401);
  assert.equal(r.json.code, "unauthorized");
  r = await post(edge.url, "/api/v2/write?bucket=edge", body, auth("wrong"));
  assert.equal(r.status, 401);
  r = await post(edge.url, "/api/v2/write?bucket=edge", body, { Authorization: "Digest abc" });
  assert.equal(r.status, 400);
  r = await post(edge.url, "/api/v2/write?bucket=edge", body, { Authorization: "Basic !!!" });
  assert.equal(r.status, 400);
  r = await post(edge.url, "/api/v2/write?bucket=other", body, auth(WRITER));
  assert.equal(r.status, 403);
  assert.equal(r.json.code, "forbidden");
  // ?p= is v1 only.
  r = await post(edge.url, `/api/v2/write?bucket=edge&p=${ADMIN}`, body);
  assert.equal(r.status, 401);
});

test("bad input is refused at the edge", async () => {
  const a = auth(ADMIN);
  let r = await post(edge.url, "/api/v2/write", "m v=1", a);
  assert.equal(r.status, 400);
  assert.match(r.json.message, /missing bucket value/);
  r = await post(edge.url, "/write", "m v=1", a);
  assert.equal(r.status, 400);
  r = await post(edge.url, "/api/v2/write?bucket=edge&precision=x", "m v=1", a);
  assert.equal(r.status, 400);
  assert.match(r.json.message, /precision/);
  r = await post(edge.url, "/api/v2/write?bucket=edge", "m v=1", { ...a, "Content-Encoding": "br" });
  assert.equal(r.status, 400);
  r = await post(edge.url, "/api/v2/write?bucket=edge", "not gzip", { ...a, "Content-Encoding": "gzip" });
  assert.equal(r.status, 400);
  r = await post(edge.url, "/api/v2/write?bucket=edge", "", a);
  assert.equal(r.status, 400);
  r = await post(edge.url, "/api/v2/write?bucket=edge", "m v=1\n".repeat(LIMIT / 4), a);
  assert.equal(r.status, 413);
  assert.equal(r.json.code, "request too large");
  const bomb = gzipSync(Buffer.alloc(LIMIT * 4, "m v=1\n"));
  r = await post(edge.url, "/api/v2/write?bucket=edge", bomb, { ...a, "Content-Encoding": "gzip" });
  assert.equal(r.status, 413);
  r = await post(edge.url, "/api/v2/write?bucket=edge", "bad line here\nworse", a);
  assert.equal(r.status, 400);
  assert.equal(r.json.line, 1);
  assert.match(r.json.message, /no data written/);
  r = await post(edge.url, "/api/v2/write?bucket=edge", Buffer.from([0x6d, 0x20, 0x76, 0x3d, 0xff]), a);
  assert.equal(r.status, 400);
  assert.equal((await fetch(edge.url + "/nope")).status, 404);
  assert.equal((await fetch(edge.url + "/write", { headers: a })).status, 405);
});

test("mixed good and bad lines: good lines stored, bad ones reported", async () => {
  const body = "mixed v=1 1\nmixed v= 2\nmixed v=3 3\nmixed v=\"s\" 4\n";
  let r = await post(edge.url, "/write?db=edge", body, auth(ADMIN));
  assert.equal(r.status, 201, r.text);
  assert.match(r.json.message, /partial write/);
  assert.match(r.json.message, /line 2/);
  assert.match(r.json.message, /line 4/);
  r = await post(edge.url, "/api/v2/write?bucket=edge", "mixed2 v=1 1\nmixed2 v=oops 2\n", auth(ADMIN));
  assert.equal(r.status, 400);
  assert.equal(r.json.line, 2);
  assert.match(r.json.message, /partial write/);
});

test("the line-protocol upstream kind (InfluxDB v2 write API, gzip)", async () => {
  let r = await post(edgeLp.url, "/api/v2/write?bucket=lp&precision=us", 'lp,t=a\\ b f=1.5,s="q\\"uote",u=7u 1700000000000001', auth(ADMIN));
  assert.equal(r.status, 204, r.text);
  r = await post(edgeLp.url, "/write?db=lp", "lp,t=c f=2.5 1700000000000002000\nlp f= 3", auth(ADMIN));
  assert.equal(r.status, 201, r.text);
});

test("an upstream 4xx is the client's error (field type conflict)", async () => {
  let r = await post(edge.url, "/api/v2/write?bucket=conflict", "c v=1.5 1", auth(ADMIN));
  assert.equal(r.status, 204, r.text);
  // The edge does not know the upstream's schema: the upstream refuses, the client sees 400.
  r = await post(edge.url, "/api/v2/write?bucket=conflict", "c v=1i 2", auth(ADMIN));
  assert.equal(r.status, 400, r.text);
  assert.match(r.json.message, /upstream rejected the write/);
  r = await post(edgeLp.url, "/api/v2/write?bucket=conflict", "c v=\"s\" 3", auth(ADMIN));
  assert.equal(r.status, 400, r.text);
});

test("an upstream that does not answer in time: 503 with Retry-After", async () => {
  const started = Date.now();
  const r = await post(edgeHang.url, "/api/v2/write?bucket=edge", "m v=1", auth(ADMIN));
  assert.equal(r.status, 503, r.text);
  assert.equal(r.headers.get("retry-after"), "7");
  assert.equal(r.json.code, "unavailable");
  assert.match(r.json.message, /timed out/);
  assert.ok(Date.now() - started < 5000);
});

test("queries are translated at the edge and run on the upstream", async () => {
  const q = (base, query, extra = "") =>
    fetch(`${base}/query?db=edge&q=${encodeURIComponent(query)}${extra}`, { headers: auth(ADMIN) });
  let r = await q(edge.url, "SELECT usage, n FROM cpu WHERE host = 'basic'; SELECT count(usage) FROM cpu", "&epoch=s");
  let text = await r.text();
  assert.equal(r.status, 200, text);
  const body = JSON.parse(text);
  assert.deepEqual(body.results[0].series[0], {
    name: "cpu",
    columns: ["time", "usage", "n"],
    values: [[1700000003, 0.3, 3]],
  });
  assert.deepEqual(body.results[1].series[0].values[0].slice(1), [4]);
  // Statements that need the schema (wildcards, SHOW, GROUP BY a tag): the edge fetched the
  // upstream's catalog from /api/v3/internal/schema.
  r = await q(
    edge.url,
    "SELECT * FROM cpu WHERE host = 'basic'; SHOW MEASUREMENTS; SELECT count(usage) FROM cpu GROUP BY host; SHOW FIELD KEYS FROM cpu",
    "&epoch=s",
  );
  text = await r.text();
  assert.equal(r.status, 200, text);
  const [star, measurements, byHost, fieldKeys] = JSON.parse(text).results;
  assert.deepEqual(star.series[0].columns, ["time", "host", "msg", "n", "ok", "usage"], text);
  assert.deepEqual(star.series[0].values, [[1700000003, "basic", "x 3", 3, true, 0.3]]);
  assert.ok(measurements.series[0].values.some((v) => v[0] === "cpu"), text);
  assert.deepEqual(byHost.series.map((s) => s.tags.host).sort(), ["basic", "bearer", "query", "token"]);
  assert.deepEqual(fieldKeys.series[0].values, [["msg", "string"], ["n", "integer"], ["ok", "boolean"], ["usage", "float"]]);
  // The v3 InfluxQL endpoint too.
  r = await fetch(`${edge.url}/api/v3/query_influxql?db=edge&format=jsonl&q=${encodeURIComponent("SELECT * FROM cpu WHERE host = 'token'")}`, {
    headers: auth(ADMIN),
  });
  text = await r.text();
  assert.equal(r.status, 200, text);
  assert.equal(JSON.parse(text.trim().split("\n")[0]).msg, "x 1", text);
  // A statement error is per statement, HTTP 200.
  r = await q(edge.url, "SELECT nope(usage) FROM cpu");
  assert.equal(r.status, 200);
  assert.ok(JSON.parse(await r.text()).results[0].error);
  // Parse errors are the client's.
  r = await q(edge.url, "SELECT FROM");
  assert.equal(r.status, 400);
  // Read permission is checked at the edge: the writer token has none.
  r = await fetch(`${edge.url}/query?db=edge&q=${encodeURIComponent("SELECT * FROM cpu")}`, {
    headers: auth(WRITER),
  });
  assert.equal(r.status, 403);
  // An InfluxDB upstream gets no SQL.
  r = await q(edgeLp.url, "SELECT usage FROM cpu");
  assert.equal(r.status, 422);
  // A hanging upstream: 503.
  r = await q(edgeHang.url, "SELECT usage FROM cpu");
  assert.equal(r.status, 503);
  assert.equal(r.headers.get("retry-after"), "7");
});

test("the data is in the upstream, exactly; then upstream down gives 503", async () => {
  await stop(up.proc);
  const rows = exportDb(up.dir, "edge");
  const cpu = rows.filter((r) => r.measurement === "cpu").sort((a, b) => a.time - b.time);
  assert.deepEqual(
    cpu.map((r) => r.tags.host),
    ["token", "bearer", "basic", "query"],
  );
  assert.deepEqual(cpu[2], {
    db: "edge",
    measurement: "cpu",
    tags: { host: "basic" },
    fields: { usage: 0.3, n: 3, ok: true, msg: "x 3" },
    time: (1700000000 + 3) * 1e9,
  });
  const mem = rows.filter((r) => r.measurement === "mem");
  assert.equal(mem.length, 3);
  assert.ok(mem.find((r) => r.tags.host === "h" && r.fields.free === 3));
  const mixed = rows.filter((r) => r.measurement === "mixed").map((r) => r.fields.v).sort();
  assert.deepEqual(mixed, [1, 3]);
  assert.equal(rows.filter((r) => r.measurement === "mixed2").length, 1);
  assert.equal(rows.filter((r) => r.measurement === "denied").length, 0);
  assert.equal(rows.filter((r) => r.measurement === "m").length, 0);
  assert.equal(exportDb(up.dir, "edge/week").length, 1);
  const lp = exportDb(up.dir, "lp").sort((a, b) => a.time - b.time);
  assert.deepEqual(lp, [
    { db: "lp", measurement: "lp", tags: { t: "a b" }, fields: { f: 1.5, s: 'q"uote', u: 7 }, time: 1700000000000001000 },
    { db: "lp", measurement: "lp", tags: { t: "c" }, fields: { f: 2.5 }, time: 1700000000000002000 },
  ]);
  assert.deepEqual(exportDb(up.dir, "conflict").map((r) => r.fields.v), [1.5]);

  // The upstream is gone: nothing is acknowledged.
  const r = await post(edge.url, "/api/v2/write?bucket=edge", "late v=1", auth(ADMIN));
  assert.equal(r.status, 503, r.text);
  assert.equal(r.headers.get("retry-after"), "7");
  assert.equal(r.json.code, "unavailable");
  const r1 = await post(edgeLp.url, "/write?db=edge", "late v=1", auth(ADMIN));
  assert.equal(r1.status, 503);
  assert.equal(r1.headers.get("retry-after"), "7");
  // Liveness is still local.
  assert.equal((await fetch(edge.url + "/ping")).status, 204);
});
