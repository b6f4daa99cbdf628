// `moxie serve` as a real process on the tiny fixture, driven by the official SDKs and raw HTTP.
import { Mistral } from "@mistralai/mistralai";
import { EventSourceParserStream } from "eventsource-parser/stream";
import OpenAI from "openai";
import type { ChatCompletionResponse } from "../../protocol/chat.ts";
import type { EmbeddingResponse } from "../../protocol/embeddings.ts";
import { BackendHealth } from "../../protocol/health.ts";
import { PROMPT_TOKENS_HEADER, type UsageInfo } from "../../protocol/usage.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fixture } from "./support/fixture.ts";
import { serveFailure, startServe, type ServeProcess } from "./support/serve-process.ts";

const secret = "test-backend-secret";
const model = "mixtral-tiny";
const maxSeqs = 9;
const maxQueue = 4;
/** Seconds between keep-alive comments: short, so the streams below that wait for a slot get some. */
const keepalive = 0.2;
let server: ServeProcess;
let mistral: Mistral;
let openai: OpenAI;

beforeAll(async () => {
  server = await startServe(
    [
      ...["--model", fixture, "--max-seqs", String(maxSeqs), "--max-queue", String(maxQueue), "--threads", "1"],
      ...["--stream-keepalive", String(keepalive)],
    ],
    {
      MOXIE_BACKEND_SECRET: secret,
    },
  );
  mistral = new Mistral({ apiKey: secret, serverURL: server.url });
  openai = new OpenAI({ apiKey: secret, baseURL: `${server.url}/v1` });
});
afterAll(async () => {
  await server?.stop();
});

const auth = { authorization: `Bearer ${secret}`, "content-type": "application/json" };

function post(path: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return fetch(`${server.url}${path}`, {
    method: "POST",
    headers: auth,
    body: typeof body === "string" ? body : JSON.stringify(body),
    ...init,
  });
}

/** GET /health, held to the gateway↔backend contract (no field missing, none extra). */
async function health(): Promise<BackendHealth> {
  return BackendHealth.strict().parse(await (await fetch(`${server.url}/health`)).json());
}

/** /health once it satisfies `done` (it reflects the worker's last finished step), or after 5 s as it is. */
async function healthUntil(done: (load: BackendHealth) => boolean): Promise<BackendHealth> {
  let load = await health();
  for (let attempt = 0; attempt < 250 && !done(load); attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    load = await health();
  }
  return load;
}

/** A counter of /metrics, such as vllm:prompt_tokens_total. */
async function counter(name: string): Promise<number> {
  const metrics = await fetch(`${server.url}/metrics`, { headers: auth }).then((response) => response.text());
  return Number(new RegExp(`^${name}\\{model_name="${model}"\\} (\\d+)$`, "m").exec(metrics)?.[1]);
}

const question = [{ role: "user" as const, content: "Tell me about the weather in Paris." }];

interface Chat {
  text: string;
  finish: string | null;
  deltas: string[];
  usage: UsageInfo | undefined;
}

/** A streamed chat read event by event over raw SSE: its deltas, finish reason and usage. */
async function streamChat(
  body: Record<string, unknown>,
  signal?: AbortSignal,
  onChunk?: (count: number) => void,
): Promise<Chat> {
  const response = await post("/v1/chat/completions", { model, messages: question, ...body, stream: true }, { signal });
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toContain("text/event-stream");
  const chat: Chat = { text: "", finish: null, deltas: [], usage: undefined };
  let events = 0;
  const messages = response.body!.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream());
  for await (const { event, data } of messages) {
    expect(event).toBeUndefined();
    if (data === "[DONE]") {
      // The prompt's size is known to the gateway from the headers, before any usage arrives.
      expect(Number(response.headers.get(PROMPT_TOKENS_HEADER))).toBe(chat.usage?.prompt_tokens);
      return chat;
    }
    const chunk = JSON.parse(data);
    expect(chunk.object).toBe("chat.completion.chunk");
    if (events++ === 0) expect(chunk.choices[0].delta).toEqual({ role: "assistant", content: "" });
    onChunk?.(events);
    for (const choice of chunk.choices) {
      chat.deltas.push(choice.delta.content);
      chat.text += choice.delta.content;
      chat.finish = choice.finish_reason ?? chat.finish;
    }
    chat.usage = chunk.usage ?? chat.usage;
  }
  throw new Error("the stream ended without data: [DONE]");
}

/** `count` streams of up to 4000 tokens that hold their slots until stopped; `accepted` once each has its role chunk. */
function longStreams(count: number): { accepted: Promise<unknown>; stop(): Promise<void> } {
  const controllers = Array.from({ length: count }, () => new AbortController());
  const firstChunks: Promise<void>[] = [];
  const streams = controllers.map((controller) => {
    let seen!: () => void;
    firstChunks.push(new Promise<void>((resolve) => (seen = resolve)));
    // Greedy: a sampled EOS would end a stream early and free its slot.
    return streamChat({ max_tokens: 4000, temperature: 0 }, controller.signal, seen).catch((error: Error) => error);
  });
  return {
    accepted: Promise.all(firstChunks),
    async stop() {
      for (const controller of controllers) controller.abort();
      await Promise.all(streams);
    },
  };
}

async function complete(body: Record<string, unknown>): Promise<ChatCompletionResponse> {
  const response = await post("/v1/chat/completions", { model, messages: question, ...body });
  expect(response.status).toBe(200);
  return (await response.json()) as ChatCompletionResponse;
}

async function embed(body: Record<string, unknown>): Promise<EmbeddingResponse> {
  const response = await post("/v1/embeddings", { model, ...body });
  expect(response.status).toBe(200);
  return (await response.json()) as EmbeddingResponse;
}

/** A JSON answer of any shape (errors, validation details). */
// Error bodies of several shapes, read field by field: their shape is what is under test.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Answer = Record<string, any>;
async function answer(response: Response): Promise<Answer> {
  return (await response.json()) as Answer;
}

describe("official SDKs", () => {
  it("Mistral: chat.complete, chat.stream (same seed, same text), embeddings.create, models.list", async () => {
    const request = { model, messages: question, maxTokens: 16, randomSeed: 11, temperature: 0.9 };
    const completion = await mistral.chat.complete(request);
    const text = completion.choices[0].message?.content;
    expect(typeof text).toBe("string");
    expect(completion.choices[0].finishReason).toBe("length");
    expect(completion.usage.completionTokens).toBe(16);

    const stream = await mistral.chat.stream(request);
    let streamed = "";
    let usage;
    for await (const event of stream) {
      streamed += (event.data.choices[0]?.delta.content as string | undefined) ?? "";
      usage = event.data.usage ?? usage;
    }
    expect(streamed).toBe(text);
    expect(usage?.totalTokens).toBe(completion.usage.totalTokens);

    const embeddings = await mistral.embeddings.create({ model, inputs: ["first text", "second, longer text"] });
    expect(embeddings.data).toHaveLength(2);
    const vector = embeddings.data[0].embedding!;
    expect(vector).toHaveLength(64);
    expect(Math.hypot(...vector)).toBeCloseTo(1, 4);
    expect(embeddings.usage.promptTokens).toBeGreaterThan(4);

    const models = await mistral.models.list();
    expect(models.data?.[0]).toMatchObject({
      id: model,
      maxContextLength: 4096,
      capabilities: { completionChat: true },
    });
  });

  it("OpenAI: chat.completions (stream with include_usage), embeddings (base64 decoded), models", async () => {
    const request = { model, messages: question, max_tokens: 12, temperature: 0 };
    const completion = await openai.chat.completions.create(request);
    const stream = await openai.chat.completions.create({
      ...request,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let usage;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      usage = chunk.usage ?? usage;
    }
    expect(text).toBe(completion.choices[0].message.content);
    expect(usage?.completion_tokens).toBe(12);

    const floats = await embed({ input: ["a cat", "a dog"] });
    const decoded = await openai.embeddings.create({ model, input: ["a cat", "a dog"] });
    expect(decoded.data[1].embedding).toEqual((floats.data[1].embedding as number[]).map(Math.fround));
    expect((await openai.models.list()).data.map((card) => card.id)).toEqual([model]);
  });
});

describe("generation", () => {
  it("a seeded request gives the same text alone and inside a batch of 8 others; stream text equals non-stream text", async () => {
    const seeded = { max_tokens: 24, random_seed: 1234, temperature: 1 };
    const alone = await complete(seeded);
    const others = Array.from({ length: 8 }, (_, i) =>
      i % 2
        ? streamChat({ max_tokens: 10 + i * 3, random_seed: i })
        : complete({ max_tokens: 30 - i, random_seed: 100 + i, temperature: 0.8 }),
    );
    const [batched, streamed] = await Promise.all([complete(seeded), streamChat(seeded), ...others]);
    expect(batched.choices[0].message.content).toBe(alone.choices[0].message.content);
    expect(streamed.text).toBe(alone.choices[0].message.content);
    expect(streamed.usage).toEqual(alone.usage);
    expect(streamed.finish).toBe("length");
  });

  it("stream deltas never split a character and join to the non-stream text (several seeds)", async () => {
    for (const seed of [3, 8, 21]) {
      const body = { max_tokens: 40, random_seed: seed, temperature: 1.2 };
      const [whole, streamed] = await Promise.all([complete(body), streamChat(body)]);
      expect(streamed.text).toBe(whole.choices[0].message.content);
      for (const delta of streamed.deltas)
        expect(/[\uD800-\uDBFF]$|^[\uDC00-\uDFFF]/.test(delta), JSON.stringify(delta)).toBe(false);
    }
  });

  it("stops at a stop string that spans tokens, without showing it, streamed or not", async () => {
    const greedy = { max_tokens: 30, temperature: 0 };
    const full = (await complete(greedy)).choices[0].message.content as string;
    const stop = full.slice(12, 19);
    const expected = full.slice(0, full.indexOf(stop));
    const stopped = await complete({ ...greedy, stop: [stop] });
    expect(stopped.choices[0]).toMatchObject({ message: { content: expected }, finish_reason: "stop" });
    const streamed = await streamChat({ ...greedy, stop });
    expect(streamed).toMatchObject({ text: expected, finish: "stop" });
  });

  it("n > 1 gives n choices with their own seeds from one prefill; usage counts the prompt once and every choice's tokens", async () => {
    const prefilled = await counter("vllm:prompt_tokens_total");
    const response = await complete({ n: 3, max_tokens: 8, random_seed: 9, temperature: 1 });
    expect(await counter("vllm:prompt_tokens_total")).toBe(prefilled + response.usage.prompt_tokens);
    expect(response.choices.map((choice) => choice.index)).toEqual([0, 1, 2]);
    expect(new Set(response.choices.map((choice) => choice.message.content)).size).toBe(3);
    expect(response.usage.completion_tokens).toBe(24);
    const first = await complete({ max_tokens: 8, random_seed: 9, temperature: 1 });
    expect(first.choices[0].message.content).toBe(response.choices[0].message.content);
  });

  it("safe_prompt adds Mistral's guardrail prompt; an assistant prefix is continued, not closed", async () => {
    const plain = await complete({ max_tokens: 1 });
    const safe = await complete({ max_tokens: 1, safe_prompt: true });
    expect(safe.usage.prompt_tokens).toBeGreaterThan(plain.usage.prompt_tokens + 30);
    const prefix = { role: "assistant", content: "Sure, here", prefix: true };
    const continued = await complete({ messages: [...question, prefix], max_tokens: 1 });
    // [INST] … [/INST] + the prefix's tokens, with no EOS closing the assistant turn.
    expect(continued.usage.prompt_tokens).toBeGreaterThan(plain.usage.prompt_tokens);
    const closed = await post("/v1/chat/completions", { model, messages: [...question, { ...prefix, prefix: false }] });
    expect(closed.status).toBe(400);
  });

  it("prompt + max_tokens beyond the context is refused with 400 and the numbers; without max_tokens it runs up to the context", async () => {
    const messages = [{ role: "user", content: "word ".repeat(4070) }];
    for (const max_tokens of [200, 1e12]) {
      const refused = await post("/v1/chat/completions", { model, messages, max_tokens });
      expect(refused.status).toBe(400);
      const body = await answer(refused);
      expect(body).toMatchObject({
        object: "error",
        type: "invalid_request_error",
        code: "context_length_exceeded",
        param: "max_tokens",
      });
      expect(body.message).toMatch(
        new RegExp(
          `Prompt contains (\\d+) tokens and max_tokens is ${max_tokens}: \\d+ tokens, too large for model with 4096 maximum context length`,
        ),
      );
    }
    const response = await complete({ messages, temperature: 0 });
    expect(response.choices[0].finish_reason).toBe("model_length");
    expect(response.usage.total_tokens).toBe(4096);
  });

  it("a prompt that fills the context is refused with 400 and the numbers", async () => {
    const response = await post("/v1/chat/completions", {
      model,
      messages: [{ role: "user", content: "word ".repeat(5000) }],
    });
    expect(response.status).toBe(400);
    const body = await answer(response);
    expect(body).toMatchObject({ object: "error", type: "invalid_request_error", code: "context_length_exceeded" });
    expect(body.message).toMatch(/Prompt contains \d+ tokens, too large for model with 4096 maximum context length/);
  });

  it("a prompt whose characters alone exceed the context is refused before it is tokenized (a 1 MB run of one letter)", async () => {
    for (const [path, body] of [
      ["/v1/chat/completions", { model, messages: [{ role: "user", content: "a".repeat(1_000_000) }] }],
      ["/v1/embeddings", { model, input: ["short", "a".repeat(1_000_000)] }],
    ] as const) {
      const response = await post(path, body);
      expect(response.status).toBe(400);
      const answered = await answer(response);
      expect(answered).toMatchObject({ code: "context_length_exceeded" });
      // "at least": counted from the characters (at most 16 per token), not by tokenizing.
      expect(answered.message).toMatch(/contains at least 62500 tokens/);
    }
  });

  it("embeddings: several inputs in one pass, float and base64 little-endian float32 agree", async () => {
    const input = ["one", "two words", "three words here"];
    const floats = await embed({ input });
    const base64 = await embed({ input, encoding_format: "base64" });
    expect(floats.data.map((item) => item.index)).toEqual([0, 1, 2]);
    for (const [i, item] of base64.data.entries()) {
      const bytes = Buffer.from(item.embedding as string, "base64");
      const values = Array.from({ length: bytes.length / 4 }, (_, k) => bytes.readFloatLE(k * 4));
      expect(values).toEqual((floats.data[i].embedding as number[]).map(Math.fround));
    }
    expect(floats.usage).toMatchObject({ completion_tokens: 0 });
    expect(floats.usage.prompt_tokens).toBe(floats.usage.total_tokens);
  });

  it("a request larger than one embedding pass (2048 tokens) is split, with the same vectors as inputs sent alone", async () => {
    const input = ["word ".repeat(1500), "cat ".repeat(1200), "short one"];
    const together = await embed({ input });
    expect(together.usage.prompt_tokens).toBeGreaterThan(2700);
    for (const [i, text] of input.entries()) {
      const alone = (await embed({ input: text })).data[0].embedding as number[];
      const joint = together.data[i].embedding as number[];
      const cosine = alone.reduce((sum, value, k) => sum + value * joint[k], 0);
      expect(cosine).toBeCloseTo(1, 5);
    }
  });
});

describe("prefix caching", () => {
  it("a second turn sharing the first's prefix reports cached prompt tokens and the same greedy answer; /metrics counts queries and hits", async () => {
    const history = [
      {
        role: "user" as const,
        content: "Describe, in as much detail as you can, the weather in Paris during each season of the year.",
      },
    ];
    const request = { model, messages: history, max_tokens: 6, temperature: 0 };
    const [queries, hits] = [
      await counter("vllm:prefix_cache_queries_total"),
      await counter("vllm:prefix_cache_hits_total"),
    ];
    const first = await openai.chat.completions.create(request);
    expect(first.usage?.prompt_tokens_details?.cached_tokens).toBe(0);
    const second = await openai.chat.completions.create(request);
    const cached = second.usage?.prompt_tokens_details?.cached_tokens ?? 0;
    expect(cached).toBeGreaterThan(0);
    expect(cached).toBeLessThan(second.usage!.prompt_tokens);
    expect(second.choices[0].message.content).toBe(first.choices[0].message.content);
    expect(await counter("vllm:prefix_cache_queries_total")).toBe(queries + 2 * first.usage!.prompt_tokens);
    expect(await counter("vllm:prefix_cache_hits_total")).toBe(hits + cached);
  });
  it("cache_salt keeps prompts apart: another salt finds nothing cached, the same salt finds the prefix", async () => {
    const request = {
      model,
      messages: [
        { role: "user" as const, content: "Alice's account number is 4417 1234 5678 9113; what is her balance?" },
      ],
      max_tokens: 1,
      temperature: 0,
    };
    const salted = (salt: string) => ({ ...request, cache_salt: salt }) as typeof request;
    await openai.chat.completions.create(salted("tenant-a"));
    const probe = await openai.chat.completions.create(salted("tenant-b"));
    expect(probe.usage?.prompt_tokens_details?.cached_tokens).toBe(0);
    const again = await openai.chat.completions.create(salted("tenant-a"));
    expect(again.usage?.prompt_tokens_details?.cached_tokens).toBeGreaterThan(0);
  });
});

describe("load, cancellation and back-pressure", () => {
  it("fills every slot and the queue, answers 503 + Retry-After beyond; cancelled streams free their slots", async () => {
    const streams = longStreams(maxSeqs + maxQueue);
    try {
      // Every request was accepted (its role chunk arrived); the next step admits 9 and leaves 4 waiting.
      await streams.accepted;
      expect(await healthUntil((load) => load.running === maxSeqs && load.waiting === maxQueue)).toMatchObject({
        status: "ready",
        running: maxSeqs,
        waiting: maxQueue,
        free_kv_slots: 0,
        kv_slots: maxSeqs,
      });

      const refused = await post("/v1/chat/completions", { model, messages: question, max_tokens: 5 });
      expect(refused.status).toBe(503);
      expect(refused.headers.get("retry-after")).toBeTruthy();
      expect(await answer(refused)).toMatchObject({ object: "error", code: "overloaded" });

      const metrics = await fetch(`${server.url}/metrics`, { headers: auth }).then((response) => response.text());
      expect(metrics).toMatch(/vllm:num_requests_running\{model_name="mixtral-tiny"\} 9/);
      expect(
        Number(/vllm:kv_cache_usage_perc\{model_name="mixtral-tiny"\} ([\d.e-]+)/.exec(metrics)?.[1]),
      ).toBeGreaterThan(0);
    } finally {
      await streams.stop();
    }
    expect(await healthUntil((load) => load.running === 0 && load.waiting === 0)).toMatchObject({
      free_kv_slots: maxSeqs,
    });
    // The aborted generations stopped early: far fewer tokens than 13 × 4000 were generated.
    expect(await counter("vllm:generation_tokens_total")).toBeLessThan(20_000);
  });

  it("a stream waiting for a slot gets keep-alive comments, which both SDKs skip", async () => {
    const blockers = longStreams(maxSeqs);
    try {
      await blockers.accepted;
      const raw = await post("/v1/chat/completions", { model, messages: question, max_tokens: 3, stream: true });
      const viaOpenai = openai.chat.completions.create({
        model,
        messages: question,
        max_tokens: 3,
        temperature: 0,
        stream: true,
      });
      const viaMistral = mistral.chat.stream({ model, messages: question, maxTokens: 3, temperature: 0 });
      const reader = raw.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      while (!text.includes(": keep-alive\n\n")) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
      }
      expect(text).toContain(": keep-alive\n\n");
      expect(await healthUntil((load) => load.waiting === 3)).toMatchObject({ running: maxSeqs, waiting: 3 });
      await reader.cancel();
      // The SDK streams have waited through comments too; once the slots free up they finish.
      await new Promise((resolve) => setTimeout(resolve, 3 * keepalive * 1000));
      await blockers.stop();
      let openaiText = "";
      for await (const chunk of await viaOpenai) openaiText += chunk.choices[0]?.delta.content ?? "";
      let mistralText = "";
      let mistralFinish: string | null | undefined;
      for await (const event of await viaMistral) {
        const choice = event.data.choices[0];
        mistralText += typeof choice?.delta.content === "string" ? choice.delta.content : "";
        mistralFinish = choice?.finishReason ?? mistralFinish;
      }
      expect(openaiText.length).toBeGreaterThan(0);
      expect(mistralText).toBe(openaiText);
      expect(mistralFinish).toBe("length");
    } finally {
      await blockers.stop();
    }
  });

  it("/health answers while inference runs", async () => {
    const running = complete({ n: 4, max_tokens: 100, temperature: 1 });
    expect(await healthUntil((load) => load.running === 4)).toMatchObject({
      status: "ready",
      running: 4,
      free_kv_slots: maxSeqs - 4,
    });
    await running;
  });
});

describe("auth and bad input", () => {
  it("every route but /health needs the bearer secret", async () => {
    const routes: [string, string][] = [
      ["GET", "/v1/models"],
      ["GET", "/metrics"],
      ["POST", "/v1/chat/completions"],
      ["POST", "/v1/embeddings"],
      ["GET", "/nowhere"],
    ];
    for (const [method, path] of routes) {
      for (const headers of [{}, { authorization: "Bearer wrong" }, { authorization: "Basic abc" }] as Record<
        string,
        string
      >[]) {
        const response = await fetch(`${server.url}${path}`, {
          method,
          headers,
          body: method === "POST" ? "{}" : undefined,
        });
        expect(response.status, `${method} ${path}`).toBe(401);
        expect(await answer(response)).toMatchObject({ object: "error", message: "Unauthorized" });
      }
    }
    const unknownRoute = await fetch(`${server.url}/nowhere`, { headers: auth });
    expect(unknownRoute.status).toBe(404);
    // The same body as the gateway's (protocol/http/error-response.ts).
    expect(await answer(unknownRoute)).toEqual({
      object: "error",
      message: "No route GET /nowhere.",
      type: "not_found_error",
      param: null,
      code: "not_found",
    });
    const healthy = await fetch(`${server.url}/health`, { headers: { "x-request-id": "req-42" } });
    expect(healthy.status).toBe(200);
    expect(healthy.headers.get("x-request-id")).toBe("req-42");
    const metrics = await fetch(`${server.url}/metrics`, { headers: auth }).then((response) => response.text());
    for (const name of [
      "vllm:num_requests_running",
      "vllm:num_requests_waiting",
      "vllm:kv_cache_usage_perc",
      "vllm:prompt_tokens_total",
      "vllm:generation_tokens_total",
      "vllm:time_to_first_token_seconds_bucket",
      "vllm:inter_token_latency_seconds_bucket",
      "vllm:e2e_request_latency_seconds_count",
      'vllm:request_success_total{model_name="mixtral-tiny",finished_reason="length"}',
    ]) {
      expect(metrics).toContain(name);
    }
  });

  it("bad input gets 4xx in the API's error shape, and the server keeps serving", async () => {
    const cases: [string, string | object, number][] = [
      ["/v1/chat/completions", "{not json", 400],
      ["/v1/chat/completions", { model, messages: [] }, 422],
      ["/v1/chat/completions", { model }, 422],
      ["/v1/chat/completions", { model, messages: question, temperature: 7 }, 422],
      ["/v1/chat/completions", { model, messages: question, max_tokens: -1 }, 422],
      ["/v1/chat/completions", { model, messages: question, n: maxSeqs + 1 }, 400],
      // n is bounded by the protocol (16) before the backend builds anything for it.
      ["/v1/chat/completions", { model, messages: question, n: 60_000_000 }, 422],
      // Nesting beyond 64 levels is refused before it reaches the inference thread's hand-off.
      [
        "/v1/chat/completions",
        `{"model": "${model}", "messages": [], "metadata": ${'{"a": '.repeat(100_000)}1${"}".repeat(100_000)}}`,
        422,
      ],
      ["/v1/chat/completions", { model, messages: question, surprise: true }, 422],
      ["/v1/chat/completions", { model: "other-model", messages: question }, 404],
      [
        "/v1/chat/completions",
        {
          model,
          messages: [
            { role: "assistant", content: "hi" },
            { role: "assistant", content: "again" },
          ],
        },
        400,
      ],
      [
        "/v1/chat/completions",
        { model, messages: question, tools: [{ type: "function", function: { name: "f", parameters: {} } }] },
        400,
      ],
      ["/v1/chat/completions", { model, messages: [{ role: "user", content: "x".repeat(5_000_000) }] }, 413],
      ["/v1/embeddings", { model, input: [] }, 422],
      ["/v1/embeddings", { model, input: "x", output_dimension: 8 }, 400],
      ["/v1/embeddings", { model, input: ["word ".repeat(5000)] }, 400],
    ];
    for (const [path, request, status] of cases) {
      const response = await post(path, request);
      expect(response.status, JSON.stringify(request).slice(0, 200)).toBe(status);
      const body = await answer(response);
      if (status === 422)
        expect(body.detail[0]).toMatchObject({ loc: expect.arrayContaining(["body"]), msg: expect.any(String) });
      else expect(body).toMatchObject({ object: "error", message: expect.any(String), type: expect.any(String) });
    }
    const still = await complete({ max_tokens: 3 });
    expect(still.choices[0].finish_reason).toBe("length");
    expect(server.child.exitCode).toBeNull();
  });
});

describe("startup errors", () => {
  it("refuses without a secret, a bad model folder, and a port in use, with clear messages", async () => {
    const port = new URL(server.url).port;
    const insecure = { MOXIE_BACKEND_SECRET: undefined };
    const [noSecret, publicHost, badFolder, inUse] = await Promise.all([
      serveFailure(["--model", fixture, "--port", "0"], insecure),
      serveFailure(["--model", fixture, "--host", "0.0.0.0", "--insecure-no-auth"], insecure),
      serveFailure(["--model", "/nonexistent/model", "--insecure-no-auth"], insecure),
      serveFailure(["--model", fixture, "--port", port, "--insecure-no-auth"], insecure),
    ]);
    expect(noSecret.code).toBe(1);
    expect(noSecret.stderr).toContain("MOXIE_BACKEND_SECRET is not set");
    expect(publicHost.stderr).toContain("only allowed on a loopback host");
    expect(badFolder.stderr).toContain("/nonexistent/model: no such file or folder");
    expect(inUse.code).toBe(1);
    expect(inUse.stderr).toContain(`port ${port} on 127.0.0.1 is already in use`);
  });
});
