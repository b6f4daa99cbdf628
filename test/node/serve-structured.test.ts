// Structured outputs on `moxie serve` (a real process, random-weight tiny model): logprobs, JSON
// mode and json_schema by constrained decoding, validated with ajv.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Ajv } from "ajv";
import { EventSourceParserStream } from "eventsource-parser/stream";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChatCompletionResponse, TokenLogprob } from "../../protocol/chat.ts";
import type { ModelList } from "../../protocol/models.ts";
import { encodeChat } from "../../gpu-backend/text/chat-encoding.ts";
import { loadTokenizer } from "../../gpu-backend/text/tokenizer.ts";
import { fixture as tinyModel } from "./support/fixture.ts";
import { startServe, type ServeProcess } from "./support/serve-process.ts";

const secret = "test-backend-secret";
const model = "mixtral-tiny";
let server: ServeProcess;

beforeAll(async () => {
  server = await startServe(["--model", tinyModel, "--max-seqs", "16", "--max-queue", "256", "--threads", "1"], {
    MOXIE_BACKEND_SECRET: secret,
  });
});
afterAll(async () => {
  await server?.stop();
});

const messages = [{ role: "user" as const, content: "Describe a person as JSON." }];

function post(body: Record<string, unknown>): Promise<Response> {
  return fetch(`${server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" },
    body: JSON.stringify({ model, messages, ...body }),
  });
}

async function complete(body: Record<string, unknown>): Promise<ChatCompletionResponse> {
  const response = await post(body);
  expect(response.status, await response.clone().text()).toBe(200);
  return (await response.json()) as ChatCompletionResponse;
}

/** A streamed completion's content, finish reason and logprobs, read from raw SSE. */
async function stream(
  body: Record<string, unknown>,
): Promise<{ text: string; finish: string | null; logprobs: TokenLogprob[] }> {
  const response = await post({ ...body, stream: true });
  expect(response.status).toBe(200);
  const result = { text: "", finish: null as string | null, logprobs: [] as TokenLogprob[] };
  const events = response.body!.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream());
  for await (const { data } of events) {
    if (data === "[DONE]") return result;
    for (const choice of JSON.parse(data).choices) {
      result.text += choice.delta.content;
      result.finish = choice.finish_reason ?? result.finish;
      result.logprobs.push(...(choice.logprobs?.content ?? []));
    }
  }
  throw new Error("no [DONE]");
}

const schemas: Record<string, Record<string, unknown>> = {
  person: {
    type: "object",
    properties: {
      name: { type: "string", maxLength: 12 },
      age: { type: "integer", minimum: 0, maximum: 120 },
      height: { type: "number", minimum: 0.5, maximum: 2.5 },
      role: { enum: ["admin", "user", "guest"] },
    },
    required: ["name", "age", "height", "role"],
    additionalProperties: false,
  },
  nested: {
    type: "object",
    properties: {
      address: {
        type: "object",
        properties: {
          city: { type: "string", minLength: 1, maxLength: 8 },
          zip: { type: "integer", exclusiveMinimum: 999, exclusiveMaximum: 100000 },
        },
        required: ["city", "zip"],
      },
      active: { type: "boolean" },
      note: { type: ["string", "null"], maxLength: 5 },
    },
    required: ["address", "active"],
  },
  list: {
    type: "object",
    properties: {
      items: {
        type: "array",
        minItems: 1,
        maxItems: 4,
        items: {
          type: "object",
          properties: { id: { type: "integer", minimum: -50, maximum: -3 }, tag: { const: "x" } },
          required: ["id", "tag"],
        },
      },
      score: { type: "number", exclusiveMinimum: -10, maximum: 10 },
    },
    required: ["items", "score"],
  },
  choice: {
    $defs: { level: { enum: ["low", "mid", "high"] } },
    anyOf: [
      { type: "object", properties: { level: { $ref: "#/$defs/level" } }, required: ["level"] },
      { type: "array", items: { type: "integer", maximum: 9 }, maxItems: 3 },
    ],
  },
};

describe("logprobs", () => {
  it("greedy logprobs equal moxie score's log-softmax; top_logprobs are sorted and start with the token; streams carry them too", async () => {
    const body = { max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 3 };
    const completion = await complete(body);
    const content = completion.choices[0].logprobs!.content!;
    expect(content).toHaveLength(6);
    expect(content.map((entry) => entry.token).join("")).toBe(completion.choices[0].message.content);

    const tokenizer = await loadTokenizer(tinyModel);
    const prompt = encodeChat(tokenizer, messages);
    // The greedy continuation as `moxie generate` computes it, then `moxie score` over it.
    const moxie = async (...args: string[]) =>
      JSON.parse(
        (await promisify(execFile)("node", ["bin/moxie.js", ...args, "--model", tinyModel, "--threads", "1"])).stdout,
      );
    const generated = ((await moxie("generate", "--ids", prompt.join(","), "--max-tokens", "6")) as { ids: number[] })
      .ids;
    const scored = (await moxie("score", "--ids", [...prompt, ...generated.slice(0, -1)].join(","))) as {
      argmax: number[];
      argmax_logprob: number[];
    };
    content.forEach((entry, i) => {
      expect(generated[i]).toBe(scored.argmax[prompt.length - 1 + i]);
      expect(entry.token).toBe(tokenizer.piece(generated[i])!.replaceAll("\u2581", " "));
      expect(Math.abs(entry.logprob - scored.argmax_logprob[prompt.length - 1 + i])).toBeLessThan(1e-4);
      expect(entry.top_logprobs).toHaveLength(3);
      expect(entry.top_logprobs[0]).toEqual({ token: entry.token, logprob: entry.logprob, bytes: entry.bytes });
      expect(entry.top_logprobs[1].logprob).toBeLessThanOrEqual(entry.top_logprobs[0].logprob);
      expect(entry.bytes).toEqual([...new TextEncoder().encode(entry.token)]);
    });

    const streamed = await stream(body);
    expect(streamed.text).toBe(completion.choices[0].message.content);
    expect(streamed.logprobs).toEqual(content);
  });

  it("the OpenAI SDK reads them; top_logprobs above 20, or without logprobs, is refused with 422", async () => {
    const openai = new OpenAI({ apiKey: secret, baseURL: `${server.url}/v1` });
    const completion = await openai.chat.completions.create({
      model,
      messages,
      max_tokens: 3,
      logprobs: true,
      top_logprobs: 20,
    });
    expect(completion.choices[0].logprobs?.content).toHaveLength(3);
    expect(completion.choices[0].logprobs?.content?.[0].top_logprobs).toHaveLength(20);
    expect((await post({ logprobs: true, top_logprobs: 21 })).status).toBe(422);
    expect((await post({ top_logprobs: 2 })).status).toBe(422);
    expect((await complete({ max_tokens: 2 })).choices[0].logprobs).toBeNull();
  });
});

describe("constrained decoding", () => {
  it("200 seeded json_schema requests (nested objects, arrays, enums, bounded numbers, required fields) all validate", async () => {
    const ajv = new Ajv({ strict: false });
    const cases = Object.entries(schemas).flatMap(([name, schema]) =>
      Array.from({ length: 50 }, (_, seed) => ({ name, schema, seed })),
    );
    const results = await Promise.all(
      cases.map(async ({ name, schema, seed }) => {
        const completion = await complete({
          max_tokens: 200,
          random_seed: seed,
          response_format: { type: "json_schema", json_schema: { name, schema, strict: true } },
        });
        return {
          name,
          schema,
          content: completion.choices[0].message.content as string,
          finish: completion.choices[0].finish_reason,
        };
      }),
    );
    for (const { name, schema, content, finish } of results) {
      expect(finish, `${name}: ${content}`).toBe("stop");
      const document = JSON.parse(content);
      expect(ajv.validate(schema, document), `${name}: ${content} ${ajv.errorsText()}`).toBe(true);
    }
  });

  it("streams validate too, and equal the non-streamed content of the same seed", async () => {
    const ajv = new Ajv({ strict: false });
    for (const [name, schema] of Object.entries(schemas)) {
      const body = {
        max_tokens: 200,
        random_seed: 7,
        response_format: { type: "json_schema", json_schema: { name, schema } },
      };
      const streamed = await stream(body);
      expect(ajv.validate(schema, JSON.parse(streamed.text)), `${name}: ${streamed.text}`).toBe(true);
      expect(streamed.text).toBe((await complete(body)).choices[0].message.content);
    }
  });

  it("json_object: the content is always the start of a JSON object, and parses as one when the model ends it", async () => {
    // A random-weight model almost never closes a free string (few of its 32k tokens contain a
    // quote), so most of these end at max_tokens; every one must still be an object's beginning.
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, seed) =>
        complete({ max_tokens: 40, random_seed: seed, response_format: { type: "json_object" } }),
      ),
    );
    for (const {
      choices: [choice],
    } of results) {
      const content = choice.message.content as string;
      expect(content.startsWith("{")).toBe(true);
      if (choice.finish_reason === "stop") expect(JSON.parse(content)).toBeTypeOf("object");
      else expect(choice.finish_reason).toBe("length");
    }
    const streamed = await stream({ max_tokens: 40, random_seed: 3, response_format: { type: "json_object" } });
    expect(streamed.text).toBe(results[3].choices[0].message.content);
  });

  it("an unsupported keyword gets a 400 naming it; strict: false drops it instead", async () => {
    const schema = { type: "object", properties: { n: { type: "integer", multipleOf: 3 } }, required: ["n"] };
    const refused = await post({ response_format: { type: "json_schema", json_schema: { name: "x", schema } } });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({
      type: "invalid_request_error",
      param: "response_format",
      message: expect.stringContaining('"multipleOf"'),
    });
    const relaxed = await complete({
      max_tokens: 60,
      random_seed: 1,
      response_format: { type: "json_schema", json_schema: { name: "x", schema, strict: false } },
    });
    expect(Number.isInteger(JSON.parse(relaxed.choices[0].message.content as string).n)).toBe(true);
  });

  it("unconstrained requests in the same batch are unaffected (same text as alone)", async () => {
    const plain = { max_tokens: 12, random_seed: 5, temperature: 1 };
    const alone = (await complete(plain)).choices[0].message.content;
    const [together] = await Promise.all([
      complete(plain),
      complete({
        max_tokens: 40,
        random_seed: 1,
        response_format: { type: "json_schema", json_schema: { name: "p", schema: schemas.person } },
      }),
    ]);
    expect(together.choices[0].message.content).toBe(alone);
  });
});

it("a v1 checkpoint (no tool-call tokens) refuses tools with a 400, and its card says function_calling: false", async () => {
  const refused = await post({
    tools: [{ type: "function", function: { name: "f", parameters: { type: "object" } } }],
  });
  expect(refused.status).toBe(400);
  expect(await refused.json()).toMatchObject({
    param: "tools",
    message: expect.stringContaining("does not support tools"),
  });
  const models = (await (
    await fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${secret}` } })
  ).json()) as ModelList;
  expect(models.data[0].capabilities.function_calling).toBe(false);
});
