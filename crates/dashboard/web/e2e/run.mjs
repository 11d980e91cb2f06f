// The dashboard end to end: Debian's Chromium driven by playwright-core against a real
// evalboard server (`cargo xtask e2e` starts one on a fresh database). Every page is checked
// with axe-core (no serious or critical violation) and saved as a screenshot.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { chromium } from "playwright-core";

const base = process.env.BASE_URL ?? "http://127.0.0.1:8080";
const shots = process.env.SCREENSHOTS ?? "/tmp";
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, acceptDownloads: true });
const page = await context.newPage();
const pageErrors = [];
page.on("pageerror", (error) => pageErrors.push(error.message));
// The dashboard runs under its Content-Security-Policy: anything it refuses fails the run.
page.on("console", (message) => {
  if (message.type() === "error" && message.text().includes("Content Security Policy")) {
    pageErrors.push(message.text());
  }
});

const failures = [];
async function step(name, body) {
  const started = Date.now();
  try {
    await body();
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    failures.push(name);
    console.log(`FAIL ${name}: ${error.message.split("\n")[0]}`);
    await page.screenshot({ path: join(shots, `failed-${name.replace(/\W+/g, "-")}.png`), fullPage: true });
  }
}

/** axe-core on the page as it is: no serious or critical violation; then a screenshot. */
async function check(name) {
  // Evaluated through the DevTools protocol, which the page's CSP (no inline scripts) allows.
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ["violations"] });
    return result.violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`);
  });
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  if (violations.length > 0) {
    throw new Error(`accessibility on ${name}: ${violations.join("; ")}`);
  }
}

async function api(path, init) {
  const response = await fetch(`${base}${path}`, init);
  return { status: response.status, body: await response.json() };
}

async function createRun(settings, datasetName = "evalboard-demo") {
  const created = await api("/runs", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ providerName: "Simulated", datasetName, modelName: "sim-1", settings }),
  });
  return created.body.run.id;
}

/** Two multiple-choice items as a CSV file, in two categories. */
const tinyCsv = "question,A,B,C,D,answer,category\nWhich is even?,1,2,3,5,B,math\nWhich is a vowel?,b,c,e,d,C,letters\n";

async function until(what, predicate, timeout = 20_000) {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    if (await predicate()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

let liveRun;

await step("the board starts empty", async () => {
  await page.goto(`${base}/`);
  await page.getByRole("heading", { name: "Active board" }).waitFor();
  await page.getByText("No runs yet.").waitFor();
  await page.getByText("Live").waitFor();
  await check("board-empty");
});

await step("a new run refuses a bad field beside it, then starts", async () => {
  await page.getByRole("link", { name: "New run", exact: true }).click();
  // Past the most the server takes (the form itself knows only the least).
  await page.getByLabel("Concurrency").fill("300");
  await page.getByRole("button", { name: "Create run" }).click();
  // Beside its field, not only in the summary.
  await page
    .locator(".form-field.invalid")
    .filter({ hasText: "Concurrency" })
    .getByText("must be between 1 and 256, got 300")
    .waitFor();
  // The field refused has the focus, and says so and why to a screen reader.
  await until("the refused field focused and marked", async () =>
    page.getByLabel("Concurrency").evaluate((input) => {
      const why = (input.getAttribute("aria-describedby") ?? "").split(" ").map((id) => document.getElementById(id)?.textContent);
      return input === document.activeElement && input.getAttribute("aria-invalid") === "true" && why.some((text) => /between 1 and 256/.test(text ?? ""));
    }),
  );
  await check("new-run-invalid");
  // A dataset version the dataset does not have: the server's refusal, beside the field.
  await page.getByLabel("Dataset version").fill("9");
  await page.getByRole("button", { name: "Create run" }).click();
  await page
    .locator(".form-field.invalid")
    .filter({ hasText: "Dataset version" })
    .getByText("has no version 9 (its versions are 1 to 1)", { exact: false })
    .waitFor();
  await page.getByLabel("Dataset version").fill("1");
  await page.getByLabel("Concurrency").fill("2");
  await page.getByLabel("Latency (ms)").fill("1500");
  await page.getByRole("button", { name: "Create run" }).dblclick();
  await page.waitForURL(/\/ui\/runs\/run-/);
  liveRun = page.url().split("/").pop();
  const list = await api("/runs?limit=10");
  if (list.body.runs.length !== 1) throw new Error(`a double click made ${list.body.runs.length} runs`);
  if (list.body.runs[0].dataset.version !== 1) throw new Error("the run is not of the version named");
});

await step("the board follows the run without a reload", async () => {
  await page.getByRole("link", { name: "Active board", exact: true }).click();
  const card = page.getByRole("article").first();
  const done = card.getByText(/\d+ of 36 done/);
  const before = await done.textContent();
  await card.locator(".preview").waitFor();
  await until("progress", async () => (await done.textContent()) !== before);
  await until("a streaming preview", async () => ((await card.locator(".preview").textContent()) ?? "").length > 3);
  await check("board-live");
});

await step("cancel on the board, then retry", async () => {
  const card = page.getByRole("article").first();
  // From the keyboard: the pressed button goes away, focus stays in the card (its title).
  await card.getByRole("button", { name: "Cancel" }).focus();
  await page.keyboard.press("Enter");
  // Asked first, with buttons that say what they do; the one that does nothing has the focus.
  const question = page.getByRole("dialog");
  await question.getByText(/Items in flight are stopped/).waitFor();
  const focused = await page.evaluate(() => document.activeElement?.textContent);
  if (focused !== "Keep it running") throw new Error(`the question's focus is on ${focused}`);
  await check("board-cancel-question");
  await page.keyboard.press("Tab");
  await page.keyboard.press("Enter");
  await card.getByText("canceled", { exact: true }).first().waitFor();
  await until("focus on the card's title", async () =>
    page.evaluate((id) => document.activeElement?.getAttribute("href")?.endsWith(`/runs/${id}`) ?? false, liveRun),
  );
  await card.getByRole("button", { name: "Retry failed or canceled" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Retry them" }).click();
  await until("the retried run to run", async () => {
    const run = await api(`/runs/${liveRun}`);
    return run.body.retryCount === 1 && ["pending", "running"].includes(run.body.run.status);
  });
  await card.getByText("running", { exact: true }).first().waitFor();
  // The retry reopened the canceled items: the card no longer lists them as finished.
  await until("no canceled item among the recent", async () => (await card.locator(".recent li.canceled").count()) === 0);
  await api(`/runs/${liveRun}/cancel`, { method: "POST", headers: { "content-type": "application/json" } });
});

await step("drill into an item of a finished run", async () => {
  const id = await createRun({ simulated: { seed: 5 } });
  await until("the run to finish", async () => (await api(`/runs/${id}`)).body.run.status === "completed");
  await page.goto(`${base}/ui/runs/${id}`);
  await page.getByRole("heading", { name: "Items" }).waitFor();
  await page.locator("details.item summary").first().click();
  await page.getByRole("heading", { name: "Response" }).waitFor();
  await page.getByRole("heading", { name: "Attempts" }).waitFor();
  await page.getByText("Accuracy of judged (strict)").waitFor();
  // The opened item is in the address: a reload keeps it open, Back closes it.
  const opened = ((await page.locator("details.item[open] .seq").textContent()) ?? "").replace("#", "");
  await until("the address to name the item", async () => new URL(page.url()).searchParams.get("item") === opened);
  await page.reload();
  await page.locator("details.item[open]").getByRole("heading", { name: "Attempts" }).waitFor();
  await page.goBack();
  await until("Back to close the item", async () => !page.url().includes("item=") && (await page.locator("details.item[open]").count()) === 0);
  if (!(await page.title()).startsWith("sim-1 on evalboard-demo")) throw new Error(`the tab says ${await page.title()}`);
  // The grouping chosen is in the address: a reload keeps it.
  await page.getByLabel("Group by").selectOption("state");
  await until("the address to say so", async () => page.url().includes("groupBy=state"));
  await page.reload();
  await page.getByRole("heading", { name: "Items" }).waitFor();
  if ((await page.getByLabel("Group by").inputValue()) !== "state") throw new Error("the grouping was lost on reload");
  await page.getByLabel("Group by").selectOption("category");
  // A state no item is in says so (the demo run's faultless Simulated items never fail).
  await page.getByRole("combobox", { name: /^State/ }).selectOption("failed");
  await page.getByText("No item of this run is failed.").waitFor();
  await page.getByRole("combobox", { name: /^State/ }).selectOption("");
  // One category's items only, named in the address; Escape closes an opened item.
  const category = page.getByRole("combobox", { name: /^Category/ });
  const chosen = await category.locator("option").nth(1).getAttribute("value");
  await category.selectOption(chosen);
  await until("only that category listed", async () => {
    const shown = await page.locator("details.item summary .muted").allTextContents();
    return shown.length > 0 && shown.every((c) => c === chosen) && page.url().includes("category=");
  });
  await page.locator("details.item summary").first().click();
  await page.locator("details.item[open]").getByRole("heading", { name: "Attempts" }).waitFor();
  await page.keyboard.press("Escape");
  await until("Escape to close the item", async () => (await page.locator("details.item[open]").count()) === 0);
  await category.selectOption("");
  // An item the run does not have is said, not ignored.
  await page.goto(`${base}/ui/runs/${id}?item=999`);
  await page.getByText("This run has no item 999.").waitFor();
  // So is a category none of its items is in (a link made on another run): the list is empty,
  // saying why and naming the run's categories, not an error.
  await page.goto(`${base}/ui/runs/${id}?category=Nowhere`);
  await page.locator("p.empty").getByText("No item of this run is in category", { exact: false }).waitFor();
  if ((await page.locator(".error").count()) !== 0) throw new Error("an unknown category is shown as an error");
  // An item found by its dataset id (as the comparison names it) opens; an unknown id is said.
  const last = (await api(`/runs/${id}/items?groupBy=none&limit=200`)).body.items.at(-1);
  await page.goto(`${base}/ui/runs/${id}`);
  const find = page.getByRole("searchbox", { name: "Find item" });
  await find.fill(last.datasetItemId);
  await page.getByRole("button", { name: "Open" }).click();
  await until("the found item opened", async () => new URL(page.url()).searchParams.get("item") === String(last.sequence));
  await page.locator(`details.item[open][data-sequence="${last.sequence}"]`).first().waitFor();
  await find.fill("no-such-item");
  await page.getByRole("button", { name: "Open" }).click();
  await page.getByText("No item of this run has the dataset id “no-such-item”.").waitFor();
  await page.goto(`${base}/ui/runs/${id}`);
  await page.getByRole("heading", { name: "Items" }).waitFor();
  await page.locator("details.item summary").first().click();
  // The log reads from `info` up: the run's story, not one line per attempt sent.
  const log = page.locator("ol.logs");
  await log.getByText("run created", { exact: false }).waitFor();
  if ((await log.getByText("attempt 1 sent").count()) !== 0) throw new Error("the default log lists each send");
  await page.getByLabel("Level").selectOption({ label: "everything (with each attempt sent)" });
  await log.getByText("attempt 1 sent").first().waitFor();
  await page.getByLabel("Level").selectOption({ label: "info and above" });
  // Its few entries fit one page: nothing more to load.
  const more = page.locator('section[aria-labelledby="logs-title"]').getByRole("button", { name: "Load more" });
  if ((await more.count()) !== 0) throw new Error("a one-page log offers to load more");
  // Newest first: how the run ended on top; oldest first, its creation.
  await until("the log's newest entry first", async () => !((await log.locator("li").first().textContent()) ?? "").includes("run created"));
  await page.getByLabel("Order").selectOption("oldest");
  await until("the log's oldest entry first", async () => ((await log.locator("li").first().textContent()) ?? "").includes("run created"));
  // The export is fetched by the page and saved under the server's name (a refusal would be
  // said beside the link).
  const [exported] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: "Export CSV" }).click()]);
  if (exported.suggestedFilename() !== `${id}-items.csv`) throw new Error(`the export saved as ${exported.suggestedFilename()}`);
  const csv = readFileSync(await exported.path(), "utf8");
  if (!csv.startsWith("runId,sequence,")) throw new Error(`the export is not the items' CSV: ${csv.slice(0, 80)}`);
  // Filtered, the export holds the items shown: one row per listed item (rows start with the
  // run's id; quoted prompts span lines).
  await page.getByRole("combobox", { name: /^State/ }).selectOption("correct");
  await until("only correct items listed", async () => (await page.locator(".items details.item:not(.correct)").count()) === 0);
  const listed = await page.locator(".items details.item").count();
  const [filtered] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: "Export CSV (filtered)" }).click()]);
  const rows = readFileSync(await filtered.path(), "utf8").split(`\n${id},`).length - 1;
  if (listed === 0 || rows !== listed) throw new Error(`${rows} rows exported for ${listed} items listed`);
  await page.getByRole("combobox", { name: /^State/ }).selectOption("");
  await check("run-detail");
});

await step("a run whose token limit cut its answers says how many, and each item says it was cut", async () => {
  const id = await createRun({ concurrency: 8, generation: { maxTokens: 10 } });
  await until("the run to finish", async () => (await api(`/runs/${id}`)).body.run.status === "completed");
  await page.goto(`${base}/ui/runs/${id}`);
  const field = page.locator(".field").filter({ hasText: "Cut-off answers" });
  await field.getByText("36 — stopped before the model finished (maxTokens 10, or a content filter: each item says which)").waitFor();
  await page.locator("details.item summary").first().click();
  await page.locator("details.item[open]").getByText("Cut off at the token limit").waitFor();
  await check("run-cut-off");
});

await step("an LLM judge picked in the form judges the run, its rationale shown", async () => {
  await page.goto(`${base}/ui/runs/new`);
  await page.getByRole("combobox", { name: /^Judge/ }).first().selectOption("llm");
  // Chosen from the configured providers and their models, as the run's own are.
  const judgeProvider = page.getByRole("combobox", { name: /^Judge provider/ });
  // (Filled once the providers are read: not at once on a busy machine.)
  await until("the judge provider offered", async () => (await judgeProvider.inputValue()) === "Simulated");
  const judgeModel = page.getByRole("combobox", { name: /^Judge model/ });
  await judgeModel.selectOption("sim-1");
  await check("new-run-llm-judge");
  await page.getByRole("button", { name: "Create run" }).click();
  await page.waitForURL(/\/ui\/runs\/run-/);
  const id = page.url().split("/").pop();
  await until("the run to finish", async () => (await api(`/runs/${id}`)).body.run.status === "completed");
  const run = await api(`/runs/${id}`);
  if (run.body.judge !== "llm:Simulated/sim-1") throw new Error(`judge: ${run.body.judge}`);
  const judgeTokens = run.body.usage.judge?.promptTokens;
  if (!(judgeTokens > 0)) throw new Error(`the judge's usage: ${JSON.stringify(run.body.usage)}`);
  await page.reload();
  // What the judge spent, apart from the answers, on the run and on the opened item.
  const judgeField = page.locator("dl.summary .field", { has: page.getByText("LLM judge's own", { exact: true }) });
  await judgeField.waitFor();
  const said = await judgeField.locator("dd").textContent();
  if (!said.replace(/[,\s]/g, "").startsWith(`${judgeTokens}in`)) throw new Error(`the judge's usage shown: ${said}`);
  await page.locator("details.item summary").first().click();
  await page.getByText("The response's final answer is", { exact: false }).first().waitFor();
  await page.locator("details.item[open] dl.summary").getByText("Judge's tokens").waitFor();
  await check("run-llm-judged-item");
  // Every option keeps its letter, the answered one too.
  const displays = await page.locator("details.item[open] ol.choices li").evaluateAll((lis) => lis.map((li) => getComputedStyle(li).display));
  if (displays.length === 0 || displays.some((d) => d !== "list-item")) throw new Error(`options shown as ${displays}`);
  // Judged again from the page, by the extraction rules: the page follows without a reload.
  await page.getByRole("button", { name: "Re-judge…" }).click();
  await check("run-rejudge-form");
  await page.getByRole("button", { name: "Re-judge", exact: true }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Judge them again" }).click();
  await until("the re-judging to finish", async () => {
    const again = (await api(`/runs/${id}`)).body;
    return again.rejudgeCount === 1 && again.run.status === "completed";
  });
  await page.locator("dl.summary").getByText(/extraction rules\s*\(re-judged 1×\)/).waitFor({ timeout: 20_000 });
  // The opened item's history keeps what the LLM judge said in its round, beside the rules'.
  const history = page.locator("details.item[open]");
  await history.getByRole("heading", { name: "Verdict history" }).waitFor({ timeout: 20_000 });
  await history.locator("li p.rationale").getByText("The response's final answer is", { exact: false }).first().waitFor();
  await check("run-verdict-history");
});

await step("follow a running item's answer as it streams", async () => {
  const id = await createRun({ concurrency: 1, simulated: { latencyMs: 6000, seed: 3 } });
  await until("an item to stream", async () => {
    const board = await api("/runs/active");
    return board.body.find((s) => s.run.id === id)?.currentItem?.activity?.chunkCount > 0;
  });
  await page.goto(`${base}/ui/runs/${id}`);
  await page.getByRole("heading", { name: "Items" }).waitFor();
  // An active run's page says it is live (it went on saying "running" after a server stopped).
  await page.locator(".page-head").first().getByRole("status").getByText("Live", { exact: true }).waitFor();
  // Listed by the state it is in while it streams: the filter would drop it once it is not.
  await page.getByRole("combobox", { name: /^State/ }).selectOption("running");
  await page.locator("details.item.running summary").first().click();
  await page.getByText(/streaming \(attempt 1\)/).waitFor();
  const response = page.locator("details.item.running pre.code").first();
  const first = (await response.textContent()) ?? "";
  if (!first.startsWith("Let's think")) throw new Error(`the answer so far: ${first}`);
  await until("the answer to grow", async () => ((await response.textContent()) ?? "").length > first.length);
  // The items claimed behind it (concurrency 1) read as queued, not running.
  await page.locator("details.item.running .badge.queued").first().waitFor();
  await check("item-streaming");
  // Answered, the item leaves the filter's list and stays open above it, the keyboard's focus
  // with it (a reader tabbing through it is not sent back to the page's top).
  const opened = await page.locator("details.item.running").first().getAttribute("data-sequence");
  await page.locator(`.items details.item[data-sequence="${opened}"] > summary`).focus();
  const moved = page.locator(`.opened-elsewhere details.item[data-sequence="${opened}"][open]`);
  await moved.getByRole("heading", { name: "Attempts" }).waitFor({ timeout: 20_000 });
  const focused = await page.evaluate(() => document.activeElement?.closest(".opened-elsewhere details")?.getAttribute("data-sequence"));
  if (focused !== opened) throw new Error(`the focus is not on the moved item ${opened}: ${focused}`);
  // Cancel from the page: the items and the log follow without a reload.
  const head = page.locator(".page-head").first();
  await head.getByRole("button", { name: "Cancel" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Cancel the run" }).click();
  await head.getByText("canceled", { exact: true }).waitFor();
  if ((await head.locator(".stream").count()) !== 0) throw new Error("a finished run's page still says it is live");
  // Said to a screen reader too, and the focus, which the Cancel button had, is on the title.
  await page.getByRole("status").filter({ hasText: "The run is canceled." }).waitFor();
  await until("the focus on the run's title", async () => page.evaluate(() => document.activeElement?.id === "run-title"));
  await until("no item listed as running", async () => (await page.locator("details.item.running").count()) === 0);
  await moved.waitFor();
  await page.locator("ol.logs").getByText("cancel requested", { exact: false }).waitFor();
});

/** The address of a comparison with flipped items (two runs of different answers). */
let comparison;

await step("compare two runs from the archive", async () => {
  const id = await createRun({ simulated: { seed: 9, accuracy: 0.4 } });
  await until("the second run to finish", async () => (await api(`/runs/${id}`)).body.run.status === "completed");
  await page.getByRole("link", { name: "Archive", exact: true }).click();
  // Arrived at another page, the keyboard's focus is on it (it was on nothing).
  await until("the focus on the page", async () => page.evaluate(() => document.activeElement?.id === "main"));
  await page.getByRole("checkbox", { name: new RegExp(`Compare run .*…${id.slice(-8)}$`) }).check();
  const others = page.getByRole("checkbox", { name: /Compare run/ });
  for (let i = 0; i < (await others.count()); i++) {
    const box = others.nth(i);
    if (!(await box.isChecked()) && !(await box.getAttribute("aria-label")).endsWith(liveRun.slice(-8))) {
      await box.check();
      break;
    }
  }
  await check("archive");
  await page.getByRole("button", { name: /Compare/ }).click();
  await page.getByText("Against the baseline").waitFor();
  comparison = page.url();
  // Back to the archive: the two runs are still ticked (the address keeps them).
  await page.goBack();
  await until("two runs still ticked", async () => (await page.getByRole("checkbox", { name: /Compare run/, checked: true }).count()) === 2);
  await page.getByRole("button", { name: /Compare/ }).click();
  await page.getByText("Against the baseline").waitFor();
  await page.getByRole("heading", { name: /Flipped items/ }).waitFor();
  // Only the items the baseline got wrong and the other run right: every row says so, and the
  // address keeps the choice.
  await page.getByRole("combobox", { name: /^Show/ }).selectOption("wrong");
  await page.waitForURL(/[?&]baseline=wrong/);
  await until("only the baseline's wrong answers listed", async () =>
    page
      .locator(".flipped-items > tbody > tr")
      .evaluateAll((rows) => rows.length > 0 && rows.every((row) => row.querySelectorAll("td")[1]?.className === "bad")),
  );
  await page.getByRole("combobox", { name: /^Show/ }).selectOption("");
  // A flipped item opens to both answers side by side, and links to each run's item.
  await page.locator("button[aria-expanded]").first().click();
  await until("both answers", async () => (await page.locator(".side-by-side pre").count()) === 2);
  // The question once, with its options and the key, above them.
  await page.locator(".flipped-question li.expected").waitFor();
  if ((await page.locator(".flipped-question").count()) !== 1) throw new Error("the question is not said once");
  await check("compare");
  const link = page.getByRole("link", { name: /^#\d+ in / }).first();
  const sequence = (await link.textContent()).slice(1);
  await link.click();
  // The run's page opens the item where its list shows it, brought into view.
  const item = page.locator("details.item[open]", { has: page.locator(".seq", { hasText: new RegExp(`^#${sequence}$`) }) });
  await item.getByRole("heading", { name: "Attempts" }).waitFor();
  await until("the item in view", async () =>
    item.evaluate((el) => {
      const box = el.getBoundingClientRect();
      return box.top < window.innerHeight && box.bottom > 0;
    }),
  );
  // Back at the comparison, the flipped item is open where it was (the address keeps it).
  await page.goBack();
  await page.locator(".flipped-question").waitFor();
  // The same simulated answers again: nothing flipped, said in words rather than an empty table.
  const twin = await createRun({ simulated: { seed: 9, accuracy: 0.4 } });
  await until("the twin run to finish", async () => (await api(`/runs/${twin}`)).body.run.status === "completed");
  await page.goto(`${base}/ui/compare?runIds=${id},${twin}`);
  await page.getByRole("heading", { name: "Flipped items (0)" }).waitFor();
  await page.getByText(/^None: every compared item is right in all these runs/).waitFor();
});

await step("a new run like an earlier one starts from its version and settings", async () => {
  const earlier = await createRun({ concurrency: 3, selection: { categories: ["math", "physics"], sampleSize: 4, seed: 5 }, simulated: { seed: 4, accuracy: 0.6 } });
  await until("the earlier run to finish", async () => (await api(`/runs/${earlier}`)).body.run.status === "completed");
  await page.goto(`${base}/ui/runs/${earlier}`);
  await page.getByRole("link", { name: "New run like this" }).click();
  await page.getByText(/^Like run/).waitFor();
  const valueOf = (label) => page.getByLabel(label, { exact: true }).inputValue();
  for (const [label, expected] of [
    ["Concurrency", "3"],
    ["Sample size", "4"],
    ["Sample seed", "5"],
    ["Dataset version", "1"],
    ["Accuracy", "0.6"],
    ["Seed", "4"],
    ["Model", "sim-1"],
  ]) {
    const value = await valueOf(label);
    if (value !== expected) throw new Error(`${label} starts at ${value}, not ${expected}`);
  }
  for (const category of ["math", "physics", "history"]) {
    const checked = await page.getByRole("checkbox", { name: new RegExp(`^${category} `) }).isChecked();
    if (checked !== (category !== "history")) throw new Error(`${category} is ${checked ? "" : "not "}checked`);
  }
  await check("new-run-like");
  // What differs is changed; the rest is sent as it was.
  await page.getByLabel("Concurrency", { exact: true }).fill("2");
  await page.getByRole("button", { name: "Create run" }).click();
  await page.waitForURL(/\/ui\/runs\/run-/);
  const made = (await api(`/runs/${page.url().split("/").pop()}`)).body;
  const { settings } = made;
  if (made.run.id === earlier || settings.concurrency !== 2 || settings.selection.sampleSize !== 4 || settings.selection.seed !== 5 || settings.simulated.accuracy !== 0.6 || made.dataset.version !== 1)
    throw new Error(`not like the earlier run: ${JSON.stringify(made)}`);
  if (JSON.stringify(settings.selection.categories) !== JSON.stringify(["math", "physics"])) throw new Error(`categories ${settings.selection.categories}`);
  await until("the new run to finish", async () => (await api(`/runs/${made.run.id}`)).body.run.status === "completed");
  // Like a run that is not there: said, with the way to an empty form.
  await page.goto(`${base}/ui/runs/new?like=run-00000000000000000000000000000000`);
  await page.getByRole("link", { name: "Start from an empty form" }).click();
  await page.getByRole("button", { name: "Create run" }).waitFor();
  if ((await page.getByText(/^Like run/).count()) !== 0) throw new Error("the empty form still says it is like a run");
});

await step("on a phone: accuracy beside the model, ticks by the cell, a comparison's text on the screen, a finished item a tap away", async () => {
  const running = await createRun({ concurrency: 1, simulated: { latencyMs: 250 } });
  const subset = await createRun({ concurrency: 1, selection: { categories: ["math"], sampleSize: 3 }, simulated: { latencyMs: 60000 } });
  await page.setViewportSize({ width: 390, height: 844 });
  try {
    await page.goto(`${base}/ui/runs`);
    const accuracy = page.getByRole("columnheader", { name: "Accuracy of judged" });
    await accuracy.waitFor();
    const right = await accuracy.evaluate((th) => th.getBoundingClientRect().right);
    if (right > 390) throw new Error(`the archive's accuracy starts off the screen (${right} px)`);
    // A tap beside the box, in its cell, ticks it.
    for (const row of [1, 2]) {
      const cell = page.locator("td.tick-cell").nth(row);
      await cell.scrollIntoViewIfNeeded();
      const box = await cell.boundingBox();
      await page.mouse.click(box.x + box.width - 6, box.y + 6);
    }
    await until("two runs ticked", async () => (await page.getByRole("checkbox", { name: /Compare run/, checked: true }).count()) === 2);
    // Down the list, the button that compares them is still in view.
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    const compare = page.getByRole("button", { name: "Compare (2)" });
    const at = await compare.boundingBox();
    if (!at || at.y < 0 || at.y + at.height > 844) throw new Error("the Compare button scrolled out of view");
    await compare.click();
    await page.getByText("Against the baseline").waitFor();
    // An opened flipped item's text is within the screen, though its table is wider.
    await page.goto(comparison);
    await page.locator("button[aria-expanded]").first().click();
    await page.locator(".flipped-question").waitFor();
    const overflow = await page.locator(".flipped-detail").evaluate((detail) => {
      const box = detail.closest(".table-scroll").getBoundingClientRect();
      return detail.getBoundingClientRect().right - box.right;
    });
    if (overflow > 1) throw new Error(`an opened flipped item runs ${overflow} px past the screen`);
    await page.locator(".flipped-detail").scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(shots, "compare-flipped-phone.png") });
    // The board's finished items open on their run's page.
    await page.goto(`${base}/ui/`);
    // A run of part of the dataset says which part, as the archive does.
    const part = page.getByRole("article").filter({ hasText: subset.slice(-8) });
    await part.getByText("· math · first 3", { exact: false }).waitFor();
    const card = page.getByRole("article").filter({ hasText: running.slice(-8) });
    const chip = card.getByRole("list", { name: "Recently finished items" }).getByRole("link").first();
    await chip.waitFor();
    // (The chips shift by one at each finished item: which one is under the tap is read after.)
    await chip.click();
    await page.waitForURL(new RegExp(`/ui/runs/${running}\\?item=\\d+$`));
    await page.locator("details.item[open]").first().waitFor();
  } finally {
    await page.setViewportSize({ width: 1400, height: 1000 });
    for (const id of [running, subset]) {
      await api(`/runs/${id}/cancel`, { method: "POST", headers: { "content-type": "application/json" } });
    }
  }
});

await step("the archive keeps its filters in its address", async () => {
  // A run ticked for comparison stays in view, and can be unticked, under filters that hide
  // it (here from a shared link).
  await page.goto(`${base}/ui/runs?modelName=nothing-like-this&compare=${liveRun}`);
  await page.getByText("No run matches.").waitFor();
  const ticked = page.getByRole("group", { name: "Runs ticked to compare" });
  await ticked.getByText(/on evalboard-demo/).waitFor();
  await check("archive-ticked-hidden");
  await ticked.getByRole("button", { name: `Untick run ${liveRun}` }).click();
  await until("the selection to be empty", async () => (await ticked.count()) === 0);
  await page.goto(`${base}/ui/runs`);
  await page.getByRole("checkbox", { name: "canceled" }).check();
  await page.getByRole("button", { name: "Apply" }).click();
  await until("the address to say so", async () => page.url().includes("status=canceled"));
  // Applied from the form, the filters leave the focus where it was (the form is not drawn
  // anew), and what they found is said.
  await until("the focus kept on Apply", async () => page.evaluate(() => document.activeElement?.textContent === "Apply"));
  await until("what was found said", async () =>
    (await page.locator('.visually-hidden[role="status"]').allTextContents()).some((text) => /^\d+ runs? match(es)?\.$|^No run matches\.$/.test(text)),
  );
  // And shown above the table: how many runs the filters select.
  await page.locator("p.meta").filter({ hasText: /^\d+ runs? match(es)?/ }).first().waitFor();
  await page.reload();
  if (!(await page.getByRole("checkbox", { name: "canceled" }).isChecked())) throw new Error("the filter was lost on reload");
  await until("only canceled runs listed", async () => {
    const statuses = await page.locator("table .badge").allTextContents();
    return statuses.length > 0 && statuses.every((status) => status === "canceled");
  });
  await page.goBack();
  await until("every run again", async () => !page.url().includes("status="));
  // Part of a name finds runs whatever its case; the count says how many of all.
  await page.getByLabel("Name contains").fill("SIM-");
  await page.getByRole("button", { name: "Apply" }).click();
  await until("the address to say so", async () => page.url().includes("search=SIM-"));
  await page.locator("p.meta").filter({ hasText: /^\d+ runs? match(es)?/ }).first().waitFor();
  await until("only sim- runs listed", async () => {
    const models = await page.locator("table tbody tr td.name > a").allTextContents();
    return models.length > 0 && models.every((model) => model.toLowerCase().includes("sim-"));
  });
  await page.getByLabel("Name contains").fill("no-such-model");
  await page.getByRole("button", { name: "Apply" }).click();
  await page.locator("p.empty", { hasText: "No run matches." }).waitFor();
  await page.goto(`${base}/ui/runs`);
  // Ordered by a column: the highest accuracy first (runs with none judged last), then the
  // lowest; the heading says which, and the address keeps it.
  const accuracies = async () =>
    (await page.locator("table tbody tr td:nth-child(3)").allTextContents()).map((text) => {
      const number = /^(\d+(?:\.\d+)?)\s*%/.exec(text);
      return number ? Number(number[1]) : null;
    });
  const inOrder = (values, descending) => {
    const judged = values.filter((value) => value !== null);
    const unjudgedLast = values.slice(judged.length).every((value) => value === null);
    return unjudgedLast && judged.every((value, i) => i === 0 || (descending ? judged[i - 1] >= value : judged[i - 1] <= value));
  };
  const accuracyHeading = page.getByRole("columnheader", { name: "Accuracy of judged" });
  await page.getByRole("button", { name: "Accuracy of judged", exact: true }).click();
  await until("the address to say the order", async () => page.url().includes("sort=-accuracy"));
  await until("the highest accuracy first", async () => inOrder(await accuracies(), true));
  if ((await accuracyHeading.getAttribute("aria-sort")) !== "descending") throw new Error("the heading does not say the order");
  if ((await accuracies()).filter((value) => value !== null).length < 2) throw new Error("too few judged runs to tell an order");
  await check("archive-by-accuracy");
  await page.getByRole("button", { name: "Accuracy of judged", exact: true }).click();
  await until("the lowest accuracy first", async () => page.url().includes("sort=accuracy") && inOrder(await accuracies(), false));
  await page.reload();
  await until("the order kept on reload", async () => (await accuracyHeading.getAttribute("aria-sort")) === "ascending");
  // Back to the newest first: the default, which the address leaves out.
  await page.getByRole("button", { name: "Created", exact: true }).click();
  await until("the newest first again", async () => !page.url().includes("sort="));
  if ((await page.getByRole("columnheader", { name: "Created" }).getAttribute("aria-sort")) !== "descending")
    throw new Error("the Created heading does not say the order");
});

await step("upload a dataset with an error, then a good one", async () => {
  await page.getByRole("link", { name: "Datasets", exact: true }).click();
  await page.getByLabel(/^File/).setInputFiles({
    name: "broken.jsonl",
    mimeType: "application/octet-stream",
    buffer: Buffer.from('{"question_id": 1, "question": "?"}\n'),
  });
  await page.getByRole("button", { name: "Upload" }).click();
  await page.getByRole("alert").filter({ hasText: "422" }).waitFor();
  // Each problem says its line of the file.
  const problem = await page.getByRole("alert").locator("li").first().innerText();
  if (!problem.startsWith("line 1: ")) throw new Error(`the problem does not say its line: ${problem}`);
  await check("datasets-error");
  // A file whose name does not say its format is said, not guessed.
  await page.getByLabel(/^File/).setInputFiles({ name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from(tinyCsv) });
  await page.getByRole("button", { name: "Upload" }).click();
  await page.getByText("notes.txt is not a .jsonl, .ndjson, .csv or .parquet file", { exact: false }).waitFor();
  await page.getByLabel(/^File/).setInputFiles({ name: "tiny.csv", mimeType: "text/csv", buffer: Buffer.from(tinyCsv) });
  await page.getByLabel(/^Name/).fill("e2e-tiny");
  await page.getByRole("button", { name: "Upload" }).click();
  await page.getByText("Stored e2e-tiny version 1 (2 items).").waitFor();
  await page.getByRole("rowheader", { name: "e2e-tiny" }).waitFor();
  // A file under a name in use would replace the dataset for new runs: asked first.
  const again = async () => {
    await page.getByLabel(/^File/).setInputFiles({ name: "tiny.csv", mimeType: "text/csv", buffer: Buffer.from(tinyCsv) });
    await page.getByLabel(/^Name/).fill("e2e-tiny");
    await page.getByRole("button", { name: "Upload" }).click();
    return page.getByRole("dialog", { name: /e2e-tiny exists \(version 1, 2 items\)/ });
  };
  const asked = await again();
  await asked.waitFor();
  await check("datasets-replace-asked");
  await asked.getByRole("button", { name: "Not now" }).click();
  await asked.waitFor({ state: "hidden" });
  if (await page.getByText("already has exactly these items").isVisible()) throw new Error("uploaded after Not now");
  await (await again()).getByRole("button", { name: "Upload as version 2" }).click();
  await page.getByText("e2e-tiny version 1 already has exactly these items: nothing stored.").waitFor();
});

await step("a numeric dataset: upload GSM8K lines, run them, read the numbers", async () => {
  // Two lines of the GSM8K test split, as published.
  const gsm8k = [
    { question: "A robe takes 2 bolts of blue fiber and half that much white fiber.  How many bolts in total does it take?", answer: "It takes 2/2=<<2/2=1>>1 bolt of white fiber\nSo the total amount of fabric is 2+1=<<2+1=3>>3 bolts of fabric\n#### 3" },
    { question: "Josh decides to try flipping a house.  He buys a house for $80,000 and then puts in $50,000 in repairs.  This increased the value of the house by 150%.  How much profit did he make?", answer: "So he made a profit of 200,000-130,000=$<<200000-130000=70000>>70,000\n#### 70000" },
  ];
  await page.getByRole("link", { name: "Datasets", exact: true }).click();
  await page.getByLabel(/^File/).setInputFiles({
    name: "gsm8k.jsonl",
    mimeType: "application/octet-stream",
    buffer: Buffer.from(gsm8k.map((line) => JSON.stringify(line)).join("\n") + "\n"),
  });
  await page.getByLabel(/^Name/).fill("e2e-gsm8k");
  await page.getByRole("button", { name: "Upload" }).click();
  await page.getByText("Stored e2e-gsm8k version 1 (2 items).").waitFor();
  const id = await createRun({ simulated: { seed: 2 } }, "e2e-gsm8k");
  await until("the numeric run to finish", async () => (await api(`/runs/${id}`)).body.run.status === "completed");
  await page.goto(`${base}/ui/runs/${id}`);
  await page.getByRole("heading", { name: "Items" }).waitFor();
  await page.locator("details.item summary").first().click();
  const body = page.locator("details.item .item-body").first();
  await body.getByText("Expected").waitFor();
  if ((await body.locator("ol.choices").count()) !== 0) throw new Error("a numeric item shows options");
  const expected = await body
    .locator(".field")
    .filter({ has: page.locator("dt", { hasText: /^Expected$/ }) })
    .locator("dd")
    .innerText();
  if (expected.trim() !== "3") throw new Error(`expected 3, the view says ${expected}`);
  // The run's judge is the extraction rules, which read a number here: not "choice".
  const judge = await page
    .locator(".field")
    .filter({ has: page.locator("dt", { hasText: /^Judge$/ }) })
    .first()
    .locator("dd")
    .innerText();
  if (judge.trim() !== "extraction rules") throw new Error(`the run's judge reads ${judge}`);
  await check("numeric-item");
});

await step("a 100-character dataset name wraps on every page, on a wide screen and on a phone", async () => {
  // The longest name the server accepts, without a space to break at.
  const name = `mmlu-pro-${"x".repeat(91)}`;
  const stored = await fetch(`${base}/datasets?name=${name}&format=csv`, { method: "POST", headers: { "content-type": "text/csv" }, body: tinyCsv });
  if (stored.status !== 201) throw new Error(`the upload answered ${stored.status}`);
  const done = await createRun({ simulated: { seed: 3 } }, name);
  const live = await createRun({ concurrency: 1, simulated: { seed: 4, latencyMs: 60_000 } }, name);
  await until("the first run to finish", async () => (await api(`/runs/${done}`)).body.run.status === "completed");
  const widths = async () => page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
  try {
    for (const [path, ready, shot] of [
      ["/ui/", () => page.getByRole("article").filter({ hasText: name }).first().waitFor(), "long-name-board"],
      [`/ui/runs/${done}`, () => page.getByRole("heading", { name: "Items" }).waitFor(), "long-name-run"],
      ["/ui/runs", () => page.getByText(name).first().waitFor(), "long-name-archive"],
      ["/ui/datasets", () => page.getByRole("rowheader", { name }).waitFor(), "long-name-datasets"],
      ["/ui/runs/new", () => page.getByRole("option", { name }).first().waitFor({ state: "attached" }), "long-name-new-run"],
      [`/ui/compare?runIds=${done},${live}`, () => page.getByText(name).first().waitFor(), "long-name-compare"],
      ["/ui/browser-harness", () => page.getByRole("cell", { name: "active" }).waitFor(), "harness-keys"],
    ]) {
      // A phone's width too: tables wider than that scroll in their own box, the menu wraps.
      for (const [viewport, suffix] of [[{ width: 1400, height: 1000 }, ""], [{ width: 390, height: 844 }, "-phone"]]) {
        await page.setViewportSize(viewport);
        await page.goto(`${base}${path}`);
        await ready();
        await check(`${shot}${suffix}`);
        const [scroll, client] = await widths();
        if (scroll > client) throw new Error(`${path} is ${scroll} px wide in a ${client} px window`);
      }
    }
  } finally {
    // The steps after this one see the wide window and no run of this one still going.
    await page.setViewportSize({ width: 1400, height: 1000 });
    await api(`/runs/${live}/cancel`, { method: "POST", headers: { "content-type": "application/json" } });
  }
});

await step("build a pack, import its captures, and see a tampered bundle refused", async () => {
  await page.getByRole("link", { name: "Browser Harness", exact: true }).click();
  await page.getByLabel("Dataset").selectOption("evalboard-demo");
  await page.getByLabel("Target (the model played to)").fill("e2e-web");
  // Two categories of six items each; the form counts what the pack will hold.
  for (const category of ["math", "physics"]) {
    await page.getByRole("group", { name: "Categories (none: all)" }).getByLabel(category).check();
  }
  await page.getByText("12 item(s)").waitFor();
  await page.getByLabel("Sample size (all when empty)").fill("4");
  await page.getByText("4 item(s)").waitFor();
  await page.getByRole("button", { name: "Build and sign" }).click();
  await page.getByText("verified in this browser").waitFor();
  const download = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: /^Download/ }).click()]);
  const envelope = JSON.parse(readFileSync(await download[0].path(), "utf8"));
  const payload = JSON.parse(Buffer.from(envelope.payload, "base64").toString("utf8"));
  // Each prompt names its item's category ("… questions (with answers) about math.").
  const about = payload.items.map((item) => /about ([a-z ]+)\./.exec(item.promptText)?.[1]);
  if (about.length !== 4 || !about.every((category) => category === "math" || category === "physics")) {
    throw new Error(`the pack is not 4 items of math and physics: ${about}`);
  }
  const now = Date.now();
  const bundle = {
    envelope,
    harness: { name: "e2e", version: "1", userAgent: "playwright" },
    // The last item not captured: the import says so.
    captures: payload.items.slice(0, 3).map((item) => ({
      sequence: item.sequence,
      promptSha256: createHash("sha256").update(item.promptText).digest("hex"),
      responseText: "Thinking it over. The answer is (A).",
      startedAt: new Date(now - 5000).toISOString(),
      finishedAt: new Date(now - 1000).toISOString(),
      page: { url: `https://chat.example/c/${item.sequence}` },
    })),
  };
  const uploadText = (name, text) =>
    page.getByLabel("Bundle (JSON)").setInputFiles({ name, mimeType: "application/json", buffer: Buffer.from(text) });
  const upload = (name, json) => uploadText(name, JSON.stringify(json));
  // The file is sent as it is written: `1.0` is no sequence number to the server, though a
  // browser's JSON.parse reads it as 1.
  await uploadText("fraction.json", JSON.stringify(bundle).replace(/"sequence":(\d+)/, '"sequence":$1.0'));
  await page.getByText("verified in this browser").last().waitFor();
  await page.getByRole("button", { name: "Import" }).click();
  await page.getByRole("alert").filter({ hasText: "422" }).getByText("/captures/0/sequence", { exact: true }).waitFor();
  await upload("bundle.json", bundle);
  await page.getByText("Its pack:").waitFor();
  await page.getByText("verified in this browser").last().waitFor();
  await page.getByRole("button", { name: "Import" }).click();
  await page.getByText(/Imported as/).waitFor();
  await page.getByText(/correct of 4; 1 not captured\./).waitFor();
  await check("browser-harness");
  // What a bundle holds is told on the page, and its schema is one link away.
  await page.getByText("What a bundle holds").click();
  const schemaLink = page.getByRole("link", { name: "the bundle's JSON Schema" });
  const schema = await (await fetch(new URL(await schemaLink.getAttribute("href"), base))).json();
  if (!schema.required?.includes("captures")) throw new Error(`the linked schema: ${JSON.stringify(schema).slice(0, 200)}`);
  await page.screenshot({ path: join(shots, "browser-harness-help.png"), fullPage: true });
  const imported = await page.getByRole("link", { name: /^run run-/ }).getAttribute("href");

  // Captures that do not match the pack: each problem with its JSON Pointer.
  const tampered = structuredClone(bundle);
  tampered.captures[0].promptSha256 = "0".repeat(64);
  tampered.captures[1].responseTxt = "typo";
  await upload("tampered.json", tampered);
  await page.getByText("verified in this browser").last().waitFor();
  await page.getByRole("button", { name: "Import" }).click();
  let problems = page.getByRole("alert").filter({ hasText: "422" });
  for (const pointer of ["/captures/0/promptSha256", "/captures/1/responseTxt"]) {
    await problems.getByText(pointer, { exact: true }).waitFor();
  }
  // A forged signature: this browser says so before anything is sent, and so does the server.
  const forged = structuredClone(bundle);
  forged.envelope.signatures[0].sig = Buffer.alloc(64).toString("base64");
  await upload("forged.json", forged);
  await page.getByText(/Not verified here: the signature does not verify/).waitFor();
  await page.getByRole("button", { name: "Import" }).click();
  problems = page.getByRole("alert").filter({ hasText: "422" });
  await problems.getByText("/envelope/signatures/0/sig", { exact: true }).waitFor();
  await page.screenshot({ path: join(shots, "browser-harness-refused.png"), fullPage: true });
  // A signature with no key id: said in words, and the server's own list is one click away.
  const malformed = structuredClone(bundle);
  malformed.envelope.signatures = [{}];
  await upload("malformed.json", malformed);
  await page.getByText(/its signature has no key id/).waitFor();
  malformed.envelope.signatures = [{ keyid: "", sig: bundle.envelope.signatures[0].sig }];
  await upload("empty-key-id.json", malformed);
  await page.getByText(/its signature has no key id/).waitFor();
  await page.getByRole("button", { name: "Import" }).click();
  problems = page.getByRole("alert").filter({ hasText: "422" });
  await problems.getByText("/envelope/signatures/0/keyid", { exact: true }).waitFor();
  // A seed without a sample size is not dropped: the server says why it is refused.
  await page.getByLabel("Sample size (all when empty)").fill("");
  await page.getByLabel("Sample seed").fill("3");
  await page.getByRole("button", { name: "Build and sign" }).click();
  await page.getByRole("alert").getByRole("listitem").filter({ hasText: "a seed only makes sense with a sample size" }).waitFor();
  await page.screenshot({ path: join(shots, "browser-harness-seed.png"), fullPage: true });
  // The item not captured says why it has no attempt, not an empty list of attempts.
  await page.goto(new URL(imported.startsWith("/ui") ? imported : `/ui${imported}`, base).href);
  await page.locator("details.item.failed > summary").first().click();
  await page.locator("details.item.failed[open]").getByText("None: the capture bundle it was imported from had no capture of it.").waitFor();
  // A captured one says which page gave its answer.
  await page.locator("details.item.incorrect > summary, details.item.correct > summary").first().click();
  await page.locator("details.item[open] .page-facts").getByText(/captured on url: https:\/\/chat\.example\/c\/\d+/).waitFor();
});

await step("an unknown page says so", async () => {
  await page.goto(`${base}/ui/nowhere`);
  await page.getByRole("heading", { name: "Not found" }).waitFor();
});

/** The page's tab goes to the back (or comes to the front), as the browser says it does. */
async function setVisibility(tab, state) {
  await tab.evaluate((state) => {
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => state });
    document.dispatchEvent(new Event("visibilitychange"));
  }, state);
}

await step("tabs at the back hold no stream: a seventh tab and every tab's requests still go", async () => {
  // Over HTTP/1.1 the browser opens at most six connections to the server, and each stream
  // followed holds one: six tabs following the board left nothing for a seventh, nor for a
  // Cancel pressed in any of them.
  const running = await createRun({ concurrency: 1, simulated: { latencyMs: 2000 } });
  const tabs = [];
  for (let i = 0; i < 6; i += 1) {
    const tab = await context.newPage();
    await tab.goto(`${base}/ui/`);
    await tab.getByText("Live").waitFor();
    await setVisibility(tab, "hidden");
    tabs.push(tab);
  }
  const seventh = await context.newPage();
  await seventh.goto(`${base}/ui/`);
  await seventh.getByText("Live").waitFor({ timeout: 10_000 });
  const answered = await tabs[0].evaluate(async () => (await fetch("/runs?limit=1")).status);
  if (answered !== 200) throw new Error(`a tab at the back asked for the runs: ${answered}`);
  // Back in front, a tab follows the board again.
  await setVisibility(tabs[0], "visible");
  await tabs[0].getByText("Live").waitFor();
  for (const tab of [...tabs, seventh]) await tab.close();
  await api(`/runs/${running}/cancel`, { method: "POST" });
});

// The server that needs a token, with an operator's token and a viewer's, reached below a path
// (`http.base_path`) as behind a proxy that publishes it there.
const guarded = process.env.GUARDED_URL;
const token = process.env.GUARDED_TOKEN;
const viewer = process.env.GUARDED_VIEWER_TOKEN;

/** Starts a run on the guarded server with the operator's token; returns its id. */
async function startGuardedRun(settings) {
  if (!guarded || !token || !viewer) {
    throw new Error("GUARDED_URL, GUARDED_TOKEN and GUARDED_VIEWER_TOKEN name the server and its tokens");
  }
  const created = await fetch(`${guarded}/runs`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ providerName: "Simulated", datasetName: "evalboard-demo", modelName: "sim-1", settings }),
  });
  if (created.status !== 201) {
    throw new Error(`creating a run with the token answered ${created.status}`);
  }
  return (await created.json()).run.id;
}

/** Every request the page sends to the guarded server outside its base path. */
const outsideBase = [];
page.on("request", (request) => {
  const url = new URL(request.url());
  const at = new URL(guarded ?? "http://unset");
  if (url.origin === at.origin && !url.pathname.startsWith(`${at.pathname}/`)) outsideBase.push(url.pathname);
});

await step("sign in to a server that needs a token, follow a run, sign out", async () => {
  await page.goto(`${guarded}/ui/`);
  await page.getByRole("heading", { name: "evalboard" }).waitFor();
  await page.getByLabel("Token").fill("evb_wrong");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("alert").filter({ hasText: "not a token this server accepts" }).waitFor();
  await check("sign-in-refused");
  await page.getByLabel("Token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText("e2e · operator").waitFor();
  // The session cookie carries the page's requests, streams included: a run started with the
  // token shows up live on the board.
  await startGuardedRun({ concurrency: 2, simulated: { latencyMs: 400 } });
  await page.locator("article.card").first().waitFor();
  await check("signed-in-board");
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByLabel("Token").waitFor();
  await page.goto(`${guarded}/ui/runs`);
  await page.getByLabel("Token").waitFor();
});

await step("a viewer reads everything and is offered no action it may not take", async () => {
  // A run that stays active while the viewer looks (started with the operator's token).
  const id = await startGuardedRun({ concurrency: 1, simulated: { latencyMs: 60000 } });
  await page.goto(`${guarded}/ui/`);
  await page.getByLabel("Token").fill(viewer);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText("e2e-viewer · viewer").waitFor();
  const card = page.locator("article.card").filter({ hasText: id });
  await card.waitFor();
  if ((await card.getByRole("button").count()) !== 0) throw new Error("the board offers a viewer an action");
  if ((await page.getByRole("link", { name: "New run" }).count()) !== 0) throw new Error("a viewer is offered New run");
  await page.goto(`${guarded}/ui/runs/${id}`);
  await page.getByRole("heading", { name: "Items" }).waitFor();
  if ((await page.getByRole("button", { name: "Cancel" }).count()) !== 0) throw new Error("the run page offers a viewer Cancel");
  await page.goto(`${guarded}/ui/datasets`);
  await page.getByText("Uploading a dataset needs a token with the admin role.").waitFor();
  if (await page.getByLabel(/^File/).isVisible()) throw new Error("a viewer is offered the upload form");
  await page.goto(`${guarded}/ui/runs/new`);
  await page.getByText("Starting a run needs a token with the operator role.").waitFor();
  await check("viewer-new-run");
  // The links of the application stay below the base path; so does a run's export.
  await page.getByRole("link", { name: "Archive" }).click();
  await page.locator("table a").filter({ hasText: "sim-1" }).first().click();
  await page.getByRole("heading", { name: "Items" }).waitFor();
  if (!new URL(page.url()).pathname.startsWith(`${new URL(guarded).pathname}/ui/runs/`)) {
    throw new Error(`a run's link led to ${page.url()}`);
  }
  const download = page.waitForEvent("download");
  await page.getByRole("link", { name: "Export CSV" }).click();
  // (`-partial` while the run is still going.)
  if (!/-items(-partial)?\.csv$/.test(await (await download).suggestedFilename())) throw new Error("the export was not saved");
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByLabel("Token").waitFor();
  if (outsideBase.length > 0) throw new Error(`the page asked outside its base path: ${[...new Set(outsideBase)].join(", ")}`);
});

await browser.close();
if (pageErrors.length > 0) {
  failures.push("page errors");
  console.log(`FAIL uncaught errors in the page: ${pageErrors.join("; ")}`);
}
if (failures.length > 0) {
  console.log(`${failures.length} end-to-end check(s) failed`);
  process.exit(1);
}
console.log("all end-to-end checks passed");
