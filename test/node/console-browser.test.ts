import { existsSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BackendStats } from "./support/fake-backend-contract.ts";
import { startLocalGateway, type LocalGateway } from "./support/local-gateway.ts";

/** Debian's chromium package (.ci/run installs it); CHROMIUM_PATH points elsewhere. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
/** Kept by the test run (gitignored): every console page at a phone's, a laptop's and a desktop's width, and the states tested. */
const SCREENSHOTS = "test-output/screenshots";
const WIDTHS = [390, 1280, 1600];
/** What the tests read of an admin API key answer. */
interface KeyAnswer {
  id: string;
  name: string;
  key: string;
  key_prefix: string;
}
type List<T> = { data: T[] };
// page.evaluate takes its expressions as strings: this file is type-checked for Node, without the DOM's types.
const XSS_NAME = "<img src=x onerror=alert(1)>";

/**
 * The console end to end in a real headless Chromium, driven by playwright-core, against the gateway
 * as `wrangler dev` runs it with a fake backend (configured as `local` in BACKENDS, as `moxie dev`
 * does) that streams five words 150 ms apart. Without a Chromium the suite is skipped locally, but
 * fails in CI (CI=true), where .ci/run installs it.
 */
describe.skipIf(!existsSync(CHROMIUM) && !process.env.CI)("the operator's console in Chromium", () => {
  let gateway: LocalGateway;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const dialogs: string[] = [];
  const consoleErrors: string[] = [];
  let apiKey = "";

  const shoot = (name: string) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
  const go = async (route: string, heading: string) => {
    await page.getByRole("link", { name: heading, exact: true }).click();
    await expect.poll(() => page.locator("h1").textContent()).toBe(heading);
    await expect.poll(() => page.getByText("Loading…").count()).toBe(0);
    expect(new URL(page.url()).hash).toBe(`#/${route}`);
  };
  const sendInPlayground = async (text: string) => {
    await page.getByLabel("Message").fill(text);
    await page.getByRole("button", { name: "Send" }).click();
  };
  /** The admin API from outside the browser (as `moxie keys` would call it); T is the answer's shape. */
  const adminApi = async <T = null>(method: string, path: string, body?: unknown) => {
    const response = await fetch(`${gateway.url}/admin${path}`, {
      method,
      headers: { authorization: `Bearer ${gateway.adminToken}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (response.status === 204 ? null : await response.json()) as T };
  };
  const backend = {
    control: (behaviour: Record<string, unknown>) =>
      fetch(`${gateway.backendUrl}/__control`, { method: "POST", body: JSON.stringify(behaviour) }),
    stats: async () => (await (await fetch(`${gateway.backendUrl}/__state`)).json()) as BackendStats,
  };
  /** The relative luminance (0 black … 1 white) of a CSS rgb() colour. */
  const luminance = (colour: string) => {
    const [r, g, b] = (colour.match(/\d+(\.\d+)?/g) ?? []).slice(0, 3).map((part) => {
      const channel = Number(part) / 255;
      return channel <= 0.03928 ? channel / 12.92 : ((channel + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };

  beforeAll(async () => {
    await mkdir(SCREENSHOTS, { recursive: true });
    gateway = await startLocalGateway({ deltas: 5, delayMs: 150 });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.on("dialog", (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    // A Content-Security-Policy violation or a script error shows up here.
    page.on("console", (message) => {
      if (message.type() === "error" && !message.text().includes("status of 4")) consoleErrors.push(message.text());
    });
    page.on("pageerror", (error) => consoleErrors.push(error.message));
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await gateway?.dispose();
  });

  it("signs in with the admin token using the keyboard alone, keeping it out of cookies and the URL", async () => {
    const response = await page.goto(`${gateway.url}/console/`);
    expect(response?.headers()["content-security-policy"]).toContain("script-src 'self'");
    await shoot("sign-in");
    // The token field has focus on arrival: type and press Enter.
    await page.keyboard.type("wrong-token");
    await page.keyboard.press("Enter");
    await expect.poll(() => page.getByRole("alert").textContent()).toContain("not valid");
    await page.getByLabel("Admin token").fill("");
    await page.getByLabel("Admin token").focus();
    await page.keyboard.type(gateway.adminToken);
    await page.keyboard.press("Enter");
    await expect.poll(() => page.locator("h1").textContent()).toBe("Keys");
    expect(await context.cookies()).toEqual([]);
    expect(page.url()).not.toContain(gateway.adminToken);
    expect(await page.evaluate(`sessionStorage.getItem("moxie-admin-token")`)).toBe(gateway.adminToken);

    // Tab moves along the navigation; Enter follows a link.
    await page.getByRole("link", { name: "Keys", exact: true }).focus();
    await page.keyboard.press("Tab");
    expect(await page.evaluate("document.activeElement.textContent")).toBe("Usage");
    await page.keyboard.press("Enter");
    await expect.poll(() => page.locator("h1").textContent()).toBe("Usage");
    await go("keys", "Keys");
  });

  it("creates a key named like markup, shows the name as text, runs nothing, and shows the key once", async () => {
    await page.getByLabel("Name", { exact: true }).fill(XSS_NAME);
    await page.getByLabel("Requests per minute").fill("60");
    await page.getByRole("button", { name: "Create key" }).click();
    const secret = page.locator(".once code.secret");
    await secret.waitFor();
    apiKey = (await secret.textContent()) ?? "";
    expect(apiKey).toMatch(/^sk-moxie-/);
    await expect.poll(() => page.locator("table").getByText(XSS_NAME, { exact: true }).count()).toBe(1);
    expect(await page.locator("main img").count()).toBe(0);
    expect(dialogs).toEqual([]);
    await shoot("keys-created");
    // Another visit to the page no longer shows the secret.
    await go("usage", "Usage");
    await go("keys", "Keys");
    expect(await page.getByText(apiKey).count()).toBe(0);
  });

  it("refuses an expiry in the past in the form, saying why, and shows when each key was created and used and what it spent", async () => {
    const headings = await page.locator("table th").allTextContents();
    expect(headings).toEqual(expect.arrayContaining(["Created", "Last used", "Expires", "Spend", "Remaining"]));
    const row = page.locator("tr", { hasText: XSS_NAME });
    expect(await row.textContent()).toContain("never"); // not used yet
    expect(await row.textContent()).toContain("no budget");

    const rows = await page.locator("tbody tr").count();
    await page.getByLabel("Name", { exact: true }).fill("born-expired");
    await page.getByLabel("Expires (your time zone)").fill("2020-01-01T09:30");
    // Said as soon as it is picked, and again when the form is sent, which then sends nothing.
    await expect.poll(() => page.getByText("2020-01-01 09:30 is in the past").count()).toBeGreaterThan(0);
    await page.getByRole("button", { name: "Create key" }).click();
    await expect.poll(() => page.getByRole("alert").textContent()).toContain("2020-01-01 09:30 is in the past");
    expect(await page.evaluate("document.activeElement.type")).toBe("datetime-local");
    expect(await page.locator("tbody tr").count()).toBe(rows);
    expect((await adminApi<List<KeyAnswer>>("GET", "/keys")).body.data.some((key) => key.name === "born-expired")).toBe(
      false,
    );
    await shoot("keys-past-expiry");
    await page.getByLabel("Expires (your time zone)").fill("");
    await page.getByLabel("Name", { exact: true }).fill("");
  });

  it("streams a chat in the playground with the new key, and shows the same request as curl and SDK code", async () => {
    await go("playground", "Playground");
    // The key created in this tab is chosen, and needs no secret typed.
    expect(await page.getByLabel("API key").locator("option:checked").textContent()).toContain(XSS_NAME);
    expect(await page.getByLabel("Key secret").isVisible()).toBe(false);
    await page.getByLabel("Model").selectOption("open-mixtral-8x7b");
    await page.getByLabel("Max tokens").fill("64");
    await sendInPlayground("Hello from the console");
    const answer = page.locator('[data-role="assistant"]').last();
    // Streamed: the first words show while the last has not arrived yet (150 ms apart).
    await expect.poll(() => answer.textContent(), { interval: 20 }).toContain("word0");
    expect(await answer.textContent()).not.toContain("word4");
    await expect.poll(() => answer.textContent()).toBe("word0 word1 word2 word3 word4 ");
    await expect.poll(() => page.getByRole("status").last().textContent()).toContain("answered by open-mixtral-8x7b");
    expect(await page.locator("pre.snippet").first().textContent()).toContain('"max_tokens":64');
    expect(await page.locator("pre.snippet").last().textContent()).toContain("client.chat.stream(");
    expect(await page.locator("pre.snippet").first().textContent()).not.toContain(apiKey);
    await shoot("playground-answered");
  });

  it("shows the request in the usage chart and table, and downloads it as CSV", async () => {
    await go("usage", "Usage");
    const today = new Date().toISOString().slice(0, 10);
    const bars = page.locator(`svg.chart rect[data-day="${today}"]`);
    await expect.poll(() => bars.count()).toBe(1);
    expect(await bars.locator("title").textContent()).toBe(`${today} · ${XSS_NAME}: 1`);
    expect(await page.locator("ul.legend").textContent()).toContain(XSS_NAME);
    await page.getByLabel("Show").selectOption("total_tokens");
    expect(await bars.locator("title").textContent()).toBe(`${today} · ${XSS_NAME}: 15`);
    await page.getByLabel("Group").selectOption("model");
    expect(await bars.locator("title").textContent()).toBe(`${today} · open-mixtral-8x7b: 15`);
    await page.getByLabel("Show").selectOption("requests");
    await page.getByLabel("Group").selectOption("key");
    await shoot("usage-requests");

    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Download CSV" }).click(),
    ]);
    const csv = await readFile(await download.path(), "utf8");
    const [header, row] = csv.trim().split("\n");
    expect(header).toBe("day,key_id,key_name,model,requests,prompt_tokens,completion_tokens,total_tokens,cost");
    expect(row).toMatch(
      new RegExp(`^${today},key_[0-9a-f]+,<img src=x onerror=alert\\(1\\)>,open-mixtral-8x7b,1,10,5,15,0$`),
    );
  });

  it("labels the axis in whole requests and in dollars, and refuses a range that ends before it starts", async () => {
    const ticks = () => page.locator("svg.chart text.axis").allTextContents();
    // One request: ticks 0 and 1, never 0.5.
    const days = 7;
    expect((await ticks()).slice(0, -days)).toEqual(["0", "1"]);
    await page.getByLabel("Show").selectOption("cost");
    expect((await ticks()).slice(0, -days).every((tick) => tick.startsWith("$"))).toBe(true);
    expect(await page.locator("table").textContent()).toContain("$0");
    await shoot("usage-spend");
    await page.getByLabel("Show").selectOption("requests");

    const today = new Date().toISOString().slice(0, 10);
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    await page.getByLabel("From", { exact: true }).fill(today);
    await page.getByLabel("To", { exact: true }).fill(yesterday);
    await page.getByRole("button", { name: "Show", exact: true }).click();
    await expect
      .poll(() => page.getByRole("alert").textContent())
      .toBe(`"From" (${today}) is after "To" (${yesterday}): choose a range that starts before it ends.`);
    expect(await page.locator("svg.chart").count()).toBe(0);
    await shoot("usage-inverted-range");
    await page.getByLabel("From", { exact: true }).fill(yesterday);
    await page.getByLabel("To", { exact: true }).fill(today);
    await page.getByRole("button", { name: "Show", exact: true }).click();
    await expect.poll(() => page.locator("svg.chart").count()).toBe(1);
  });

  it("finds the playground's request in the Logs by key and status, and by its id opens its detail", async () => {
    await go("logs", "Logs");
    const rows = page.locator("table tbody tr");
    // Every status at first: the playground's request is there.
    expect(await page.getByLabel("Status").inputValue()).toBe("");
    await expect.poll(() => rows.first().textContent()).toContain("open-mixtral-8x7b");
    expect(await rows.count()).toBe(1);
    await page.getByLabel("Key", { exact: true }).selectOption({ label: XSS_NAME });
    await page.getByLabel("Status").selectOption("5xx");
    await page.getByRole("button", { name: "Search" }).click();
    await expect.poll(() => page.locator("table tbody").textContent()).toContain("None yet");
    await page.getByLabel("Status").selectOption("2xx");
    await page.getByRole("button", { name: "Search" }).click();
    await expect.poll(() => rows.first().textContent()).toContain("open-mixtral-8x7b");
    expect(await rows.first().textContent()).toContain(XSS_NAME);
    const details = rows.first().getByRole("button", { name: /^Details of request / });
    const requestId = (await details.getAttribute("aria-label"))!.replace("Details of request ", "");

    await page.getByRole("button", { name: "Search" }).click();
    await page.getByLabel("Request id").fill(requestId);
    await page.getByRole("button", { name: "Search" }).click();
    const detail = page.getByRole("region", { name: "Request detail" });
    await expect.poll(() => detail.locator("h2").textContent()).toBe(`Request ${requestId}`);
    const facts = await detail.locator("dl").textContent();
    for (const fact of [
      "Backendlocal",
      "Status200",
      "Streamedyes",
      "Prompt tokens10",
      "Completion tokens5",
      "Finish reasonstop",
    ])
      expect(facts).toContain(fact);
    expect(await detail.textContent()).toContain("Bodies are not kept for this key");
    await shoot("logs-detail");
  });

  it("shows the dashboard with the requests the log holds, per model and per backend", async () => {
    await go("dashboard", "Dashboard");
    const headline = page.locator("dl.stats");
    await expect.poll(() => headline.textContent()).toContain("Requests1");
    expect(await headline.textContent()).toContain("Errors0 (0 %)");
    const modelRow = page.locator("table tbody tr", { hasText: "open-mixtral-8x7b" });
    expect(await modelRow.locator("td").nth(1).textContent()).toBe("1");
    expect(await modelRow.locator("td").nth(3).textContent()).toMatch(/^\d+(\.\d+)? ms$/);
    expect(await page.locator("svg.chart rect.series").count()).toBe(1);
    await page.getByLabel("Group").selectOption("backend");
    await expect.poll(() => page.locator("table caption").textContent()).toBe("Health per backend");
    expect(await page.locator("table tbody tr", { hasText: "local" }).locator("td").nth(1).textContent()).toBe("1");
    await page.getByLabel("Window").selectOption("24h");
    await expect.poll(() => page.locator("svg.chart").getAttribute("aria-label")).toContain("last day");
    await shoot("dashboard");
  });

  it("sends the system prompt, JSON mode and tools to the backend, and shows them in the curl and SDK code", async () => {
    await go("playground", "Playground");
    await page.getByLabel("System prompt").fill("Answer in JSON.");
    await page.getByLabel("JSON mode").check();
    const tool = { type: "function", function: { name: "get_weather", parameters: { type: "object" } } };
    await page.getByLabel("Tools").fill("[{");
    await expect.poll(() => page.getByText("Tools are not valid JSON").count()).toBe(1);
    await page.getByLabel("Tools").fill(JSON.stringify([tool]));
    expect(await page.getByText("Tools are not valid JSON").count()).toBe(0);
    await sendInPlayground("The weather?");
    const answer = page.locator('[data-role="assistant"]').last();
    await expect.poll(() => answer.textContent()).toBe("word0 word1 word2 word3 word4 ");
    expect((await backend.stats()).lastBody).toMatchObject({
      messages: [
        { role: "system", content: "Answer in JSON." },
        { role: "user", content: "The weather?" },
      ],
      response_format: { type: "json_object" },
      tools: [tool],
    });
    const [curl, sdk] = await page.locator("pre.snippet").allTextContents();
    expect(curl).toContain('"response_format":{"type":"json_object"}');
    expect(curl).toContain('"tools":[{"type":"function","function":{"name":"get_weather"');
    expect(curl).toContain('"role":"system","content":"Answer in JSON."');
    expect(sdk).toContain('"responseFormat": {');
    expect(sdk).toContain('"name": "get_weather"');
    await shoot("playground-options");
  });

  it("stops a streaming answer with Stop: the partial answer stays and the backend's stream is cancelled", async () => {
    await backend.control({ deltas: 40, delayMs: 100 });
    const aborted = (await backend.stats()).aborted;
    await page.getByRole("button", { name: "New chat" }).click();
    await sendInPlayground("Tell me a long story");
    const answer = page.locator('[data-role="assistant"]').last();
    await expect.poll(() => answer.textContent(), { interval: 20 }).toContain("word1");
    await page.getByRole("button", { name: "Stop" }).click();
    await expect.poll(() => page.getByRole("status").last().textContent()).toMatch(/^Stopped after \d+ characters\.$/);
    const partial = await answer.textContent();
    expect(partial).toMatch(/^word0 word1 /);
    await expect.poll(async () => (await backend.stats()).aborted).toBeGreaterThan(aborted);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await answer.textContent()).toBe(partial);
    expect(await page.getByRole("button", { name: "Stop" }).isDisabled()).toBe(true);
    expect(await page.getByRole("button", { name: "Send" }).isEnabled()).toBe(true);
    // What was shown is the answer the conversation goes on from.
    expect(await page.locator("pre.snippet").first().textContent()).toContain(
      JSON.stringify({ role: "assistant", content: partial }),
    );
    await shoot("playground-stopped");
    await backend.control({ deltas: 5, delayMs: 150 });
  });

  it("offers every usable key: one made elsewhere asks for its secret, revoked and expired ones are not offered", async () => {
    const typed = (await adminApi<KeyAnswer>("POST", "/keys", { name: "made-by-cli" })).body;
    const revoked = (await adminApi<KeyAnswer>("POST", "/keys", { name: "revoked-one" })).body;
    await adminApi("POST", `/keys/${revoked.id}/revoke`);
    const expiring = (
      await adminApi<KeyAnswer>("POST", "/keys", { name: "expiring", expires_at: new Date(Date.now() + 1500) })
    ).body;
    await new Promise((resolve) => setTimeout(resolve, 1600));
    await go("keys", "Keys");
    await go("playground", "Playground");
    const offered = await page.getByLabel("API key").locator("option").allTextContents();
    expect(offered).toEqual([`${XSS_NAME} (${apiKey.slice(0, 13)}…)`, `made-by-cli (${typed.key_prefix}…)`]);
    expect(offered.join()).not.toContain(revoked.name);
    expect(offered.join()).not.toContain(expiring.name);

    await page.getByLabel("API key").selectOption(typed.id);
    expect(await page.getByLabel("Key secret").getAttribute("type")).toBe("password");
    await sendInPlayground("Who am I?");
    await expect.poll(() => page.getByRole("alert").textContent()).toContain("Enter the secret of key made-by-cli");
    await page.getByLabel("Key secret").fill(apiKey);
    await sendInPlayground("Who am I?");
    await expect.poll(() => page.getByRole("alert").textContent()).toContain("That secret is not key made-by-cli's");
    await page.getByLabel("Key secret").fill(typed.key);
    await sendInPlayground("Who am I?");
    await expect
      .poll(() => page.locator('[data-role="assistant"]').last().textContent())
      .toBe("word0 word1 word2 word3 word4 ");
    // The secret worked: this tab uses it from now on without asking, and never stored it.
    expect(await page.getByLabel("Key secret").isVisible()).toBe(false);
    expect(await page.evaluate("JSON.stringify(sessionStorage) + JSON.stringify(localStorage)")).not.toContain(
      typed.key,
    );
    await shoot("playground-typed-secret");
  });

  it("shows each key's last use on the Keys page once it has been used", async () => {
    await go("keys", "Keys");
    const row = page.locator("tr", { hasText: XSS_NAME });
    const lastUsed = (await page.locator("table th").allTextContents()).indexOf("Last used");
    await expect.poll(() => row.locator("td").nth(lastUsed).locator("time").count()).toBe(1);
    expect(await row.textContent()).toContain("$0");
    await shoot("keys-used");
  });

  it("shows backends with health, routing and load; no Remove on the configured one, Remove with confirmation on a registered one", async () => {
    await go("backends", "Backends");
    const row = (id: string) => page.locator("tr", { has: page.getByText(id, { exact: true }) });
    await expect.poll(() => row("local").textContent()).toContain("ready");
    expect(await row("local").textContent()).toContain("routed");
    expect(await row("local").textContent()).toContain("configured");
    expect(await row("local").getByRole("button", { name: "Drain backend local" }).count()).toBe(1);
    expect(
      await row("local")
        .getByRole("button", { name: /^Remove|^Reset/ })
        .count(),
    ).toBe(0);
    // The admin API agrees: a BACKENDS entry cannot be removed through it.
    expect((await adminApi("DELETE", "/backends/local")).status).toBe(404);

    // A backend nothing answers at: down, and not routed, whatever its circuit (which counts only requests).
    await page.getByLabel("Id", { exact: true }).fill("dead");
    await page.getByLabel("URL", { exact: true }).fill("http://127.0.0.1:9");
    await page.getByRole("button", { name: "Add backend" }).click();
    await expect.poll(() => row("dead").textContent()).toContain("down");
    expect(await row("dead").textContent()).toContain("not routed");
    expect(await row("dead").textContent()).not.toContain("closed");
    expect(await page.getByLabel("Id", { exact: true }).inputValue()).toBe("");

    await page.getByLabel("Id", { exact: true }).fill("spare");
    await page.getByLabel("URL", { exact: true }).fill(gateway.backendUrl.replace(/\/b\/local$/, "/b/spare"));
    await page.getByRole("button", { name: "Add backend" }).click();
    await expect.poll(() => row("spare").textContent()).toContain("ready");
    expect(await row("spare").textContent()).toContain("added");
    await shoot("backends-three");

    // The first press arms Remove; the page's refreshes (every 5 s) leave it armed and focused.
    await row("spare").getByRole("button", { name: "Remove backend spare" }).click();
    const confirm = page.getByRole("button", { name: "Confirm remove of backend spare" });
    expect(await confirm.count()).toBe(1);
    const updated = page.getByText(/^Updated /);
    const before = await updated.textContent();
    await expect.poll(() => updated.textContent(), { timeout: 8_000 }).not.toBe(before);
    expect(await confirm.count()).toBe(1);
    expect(await page.evaluate("document.activeElement.getAttribute('aria-label')")).toBe(
      "Confirm remove of backend spare",
    );
    await confirm.click();
    await expect.poll(() => row("spare").count()).toBe(0);
    expect((await adminApi<List<{ id: string }>>("GET", "/backends")).body.data.map((one) => one.id)).toEqual([
      "local",
      "dead",
    ]);
  });

  it("stops refreshing the backends once another page is shown", async () => {
    const polls: string[] = [];
    const count = (request: { url(): string }) => {
      if (request.url().endsWith("/admin/backends")) polls.push(request.url());
    };
    page.on("request", count);
    await go("models", "Models");
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    page.off("request", count);
    expect(polls).toEqual([]);
  });

  it("shows the model catalog with aliases", async () => {
    const model = page.locator("tr", { has: page.getByText("open-mixtral-8x7b", { exact: true }) });
    expect(await model.textContent()).toContain("mistral-small, mistral-small-latest");
    expect(await model.textContent()).toContain("configured");
  });

  it("edits a model from its stored values: a new price keeps its aliases, and resetting the override brings back the configured one", async () => {
    await go("models", "Models");
    const row = () => page.locator("tr", { has: page.getByText("open-mixtral-8x7b", { exact: true }) });
    // Typing an existing id loads its values, as Edit does.
    await page.getByLabel("Id", { exact: true }).fill("open-mixtral-8x7b");
    await page.getByLabel("Id", { exact: true }).blur();
    expect(await page.getByLabel("Aliases").inputValue()).toBe("mistral-small, mistral-small-latest");
    expect(await page.getByLabel("Deployment").inputValue()).toBe("mixtral-8x7b-instruct");
    await page.getByLabel("Input price").fill("2.5");
    await page.getByRole("button", { name: "Save model" }).click();
    await expect.poll(async () => row().textContent()).toContain("2.5 / 0");
    expect(await row().textContent()).toContain("mistral-small, mistral-small-latest");
    expect(await row().textContent()).toContain("override");
    await page.getByRole("button", { name: "Edit model open-mixtral-8x7b" }).click();
    expect(await page.getByLabel("Input price").inputValue()).toBe("2.5");
    await page.getByRole("button", { name: "Reset model open-mixtral-8x7b" }).click();
    await page.getByRole("button", { name: "Confirm reset of model open-mixtral-8x7b" }).click();
    await expect.poll(async () => row().textContent()).toContain("configured");
    expect(await row().textContent()).toContain("0 / 0");
    await shoot("models-edited");
  });

  it("gives every field an id of its own with a key's edit form open, and says so for an unknown route", async () => {
    await go("keys", "Keys");
    await page.getByRole("button", { name: "Edit", exact: true }).first().click();
    await expect.poll(() => page.getByRole("heading", { name: /^Edit / }).count()).toBe(1);
    const ids = await page.evaluate<string[]>("[...document.querySelectorAll('[id]')].map((element) => element.id)");
    expect(new Set(ids).size).toBe(ids.length);
    await page.evaluate("location.hash = '#/no-such-page'");
    await expect.poll(() => page.locator("h1").textContent()).toBe("Not found");
    expect(await page.getByRole("alert").textContent()).toContain("no-such-page");
  });

  it("refuses the playground's request with a key revoked meanwhile, then offers that key no more", async () => {
    await go("playground", "Playground");
    const { data } = (await adminApi<List<KeyAnswer>>("GET", "/keys")).body;
    const { id } = data.find((key) => key.name === XSS_NAME)!;
    await page.getByLabel("API key").selectOption(id);
    await adminApi("POST", `/keys/${id}/revoke`);
    await sendInPlayground("Are you still there?");
    await expect.poll(() => page.getByRole("alert").textContent()).toBe("401: Invalid or revoked API key");
    await shoot("playground-refused");
    await go("keys", "Keys");
    await expect.poll(() => page.locator("tr", { hasText: XSS_NAME }).locator(".badge").textContent()).toBe("revoked");
    await go("playground", "Playground");
    expect(await page.getByLabel("API key").locator("option").allTextContents()).not.toContain(
      expect.stringContaining(XSS_NAME),
    );
  });

  it("revokes a key from the Keys page only after a confirming second press", async () => {
    await go("keys", "Keys");
    await page.getByRole("button", { name: "Revoke key made-by-cli" }).click();
    expect(await page.locator("tr", { hasText: "made-by-cli" }).locator(".badge").textContent()).toBe("active");
    await page.getByRole("button", { name: "Confirm revoke of key made-by-cli" }).click();
    await expect
      .poll(() => page.locator("tr", { hasText: "made-by-cli" }).locator(".badge").textContent())
      .toBe("revoked");
  });

  it("follows the system's dark scheme, with readable text and chart labels", async () => {
    await page.emulateMedia({ colorScheme: "dark" });
    const colours = async (selector: string) =>
      page.evaluate<[string, string]>(
        `(() => { const style = getComputedStyle(document.querySelector(${JSON.stringify(selector)})); return [style.color, style.fill]; })()`,
      );
    const background = () => page.evaluate<string>("getComputedStyle(document.documentElement).backgroundColor");
    const barFill = () =>
      page.evaluate<string>("getComputedStyle(document.querySelector('svg.chart rect.series')).fill");
    for (const [route, heading] of [
      ["keys", "Keys"],
      ["usage", "Usage"],
      ["backends", "Backends"],
      ["playground", "Playground"],
    ]) {
      await go(route, heading);
      expect(luminance(await background()), route).toBeLessThan(0.05);
      expect(luminance((await colours("h1"))[0]), route).toBeGreaterThan(0.6);
      // A filled button's label against its fill: WCAG's 4.5:1 for text.
      const [label, fill] = await page.evaluate<[string, string]>(
        "(() => { const style = getComputedStyle(document.querySelector('main button[type=submit]')); return [style.color, style.backgroundColor]; })()",
      );
      const [light, dark] = [luminance(label), luminance(fill)].sort((a, b) => b - a);
      expect((light + 0.05) / (dark + 0.05), route).toBeGreaterThan(4.5);
      await shoot(`${route}-dark`);
    }
    await go("usage", "Usage");
    // The axis labels are light on the dark page, and the bars are not the light scheme's.
    expect(luminance((await colours("svg.chart text.axis"))[1])).toBeGreaterThan(0.3);
    expect(await barFill()).toBe("rgb(96, 165, 250)");
    await page.emulateMedia({ colorScheme: "light" });
    expect(luminance(await background())).toBeGreaterThan(0.9);
    expect(await barFill()).toBe("rgb(37, 99, 235)");
  });

  it("fits every page at 390, 1280 and 1600 px: no table wider than its box on a screen, no page wider than a phone", async () => {
    const routes = await page.evaluate<[string, string][]>(
      "[...document.querySelectorAll('#nav a')].map((link) => [link.getAttribute('href').slice(2), link.textContent])",
    );
    expect(routes.map(([route]) => route)).toEqual(
      expect.arrayContaining(["keys", "usage", "backends", "models", "playground"]),
    );
    for (const width of WIDTHS) {
      await page.setViewportSize({ width, height: 900 });
      for (const [route, heading] of routes) {
        await go(route, heading);
        expect(await page.evaluate("document.documentElement.scrollWidth"), `${route} at ${width}`).toBeLessThanOrEqual(
          width,
        );
        // On a phone wide tables scroll inside their own box; from a laptop's width up, none has to.
        if (width >= 1280) {
          const overflowing = await page.evaluate<string[]>(
            "[...document.querySelectorAll('.table-wrap')].filter((box) => box.scrollWidth > box.clientWidth).map((box) => box.getAttribute('aria-label'))",
          );
          expect(overflowing, `${route} at ${width}`).toEqual([]);
        }
        await shoot(`${route}-${width}`);
      }
    }
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it("logged no script error or policy violation, opened no dialog, and refuses to run an inline script", async () => {
    expect(consoleErrors).toEqual([]);
    expect(dialogs).toEqual([]);
    // An injected inline <script> is blocked by the Content-Security-Policy.
    await page.addScriptTag({ content: "window.inlineScriptRan = true;" }).catch(() => undefined);
    expect(await page.evaluate("window.inlineScriptRan === true")).toBe(false);
  });
});
