// influxgate playground: the page's glue around the core's wasm exports (www/pkg, built by
// tests/browser/build.sh). All parsing, validation and translation happen in the core; this file
// only renders what it answers and, in the Send panel, talks to a real server.
import init, { check_write, translate, version } from "./pkg/influxgate_browser.js";

const $ = (id) => document.getElementById(id);
const timing = { start: performance.now() };
// Read by tests and by curious people: load → ready timings in ms since navigation start.
window.playground = { timing, ready: false };

function debounce(fn, ms) {
  let t;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function setBadge(node, status, label) {
  node.textContent = label ?? String(status);
  const cls = status === 201 ? "s201" : `s${String(status)[0]}`;
  node.className = `badge ${cls}`;
}

function prettyBody(text) {
  if (!text) return "";
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

// Calls into the core; a trap (a bug in the core) is shown, never swallowed.
function core(fn, ...args) {
  try {
    return JSON.parse(fn(...args));
  } catch (e) {
    $("status").textContent = `The core failed: ${e}. Reload the page.`;
    $("status").className = "status failed";
    throw e;
  }
}

// ---------------------------------------------------------------- 1. line protocol

const lp = {
  body: $("lp-body"),
  api: $("lp-api"),
  precision: $("lp-precision"),
  db: $("lp-db"),
  backdrop: $("lp-backdrop"),
};
let lastWrite = null;

function checkWrite() {
  const r = core(check_write, lp.body.value, lp.api.value, lp.precision.value, lp.db.value, Date.now());
  lastWrite = r;
  renderWrite(r);
  return r;
}

function renderWrite(r) {
  const res = r.response;
  setBadge($("lp-status"), res.status);
  $("lp-request").textContent = `${r.request.method} ${r.request.path}?${r.request.query}`;
  $("lp-response").textContent = res.status === 204 ? "(204 No Content: empty body)" : prettyBody(res.body);
  const n = (k, one, many) => `${k} ${k === 1 ? one : many}`;
  $("lp-summary").textContent =
    `${n(r.accepted, "point", "points")} accepted, ${n(r.rejected_count, "line", "lines")} rejected → HTTP ${res.status}`;

  // Rejected lines: table rows and marks in the editor's backdrop.
  const bad = new Map(r.rejected.map((x) => [x.line, x]));
  const rbody = $("lp-rejected").tBodies[0];
  rbody.replaceChildren(
    ...r.rejected.map((x) =>
      el(
        "tr",
        { "data-line": x.line },
        el("td", {}, el("button", {
          type: "button",
          class: "link",
          "aria-label": `Line ${x.line}: select it in the editor`,
          text: String(x.line),
          onclick: () => selectLine(x.line),
        })),
        el("td", { text: x.column == null ? "" : String(x.column) }),
        el("td", { class: "msg", text: x.message }),
        el("td", { text: x.text }),
      ),
    ),
  );
  $("lp-rejected-wrap").hidden = r.rejected.length === 0;
  renderBackdrop(bad);

  const abody = $("lp-accepted").tBodies[0];
  abody.replaceChildren(
    ...r.points.map((p) =>
      el(
        "tr",
        {},
        el("td", { text: p.measurement }),
        el("td", {}, ...p.tags.map(([k, v], i) => el("span", { class: "kv", text: `${i ? ", " : ""}${k}=${v}` }))),
        el(
          "td",
          {},
          ...p.fields.map((f, i) =>
            el("span", { class: "kv" }, `${i ? ", " : ""}${f.name}=${f.value} `, el("span", { class: "type", text: f.type })),
          ),
        ),
        el("td", { text: p.time_ns }),
        el("td", { text: p.time }),
      ),
    ),
  );
  $("lp-accepted-wrap").hidden = r.points.length === 0;
  const trunc = $("lp-truncated");
  trunc.hidden = !r.points_truncated;
  trunc.textContent = r.points_truncated ? `Showing the first ${r.points.length} of ${r.accepted} points.` : "";
}

function renderBackdrop(bad) {
  const lines = lp.body.value.split("\n");
  lp.backdrop.replaceChildren(
    ...lines.map((text, i) => {
      const x = bad.get(i + 1);
      const span = el("span", x ? { class: "bad", title: x.message } : {}, text || " ");
      return i < lines.length - 1 ? [span, "\n"] : [span];
    }).flat(),
  );
  syncScroll();
}

function syncScroll() {
  lp.backdrop.scrollTop = lp.body.scrollTop;
  lp.backdrop.scrollLeft = lp.body.scrollLeft;
}

function selectLine(n) {
  const lines = lp.body.value.split("\n");
  let start = 0;
  for (let i = 0; i < n - 1 && i < lines.length; i++) start += lines[i].length + 1;
  const end = start + (lines[n - 1] ?? "").length;
  lp.body.focus();
  lp.body.setSelectionRange(start, end);
}

// ---------------------------------------------------------------- 2. InfluxQL

const ql = { query: $("ql-query"), db: $("ql-db"), rp: $("ql-rp"), schema: $("ql-schema") };

function runTranslate() {
  const r = core(translate, ql.query.value, ql.db.value, ql.rp.value, ql.schema.value, Date.now());
  renderTranslate(r);
  return r;
}

function renderTranslate(r) {
  const out = $("ql-output");
  const errBox = $("ql-error");
  if (!r.ok) {
    errBox.hidden = false;
    // Parse errors already name their position, InfluxDB-style (`at line 1, char 14`).
    const where = r.line != null && !/ at line \d+/.test(r.error) ? ` (line ${r.line}, column ${r.column})` : "";
    $("ql-error-msg").textContent = `${stageName(r.stage)}: ${r.error}${where}`;
    const q = $("ql-error-query");
    if (r.offset_utf16 != null) {
      const text = ql.query.value;
      const at = r.offset_utf16;
      const len = Math.max(1, tokenLength(text, at));
      q.replaceChildren(
        text.slice(0, at),
        el("mark", { class: "err", title: r.error, text: text.slice(at, at + len) || " " }),
        text.slice(at + len),
      );
      q.hidden = false;
    } else {
      q.replaceChildren();
      q.hidden = true;
    }
    ql.query.setAttribute("aria-invalid", r.stage === "parse" ? "true" : "false");
  } else {
    errBox.hidden = true;
    ql.query.removeAttribute("aria-invalid");
  }
  out.replaceChildren(...(r.results ?? []).map(renderStatement));
  const nq = (r.results ?? []).reduce((n, s) => n + (s.queries?.length ?? 0), 0);
  $("ql-summary").textContent = r.ok
    ? `${r.results.length} statement${r.results.length === 1 ? "" : "s"} → ${nq} SQL quer${nq === 1 ? "y" : "ies"}`
    : `${stageName(r.stage)}${r.line != null ? ` at line ${r.line}, column ${r.column}` : ""}`;
  if (!r.ok && r.statements?.length) {
    out.append(el("h3", { text: "Parsed as" }), el("pre", { class: "code", text: r.statements.join(";\n") }));
  }
}

function stageName(stage) {
  return { parse: "Parse error", schema: "Schema error", translate: "Cannot translate" }[stage] ?? "Error";
}

// The length of the token at `at`: a word, a quoted string, or one character.
function tokenLength(text, at) {
  const m = /^(?:"(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?|[\p{L}\p{N}_.]+|\S)/u.exec(text.slice(at));
  return m ? m[0].length : 0;
}

function renderStatement(s, i) {
  const box = el("div", { class: "stmt" }, el("h3", { text: `Statement ${i}: ` }, el("code", { text: s.statement })));
  if (s.answer) {
    box.append(
      el("p", { text: "Answered from the schema, no SQL needed:" }),
      el("pre", { class: "code", text: s.answer.length ? s.answer.join("\n") : "(empty result)" }),
    );
    return box;
  }
  if (!s.queries.length) box.append(el("p", { text: "No matching measurement: the result is empty." }));
  for (const q of s.queries) {
    box.append(el("p", { class: "hint", text: `SQL for series "${q.plan?.name ?? ""}"` }));
    box.append(el("pre", { class: "code sql", text: q.sql }));
    const steps = shapingSteps(q.plan ?? {}, q.range);
    if (steps.length) {
      box.append(el("p", { class: "hint", text: "Then the core shapes the rows:" }));
      box.append(el("ol", { class: "steps" }, ...steps.map((t) => el("li", { text: t }))));
    }
    if (q.plan_text) {
      box.append(el("details", {}, el("summary", { text: "Shaping plan as the core prints it" }), el("pre", { class: "code", text: q.plan_text })));
    }
  }
  return box;
}

const NS = { h: 3_600e9, m: 60e9, s: 1e9, ms: 1e6, us: 1e3, ns: 1 };
function duration(ns) {
  for (const [u, n] of Object.entries(NS)) if (ns % n === 0 && ns >= n) return `${ns / n}${u}`;
  return `${ns}ns`;
}

function shapingSteps(p, range) {
  const steps = [];
  if (range && (range[0] || range[1])) {
    steps.push(`time range [${range[0] ?? "−∞"}, ${range[1] ?? "+∞"}) (now() is the page's clock)`);
  }
  const tags = p.tags ?? [];
  steps.push(
    tags.length
      ? `group rows into one series per (${tags.join(", ")}) tag set, named "${p.name}"`
      : `collect the rows into one series named "${p.name}"`,
  );
  if (p.window) {
    const off = p.window.offset ? ` offset ${duration(p.window.offset)}` : "";
    const fill = typeof p.fill === "object" ? `fill(${Object.values(p.fill.value ?? p.fill)[0]})` : `fill(${p.fill})`;
    steps.push(`windows of ${duration(p.window.every)}${off} over the time range, empty windows ${fill}`);
  }
  for (const c of p.columns ?? []) {
    if (c.transform) {
      const { fn, non_negative: nonNeg, ...args } = c.transform;
      const list = Object.entries(args).map(([k, v]) => (k === "unit" ? `per ${duration(v)}` : `${k} ${v}`)).join(", ");
      const name = `${nonNeg ? "non-negative " : ""}${fn.replaceAll("_", " ")}`;
      steps.push(`column "${c.name}": ${name}${list ? ` (${list})` : ""} over each series`);
    }
    for (const op of c.post ?? []) steps.push(`column "${c.name}": ${op.op} ${op.value}`);
  }
  if (p.drop_null_rows) steps.push("drop rows where every value is null (aggregates over no points)");
  if (p.descending) steps.push("order each series by time, newest first");
  if (p.limit != null || p.offset != null) steps.push(`per series: offset ${p.offset ?? 0}, limit ${p.limit ?? "none"}`);
  if (p.slimit != null || p.soffset != null) steps.push(`series: soffset ${p.soffset ?? 0}, slimit ${p.slimit ?? "none"}`);
  if (p.tz) steps.push(`show times in ${p.tz}`);
  return steps;
}

// ---------------------------------------------------------------- 3. send

const send = { url: $("send-url"), token: $("send-token") };
send.url.value = location.origin && location.origin !== "null" ? location.origin : "http://127.0.0.1:8086";

async function doSend(kind) {
  const base = send.url.value.replace(/\/+$/, "");
  let url;
  let init = { headers: {} };
  if (kind === "write") {
    const params = new URLSearchParams();
    params.set(lp.api.value === "v2" ? "bucket" : "db", lp.db.value);
    if (lp.precision.value) params.set("precision", lp.precision.value);
    url = `${base}${lp.api.value === "v2" ? "/api/v2/write" : "/write"}?${params}`;
    init = { method: "POST", headers: { "Content-Type": "text/plain; charset=utf-8" }, body: lp.body.value };
  } else {
    const params = new URLSearchParams({ db: ql.db.value, q: ql.query.value });
    if (ql.rp.value) params.set("rp", ql.rp.value);
    url = `${base}/query?${params}`;
    init = { method: "GET", headers: {} };
  }
  if (send.token.value) init.headers.Authorization = `Token ${send.token.value}`;
  $("send-request").textContent = `${init.method} ${url}`;
  const buttons = [$("send-write"), $("send-query")];
  buttons.forEach((b) => (b.disabled = true));
  const status = $("send-status");
  setBadge(status, 0, "…");
  try {
    const resp = await fetch(url, init);
    const text = await resp.text();
    setBadge(status, resp.status, `${resp.status} ${resp.statusText}`.trim());
    const headers = [...resp.headers].map(([k, v]) => `${k}: ${v}`).join("\n");
    $("send-headers").textContent = headers;
    $("send-headers").hidden = !headers;
    $("send-body").textContent = text ? prettyBody(text) : "(empty body)";
    $("send-body").hidden = false;
  } catch (e) {
    setBadge(status, 0, "failed");
    $("send-headers").hidden = true;
    $("send-body").textContent = `${e}\n(Is the server running and reachable from this page? Cross-origin requests need CORS, which influxgate serve allows.)`;
    $("send-body").hidden = false;
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
}

// ---------------------------------------------------------------- start

async function start() {
  try {
    await init({ module_or_path: new URL("./pkg/influxgate_browser_bg.wasm", import.meta.url) });
  } catch (e) {
    $("status").textContent = `Could not load the core's wasm (${e}). Build it with tests/browser/build.sh.`;
    $("status").className = "status failed";
    window.playground.error = String(e);
    return;
  }
  timing.wasmLoaded = performance.now();
  const liveWrite = debounce(checkWrite, 120);
  for (const e of [lp.body]) e.addEventListener("input", liveWrite);
  for (const e of [lp.api, lp.precision, lp.db]) {
    e.addEventListener("input", liveWrite);
    e.addEventListener("change", liveWrite);
  }
  lp.body.addEventListener("scroll", syncScroll);
  const liveQuery = debounce(runTranslate, 120);
  for (const e of Object.values(ql)) e.addEventListener("input", liveQuery);
  $("send-write").addEventListener("click", () => doSend("write"));
  $("send-query").addEventListener("click", () => doSend("query"));

  checkWrite();
  runTranslate();
  timing.ready = performance.now();
  window.playground.ready = true;
  window.playground.version = version();
  window.playground.core = { check_write, translate };
  document.body.dataset.ready = "true";
  const status = $("status");
  status.textContent = `Core v${version()} ready in ${Math.round(timing.ready)} ms (wasm loaded at ${Math.round(timing.wasmLoaded)} ms).`;
  status.className = "status ready";
}

start();
