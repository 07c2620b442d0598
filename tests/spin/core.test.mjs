// The WIT core component (wit/world.wit, crates/core-component) called through two real
// component runtimes: jco's JavaScript transpilation in Node and `wasmtime run --invoke`.
//
// Needs the component built by build.sh ($CORE_COMPONENT, default
// tests/spin/build/influxgate_core.component.wasm), jco (npm ci here) and wasmtime.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const HERE = new URL(".", import.meta.url).pathname;
const COMPONENT = process.env.CORE_COMPONENT ?? join(HERE, "build/influxgate_core.component.wasm");
const WASMTIME = process.env.WASMTIME ?? "wasmtime";
const enc = new TextEncoder();
const dec = new TextDecoder();

let core; // the transpiled component's exports

before(async () => {
  if (!existsSync(COMPONENT)) throw new Error(`${COMPONENT} not found: run tests/spin/build.sh`);
  const out = mkdtempSync(join(tmpdir(), "influxgate-jco-"));
  execFileSync(join(HERE, "node_modules/.bin/jco"), ["transpile", COMPONENT, "-o", out, "--name", "core", "--quiet"], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  core = await import(join(out, "core.js"));
});

test("the component has no imports", () => {
  const wit = execFileSync(join(HERE, "node_modules/.bin/jco"), ["wit", COMPONENT], { encoding: "utf8" });
  assert.doesNotMatch(wit, /^\s*import /m, wit);
  for (const i of ["types", "write", "gateway", "influxql"]) {
    assert.match(wit, new RegExp(`export influxgate:core/${i}@0\\.1\\.0;`), wit);
  }
});

const writeReq = (over) => ({
  api: "v2",
  query: "bucket=db&precision=s",
  headers: [],
  body: enc.encode(""),
  nowNs: 1700000000123456789n,
  maxBodyBytes: undefined,
  ...over,
});

test("parse-write: accepted points, typed fields, normalised line protocol", () => {
  const r = core.write.parseWrite(
    writeReq({ body: enc.encode('cpu,host=a u=1.5,n=2i,m=3u,ok=true,s="x y" 10\ncpu,host=b u=2 11\nmem f=1i\n') }),
  );
  assert.equal(r.database, "db");
  assert.equal(r.accepted, 3);
  assert.equal(r.rejected, 0);
  assert.deepEqual(r.errors, []);
  assert.equal(r.response.status, 204);
  assert.equal(r.points.length, 3);
  const p = r.points[0];
  assert.equal(p.measurement, "cpu");
  assert.deepEqual(p.tags, [["host", "a"]]);
  assert.equal(p.timeNs, 10_000_000_000n);
  const fields = Object.fromEntries(p.fields);
  assert.deepEqual(fields.u, { tag: "float", val: 1.5 });
  assert.deepEqual(fields.n, { tag: "integer", val: 2n });
  assert.deepEqual(fields.m, { tag: "unsigned", val: 3n });
  assert.deepEqual(fields.ok, { tag: "boolean", val: true });
  assert.deepEqual(fields.s, { tag: "string", val: "x y" });
  // No timestamp: now, truncated to the precision.
  assert.equal(r.points[2].timeNs, 1700000000000000000n);
  assert.match(r.lineProtocol, /^cpu,host=a /);
  assert.match(r.lineProtocol, /mem f=1i 1700000000000000000\n$/);
});

test("parse-write: gzip, per-line errors, v1 and v2 responses", () => {
  const body = gzipSync("m v=1 1\nm v= 2\nm v=3 3\nm v=\"s\" 4\n");
  const v1 = core.write.parseWrite(
    writeReq({ api: "v1", query: "db=d&rp=week", body, headers: [["Content-Encoding", "gzip"]] }),
  );
  assert.equal(v1.database, "d/week");
  assert.equal(v1.accepted, 2);
  assert.equal(v1.rejected, 2);
  assert.deepEqual(
    v1.errors.map((e) => e.line),
    [2, 4],
  );
  assert.equal(v1.response.status, 201);
  assert.match(JSON.parse(dec.decode(v1.response.body)).message, /partial write/);
  const v2 = core.write.parseWrite(writeReq({ body, headers: [["content-encoding", "gzip"]] }));
  assert.equal(v2.response.status, 400);
  assert.equal(JSON.parse(dec.decode(v2.response.body)).line, 2);
  // Nothing valid: no points, every line listed, the 400.
  const none = core.write.parseWrite(writeReq({ body: enc.encode("bad\nworse line\n") }));
  assert.equal(none.accepted, 0);
  assert.equal(none.rejected, 2);
  assert.equal(none.errors[0].line, 1);
  assert.equal(none.response.status, 400);
  // Bad parameters and limits.
  const noBucket = core.write.parseWrite(writeReq({ query: "", body: enc.encode("m v=1") }));
  assert.equal(noBucket.response.status, 400);
  assert.match(dec.decode(noBucket.response.body), /missing bucket value/);
  const big = core.write.parseWrite(writeReq({ body: enc.encode("m v=1\n".repeat(100)), maxBodyBytes: 64n }));
  assert.equal(big.response.status, 413);
});

test("gateway.handle: auth, routing and the write effect", () => {
  const config = { tokensJson: undefined, adminToken: "t", withoutAuth: false, maxBodyBytes: undefined };
  const req = (over) => ({ method: "POST", path: "/api/v2/write", query: "bucket=b", headers: [], body: enc.encode("m v=1 5"), ...over });
  const unauth = core.gateway.handle(config, req(), 0n);
  assert.equal(unauth.tag, "respond");
  assert.equal(unauth.val.status, 401);
  const ok = core.gateway.handle(config, req({ headers: [["Authorization", "Token t"]] }), 0n);
  assert.equal(ok.tag, "write");
  assert.equal(ok.val.database, "b");
  assert.equal(ok.val.accepted, 1);
  assert.equal(dec.decode(ok.val.arrowEnvelope.slice(0, 4)), "IGW1");
  assert.equal(ok.val.lineProtocol, "m v=1.0 5\n");
  assert.equal(ok.val.response.status, 204);
  const ping = core.gateway.handle(config, req({ method: "GET", path: "/ping", body: new Uint8Array() }), 0n);
  assert.equal(ping.val.status, 204);
  assert.ok(ping.val.headers.some(([k]) => k === "X-Influxdb-Version"));
  const reader = JSON.stringify({ tokens: [{ name: "r", token: "r", permissions: [{ access: "read", database: "*" }] }] });
  const forbidden = core.gateway.handle({ ...config, tokensJson: reader }, req({ headers: [["Authorization", "Bearer r"]] }), 0n);
  assert.equal(forbidden.val.status, 403);
  assert.throws(() => core.gateway.handle({ ...config, tokensJson: "{" }, req(), 0n), (e) => /tokens-json/.test(e.payload));
});

test("influxql.parse: canonical statements, positioned errors", () => {
  assert.deepEqual(core.influxql.parse("select  mean(usage) from cpu where host='a' group by time(1m); show databases"), [
    "SELECT mean(usage) FROM cpu WHERE host = 'a' GROUP BY time(1m)",
    "SHOW DATABASES",
  ]);
  assert.throws(
    () => core.influxql.parse("SELECT x FROMM cpu"),
    (e) => e.payload.line === 1 && e.payload.column === 10 && /FROMM/.test(e.payload.message),
  );
});

test("influxql.translate and render-v1: SQL with a shaping plan, schema answers, rendering", () => {
  const schema = JSON.stringify({ cpu: { tags: ["host"], fields: { usage: "float" } } });
  const now = 1700000000000000000n;
  const out = core.influxql.translate(
    "SELECT mean(usage) FROM cpu WHERE time > now() - 1h GROUP BY time(10m), host; SHOW MEASUREMENTS; SELECT nope(usage) FROM cpu",
    "telegraf",
    undefined,
    now,
    schema,
  );
  assert.equal(out.length, 3);
  assert.match(out[0].statement, /^SELECT mean\(usage\) FROM cpu/);
  assert.equal(out[0].translation.tag, "ok");
  assert.equal(out[0].translation.val.tag, "sql");
  const [q] = out[0].translation.val.val;
  assert.match(q.sql, /"telegraf"\."cpu"/);
  const plan = JSON.parse(q.planJson);
  assert.equal(plan.name, "cpu");
  assert.deepEqual(plan.tags, ["host"]);
  assert.equal(out[1].translation.val.tag, "answer");
  const answer = out[1].translation.val.val;
  assert.equal(answer[0].name, "measurements");
  assert.deepEqual(answer[0].values, [[{ tag: "string", val: "cpu" }]]);
  assert.equal(out[2].translation.tag, "err");
  assert.throws(() => core.influxql.translate("SELECT", "db", undefined, now, schema), (e) => e.payload.line === 1);

  const resp = core.influxql.renderV1(
    [{ tag: "answer", val: answer }, { tag: "error", val: "boom" }, { tag: "rows", val: [] }],
    "json",
    undefined,
    false,
  );
  assert.equal(resp.status, 200);
  const doc = JSON.parse(dec.decode(resp.body));
  assert.deepEqual(doc.results[0], { statement_id: 0, series: [{ name: "measurements", columns: ["name"], values: [["cpu"]] }] });
  assert.deepEqual(doc.results[1], { statement_id: 1, error: "boom" });
  const csv = core.influxql.renderV1([{ tag: "answer", val: answer }], "csv", undefined, false);
  assert.match(dec.decode(csv.body), /^name,tags,name\r?\nmeasurements,,cpu/);
  const bad = core.influxql.renderV1(
    [{ tag: "rows", val: [{ planJson: q.planJson, arrowIpc: new Uint8Array([1, 2, 3]) }] }],
    "json",
    "ms",
    false,
  );
  assert.match(JSON.parse(dec.decode(bad.body)).results[0].error, /Arrow IPC/);
});

test("wasmtime run --invoke calls the same exports", () => {
  const run = (call) =>
    execFileSync(WASMTIME, ["run", "-O", "pooling-allocator=n", "--invoke", call, COMPONENT], { encoding: "utf8" }).trim();
  assert.equal(run(`parse("show measurements")`), `ok(["SHOW MEASUREMENTS"])`);
  assert.match(run(`parse("SELECT")`), /^err\(\{message: ".*", line: 1, column: 7\}\)$/);
  const body = [...enc.encode("m,t=a v=1 2\nbad")].join(", ");
  const out = run(
    `parse-write({api: v1, query: "db=x", headers: [], body: [${body}], now-ns: 0, max-body-bytes: none})`,
  );
  assert.match(out, /database: "x"/);
  assert.match(out, /accepted: 1, rejected: 1/);
  assert.match(out, /line-protocol: "m,t=a v=1.0 2\\n"/);
  assert.match(out, /status: 201/);
});
