import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { MAX_BUFFERED_ANSWER_BYTES } from "../../gateway/proxy/respond.ts";
import { adminCall, backendStatus, chat, createKey, eventually, scenario } from "./gateway-client.ts";

/** Stands in for backends at `origin` (what the shared fake backend cannot do), passing every other fetch through. */
function fakeOrigin(
  origin: string,
  answer: (path: string, init: RequestInit | undefined) => Response | Promise<Response>,
) {
  const fetch = globalThis.fetch;
  const seen: RequestInit[] = [];
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const url = String(input);
    if (!url.startsWith(origin)) return fetch(input, init);
    seen.push(init ?? {});
    return answer(url.slice(origin.length), init);
  });
  return seen;
}

const healthy = (deployment: string) =>
  Response.json({ status: "ready", models: [deployment], running: 0, waiting: 0, free_kv_slots: 8 });

describe("backends that misbehave", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("takes a backend's 401 (a wrong secret) as its failure: never the client's answer, and its circuit opens", async () => {
    const { model, backends } = await scenario("wrong-secret", 2);
    await backends[0].control({ secret: "not-what-the-gateway-sends" });
    // A fixed cache scope, so affinity spreads the requests the same way on every run.
    const { key } = await createKey({ cache_scope: "wrong-secret" });
    for (let index = 0; index < 16; index++)
      expect((await chat(key, { model, prompt_cache_key: `wrong-${index}` })).status).toBe(200);
    expect(await backendStatus(backends[0].id)).toMatchObject({ circuit: "open" });

    // No backend left to try: 503 in the API's format, with nothing of the backend's 401.
    await backends[1].control({ secret: "not-what-the-gateway-sends" });
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const refused = await eventually(async () => {
      const response = await chat(key, { model });
      return response.status === 503 ? response : (await response.text(), undefined);
    });
    expect(await refused.json()).toMatchObject({ type: "service_unavailable" });
  });

  it("follows no redirect: a 3xx counts against the backend and the prompt goes nowhere else", async () => {
    // The other origin: a real backend the pool itself sends nothing (it drains).
    const { model, backends } = await scenario("redirect", 1);
    expect((await adminCall("POST", `/backends/${backends[0].id}/drain`, {})).status).toBe(200);
    const elsewhere = `${env.FAKE_BACKEND_URL}/b/${backends[0].id}`;
    const origin = "https://redirector.example.com";
    const fetch = globalThis.fetch;
    const seen = fakeOrigin(origin, (path, init) =>
      path === "/health"
        ? healthy("deploy-redirect")
        : init?.redirect === "manual"
          ? new Response(null, { status: 307, headers: { location: `${elsewhere}${path}` } })
          : // What a fetch that follows the redirect does.
            fetch(`${elsewhere}${path}`, init),
    );
    const registered = await adminCall("POST", "/backends", { id: "redirector", url: origin });
    expect(registered.status).toBe(201);
    const { key } = await createKey();
    for (let attempt = 0; attempt < 3; attempt++) {
      const response = await chat(key, { model });
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({ type: "service_unavailable" });
    }
    expect(seen.filter((init) => init.method === "POST")).toHaveLength(3);
    expect(seen.every((init) => init.redirect === "manual")).toBe(true);
    expect((await backends[0].stats()).requests).toBe(0);
    expect(await backendStatus("redirector")).toMatchObject({ circuit: "open" });
    expect((await adminCall("DELETE", "/backends/redirector")).status).toBe(204);
  });

  it("buffers at most MAX_BUFFERED_ANSWER_BYTES of a non-streamed answer: 413 past it, and the usage is still charged", async () => {
    const { model, backends } = await scenario("huge-answer", 1);
    expect((await adminCall("POST", `/backends/${backends[0].id}/drain`, {})).status).toBe(200);
    const origin = "https://huge.example.com";
    const usage = { prompt_tokens: 12, completion_tokens: 16_000, total_tokens: 16_012 };
    fakeOrigin(origin, (path) => {
      if (path === "/health") return healthy("deploy-huge-answer");
      const encoder = new TextEncoder();
      const piece = encoder.encode(`{"index":0,"message":{"role":"assistant","content":"${"x".repeat(65_000)}"}},`);
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent === 0) controller.enqueue(encoder.encode('{"id":"c","object":"chat.completion","choices":['));
          if (sent * piece.byteLength > MAX_BUFFERED_ANSWER_BYTES + 1_000_000) {
            controller.enqueue(encoder.encode(`{"index":1}],"usage":${JSON.stringify(usage)}}`));
            controller.close();
          } else controller.enqueue(piece);
          sent += 1;
        },
      });
      return new Response(body, { headers: { "content-type": "application/json" } });
    });
    expect(
      (await adminCall("POST", "/backends", { id: "huge", url: origin, models: ["deploy-huge-answer"] })).status,
    ).toBe(201);
    const { id, key } = await createKey();
    const response = await chat(key, { model, max_tokens: 4000 });
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({
      type: "invalid_request_error",
      code: "response_too_large",
      message: expect.stringContaining("stream it"),
    });
    const row = await eventually(() =>
      env.DB.prepare("SELECT status, prompt_tokens, completion_tokens FROM usage WHERE key_id = ?").bind(id).first(),
    );
    expect(row).toEqual({ status: 413, prompt_tokens: 12, completion_tokens: 16_000 });
    expect((await adminCall("DELETE", "/backends/huge")).status).toBe(204);
  });
});
