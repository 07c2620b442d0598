// The Cloudflare Worker (crates/host-worker, built by ./build.sh) under miniflare, with real HTTP:
// writes of every kind, auth, limits, both upstream kinds (a recording fake and, when the binary
// is there, a real `influxgate serve`), upstream failures, and mode r2 (Parquet read back).
//
//   tests/worker/build.sh && node --test tests/worker/
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { createHash } from "node:crypto";
import { gzipSync, gunzipSync } from "node:zlib";
import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { parquetMetadata, parquetReadObjects, parquetSchema } from "hyparquet";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const script = join(root, "crates/host-worker/build/index.js");
// Queries at the edge need the core's Action::Query (the build enables them when it is there).
const coreHasQueries = readFileSync(join(root, "src/handler.rs"), "utf8").includes("Query(QueryPlan)");
const TOKEN = "edge-secret";
const READER = "reader-secret";
const UPTOKEN = "upstream-secret";
const sha256 = (s) => createHash("sha256").update(s).digest("hex");
const TOKENS = JSON.stringify({
  tokens: [
    { name: "reader", sha256: sha256(READER), permissions: [{ access: "read", database: "*" }] },
    { name: "mydb-writer", token: "mydb-only", permissions: [{ access: "write", database: "mydb" }] },
  ],
});

async function worker(bindings) {
  const mf = new Miniflare({
    modules: true,
    scriptPath: script,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    compatibilityDate: "2026-04-01",
    r2Buckets: ["DATA"],
    r2Persist: false,
    cf: false,
    host: "127.0.0.1",
    port: 0,
    bindings: {
      INFLUXGATE_TOKEN: `sha256:${sha256(TOKEN)}`,
      INFLUXGATE_TOKENS: TOKENS,
      MAX_BODY_BYTES: String(1024 * 1024),
      ...bindings,
    },
  });
  const url = await mf.ready;
  return { mf, url: url.toString().replace(/\/$/, "") };
}

/** A fake upstream recording requests; `reply(req, body)` returns [status, body] or null (hang). */
async function fakeUpstream(reply = () => [204, ""]) {
  const seen = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method, url: req.url, headers: req.headers, body });
      const r = reply(req, body);
      if (!r) return; // never answer: a timeout
      res.writeHead(r[0], { "content-type": "application/json" });
      res.end(r[1]);
    });
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  return { seen, url: `http://127.0.0.1:${server.address().port}`, close: () => server.closeAllConnections() || server.close() };
}

const auth = { Authorization: `Token ${TOKEN}` };
async function post(base, path, body, headers = auth) {
  const r = await fetch(base + path, { method: "POST", headers, body });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch {}
  return { status: r.status, headers: r.headers, text, json };
}

/** Arrow envelope: magic, then (u32 name len, name, u32 ipc len, ipc) per table. */
function envelopeTables(buf) {
  assert.equal(buf.subarray(0, 4).toString(), "IGW1");
  const names = [];
  let pos = 4;
  while (pos < buf.length) {
    const n = buf.readUInt32LE(pos); pos += 4;
    names.push(buf.subarray(pos, pos + n).toString()); pos += n;
    const ipc = buf.readUInt32LE(pos); pos += 4 + ipc;
  }
  assert.equal(pos, buf.length);
  return names;
}

describe("upstream mode, influxgate kind (recording fake upstream)", () => {
  let w, up, status = 204, message = "";
  before(async () => {
    up = await fakeUpstream(() => [status, message]);
    w = await worker({ MODE: "upstream", UPSTREAM_URL: up.url, UPSTREAM_KIND: "influxgate", UPSTREAM_TOKEN: UPTOKEN });
  });
  after(async () => { await w.mf.dispose(); up.close(); });

  test("ping, head ping and health at the edge, without a token", async () => {
    let r = await fetch(w.url + "/ping");
    assert.equal(r.status, 204);
    assert.ok(r.headers.get("x-influxdb-version"));
    assert.equal(r.headers.get("x-influxdb-build"), "influxgate-worker");
    r = await fetch(w.url + "/ping", { method: "HEAD" });
    assert.equal(r.status, 204);
    r = await fetch(w.url + "/health");
    assert.equal(r.status, 200);
    assert.equal((await r.json()).status, "pass");
    assert.equal(up.seen.length, 0);
  });

  test("v1 plain write is forwarded as an Arrow envelope, 204 after the upstream's 2xx", async () => {
    const r = await post(w.url, "/write?db=mydb&precision=s", "cpu,host=a usage=1.5 1700000000\nmem free=3i 1700000000\n");
    assert.equal(r.status, 204, r.text);
    const got = up.seen.at(-1);
    assert.equal(got.url, "/api/v3/internal/write_arrow?db=mydb");
    assert.equal(got.headers.authorization, `Token ${UPTOKEN}`);
    assert.equal(got.headers["content-type"], "application/vnd.influxgate.arrow-envelope");
    assert.deepEqual(envelopeTables(got.body).sort(), ["cpu", "mem"]);
  });

  test("v2 gzip write, v1 rp maps to db/rp", async () => {
    let r = await post(w.url, "/api/v2/write?bucket=b2&org=o&precision=ms", gzipSync("cpu v=1 1700000000000\n"),
      { ...auth, "Content-Encoding": "gzip" });
    assert.equal(r.status, 204, r.text);
    assert.equal(up.seen.at(-1).url, "/api/v3/internal/write_arrow?db=b2");
    r = await post(w.url, "/write?db=mydb&rp=week", "cpu v=1\n");
    assert.equal(r.status, 204, r.text);
    assert.equal(up.seen.at(-1).url, "/api/v3/internal/write_arrow?db=mydb%2Fweek");
  });

  test("every auth scheme; bad, missing and malformed credentials; permissions", async () => {
    const lp = "cpu v=1\n";
    const basic = "Basic " + Buffer.from(`user:${TOKEN}`).toString("base64");
    for (const h of [{ Authorization: `Token ${TOKEN}` }, { Authorization: `Bearer ${TOKEN}` }, { Authorization: basic }]) {
      assert.equal((await post(w.url, "/api/v2/write?bucket=mydb", lp, h)).status, 204, JSON.stringify(h));
    }
    assert.equal((await post(w.url, `/write?db=mydb&u=x&p=${TOKEN}`, lp, {})).status, 204);
    // ?p= is a v1 thing only
    assert.equal((await post(w.url, `/api/v2/write?bucket=mydb&p=${TOKEN}`, lp, {})).status, 401);
    const n = up.seen.length;
    let r = await post(w.url, "/write?db=mydb", lp, { Authorization: "Token nope" });
    assert.equal(r.status, 401);
    assert.equal(r.json.code, "unauthorized");
    assert.equal((await post(w.url, "/write?db=mydb", lp, {})).status, 401);
    r = await post(w.url, "/write?db=mydb", lp, { Authorization: "Digest abc" });
    assert.equal(r.status, 400);
    assert.match(r.json.message, /malformed Authorization/);
    // hashed token from INFLUXGATE_TOKENS, read-only: 403 on write
    r = await post(w.url, "/write?db=mydb", lp, { Authorization: `Token ${READER}` });
    assert.equal(r.status, 403);
    assert.equal(r.json.code, "forbidden");
    // a clear token limited to mydb
    assert.equal((await post(w.url, "/write?db=mydb", lp, { Authorization: "Token mydb-only" })).status, 204);
    assert.equal((await post(w.url, "/write?db=other", lp, { Authorization: "Token mydb-only" })).status, 403);
    assert.equal(up.seen.length, n + 1, "only the authorised write went upstream");
  });

  test("bad parameters, empty and non-UTF-8 bodies are the core's 400s", async () => {
    const n = up.seen.length;
    let r = await post(w.url, "/write", "cpu v=1\n");
    assert.equal(r.status, 400);
    r = await post(w.url, "/api/v2/write?org=o", "cpu v=1\n");
    assert.equal(r.status, 400);
    assert.equal(r.json.message, "missing bucket value");
    r = await post(w.url, "/api/v2/write?bucket=b&precision=x", "cpu v=1\n");
    assert.equal(r.status, 400);
    assert.match(r.json.message, /unknown variant `x`/);
    assert.equal((await post(w.url, "/write?db=b", "")).status, 400);
    assert.equal((await post(w.url, "/write?db=b", Buffer.from([0x63, 0xff, 0x20]))).status, 400);
    assert.equal((await post(w.url, "/write?db=b", "x", { ...auth, "Content-Encoding": "br" })).status, 400);
    assert.equal((await fetch(w.url + "/nope")).status, 404);
    assert.equal((await fetch(w.url + "/write?db=b", { headers: auth })).status, 405);
    assert.equal(up.seen.length, n);
  });

  test("body limits: a raw body over the limit and a gzip bomb get 413", async () => {
    const n = up.seen.length;
    let r = await post(w.url, "/write?db=b", "cpu v=1\n".repeat(200_000));
    assert.equal(r.status, 413);
    assert.equal(r.json.code, "request too large");
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, "a"), { level: 9 });
    assert.ok(bomb.length < 100_000);
    r = await post(w.url, "/write?db=b", bomb, { ...auth, "Content-Encoding": "gzip" });
    assert.equal(r.status, 413);
    assert.match(r.json.message, /after decompression/);
    assert.equal(up.seen.length, n);
  });

  test("mixed good and bad lines: v1 201 with the rejects, v2 400 partial; good lines forwarded", async () => {
    const body = "cpu v=1 1\ncpu v= 2\ncpu v=3 3\n";
    let r = await post(w.url, "/write?db=mydb", body);
    assert.equal(r.status, 201, r.text);
    assert.match(r.json.message, /partial write/);
    assert.match(r.json.message, /line 2/);
    assert.deepEqual(envelopeTables(up.seen.at(-1).body), ["cpu"]);
    r = await post(w.url, "/api/v2/write?bucket=mydb", body);
    assert.equal(r.status, 400);
    assert.equal(r.json.line, 2);
    assert.match(r.json.message, /partial write/);
    // nothing valid: nothing forwarded
    const n = up.seen.length;
    r = await post(w.url, "/write?db=mydb", "cpu v=\n");
    assert.equal(r.status, 400);
    assert.equal(up.seen.length, n);
  });

  test("upstream 4xx is the client's error, 5xx is 503 + Retry-After", async () => {
    status = 400;
    message = JSON.stringify({ code: "invalid", message: "column conflict: \"v\" is float" });
    let r = await post(w.url, "/write?db=mydb", "cpu v=1i\n");
    assert.equal(r.status, 400);
    assert.equal(r.json.code, "invalid");
    assert.match(r.json.message, /upstream rejected the write: column conflict: "v" is float/);
    assert.ok(r.headers.get("x-influxdb-version"));
    status = 403;
    message = JSON.stringify({ code: "forbidden", message: "token does not have write permission" });
    r = await post(w.url, "/write?db=mydb", "cpu v=1\n");
    assert.equal(r.status, 403);
    assert.equal(r.json.code, "forbidden");
    for (const s of [500, 503, 429]) {
      status = s;
      message = JSON.stringify({ code: "internal error", message: "disk full" });
      r = await post(w.url, "/write?db=mydb", "cpu v=1\n");
      assert.equal(r.status, 503, `upstream ${s}`);
      assert.equal(r.headers.get("retry-after"), "5");
      assert.equal(r.json.code, "unavailable");
      assert.match(r.json.message, /disk full/);
    }
    status = 204;
    message = "";
  });
});

describe("upstream mode, influxdb kind: gzip line protocol at ns", () => {
  let w, up;
  before(async () => {
    up = await fakeUpstream(() => [204, ""]);
    w = await worker({ MODE: "upstream", UPSTREAM_URL: up.url + "/", UPSTREAM_KIND: "influxdb", UPSTREAM_TOKEN: UPTOKEN });
  });
  after(async () => { await w.mf.dispose(); up.close(); });

  test("normalised line protocol reaches /api/v2/write", async () => {
    const r = await post(w.url, "/write?db=my-db&rp=r1&precision=s",
      'cpu,host=a\\ b usage=1.5,n=-3i,ok=true,msg="hi" 1700000000\nmem free=3u 1700000001\n');
    assert.equal(r.status, 204, r.text);
    const got = up.seen.at(-1);
    assert.equal(got.url, "/api/v2/write?bucket=my-db%2Fr1&precision=ns");
    assert.equal(got.headers["content-encoding"], "gzip");
    assert.equal(got.headers.authorization, `Token ${UPTOKEN}`);
    const lp = gunzipSync(got.body).toString().trim().split("\n").sort();
    assert.equal(lp.length, 2);
    assert.match(lp[0], /^cpu,host=a\\ b .*usage=1\.5.* 1700000000000000000$/);
    assert.match(lp[0], /n=-3i/);
    assert.match(lp[0], /msg="hi"/);
    assert.equal(lp[1], "mem free=3u 1700000001000000000");
  });
});

describe("upstream unreachable or slow: 503 + Retry-After, never a 2xx", () => {
  test("connection refused", async () => {
    const up = await fakeUpstream();
    const dead = up.url;
    up.close();
    const w = await worker({ MODE: "upstream", UPSTREAM_URL: dead, RETRY_AFTER_SECS: "7" });
    try {
      const r = await post(w.url, "/write?db=mydb", "cpu v=1\n");
      assert.equal(r.status, 503, r.text);
      assert.equal(r.headers.get("retry-after"), "7");
      assert.equal(r.json.code, "unavailable");
      if (coreHasQueries) {
        // SQL always goes upstream (InfluxQL on an unknown measurement is answered at the edge)
        const q = await fetch(w.url + "/api/v3/query_sql?db=mydb&q=SELECT+1", { headers: auth });
        assert.equal(q.status, 503);
        assert.equal(q.headers.get("retry-after"), "7");
      }
    } finally { await w.mf.dispose(); }
  });

  test("timeout", async () => {
    const up = await fakeUpstream(() => null);
    const w = await worker({ MODE: "upstream", UPSTREAM_URL: up.url, UPSTREAM_TIMEOUT_MS: "300" });
    try {
      const t0 = Date.now();
      const r = await post(w.url, "/api/v2/write?bucket=mydb", "cpu v=1\n");
      assert.equal(r.status, 503, r.text);
      assert.equal(r.headers.get("retry-after"), "5");
      assert.match(r.json.message, /timed out/);
      assert.ok(Date.now() - t0 < 5000);
    } finally { await w.mf.dispose(); up.close(); }
  });

  test("a configuration error is a clear 500, not a silent accept", async () => {
    const w = await worker({ MODE: "upstream" });
    try {
      const r = await post(w.url, "/write?db=mydb", "cpu v=1\n");
      assert.equal(r.status, 500);
      assert.match(r.json.message, /UPSTREAM_URL/);
    } finally { await w.mf.dispose(); }
  });
});

async function listAll(bucket, prefix = "") {
  const out = [];
  let cursor;
  do {
    const page = await bucket.list({ prefix, cursor });
    out.push(...page.objects);
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return out;
}

async function objectBytes(bucket, key) {
  const obj = await bucket.get(key);
  return new Uint8Array(await obj.arrayBuffer());
}

describe("r2 mode: Parquet objects in the native layout", () => {
  let w, bucket;
  before(async () => {
    w = await worker({ MODE: "r2" });
    bucket = await w.mf.getR2Bucket("DATA");
  });
  after(async () => { await w.mf.dispose(); });

  test("a write split over two UTC days gives one file per table and day, and the catalog", async () => {
    const day1 = 1704067199; // 2023-12-31T23:59:59Z
    const body = [
      `cpu,host=a,region=eu usage=1.5,n=2i ${day1}`,
      `cpu,host=b usage=2.5,n=3i ${day1 + 2}`, // 2024-01-01
      `cpu,host=c usage=3.5 ${day1 + 3}`,
      `mem,host=a free=10u,ok=true,msg="x" ${day1 + 2}`,
    ].join("\n");
    const r = await post(w.url, "/write?db=mydb&rp=week&precision=s", body);
    assert.equal(r.status, 204, r.text);
    const objs = await listAll(bucket);
    const keys = objs.map((o) => o.key).sort();
    assert.equal(keys.length, 4, keys.join("\n"));
    assert.equal(keys[0], "_catalog.json");
    const re = /^mydb%2Fweek\/(cpu|mem)\/(\d{4}-\d{2}-\d{2})\/(\d{20})-[0-9a-f]+\.parquet$/;
    for (const k of keys.slice(1)) assert.match(k, re);
    assert.deepEqual(keys.slice(1).map((k) => k.match(re).slice(1, 3).join("/")),
      ["cpu/2023-12-31", "cpu/2024-01-01", "mem/2024-01-01"]);

    const catalog = JSON.parse(new TextDecoder().decode(await objectBytes(bucket, "_catalog.json")));
    assert.deepEqual(catalog.databases["mydb/week"].tables.cpu.columns,
      { host: "tag", region: "tag", usage: { field: "float" }, n: { field: "integer" } });
    assert.deepEqual(catalog.databases["mydb/week"].tables.mem.columns.free, { field: "unsigned" });

    const cpu2 = await objectBytes(bucket, keys[2]);
    const buf = cpu2.buffer.slice(cpu2.byteOffset, cpu2.byteOffset + cpu2.byteLength);
    const meta = parquetMetadata(buf);
    assert.equal(Number(meta.num_rows), 2);
    assert.match(meta.created_by, /influxgate-worker/);
    const cols = parquetSchema(meta).children.map((c) => [c.element.name, c.element.type]);
    assert.deepEqual(cols.map((c) => c[0]).sort(), ["host", "n", "region", "time", "usage"]);
    assert.deepEqual(Object.fromEntries(cols), { host: "BYTE_ARRAY", region: "BYTE_ARRAY", usage: "DOUBLE", n: "INT64", time: "INT64" });
    const codecs = meta.row_groups[0].columns.map((c) => c.meta_data.codec);
    assert.ok(codecs.every((c) => c === "SNAPPY"), codecs.join());
    const rows = await parquetReadObjects({ file: buf });
    assert.deepEqual(rows.map((r) => [r.host, r.region ?? null, r.usage, r.n ?? null]),
      [["b", null, 2.5, 3n], ["c", null, 3.5, null]]);
    const t = rows.map((r) => (r.time instanceof Date ? BigInt(r.time.getTime()) * 1000000n : BigInt(r.time)));
    assert.deepEqual(t, [BigInt(day1 + 2) * 1000000000n, BigInt(day1 + 3) * 1000000000n]);
    // the Arrow schema travels in the file's metadata (dictionary tags, UTC timestamp)
    assert.ok(meta.key_value_metadata.some((kv) => kv.key === "ARROW:schema"));
  });

  test("a field keeps its first type across requests (catalog in R2 is the core's schema)", async () => {
    let r = await post(w.url, "/api/v2/write?bucket=typed", "m v=1 1\n");
    assert.equal(r.status, 204, r.text);
    r = await post(w.url, "/api/v2/write?bucket=typed", 'm v="s" 2\nm v=2 3\n');
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.line, 1);
    assert.match(r.json.message, /partial write/);
    const files = await listAll(bucket, "typed/m/");
    assert.equal(files.length, 2);
  });

  test("retries rewrite the same rows (deduplicated by the reader), seq increases", async () => {
    const before = (await listAll(bucket, "retry/")).length;
    for (let i = 0; i < 2; i++) assert.equal((await post(w.url, "/write?db=retry", "m v=1 5\n")).status, 204);
    const keys = (await listAll(bucket, "retry/")).map((o) => o.key).sort();
    assert.equal(keys.length, before + 2);
    const seqs = keys.map((k) => BigInt(k.split("/").at(-1).slice(0, 20)));
    assert.ok(seqs[1] > seqs[0]);
  });

  test("ping and auth still at the edge in r2 mode; queries are not served there", async () => {
    assert.equal((await fetch(w.url + "/ping")).status, 204);
    if (coreHasQueries) {
      const q = await fetch(w.url + "/query?db=mydb&q=SELECT+v+FROM+cpu", { headers: auth });
      assert.equal(q.status, 422);
    }
    assert.equal((await post(w.url, "/write?db=x", "m v=1\n", { Authorization: "Token no" })).status, 401);
  });
});

// ---- against a real `influxgate serve` (skipped when the binary is not built) ----

const bin = process.env.INFLUXGATE_BIN || join(root, "target/release/influxgate");
const haveBin = existsSync(bin);

async function freePort() {
  const s = createServer();
  await new Promise((ok) => s.listen(0, "127.0.0.1", ok));
  const p = s.address().port;
  await new Promise((ok) => s.close(ok));
  return p;
}

async function serve(dataDir) {
  const port = await freePort();
  const child = spawn(bin, ["serve", "--token", UPTOKEN, "--data-dir", dataDir, "--http-bind", `127.0.0.1:${port}`],
    { stdio: ["ignore", "inherit", "inherit"] });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try { if ((await fetch(url + "/ping")).status === 204) return { child, url }; } catch {}
    await new Promise((ok) => setTimeout(ok, 50));
  }
  child.kill("SIGKILL");
  throw new Error("influxgate serve did not start");
}

async function stop(child) {
  const done = new Promise((ok) => child.on("exit", ok));
  child.kill("SIGTERM");
  await done;
}

function exportJson(args) {
  return execFileSync(bin, ["export", ...args], { encoding: "utf8" }).trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

describe("against a real influxgate serve", { skip: haveBin ? false : `no influxgate binary at ${bin}` }, () => {
  test("writes through the Worker arrive in the native server (export)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ig-worker-up-"));
    const { child, url } = await serve(dir);
    const w = await worker({ MODE: "upstream", UPSTREAM_URL: url, UPSTREAM_TOKEN: UPTOKEN });
    try {
      let r = await post(w.url, "/write?db=edge&precision=s", "cpu,host=a usage=1.5,n=2i 1700000000\ncpu,host=b usage=2 1700000001\n");
      assert.equal(r.status, 204, r.text);
      r = await post(w.url, "/api/v2/write?bucket=edge", gzipSync("mem free=3u 1700000002000000000\n"), { ...auth, "Content-Encoding": "gzip" });
      assert.equal(r.status, 204, r.text);
      // a type conflict is rejected by the upstream's catalog and mapped to the client's 400
      r = await post(w.url, "/write?db=edge", "cpu usage=\"str\" 1700000003000000000\n");
      assert.equal(r.status, 400, r.text);
    } finally {
      await w.mf.dispose();
      await stop(child);
    }
    const points = exportJson(["--data-dir", dir, "--db", "edge"]);
    assert.equal(points.length, 3, JSON.stringify(points));
    rmSync(dir, { recursive: true, force: true });
  });

  test("queries through the Worker: SQL runs upstream, InfluxQL is translated and shaped at the edge",
    { skip: coreHasQueries ? false : "the core has no Action::Query yet" },
    async () => {
    const dir = mkdtempSync(join(tmpdir(), "ig-worker-q-"));
    const { child, url } = await serve(dir);
    const w = await worker({ MODE: "upstream", UPSTREAM_URL: url, UPSTREAM_TOKEN: UPTOKEN });
    try {
      let r = await post(w.url, "/write?db=edge&precision=s", "cpu,host=a usage=1.5,n=2i 1700000000\ncpu,host=b usage=2 1700000001\n");
      assert.equal(r.status, 204, r.text);
      let q = await fetch(w.url + "/api/v3/query_sql?db=edge&format=json&q=" + encodeURIComponent("SELECT usage FROM cpu ORDER BY time"), { headers: auth });
      assert.equal(q.status, 200, await q.clone().text());
      assert.deepEqual((await q.json()).map((row) => row.usage), [1.5, 2]);
      q = await fetch(w.url + "/query?db=edge&epoch=s&q=" + encodeURIComponent("SELECT usage, n FROM cpu"), { headers: auth });
      assert.equal(q.status, 200);
      const body = await q.json();
      assert.equal(body.results[0].series?.[0]?.name, "cpu", JSON.stringify(body));
      assert.deepEqual(body.results[0].series[0].values, [[1700000000, 1.5, 2], [1700000001, 2, null]]);
      // Statements that need the upstream's schema: wildcard, SHOW, GROUP BY a tag.
      q = await fetch(w.url + "/query?db=edge&epoch=s&q=" + encodeURIComponent(
        "SELECT * FROM cpu; SHOW MEASUREMENTS; SELECT max(usage) FROM cpu GROUP BY host; SHOW TAG VALUES WITH KEY = host"), { headers: auth });
      const text = await q.text();
      assert.equal(q.status, 200, text);
      const [star, ms, byHost, tagValues] = JSON.parse(text).results;
      assert.deepEqual(star.series[0].columns, ["time", "host", "n", "usage"], text);
      assert.deepEqual(star.series[0].values, [[1700000000, "a", 2, 1.5], [1700000001, "b", null, 2]]);
      assert.deepEqual(ms.series[0].values, [["cpu"]]);
      assert.deepEqual(byHost.series.map((s) => [s.tags.host, s.values[0][1]]), [["a", 1.5], ["b", 2]]);
      assert.deepEqual(tagValues.series[0].values, [["host", "a"], ["host", "b"]]);
      // A bad token is refused at the edge, before any upstream call.
      q = await fetch(w.url + "/query?db=edge&q=SHOW+MEASUREMENTS", { headers: { Authorization: "Token no" } });
      assert.equal(q.status, 401);
    } finally {
      await w.mf.dispose();
      await stop(child);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the native server is down: 503", async () => {
    const w = await worker({ MODE: "upstream", UPSTREAM_URL: `http://127.0.0.1:${await freePort()}` });
    try {
      const r = await post(w.url, "/write?db=edge", "cpu v=1\n");
      assert.equal(r.status, 503);
      assert.ok(r.headers.get("retry-after"));
    } finally { await w.mf.dispose(); }
  });

  test("the native storage reads an R2 bucket written by the Worker", async () => {
    const w = await worker({ MODE: "r2" });
    const store = mkdtempSync(join(tmpdir(), "ig-worker-r2-"));
    const data = mkdtempSync(join(tmpdir(), "ig-worker-r2data-"));
    try {
      const r = await post(w.url, "/write?db=r2db&precision=s", "cpu,host=a usage=1.5 1700000000\ncpu,host=b usage=2 1700086400\n");
      assert.equal(r.status, 204, r.text);
      const bucket = await w.mf.getR2Bucket("DATA");
      for (const o of await listAll(bucket)) {
        const path = join(store, o.key);
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(path, await objectBytes(bucket, o.key));
      }
    } finally { await w.mf.dispose(); }
    const points = exportJson(["--data-dir", data, "--object-store", `file://${store}`, "--db", "r2db"]);
    assert.equal(points.length, 2, JSON.stringify(points));
  });
});

// The CPU cost of a 1,000-line write is measured by ./cpu.mjs (reported in BENCHMARKS.md).
