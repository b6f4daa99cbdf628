import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ChatCompletionChunk, ChatCompletionResponse, EmbeddingResponse, ModelList } from "../../protocol/index.ts";
import {
  adminCall,
  backendStatus,
  chat,
  createKey,
  eventually,
  gateway,
  pollBackends,
  scenario,
} from "./gateway-client.ts";

interface UsageDay {
  key_id: string;
  model: string;
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
}

async function usageOf(keyId: string): Promise<UsageDay[]> {
  return (await (await adminCall("GET", `/usage?key_id=${keyId}`)).json<{ data: UsageDay[] }>()).data;
}

async function usageRows(keyId: string) {
  return eventually(async () => {
    const { results } = await env.DB.prepare(
      "SELECT status, prompt_tokens, completion_tokens FROM usage WHERE key_id = ?",
    )
      .bind(keyId)
      .all();
    return results.length ? results : undefined;
  });
}

function dataEvents(text: string): string[] {
  return text
    .split("\n\n")
    .filter((event) => event.startsWith("data: "))
    .map((event) => event.slice("data: ".length));
}

describe("proxying", () => {
  it("passes SSE through event by event under the asked-for name, and records usage", async () => {
    const { model, backends } = await scenario("sse", 1, { deltas: 4, delayMs: 30 });
    const { id, key } = await createKey();
    const response = await chat(key, { model: "alias-sse", stream: true }, { "x-request-id": "sse-request-1" });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    // The request id is the gateway's own; the client's is kept beside it.
    const requestId = response.headers.get("x-request-id");
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(response.headers.get("x-client-request-id")).toBe("sse-request-1");

    // Unbuffered: the first read yields the backend's first event alone, long before [DONE].
    const reader = response.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(dataEvents(first)).toHaveLength(1);
    let text = first;
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read())
      text += new TextDecoder().decode(chunk.value);

    const events = dataEvents(text);
    expect(events.at(-1)).toBe("[DONE]");
    const chunks = events.slice(0, -1).map((event) => ChatCompletionChunk.parse(JSON.parse(event)));
    expect(chunks.every((chunk) => chunk.model === "alias-sse")).toBe(true);
    expect(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? "").join("")).toBe("word0 word1 word2 word3 ");
    expect(chunks.at(-1)!.usage).toEqual({ prompt_tokens: 10, completion_tokens: 4, total_tokens: 14 });

    const stats = await backends[0].stats();
    expect(stats.lastRequestId).toBe(requestId);
    expect(stats.lastBody).toMatchObject({
      model: "deploy-sse",
      stream: true,
      stream_options: { include_usage: true },
    });
    const usage = await eventually(async () => (await usageOf(id))[0]);
    expect(usage).toMatchObject({ key_id: id, model: model, requests: 1, prompt_tokens: 10, completion_tokens: 4 });
    const row = await env.DB.prepare("SELECT request_id, client_request_id FROM usage WHERE key_id = ?")
      .bind(id)
      .first();
    expect(row).toEqual({ request_id: requestId, client_request_id: "sse-request-1" });
  });

  it("ends a stream as Mistral does, usage on the finish chunk, unless the client asks for OpenAI's usage chunk", async () => {
    const usage = { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 };
    const streamChunks = async (key: string, model: string, extra: Record<string, unknown> = {}) => {
      const events = dataEvents(await (await chat(key, { model, stream: true, ...extra })).text());
      expect(events.at(-1)).toBe("[DONE]");
      return events.slice(0, -1).map((event) => ChatCompletionChunk.parse(JSON.parse(event)));
    };
    // "finish": usage on the finish chunk plus the usage-only chunk asked for (moxie serve); "chunk": only the latter (vLLM).
    for (const streamUsage of ["finish", "chunk"] as const) {
      const { model } = await scenario(`usage-${streamUsage}`, 1, { deltas: 2, streamUsage });
      const { id, key } = await createKey();
      const chunks = await streamChunks(key, model);
      expect(chunks.every((chunk) => chunk.choices.length > 0)).toBe(true);
      expect(chunks.at(-1)).toMatchObject({ model, choices: [{ finish_reason: "stop" }], usage });
      expect(chunks.slice(0, -1).every((chunk) => chunk.usage === undefined)).toBe(true);
      expect(await usageRows(id)).toEqual([{ status: 200, prompt_tokens: 10, completion_tokens: 2 }]);

      const asked = await streamChunks(key, model, { stream_options: { include_usage: true } });
      expect(asked.at(-1)).toEqual(expect.objectContaining({ model, choices: [], usage }));
      expect(asked.at(-2)).toMatchObject({ choices: [{ finish_reason: "stop" }] });
    }
  });

  it("propagates a client disconnect to the backend and frees the key's slot", async () => {
    const { model, backends } = await scenario("abort", 1, { deltas: 200, delayMs: 20 });
    const { id, key } = await createKey({ max_concurrent: 1 });
    const response = await chat(key, { model, stream: true });
    const reader = response.body!.getReader();
    await reader.read();
    await reader.cancel();
    await eventually(async () => (await backends[0].stats()).aborted === 1);
    expect((await backends[0].stats()).completed).toBe(0);
    // Charged the prompt tokens the backend reported in its response header, though no usage chunk came.
    expect(await usageRows(id)).toEqual([{ status: 499, prompt_tokens: 10, completion_tokens: expect.any(Number) }]);
    // A client leaving is not the backend's fault: its slot is free and its circuit stays closed.
    expect(await backendStatus(backends[0].id)).toMatchObject({ inflight: 0, circuit: "closed" });
    await backends[0].control({ deltas: 2 });
    await eventually(async () => (await chat(key, { model })).status === 200);
  });

  it("ends a stream whose backend fails mid-way with an SSE error event", async () => {
    const { model } = await scenario("midstream", 1, { failAfterDeltas: 2 });
    const { id, key } = await createKey();
    const response = await chat(key, { model, stream: true });
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).toContain('"content":"word1 "');
    expect(text).not.toContain("[DONE]");
    const errorEvent = text.split("\n\n").find((event) => event.startsWith("event: error"))!;
    expect(JSON.parse(errorEvent.split("data: ")[1])).toMatchObject({ object: "error", type: "upstream_error" });
    // Without a usage chunk the key is charged the prompt the backend reported and the content events it was sent.
    expect(await usageRows(id)).toEqual([{ status: 502, prompt_tokens: 10, completion_tokens: 2 }]);
  });

  it("does not bill a stream whose backend fails before sending any content", async () => {
    const { model } = await scenario("early-failure", 1, { failAfterDeltas: 0 });
    const { id, key } = await createKey();
    const response = await chat(key, { model, stream: true });
    expect(response.status).toBe(200);
    expect(await response.text()).toMatch(/event: error\ndata: .*upstream_error/);
    expect(await usageRows(id)).toEqual([{ status: 502, prompt_tokens: 0, completion_tokens: 0 }]);
  });

  it("serves non-stream completions, embeddings and the model list under public names", async () => {
    const { model, embedModel, backends } = await scenario("json", 1);
    const { key } = await createKey();
    const completion = await chat(key, { model, max_tokens: 4000 });
    expect(ChatCompletionResponse.parse(await completion.json())).toMatchObject({ model, usage: { total_tokens: 13 } });
    expect(completion.headers.get("x-ratelimit-tokens-query-cost")).toBe("13");
    expect((await backends[0].stats()).lastBody).toMatchObject({ model: "deploy-json", max_tokens: 4000 });

    // Like Mistral's API, max_tokens beyond the context is a 400 naming the numbers, not a silent clamp.
    const tooLong = await chat(key, { model, max_tokens: 100_000 });
    expect(tooLong.status).toBe(400);
    expect(await tooLong.json()).toMatchObject({
      code: "context_length_exceeded",
      message: expect.stringContaining("max_tokens is 100000, more than the 4096-token context"),
    });

    const embedding = await gateway("/v1/embeddings", {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: embedModel, input: ["a", "b"] }),
    });
    expect(EmbeddingResponse.parse(await embedding.json())).toMatchObject({
      model: embedModel,
      data: [{ index: 0 }, { index: 1 }],
    });

    const list = ModelList.parse(
      await (await gateway("/v1/models", { headers: { authorization: `Bearer ${key}` } })).json(),
    );
    expect(list.data.find((card) => card.id === model)).toMatchObject({
      aliases: ["alias-json"],
      max_context_length: 4096,
      capabilities: { completion_chat: true },
    });
    expect(list.data.find((card) => card.id === embedModel)).toMatchObject({
      capabilities: { completion_chat: false },
    });
    expect(list.data.some((card) => card.id === "open-mixtral-8x7b")).toBe(false);

    const openapi = await gateway("/v1/openapi.json");
    expect(openapi.status).toBe(200);
  });

  it("serves a model with the context its backends report when that is less than the catalog's", async () => {
    // The catalog says 4096; the healthy backends serve at most 2048.
    const { model, backends } = await scenario("context", 2, { max_context_length: 1024 });
    await backends[1].control({ max_context_length: 2048 });
    await pollBackends();
    const { key } = await createKey({ tpm: 100_000 });
    const contextOf = async () => {
      const list = ModelList.parse(
        await (await gateway("/v1/models", { headers: { authorization: `Bearer ${key}` } })).json(),
      );
      return list.data.find((card) => card.id === model)?.max_context_length;
    };
    expect(await contextOf()).toBe(2048);

    expect((await chat(key, { model, max_tokens: 3000 })).status).toBe(400);
    const completion = await chat(key, { model });
    expect(completion.status).toBe(200);
    // Reserved: the prompt estimate (27) + an unset max_tokens as the rest of the served 2048.
    expect(completion.headers.get("x-ratelimit-remaining-tokens-minute")).toBe(String(100_000 - 2048));

    // A healthy backend that reports no context may serve the catalog's whole length.
    await backends[0].control({ max_context_length: null });
    await pollBackends();
    expect(await contextOf()).toBe(4096);

    // vLLM reports it as max_model_len in /v1/models, asked when /health lists no models.
    await backends[0].control({ healthRoute: false, max_context_length: 3072 });
    await pollBackends();
    expect(await contextOf()).toBe(3072);
  });
});
