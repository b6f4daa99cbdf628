import { existsSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalGateway, type LocalGateway } from "./support/local-gateway.ts";

/** Debian's chromium package (.ci/run installs it); CHROMIUM_PATH points elsewhere. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
/** Kept by the test run (gitignored): one screenshot per console page, desktop and phone width. */
const SCREENSHOTS = "test-output/console";
// page.evaluate takes its expressions as strings: this file is type-checked for Node, without the DOM's types.
const XSS_NAME = "<img src=x onerror=alert(1)>";

/**
 * The console end to end in a real headless Chromium, driven by playwright-core, against the gateway
 * as `wrangler dev` runs it with a fake backend that streams five words 150 ms apart. Without a
 * Chromium the suite is skipped locally, but fails in CI (CI=true), where .ci/run installs it.
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
    await shoot("keys");
    // Another visit to the page no longer shows the secret.
    await go("usage", "Usage");
    await go("keys", "Keys");
    expect(await page.getByText(apiKey).count()).toBe(0);
  });

  it("streams a chat in the playground with the new key, and shows the same request as curl and SDK code", async () => {
    await go("playground", "Playground");
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
    await shoot("playground");
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
    await shoot("usage");

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

  it("shows backends with health, load and circuit, and the model catalog with aliases", async () => {
    await go("backends", "Backends");
    const row = page.locator("tr", { has: page.getByText("local", { exact: true }) });
    expect(await row.textContent()).toContain("ready");
    expect(await row.textContent()).toContain("closed");
    await shoot("backends");
    await go("models", "Models");
    const model = page.locator("tr", { has: page.getByText("open-mixtral-8x7b", { exact: true }) });
    expect(await model.textContent()).toContain("mistral-small, mistral-small-latest");
    expect(await model.textContent()).toContain("configured");
    await shoot("models");
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

  it("revokes the key, after which the playground's next request is refused", async () => {
    await go("keys", "Keys");
    const revoke = page.getByRole("button", { name: `Revoke key ${XSS_NAME}` });
    await revoke.click();
    await page.getByRole("button", { name: `Confirm revoke of key ${XSS_NAME}` }).click();
    await expect.poll(() => page.locator("tr", { hasText: XSS_NAME }).locator(".badge").textContent()).toBe("revoked");
    await go("playground", "Playground");
    await sendInPlayground("Are you still there?");
    await expect.poll(() => page.getByRole("alert").textContent()).toBe("401: Invalid or revoked API key");
    await shoot("playground-refused");
  });

  it("fits a phone's width on every page", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    for (const [route, heading] of [
      ["keys", "Keys"],
      ["usage", "Usage"],
      ["backends", "Backends"],
      ["models", "Models"],
      ["playground", "Playground"],
    ]) {
      await go(route, heading);
      // Wide tables scroll inside their own box; the page itself never scrolls sideways.
      expect(await page.evaluate("document.documentElement.scrollWidth")).toBeLessThanOrEqual(390);
      await shoot(`${route}-phone`);
    }
  });

  it("logged no script error or policy violation, opened no dialog, and refuses to run an inline script", async () => {
    expect(consoleErrors).toEqual([]);
    expect(dialogs).toEqual([]);
    // An injected inline <script> is blocked by the Content-Security-Policy.
    await page.addScriptTag({ content: "window.inlineScriptRan = true;" }).catch(() => undefined);
    expect(await page.evaluate("window.inlineScriptRan === true")).toBe(false);
  });
});
