// The board under load, measured in Chromium (`cargo xtask e2e --perf`; docs/performance.md):
// 24 Simulated runs streaming at once, the board showing all 24, and what the page's main thread
// goes through — events streamed per second, the tasks that changed the page (MutationObserver)
// and the long tasks among them (PerformanceObserver, over 50 ms), frame intervals,
// the renderer's time in script, style and layout (Chromium's Performance domain) — and the
// server's CPU over the same window. With PROFILE=1, the page's script is profiled as well and
// the functions with the most self time are listed (PROFILE_DIST names an unminified build,
// `npx vite build --minify false --outDir DIR`, served to the page in place of the embedded one
// so that the names are readable).
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import { gzipSync } from "node:zlib";
import { chromium } from "playwright-core";

const base = process.env.BASE_URL ?? "http://127.0.0.1:8080";
const RUNS = 24;
const ITEMS = 3000;
const SECONDS = 10;
// Per answer: 24 runs at concurrency 8 then stream somewhat over 2,000 events a second (the
// target's rate); LATENCY_MS=100 about twice that.
const LATENCY_MS = Number(process.env.LATENCY_MS ?? 180);

async function post(path, body, type = "application/json") {
  const response = await fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": type },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

const rows = ["question,A,B,C,D,answer,category"];
for (let i = 0; i < ITEMS; i++) rows.push(`Question ${i}?,a${i},b${i},c${i},d${i},${"ABCD"[i % 4]},c${i % 7}`);
await post("/datasets?name=perf&format=csv", rows.join("\n") + "\n", "text/csv");

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: ["--no-sandbox"] });
const page = await browser.newPage({ viewport: { width: 1600, height: 1200 } });
const profileDist = process.env.PROFILE_DIST;
if (profileDist) {
  const types = { ".js": "text/javascript", ".css": "text/css", ".html": "text/html" };
  await page.route(/\/ui\/($|assets\/)/, (route) => {
    const path = new URL(route.request().url()).pathname.replace(/^\/ui\//, "");
    const file = join(profileDist, path === "" ? "index.html" : path);
    if (!existsSync(file)) return route.fulfill({ status: 404 });
    return route.fulfill({ body: readFileSync(file), contentType: types[extname(file)] ?? "application/octet-stream" });
  });
}
const cdp = await page.context().newCDPSession(page);
await cdp.send("Performance.enable");
const metrics = async () => Object.fromEntries((await cdp.send("Performance.getMetrics")).metrics.map((m) => [m.name, m.value]));
// utime + stime of the server process, in seconds (Linux clock ticks of 1/100 s).
const serverCpu = () => {
  const pid = process.env.SERVER_PID;
  if (!pid || !existsSync(`/proc/${pid}/stat`)) return null;
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
};
const profiling = process.env.PROFILE === "1";
await page.addInitScript(() => {
  window.__longtasks = [];
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) window.__longtasks.push({ at: entry.startTime, duration: entry.duration });
  }).observe({ type: "longtask", buffered: true });
  // Tasks that changed the page: a MutationObserver is called once after each.
  window.__updates = [];
  new MutationObserver(() => window.__updates.push({ at: performance.now() })).observe(document, {
    subtree: true,
    childList: true,
    characterData: true,
    attributes: true,
  });
  window.__frames = [];
  let last = performance.now();
  const frame = (now) => {
    window.__frames.push({ at: now, interval: now - last });
    last = now;
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
});
// The stream's events, counted by clients of the exact stream (the load) and of the board view
// the page reads (in a worker, where a script cannot count it).
const counter = new AbortController();
const streamed = { exact: 0, board: 0 };
const count = (view) =>
  fetch(`${base}/runs/events?view=${view}`, { signal: counter.signal }).then(async (response) => {
    let tail = "";
    for await (const chunk of response.body.pipeThrough(new TextDecoderStream())) {
      const lines = (tail + chunk).split("\n");
      tail = lines.pop();
      for (const line of lines) if (line.startsWith("event: run_")) streamed[view]++;
    }
  }).catch(() => {});
const counting = Promise.all([count("exact"), count("board")]);
await page.goto(`${base}/ui/`);
await page.getByLabel("Runs shown").selectOption("24");
await page.getByText("Live").waitFor();

for (let i = 0; i < RUNS; i++) {
  await post("/runs", {
    providerName: "Simulated",
    datasetName: "perf",
    modelName: "sim-1",
    settings: { concurrency: 8, simulated: { latencyMs: LATENCY_MS, seed: i } },
  });
}
await page.waitForFunction((n) => document.querySelectorAll("article.card").length >= n, RUNS);
await page.waitForTimeout(2000); // past the start
if (profiling) {
  await cdp.send("Profiler.enable");
  await cdp.send("Profiler.setSamplingInterval", { interval: 200 });
  await cdp.send("Profiler.start");
}
// TRACE=file: a Chromium trace of the window (chrome://tracing, or Perfetto), for a breakdown
// of the long tasks.
const tracing = process.env.TRACE;
if (tracing) await browser.startTracing(page, { path: tracing, categories: ["devtools.timeline", "disabled-by-default-devtools.timeline", "toplevel", "v8.execute", "blink", "cc", "gpu", "viz"] });
const startMetrics = await metrics();
const startCpu = serverCpu();
const start = await page.evaluate(() => ({ t: performance.now() }));
const startStreamed = { ...streamed };
await page.waitForTimeout(SECONDS * 1000);
const endMetrics = await metrics();
const endCpu = serverCpu();
const endStreamed = { ...streamed };
const profile = profiling ? (await cdp.send("Profiler.stop")).profile : null;
if (tracing) await browser.stopTracing();
if (process.env.SCREENSHOTS) await page.screenshot({ path: `${process.env.SCREENSHOTS}/board-under-load.png` });
const result = await page.evaluate((start) => {
  const now = performance.now();
  const inWindow = (list) => list.filter((e) => e.at >= start.t && e.at <= now);
  const frames = inWindow(window.__frames).map((f) => f.interval).sort((a, b) => a - b);
  const tasks = inWindow(window.__longtasks).map((t) => t.duration).sort((a, b) => a - b);
  const rank = (sorted, p) => (sorted.length === 0 ? 0 : sorted[Math.max(0, Math.ceil((sorted.length * p) / 100) - 1)]);
  return {
    seconds: (now - start.t) / 1000,
    frames: frames.length,
    frameP50Ms: rank(frames, 50),
    frameP95Ms: rank(frames, 95),
    frameMaxMs: frames.at(-1) ?? 0,
    updates: inWindow(window.__updates).length,
    longTasks: tasks.length,
    longTaskP95Ms: rank(tasks, 95),
    longTaskMaxMs: tasks.at(-1) ?? 0,
    cards: document.querySelectorAll("article.card").length,
  };
}, start);
await browser.close();
counter.abort();
// The p95 of the tasks that drew the board is under 50 ms when fewer than 5 % of them are long
// tasks (counting every long task against them, whatever it did).
result.updateTasksP95Under50Ms = result.longTasks < 0.05 * result.updates;
await counting;
result.eventsPerSecond = Math.round((endStreamed.exact - startStreamed.exact) / result.seconds);
result.boardEventsPerSecond = Math.round((endStreamed.board - startStreamed.board) / result.seconds);

// The renderer's main thread over the window, in ms per second of wall time.
const busy = {};
for (const name of ["TaskDuration", "ScriptDuration", "RecalcStyleDuration", "LayoutDuration"]) {
  busy[name] = Math.round((1000 * (endMetrics[name] - startMetrics[name])) / result.seconds);
}
busy.layoutsPerSecond = Math.round((endMetrics.LayoutCount - startMetrics.LayoutCount) / result.seconds);
busy.styleRecalcsPerSecond = Math.round((endMetrics.RecalcStyleCount - startMetrics.RecalcStyleCount) / result.seconds);
const server = startCpu === null ? null : { cpuCoresUsed: Number(((endCpu - startCpu) / result.seconds).toFixed(2)) };

if (profile) {
  // Self time per function, from the sampling profile.
  const self = new Map();
  const total = profile.timeDeltas.reduce((a, b) => a + b, 0);
  const hits = new Map();
  for (const id of profile.samples) hits.set(id, (hits.get(id) ?? 0) + 1);
  const samples = profile.samples.length;
  for (const node of profile.nodes) {
    const f = node.callFrame;
    const name = `${f.functionName || "(anonymous)"} ${f.url.split("/").pop()}:${f.lineNumber + 1}`;
    self.set(name, (self.get(name) ?? 0) + (hits.get(node.id) ?? 0));
  }
  const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, 25);
  console.error("self time (ms per second of wall time), top functions:");
  for (const [name, count] of top) {
    console.error(`${((count / samples) * total / 1000 / result.seconds).toFixed(1).padStart(8)}  ${name}`);
  }
}

const assets = new URL("../dist/assets/", import.meta.url);
let scriptGzip = 0;
for (const name of readdirSync(assets)) {
  if (name.endsWith(".js") && statSync(new URL(name, assets)).isFile()) scriptGzip += gzipSync(readFileSync(new URL(name, assets))).length;
}
console.log(JSON.stringify({ ...result, rendererMsPerSecond: busy, server, firstLoadJavaScriptGzipBytes: scriptGzip }, null, 2));
