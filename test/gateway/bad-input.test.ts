import { describe, expect, it } from "vitest";
import { MAX_JSON_DEPTH } from "../../protocol/index.ts";
import { backendStatus, chat, createKey, gateway, scenario } from "./gateway-client.ts";

/** A chat request whose metadata nests `depth` objects. */
function nested(model: string, depth: number): string {
  return `{"model": "${model}", "messages": [{"role": "user", "content": "hi"}], "metadata": ${'{"a": '.repeat(depth)}1${"}".repeat(depth)}}`;
}

describe("bad input is refused at the gateway, before any backend sees it", () => {
  it("a 404 for an unknown model echoes only the start of a huge model name", async () => {
    const { key } = await createKey();
    const name = "m".repeat(5_050);
    const response = await chat(key, { model: name });
    expect(response.status).toBe(404);
    const { message } = await response.json<{ message: string }>();
    expect(message).toBe(`Model '${"m".repeat(64)}…' not found for /v1/chat/completions`);
  });

  it("n above the protocol's bound (16) gets 422", async () => {
    const { model, backends } = await scenario("bad-n", 1);
    const { key } = await createKey();
    const response = await chat(key, { model, n: 60_000_000, max_tokens: 0 });
    expect(response.status).toBe(422);
    expect(await response.json()).toMatchObject({ detail: [{ loc: ["body", "n"], type: "less_than_equal" }] });
    expect((await backends[0].stats()).requests).toBe(0);
  });

  it(`JSON nested deeper than ${MAX_JSON_DEPTH} levels gets 422, and cannot open a backend's circuit`, async () => {
    const { model, backends } = await scenario("deep", 1);
    const { key } = await createKey();
    const post = (body: string) =>
      gateway("/v1/chat/completions", {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body,
      });
    for (const depth of [MAX_JSON_DEPTH + 1, 10_000, 100_000]) {
      const response = await post(nested(model, depth));
      expect(response.status).toBe(422);
      expect(await response.json()).toMatchObject({ detail: [{ loc: ["body"], type: "json_too_deep" }] });
    }
    expect((await backends[0].stats()).requests).toBe(0);
    expect(await backendStatus(backends[0].id)).toMatchObject({ circuit: "closed" });
    // Depth within the limit is fine, brackets inside strings are not nesting.
    expect((await post(nested(model, MAX_JSON_DEPTH - 3).replace('"hi"', `"${"[{".repeat(200)}"`))).status).toBe(200);
  });
});

describe("bad input costs the gateway little", () => {
  it("authenticates before reading the body: an unauthenticated client trickling a body gets 401 at once", async () => {
    const trickle = new ReadableStream<Uint8Array>({
      start: (controller) => controller.enqueue(new TextEncoder().encode('{"model": ')),
    });
    const response = await Promise.race([
      gateway("/v1/chat/completions", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: trickle,
        duplex: "half",
      } as RequestInit),
      new Promise<"hung">((resolve) => setTimeout(() => resolve("hung"), 3_000)),
    ]);
    expect(response).not.toBe("hung");
    expect((response as Response).status).toBe(401);
  });

  it("a 422 echoes at most the start of each bad input, and a bounded number of problems", async () => {
    const { model } = await scenario("echo", 1);
    const { key } = await createKey();
    const bad = Array.from({ length: 3000 }, () => ({ role: "user", content: "x".repeat(80), extra: "y".repeat(20) }));
    const body = JSON.stringify({
      model,
      messages: [...bad, { role: "user", content: [{ type: "text", text: "z".repeat(50_000), oops: 1 }] }],
    });
    const response = await gateway("/v1/chat/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body,
    });
    expect(response.status).toBe(422);
    const text = await response.text();
    expect(body.length).toBeGreaterThan(300_000);
    expect(text.length).toBeLessThan(20_000);
    const { detail } = JSON.parse(text) as { detail: { input?: unknown }[] };
    expect(detail.length).toBeLessThanOrEqual(50);
    expect(detail.every((entry) => JSON.stringify(entry.input ?? null).length < 400)).toBe(true);
  });
});
