// Contract of the chat shapes against the official Mistral SDK's own zod models:
// what the SDK serializes must pass our request schema, and what our schemas produce
// must parse with the SDK's inbound models.
import {
  AssistantMessage$outboundSchema,
  ChatCompletionRequest$outboundSchema,
  ChatCompletionResponse$inboundSchema,
  ChatCompletionStreamRequest$outboundSchema,
  CompletionEvent$inboundSchema,
  ToolCall$outboundSchema,
  ToolMessage$outboundSchema,
  type ChatCompletionRequest as SdkChatCompletionRequest,
} from "@mistralai/mistralai/models/components";
import { describe, expect, it } from "vitest";
import * as z from "zod";
import {
  AssistantMessage,
  ChatCompletionRequest,
  ChatCompletionResponse,
  ToolCall,
  ToolMessage,
  messageText,
} from "../../protocol/index.ts";
import { completion, streamChunks, toolCallCompletion, usage } from "./support/protocol-fixtures.ts";

/** What the SDK puts on the wire for a request given in its own (camelCase) terms. */
const sdkWire = (request: SdkChatCompletionRequest) =>
  JSON.parse(JSON.stringify(ChatCompletionRequest$outboundSchema.parse(request)));

const weatherTool = {
  type: "function" as const,
  function: {
    name: "weather",
    description: "current weather",
    parameters: { type: "object", properties: { city: { type: "string" } } },
  },
};

const sdkRequests: Record<string, SdkChatCompletionRequest> = {
  "plain string content": { model: "mixtral", messages: [{ role: "user", content: "Hello" }] },
  "content as text chunks, stop as a string": {
    model: "mixtral",
    messages: [
      { role: "system", content: [{ type: "text", text: "Be brief." }] },
      {
        role: "user",
        content: [
          { type: "text", text: "Hel" },
          { type: "text", text: "lo" },
        ],
      },
    ],
    stop: "\n\n",
  },
  "every sampling field, stop as an array": {
    model: "mixtral",
    messages: [{ role: "user", content: "Hello" }],
    temperature: 0.7,
    topP: 0.9,
    maxTokens: 64,
    stop: ["END", "###"],
    randomSeed: 42,
    presencePenalty: 0.5,
    frequencyPenalty: -0.5,
    n: 2,
    safePrompt: true,
    promptMode: "reasoning",
    metadata: { team: "a" },
    promptCacheKey: "conversation-7",
    prediction: { type: "content", content: "Hello there" },
  },
  "tools, a named tool choice, json_schema response format": {
    model: "mixtral",
    messages: [{ role: "user", content: "Weather in Paris?" }],
    tools: [weatherTool],
    toolChoice: { type: "function", function: { name: "weather" } },
    parallelToolCalls: false,
    responseFormat: {
      type: "json_schema",
      jsonSchema: { name: "answer", schemaDefinition: { type: "object" }, strict: true },
    },
  },
  "assistant tool calls and the tool's answer": {
    model: "mixtral",
    messages: [
      { role: "user", content: "Weather in Paris?" },
      {
        role: "assistant",
        content: "",
        toolCalls: [{ id: "call_1", function: { name: "weather", arguments: { city: "Paris" } } }],
      },
      { role: "tool", content: "22°C", toolCallId: "call_1", name: "weather" },
      { role: "assistant", content: "It is", prefix: true },
    ],
    toolChoice: "any",
    responseFormat: { type: "json_object" },
  },
  "nulls where Mistral allows them": {
    model: "mixtral",
    messages: [{ role: "user", content: "Hello" }],
    temperature: null,
    topP: null,
    maxTokens: null,
    stop: null,
    randomSeed: null,
    presencePenalty: null,
    frequencyPenalty: null,
    n: null,
    tools: null,
    metadata: null,
    promptMode: null,
    promptCacheKey: null,
  },
};

describe("requests the Mistral SDK sends pass our schema", () => {
  it.each(Object.entries(sdkRequests))("%s", (_, request) => {
    const wire = sdkWire(request);
    const parsed = ChatCompletionRequest.parse(wire);
    expect(parsed.model).toBe("mixtral");
    expect(parsed.messages).toHaveLength(wire.messages.length);
    expect(parsed.stream).toBe(false);
  });

  it("keeps every value the SDK sent", () => {
    const parsed = ChatCompletionRequest.parse(sdkWire(sdkRequests["every sampling field, stop as an array"]));
    expect(parsed).toMatchObject({
      temperature: 0.7,
      top_p: 0.9,
      max_tokens: 64,
      stop: ["END", "###"],
      random_seed: 42,
      presence_penalty: 0.5,
      frequency_penalty: -0.5,
      n: 2,
      safe_prompt: true,
      prompt_mode: "reasoning",
      metadata: { team: "a" },
      prompt_cache_key: "conversation-7",
      prediction: { type: "content", content: "Hello there" },
    });
  });

  it("keeps tool calls, tool answers and the assistant prefix", () => {
    const parsed = ChatCompletionRequest.parse(sdkWire(sdkRequests["assistant tool calls and the tool's answer"]));
    expect(parsed.messages[1]).toMatchObject({
      role: "assistant",
      tool_calls: [{ id: "call_1", type: "function", function: { name: "weather", arguments: { city: "Paris" } } }],
    });
    expect(parsed.messages[2]).toEqual({ role: "tool", content: "22°C", tool_call_id: "call_1", name: "weather" });
    expect(parsed.messages[3]).toMatchObject({ role: "assistant", content: "It is", prefix: true });
    expect(parsed.tool_choice).toBe("any");
  });

  it("reads Mistral's nulls as the documented defaults", () => {
    const parsed = ChatCompletionRequest.parse(sdkWire(sdkRequests["nulls where Mistral allows them"]));
    expect(parsed).toMatchObject({
      top_p: 1,
      presence_penalty: 0,
      frequency_penalty: 0,
      n: 1,
      temperature: null,
      max_tokens: null,
    });
  });

  it("accepts the SDK's stream request", () => {
    const wire = ChatCompletionStreamRequest$outboundSchema.parse({
      model: "mixtral",
      messages: [{ role: "user", content: [{ type: "text", text: "Hi" }] }],
      stop: ".",
    });
    expect(ChatCompletionRequest.parse(wire)).toMatchObject({ stream: true, stop: "." });
  });

  it("refuses the SDK's image chunks: a text-only model takes text chunks only", () => {
    const wire = sdkWire({
      model: "mixtral",
      messages: [{ role: "user", content: [{ type: "image_url", imageUrl: "https://example.com/cat.png" }] }],
    });
    expect(ChatCompletionRequest.safeParse(wire).success).toBe(false);
  });
});

const snake = (key: string) => key.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
const sdkFields = (schema: unknown) => {
  const object = (schema as { in?: z.ZodObject; shape?: z.ZodRawShape }).in ?? (schema as z.ZodObject);
  return Object.keys(object.shape).map(snake).sort();
};
const ourFields = (schema: z.ZodObject) => Object.keys(schema.shape).sort();
const without = (fields: string[], removed: string[]) => fields.filter((field) => !removed.includes(field));

describe("our request fields are exactly the SDK's, minus the documented differences", () => {
  it("chat completion request", () => {
    // Mistral features a Mixtral server does not have; a request using them is refused (422).
    const unsupported = ["guardrails", "reasoning_effort", "service_tier"];
    const openAiExtensions = ["stream_options", "user", "seed", "logprobs", "top_logprobs"];
    const vllmExtensions = ["cache_salt"];
    expect(without(sdkFields(ChatCompletionRequest$outboundSchema), unsupported)).toEqual(
      without(ourFields(ChatCompletionRequest), [...openAiExtensions, ...vllmExtensions]),
    );
  });

  it.each([
    ["assistant message", AssistantMessage$outboundSchema, AssistantMessage],
    ["tool message", ToolMessage$outboundSchema, ToolMessage],
    ["tool call", ToolCall$outboundSchema, ToolCall],
  ] as const)("%s", (_, sdk, ours) => {
    expect(sdkFields(sdk)).toEqual(ourFields(ours));
  });
});

/** Our value as it goes on the wire, read back by the SDK. */
const throughWire = <T>(schema: { parse(value: unknown): T }, value: unknown): T =>
  schema.parse(JSON.parse(JSON.stringify(value)));

describe("responses we produce parse with the SDK", () => {
  it("a plain completion", () => {
    const ours = completion(
      ChatCompletionRequest.parse({ model: "mixtral", messages: [{ role: "user", content: "Hi" }] }),
    );
    const sdk = throughWire(ChatCompletionResponse$inboundSchema, ours);
    expect(sdk).toMatchObject({ id: "cmpl-1", object: "chat.completion", model: "mixtral", created: 1_700_000_000 });
    expect(sdk.choices[0]).toMatchObject({
      index: 0,
      finishReason: "stop",
      message: { role: "assistant", content: "echo: Hi" },
    });
    expect(sdk.usage).toMatchObject({ promptTokens: 12, completionTokens: 3, totalTokens: 15 });
  });

  it("a tool call with null content", () => {
    const sdk = throughWire(ChatCompletionResponse$inboundSchema, toolCallCompletion);
    expect(sdk.choices[0].finishReason).toBe("tool_calls");
    expect(sdk.choices[0].message?.content).toBeNull();
    expect(sdk.choices[0].message?.toolCalls).toEqual([
      { id: "call_1", type: "function", function: { name: "weather", arguments: '{"city":"Paris"}' }, index: 0 },
    ]);
  });

  it.each(["length", "model_length", "error"] as const)("finish reason %s", (finishReason) => {
    const ours = ChatCompletionResponse.parse({
      ...toolCallCompletion,
      choices: [{ index: 0, message: { role: "assistant", content: "cut" }, finish_reason: finishReason }],
    });
    expect(throughWire(ChatCompletionResponse$inboundSchema, ours).choices[0].finishReason).toBe(finishReason);
  });

  it("a stream, ending with a usage-only chunk", () => {
    const events = streamChunks("mixtral").map(
      (chunk) => CompletionEvent$inboundSchema.parse({ data: JSON.stringify(chunk) }).data,
    );
    expect(events[0].choices[0].delta).toMatchObject({ role: "assistant", content: "" });
    expect(events.map((event) => event.choices[0]?.delta.content ?? "").join("")).toBe("Bonjour");
    expect(events[3].choices[0].finishReason).toBe("stop");
    expect(events[4].choices).toEqual([]);
    expect(events[4].usage).toMatchObject({ promptTokens: usage.prompt_tokens, totalTokens: usage.total_tokens });
  });

  it("a drifted shape fails (the contract has teeth)", () => {
    const drifted = ChatCompletionResponse.omit({ usage: true }).parse(toolCallCompletion);
    expect(() => throughWire(ChatCompletionResponse$inboundSchema, drifted)).toThrow();
  });
});

describe("our own rules", () => {
  it("refuses an unknown field", () => {
    const result = ChatCompletionRequest.safeParse({
      model: "m",
      messages: [{ role: "user", content: "x" }],
      logit_bias: {},
    });
    expect(result.error?.issues[0]).toMatchObject({ code: "unrecognized_keys", keys: ["logit_bias"] });
  });

  it("accepts OpenAI's stream_options, user and seed", () => {
    const parsed = ChatCompletionRequest.parse({
      model: "m",
      messages: [{ role: "user", content: "x" }],
      stream: true,
      stream_options: { include_usage: true },
      user: "u-1",
      seed: 3,
    });
    expect(parsed).toMatchObject({ stream_options: { include_usage: true }, user: "u-1", seed: 3 });
  });

  it.each([
    ["temperature", 2.1],
    ["top_p", 1.01],
    ["max_tokens", 1.5],
    ["n", 0],
    ["presence_penalty", 2.5],
    ["random_seed", -1],
  ])("refuses %s = %s", (field, value) => {
    expect(
      ChatCompletionRequest.safeParse({ model: "m", messages: [{ role: "user", content: "x" }], [field]: value })
        .success,
    ).toBe(false);
  });

  it("requires json_schema when the response format asks for it", () => {
    const result = ChatCompletionRequest.safeParse({
      model: "m",
      messages: [{ role: "user", content: "x" }],
      response_format: { type: "json_schema" },
    });
    expect(result.error?.issues[0].path).toEqual(["response_format", "json_schema"]);
  });

  it("messageText flattens content", () => {
    expect(messageText("plain")).toBe("plain");
    expect(
      messageText([
        { type: "text", text: "a" },
        { type: "text", text: "b" },
      ]),
    ).toBe("ab");
    expect(messageText(null)).toBe("");
  });
});
