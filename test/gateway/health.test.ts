import { exports } from "cloudflare:workers";
import { expect, it } from "vitest";

it("answers /health without auth", async () => {
  const response = await exports.default.fetch("http://gateway/health");
  expect(response.status).toBe(200);
  expect(await response.json()).toMatchObject({ status: "ok" });
});
