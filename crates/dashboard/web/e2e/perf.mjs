// The board under load, measured in Chromium (`cargo xtask e2e --perf`; docs/performance.md):
// 24 Simulated runs streaming at once, the board showing all 24, and what the page's main thread
// goes through — events received per second, long tasks (PerformanceObserver), frame intervals.
import { readdirSync, statSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";

const base = process.env.BASE_URL ?? "http://127.0.0.1:8080";
const RUNS = 24;
const ITEMS = 3000;
const SECONDS = 10;

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
await page.addInitScript(() => {
  window.__longtasks = [];
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) window.__longtasks.push({ at: entry.startTime, duration: entry.duration });
  }).observe({ type: "longtask", buffered: true });
  window.__events = 0;
  const Original = window.EventSource;
  window.EventSource = class extends Original {
    constructor(...args) {
      super(...args);
      for (const kind of ["run_status", "run_progress", "run_item"]) this.addEventListener(kind, () => window.__events++);
    }
  };
  window.__frames = [];
  let last = performance.now();
  const frame = (now) => {
    window.__frames.push({ at: now, interval: now - last });
    last = now;
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
});
await page.goto(`${base}/ui/`);
await page.getByLabel("Runs shown").selectOption("24");
await page.getByText("Live").waitFor();

for (let i = 0; i < RUNS; i++) {
  await post("/runs", {
    providerName: "Simulated",
    datasetName: "perf",
    modelName: "sim-1",
    settings: { concurrency: 8, simulated: { latencyMs: 100, seed: i } },
  });
}
await page.waitForFunction((n) => document.querySelectorAll("article.card").length >= n, RUNS);
await page.waitForTimeout(2000); // past the start
const start = await page.evaluate(() => ({ t: performance.now(), events: window.__events }));
await page.waitForTimeout(SECONDS * 1000);
const result = await page.evaluate((start) => {
  const now = performance.now();
  const inWindow = (list) => list.filter((e) => e.at >= start.t && e.at <= now);
  const frames = inWindow(window.__frames).map((f) => f.interval).sort((a, b) => a - b);
  const tasks = inWindow(window.__longtasks).map((t) => t.duration).sort((a, b) => a - b);
  const rank = (sorted, p) => (sorted.length === 0 ? 0 : sorted[Math.max(0, Math.ceil((sorted.length * p) / 100) - 1)]);
  return {
    seconds: (now - start.t) / 1000,
    eventsPerSecond: (window.__events - start.events) / ((now - start.t) / 1000),
    frames: frames.length,
    frameP50Ms: rank(frames, 50),
    frameP95Ms: rank(frames, 95),
    frameMaxMs: frames.at(-1) ?? 0,
    longTasks: tasks.length,
    longTaskMaxMs: tasks.at(-1) ?? 0,
    cards: document.querySelectorAll("article.card").length,
  };
}, start);
await browser.close();

const assets = new URL("../dist/assets/", import.meta.url);
let scriptGzip = 0;
for (const name of readdirSync(assets)) {
  if (name.endsWith(".js") && statSync(new URL(name, assets)).isFile()) scriptGzip += gzipSync(readFileSync(new URL(name, assets))).length;
}
console.log(JSON.stringify({ ...result, firstLoadJavaScriptGzipBytes: scriptGzip }, null, 2));
