import { describe, expect, it } from "vitest";
import type { ValidationErrorBody } from "../../protocol/index.ts";
import { adminCall, chat, createKey, gateway, scenario } from "./gateway-client.ts";

describe("API keys", () => {
  it("refuses a missing or wrong key with 401 in Mistral's error shape", async () => {
    const missing = await gateway("/v1/models");
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({
      object: "error",
      type: "authentication_error",
      code: "missing_api_key",
    });
    const wrong = await gateway("/v1/models", { headers: { authorization: "Bearer sk-moxie-not-a-real-key" } });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ object: "error", code: "invalid_api_key" });
  });

  it("creates keys shown once, stores only hashes, and refuses a revoked key at once", async () => {
    const { model } = await scenario("auth-revoke", 1);
    const created = await createKey({ name: "revoke-me" });
    expect(created.key).toMatch(/^sk-moxie-[A-Za-z0-9_-]{43}$/);
    expect((await chat(created.key, { model })).status).toBe(200);

    const listed = await (await adminCall("GET", "/keys")).text();
    expect(listed).toContain(created.id);
    expect(listed).not.toContain(created.key);

    const revoked = await adminCall("POST", `/keys/${created.id}/revoke`);
    expect(await revoked.json()).toMatchObject({ id: created.id, revoked_at: expect.any(String) });
    const refused = await chat(created.key, { model });
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ object: "error", code: "invalid_api_key" });
  });

  it("answers 403 for a model the key may not use, by id or alias", async () => {
    const { model } = await scenario("auth-models", 1);
    const { model: other } = await scenario("auth-models-other", 1);
    const { key } = await createKey({ models: [model] });
    expect((await chat(key, { model })).status).toBe(200);
    expect((await chat(key, { model: "alias-auth-models" })).status).toBe(200);
    // Allowed by an alias: every name of the same model is allowed.
    const { key: byAlias } = await createKey({ models: ["alias-auth-models"] });
    expect((await chat(byAlias, { model })).status).toBe(200);
    expect((await chat(byAlias, { model: other })).status).toBe(403);
    const forbidden = await chat(key, { model: other });
    expect(forbidden.status).toBe(403);
    expect(await forbidden.json()).toMatchObject({ object: "error", type: "permission_error" });
  });
});

describe("admin API", () => {
  it("requires the admin token", async () => {
    expect((await gateway("/admin/keys")).status).toBe(401);
    expect((await adminCall("GET", "/keys", undefined, "wrong-token")).status).toBe(401);
    expect((await adminCall("GET", "/keys")).status).toBe(200);
  });

  it("validates admin bodies and updates limits", async () => {
    const invalid = await adminCall("POST", "/keys", { name: "x", rpm: -1 });
    expect(invalid.status).toBe(422);
    expect((await invalid.json<ValidationErrorBody>()).detail[0]).toMatchObject({ loc: ["body", "rpm"] });
    const { id } = await createKey();
    const updated = await adminCall("PATCH", `/keys/${id}`, { rpm: 7, models: ["mistral-small"] });
    expect(await updated.json()).toMatchObject({
      id,
      allowed_models: ["mistral-small"],
      limits: { rpm: 7, tpm: null },
    });
    expect((await adminCall("GET", "/keys/key_missing")).status).toBe(404);
  });
});

describe("bad input", () => {
  it("answers 400, 413, 422 and 404 in the API's error formats, echoing x-request-id as x-client-request-id", async () => {
    const { model } = await scenario("bad-input", 1);
    const { key } = await createKey();
    const post = (body: string) =>
      gateway("/v1/chat/completions", {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "x-request-id": "req-123" },
        body,
      });

    const notJson = await post("{nope");
    expect(notJson.status).toBe(400);
    expect(notJson.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(notJson.headers.get("x-client-request-id")).toBe("req-123");
    expect(await notJson.json()).toMatchObject({ object: "error", code: "invalid_json" });

    const tooBig = await post(JSON.stringify({ model, messages: [{ role: "user", content: "x".repeat(1_100_000) }] }));
    expect(tooBig.status).toBe(413);

    const invalid = await post(JSON.stringify({ model, messages: [] }));
    expect(invalid.status).toBe(422);
    expect((await invalid.json<ValidationErrorBody>()).detail[0]).toMatchObject({
      loc: ["body", "messages"],
      type: "too_short",
    });

    const unknown = await post(JSON.stringify({ model: "no-such-model", messages: [{ role: "user", content: "hi" }] }));
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ object: "error", code: "model_not_found" });

    const noRoute = await gateway("/v1/nowhere", { headers: { authorization: `Bearer ${key}` } });
    expect(noRoute.status).toBe(404);
    // The same body as the backend's (protocol/http/error-response.ts).
    expect(await noRoute.json()).toEqual({
      object: "error",
      message: "No route GET /v1/nowhere.",
      type: "not_found_error",
      param: null,
      code: "not_found",
    });

    const preflight = await gateway("/v1/chat/completions", {
      method: "OPTIONS",
      headers: {
        origin: "https://app.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization",
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("*");
    const cors = await gateway("/v1/models", {
      headers: { authorization: `Bearer ${key}`, origin: "https://app.example" },
    });
    const exposedHeaders = cors.headers
      .get("access-control-expose-headers")!
      .split(",")
      .map((name) => name.trim());
    expect(exposedHeaders).toEqual(
      expect.arrayContaining([
        "x-ratelimit-limit-tokens-month",
        "x-ratelimit-remaining-tokens-month",
        "x-ratelimit-tokens-query-cost",
      ]),
    );

    const fresh = await gateway("/health");
    expect(fresh.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    const health = await fresh.json<{ status: string; backends: { total: number; ready: number } }>();
    expect(health.status).toBe("ok");
    expect(health.backends.ready).toBeGreaterThanOrEqual(1);
  });
});
