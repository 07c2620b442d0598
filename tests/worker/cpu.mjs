// CPU cost of a 1,000-line write inside the Worker, measured locally: the built Worker runs in
// miniflare's workerd, and the CPU time of the workerd process (/proc/<pid>/stat utime+stime) is
// read around 200 writes, 200 /ping requests and 200 POSTs of the same body to a 404 path; the
// differences per request are what the write adds (the Worker's wasm + JS glue, the upstream
// fetch; for r2 also miniflare's R2 simulator, which runs in the same process). The fake upstream
// runs in this Node process and is not counted.
//
//   node tests/worker/cpu.mjs            (after tests/worker/build.sh; WORKER_BUILD=<dir> for another build)
import { readFileSync, readdirSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const N = Number(process.env.N || 200);
const TICK_MS = 1000 / 100; // USER_HZ

function workerdPids() {
  return readdirSync("/proc").filter((p) => /^\d+$/.test(p)).filter((p) => {
    try { return readFileSync(`/proc/${p}/comm`, "utf8").trim() === "workerd"; } catch { return false; }
  });
}
function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]); // utime + stime
}

const up = createServer((req, res) => { req.resume(); req.on("end", () => { res.writeHead(204); res.end(); }); });
await new Promise((ok) => up.listen(0, "127.0.0.1", ok));
const upUrl = `http://127.0.0.1:${up.address().port}`;

const lines = Array.from({ length: 1000 }, (_, i) =>
  `cpu,host=h${i % 50},region=r${i % 4} usage=${(i * 1.37).toFixed(2)},idle=${i % 100}i,ok=${i % 2 === 0} ${1700000000000000000n + BigInt(i) * 1000000000n}`).join("\n");
const build = resolve(process.env.WORKER_BUILD || join(root, "crates/host-worker/build"));
const results = {};
for (const [name, bindings] of [
  ["upstream, influxgate kind (Arrow envelope)", { MODE: "upstream", UPSTREAM_URL: upUrl }],
  ["upstream, influxdb kind (gzip line protocol)", { MODE: "upstream", UPSTREAM_URL: upUrl, UPSTREAM_KIND: "influxdb" }],
  ["r2 (Parquet, in-memory R2 simulator)", { MODE: "r2" }],
]) {
  if (process.env.SKIP_R2 && bindings.MODE === "r2") continue; // an upstream-only build
  const before = new Set(workerdPids());
  const mf = new Miniflare({
    modules: true, modulesRoot: build, scriptPath: join(build, "index.js"),
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    compatibilityDate: "2026-04-01", r2Buckets: ["DATA"], r2Persist: false, cf: false,
    bindings: { INFLUXGATE_TOKEN: "t", ...bindings },
  });
  const url = (await mf.ready).toString().replace(/\/$/, "");
  const pids = workerdPids().filter((p) => !before.has(p));
  const ticks = () => pids.reduce((a, p) => a + cpuTicks(p), 0);
  const write = async () => {
    const r = await fetch(url + "/write?db=bench", { method: "POST", headers: { Authorization: "Token t" }, body: lines });
    await r.arrayBuffer();
    if (r.status !== 204) throw new Error(`${name}: ${r.status}`);
  };
  const ping = async () => { await (await fetch(url + "/ping")).arrayBuffer(); };
  // same body, same read, answered 404 by the core: the cost of moving the body in and out
  const nope = async () => { await (await fetch(url + "/nope", { method: "POST", headers: { Authorization: "Token t" }, body: lines })).arrayBuffer(); };
  for (let i = 0; i < 20; i++) { await write(); await ping(); }
  const measure = async (fn) => {
    const t0 = ticks(), w0 = performance.now();
    for (let i = 0; i < N; i++) await fn();
    return { cpu: ((ticks() - t0) * TICK_MS) / N, wall: (performance.now() - w0) / N };
  };
  const p = await measure(ping);
  const b = await measure(nope);
  const w = await measure(write);
  results[name] = {
    write_cpu_ms: +w.cpu.toFixed(2), ping_cpu_ms: +p.cpu.toFixed(2),
    body_404_cpu_ms: +b.cpu.toFixed(2), added_over_ping_ms: +(w.cpu - p.cpu).toFixed(2),
    added_over_body_404_ms: +(w.cpu - b.cpu).toFixed(2), write_wall_ms: +w.wall.toFixed(2),
  };
  await mf.dispose();
}
up.close();
console.log(JSON.stringify(results, null, 1));
