// The official SDKs as clients, their transport answered by our schemas: real SDK code
// serializes each request (validated by us) and parses each answer (produced by us).
import { Mistral } from "@mistralai/mistralai";
import { HTTPClient } from "@mistralai/mistralai/lib/http.js";
import * as errors from "@mistralai/mistralai/models/errors";
import OpenAI from "openai";
import { beforeEach, describe, expect, it } from "vitest";
import { fetcher, received } from "./support/protocol-fixtures.ts";

const mistral = new Mistral({
  apiKey: "test-key",
  serverURL: "http://moxie.test",
  httpClient: new HTTPClient({ fetcher }),
});
const openai = new OpenAI({ apiKey: "test-key", baseURL: "http://moxie.test/v1", fetch: fetcher });

beforeEach(() => {
  received.length = 0;
});

describe("Mistral SDK", () => {
  it("chat.complete with chunks, stop list and tools", async () => {
    const response = await mistral.chat.complete({
      model: "mixtral",
      messages: [
        { role: "system", content: "Be brief." },
        {
          role: "user",
          content: [
            { type: "text", text: "Weather " },
            { type: "text", text: "in Paris?" },
          ],
        },
      ],
      stop: ["END"],
      tools: [{ type: "function", function: { name: "weather", parameters: { type: "object" } } }],
      toolChoice: "auto",
    });
    expect(received[0]).toMatchObject({ model: "mixtral", stop: ["END"], tools: [{ function: { name: "weather" } }] });
    expect(response.choices[0].message?.content).toBe("echo: Weather in Paris?");
    expect(response.usage.totalTokens).toBe(15);
  });

  it("chat.stream yields every chunk and the usage-only last one", async () => {
    const stream = await mistral.chat.stream({
      model: "mixtral",
      messages: [{ role: "user", content: "Hi" }],
      stop: ".",
    });
    const chunks = [];
    for await (const event of stream) chunks.push(event.data);
    expect(received[0]).toMatchObject({ stream: true, stop: "." });
    expect(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? "").join("")).toBe("Bonjour");
    expect(chunks.at(-1)?.usage?.completionTokens).toBe(3);
  });

  it("a request we refuse raises the SDK's HTTPValidationError with Mistral's detail", async () => {
    const error = await mistral.chat
      .complete({ model: "mixtral", messages: [{ role: "user", content: "Hi" }], temperature: 3 })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(errors.HTTPValidationError);
    expect((error as errors.HTTPValidationError).detail).toEqual([
      {
        loc: ["body", "temperature"],
        msg: "Input should be less than or equal to 2",
        type: "less_than_equal",
        input: 3,
      },
    ]);
  });

  it("embeddings.create", async () => {
    const response = await mistral.embeddings.create({
      model: "mixtral-embed",
      inputs: ["a", "b"],
      outputDtype: "float",
    });
    expect(received[0]).toEqual({
      model: "mixtral-embed",
      input: ["a", "b"],
      output_dtype: "float",
      encoding_format: "float",
    });
    expect(response.data.map((item) => item.index)).toEqual([0, 1]);
    expect(response.data[1].embedding).toEqual([0.25, -0.5, 1]);
  });

  it("models.list", async () => {
    const list = await mistral.models.list();
    expect(list.data?.[0]).toMatchObject({
      id: "mixtral-tiny",
      type: "base",
      maxContextLength: 4096,
      capabilities: { completionChat: true, functionCalling: true },
    });
  });
});

describe("OpenAI SDK, unchanged", () => {
  it("chat.completions.create with user and stream_options, streamed", async () => {
    const stream = await openai.chat.completions.create({
      model: "mixtral",
      messages: [{ role: "user", content: "Hi" }],
      stream: true,
      stream_options: { include_usage: true },
      user: "u-1",
      max_tokens: 8,
    });
    const text = [];
    let usage;
    for await (const chunk of stream) {
      text.push(chunk.choices[0]?.delta.content ?? "");
      usage ??= chunk.usage ?? undefined;
    }
    expect(received[0]).toMatchObject({ stream_options: { include_usage: true }, user: "u-1", max_tokens: 8 });
    expect(text.join("")).toBe("Bonjour");
    expect(usage?.total_tokens).toBe(15);
  });

  it("embeddings.create: the SDK asks for base64 and decodes our float32s", async () => {
    const response = await openai.embeddings.create({ model: "mixtral-embed", input: ["a", "b"] });
    expect(received[0]).toMatchObject({ encoding_format: "base64" });
    expect(response.data.map((item) => item.embedding)).toEqual([
      [0.25, -0.5, 0],
      [0.25, -0.5, 1],
    ]);
  });

  it("a tool-call round trip", async () => {
    const response = await openai.chat.completions.create({
      model: "mixtral",
      messages: [
        { role: "user", content: "Weather in Paris?" },
        {
          role: "assistant",
          content: null,
          tool_calls: [
            { id: "call_1", type: "function", function: { name: "weather", arguments: '{"city":"Paris"}' } },
          ],
        },
        { role: "tool", tool_call_id: "call_1", content: "22°C" },
      ],
      tools: [{ type: "function", function: { name: "weather", parameters: { type: "object" } } }],
    });
    expect(received[0]).toMatchObject({
      messages: [{}, { tool_calls: [{ id: "call_1" }] }, { tool_call_id: "call_1" }],
    });
    expect(response.choices[0].message.content).toBe("echo: 22°C");
  });
});
