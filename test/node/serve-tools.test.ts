// Tool calling on `moxie serve` with a random-weight tiny model that has Mistral's v3 tokenizer
// (made by `moxie make-checkpoint --tokenizer v3`): tool_choice semantics, parsing into
// message.tool_calls, streaming, and arguments valid against the tools' schemas (ajv).
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Ajv } from "ajv";
import { EventSourceParserStream } from "eventsource-parser/stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChatCompletionChunk, ChatCompletionResponse, ToolCall } from "../../protocol/chat.ts";
import type { BackendHealth } from "../../protocol/health.ts";
import type { ModelList } from "../../protocol/models.ts";
import { startServe, type ServeProcess } from "./support/serve-process.ts";

const secret = "test-backend-secret";
const model = "tiny-v3";
const dir = mkdtempSync(join(tmpdir(), "moxie-tiny-v3-"));
let server: ServeProcess;

beforeAll(async () => {
  await promisify(execFile)("node", [
    "bin/moxie.js",
    "make-checkpoint",
    "--preset",
    "tiny",
    "--tokenizer",
    "v3",
    "--out",
    dir,
  ]);
  server = await startServe(
    ["--model", dir, "--served-model-name", model, "--max-seqs", "16", "--max-queue", "64", "--threads", "1"],
    { MOXIE_BACKEND_SECRET: secret },
  );
}, 120_000);
afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const weather = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Weather forecast of a city",
    parameters: {
      type: "object",
      properties: {
        city: { enum: ["Paris", "Lyon", "Nice"] },
        days: { type: "integer", minimum: 1, maximum: 7 },
        metric: { type: "boolean" },
      },
      required: ["city", "days", "metric"],
    },
  },
};
const clock = {
  type: "function",
  function: { name: "now", description: "The time", parameters: { type: "object", properties: {} } },
};
const tools = [weather, clock];
const messages = [{ role: "user", content: "What is the weather in Paris?" }];
const ajv = new Ajv({ strict: false });

function post(body: Record<string, unknown>): Promise<Response> {
  return fetch(`${server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" },
    body: JSON.stringify({ model, messages, tools, ...body }),
  });
}

async function complete(body: Record<string, unknown>): Promise<ChatCompletionResponse> {
  const response = await post(body);
  expect(response.status, await response.clone().text()).toBe(200);
  return (await response.json()) as ChatCompletionResponse;
}

/** Each call names an offered tool, has a 9-character alphanumeric id, and arguments valid against that tool's parameters. */
function expectValidCalls(calls: ToolCall[] | null | undefined, offered = tools): void {
  expect(calls?.length).toBeGreaterThan(0);
  calls!.forEach((call, index) => {
    expect(call.id).toMatch(/^[A-Za-z0-9]{9}$/);
    expect(call).toMatchObject({ type: "function", index });
    const tool = offered.find((candidate) => candidate.function.name === call.function.name);
    expect(tool, call.function.name).toBeDefined();
    expect(typeof call.function.arguments).toBe("string");
    expect(
      ajv.validate(tool!.function.parameters, JSON.parse(call.function.arguments as string)),
      ajv.errorsText(),
    ).toBe(true);
  });
}

describe("tool_choice", () => {
  it("any and required: every seed calls a tool, with valid arguments; finish_reason tool_calls", async () => {
    const results = await Promise.all(
      Array.from({ length: 16 }, (_, seed) =>
        complete({
          tool_choice: seed % 2 ? "any" : "required",
          parallel_tool_calls: false,
          random_seed: seed,
          max_tokens: 200,
        }),
      ),
    );
    for (const {
      choices: [choice],
    } of results) {
      expect(choice.finish_reason).toBe("tool_calls");
      expect(choice.message.content).toBe("");
      expectValidCalls(choice.message.tool_calls);
      expect(choice.message.tool_calls).toHaveLength(1);
    }
    const ids = results.map((result) => result.choices[0].message.tool_calls![0].id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("parallel_tool_calls lets the model make several calls in one list", async () => {
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, seed) =>
        complete({ tool_choice: "any", random_seed: 100 + seed, max_tokens: 400 }),
      ),
    );
    const finished = results.filter((result) => result.choices[0].finish_reason === "tool_calls");
    for (const result of finished) expectValidCalls(result.choices[0].message.tool_calls);
    expect(finished.some((result) => result.choices[0].message.tool_calls!.length > 1)).toBe(true);
  });

  it("a named function is forced and constrained to its schema", async () => {
    for (const seed of [1, 2, 3]) {
      const {
        choices: [choice],
      } = await complete({
        tool_choice: { type: "function", function: { name: "get_weather" } },
        parallel_tool_calls: false,
        random_seed: seed,
        max_tokens: 200,
      });
      expect(choice.finish_reason).toBe("tool_calls");
      expectValidCalls(choice.message.tool_calls, [weather]);
    }
    const unknown = await post({ tool_choice: { type: "function", function: { name: "nope" } } });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({ param: "tool_choice", message: expect.stringContaining('"nope"') });
  });

  it("none: [TOOL_CALLS] is masked, so no seed calls a tool; auto: the model may", async () => {
    const none = await Promise.all(
      Array.from({ length: 8 }, (_, seed) =>
        complete({ tool_choice: "none", random_seed: seed, max_tokens: 24, temperature: 1.5 }),
      ),
    );
    for (const {
      choices: [choice],
    } of none) {
      expect(choice.message.tool_calls).toBeNull();
      expect(choice.finish_reason).not.toBe("tool_calls");
    }
    const auto = await complete({ random_seed: 3, max_tokens: 8 });
    expect(["stop", "length", "tool_calls"]).toContain(auto.choices[0].finish_reason);
  });

  it("streams deliver the calls as delta.tool_calls in the last chunk, as Mistral's API does", async () => {
    const body = { tool_choice: "any", parallel_tool_calls: false, random_seed: 5, max_tokens: 200 };
    const response = await post({ ...body, stream: true });
    const chunks: ChatCompletionChunk[] = [];
    const events = response.body!.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream());
    for await (const { data } of events) if (data !== "[DONE]") chunks.push(JSON.parse(data));
    const last = chunks.at(-1)!.choices[0];
    expect(last.finish_reason).toBe("tool_calls");
    expectValidCalls(last.delta.tool_calls);
    expect(chunks.slice(0, -1).every((chunk) => chunk.choices.every((choice) => !choice.delta.tool_calls))).toBe(true);
    const complete_ = await complete(body);
    expect(last.delta.tool_calls!.map((call) => call.function)).toEqual(
      complete_.choices[0].message.tool_calls!.map((call) => call.function),
    );
  });

  it("a conversation with tool calls and tool results continues; bad tool schemas get a 400 naming the keyword", async () => {
    const conversation = [
      ...messages,
      {
        role: "assistant",
        content: "",
        tool_calls: [{ id: "abcDEF123", type: "function", function: { name: "now", arguments: "{}" } }],
      },
      { role: "tool", tool_call_id: "abcDEF123", name: "now", content: '{"time": "12:00"}' },
    ];
    const answer = await complete({ messages: conversation, max_tokens: 4 });
    expect(answer.usage.prompt_tokens).toBeGreaterThan(40);
    const bad = await post({
      tool_choice: "any",
      tools: [
        {
          type: "function",
          function: {
            name: "f",
            parameters: { type: "object", properties: { x: { type: "string", not: { const: "a" } } } },
          },
        },
      ],
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ param: "tools", message: expect.stringContaining('"not"') });
    const mixed = await post({ tool_choice: "any", response_format: { type: "json_object" } });
    expect(mixed.status).toBe(400);
  });
});

it("/v1/models and /health say this model calls functions", async () => {
  const models = (await (
    await fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${secret}` } })
  ).json()) as ModelList;
  expect(models.data[0].capabilities.function_calling).toBe(true);
  expect(((await (await fetch(`${server.url}/health`)).json()) as BackendHealth).function_calling).toBe(true);
});
