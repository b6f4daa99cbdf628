import { describe, expect, it } from "vitest";
import { gateway } from "./gateway-client.ts";

describe("the console's files", () => {
  it("serves /console/ with a strict Content-Security-Policy and no inline script", async () => {
    const page = await gateway("/console/");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    const csp = page.headers.get("content-security-policy")!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain("unsafe-inline");
    expect(page.headers.get("x-content-type-options")).toBe("nosniff");
    const html = await page.text();
    // Every script is an external file: no inline script, no inline event handler.
    expect(html.match(/<script\b[^>]*>/g)?.every((tag) => / src="[^"]+"/.test(tag))).toBe(true);
    expect(html).not.toMatch(/\son[a-z]+=/);
  });

  it("redirects /console to /console/, serves its modules, and nothing of console/ outside /console", async () => {
    const redirect = await gateway("/console", { redirect: "manual" });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get("location")).toBe("/console/");
    const script = await gateway("/console/app.js");
    expect(script.headers.get("content-type")).toContain("javascript");
    expect(script.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect((await gateway("/app.js")).status).toBe(404);
    expect((await gateway("/console/no-such-file.js")).status).toBe(404);
  });
});
