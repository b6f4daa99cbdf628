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
import { encodeChat } from "../../backend/text/chat-encoding.ts";
import { loadTokenizer } from "../../backend/text/tokenizer.ts";
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
    // Streamed and not, each alone: the same seed draws the same text. (results[3] came from a batch
    // of 20, whose logits differ from a lone request's by float rounding, enough to flip a draw.)
    const request = { max_tokens: 40, random_seed: 3, response_format: { type: "json_object" } } as const;
    const streamed = await stream(request);
    expect(streamed.text).toBe((await complete(request)).choices[0].message.content);
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

describe("hostile schemas (issue 20)", () => {
  const jsonSchema = (schema: unknown) => ({
    response_format: { type: "json_schema", json_schema: { name: "s", schema, strict: false } },
  });

  async function expectRefusal(body: Record<string, unknown>, message: RegExp): Promise<void> {
    const refused = await post(body);
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({
      type: "invalid_request_error",
      code: "unsupported_schema",
      param: "response_format",
      message: expect.stringMatching(message),
    });
  }

  it("32 schemas xgrammar aborts on are refused with 400 before compiling, and JSON mode and json_schema still work after them", async () => {
    const aborting: [unknown, RegExp][] = [
      [{ type: "string", pattern: "([" }, /"pattern".*not a valid regular expression/],
      [{ $ref: "#/$defs/nope" }, /"\$ref".*points to nothing/],
      [{ type: "array", minItems: 3, maxItems: 1 }, /"minItems".*greater than maxItems/],
      [{ type: "string", minLength: 4, maxLength: 1 }, /"minLength".*greater than maxLength/],
    ];
    for (let i = 0; i < 32; i++) await expectRefusal(jsonSchema(aborting[i % 4][0]), aborting[i % 4][1]);
    const object = await complete({ max_tokens: 8, random_seed: 1, response_format: { type: "json_object" } });
    expect(object.choices[0].message.content).toMatch(/^\{/);
    const person = await complete({
      max_tokens: 200,
      random_seed: 2,
      response_format: { type: "json_schema", json_schema: { name: "person", schema: schemas.person } },
    });
    expect(
      new Ajv({ strict: false }).validate(schemas.person, JSON.parse(person.choices[0].message.content as string)),
    ).toBe(true);
    const health = (await (await fetch(`${server.url}/health`)).json()) as { status: string; grammar_ok: boolean };
    expect(health).toMatchObject({ status: "ready", grammar_ok: true });
  });

  it("a schema past a limit gets a 400 naming the limit", async () => {
    await expectRefusal(
      jsonSchema({ type: "string", description: "x".repeat(70_000) }),
      /bytes as JSON, over the limit of 65536 bytes/,
    );
    const properties = Object.fromEntries(Array.from({ length: 1025 }, (_, i) => [`p${i}`, true]));
    await expectRefusal(jsonSchema({ type: "object", properties }), /limit of 1024 properties/);
    await expectRefusal(jsonSchema({ enum: Array.from({ length: 1025 }, (_, i) => i) }), /limit of 1024 enum members/);
    await expectRefusal(jsonSchema({ type: "string", pattern: "a".repeat(1001) }), /over the limit of 1000/);
    const nested = (depth: number): unknown => (depth === 0 ? true : { type: "array", items: nested(depth - 1) });
    await expectRefusal(jsonSchema(nested(40)), /subschemas deep, over the limit of 32/);
  });

  it("a schema that recurses with no way out gets a 400; a tree with optional children works", async () => {
    await expectRefusal(jsonSchema({ $ref: "#" }), /no finite document/);
    await expectRefusal(
      jsonSchema({
        $defs: { a: { $ref: "#/$defs/a" } },
        type: "object",
        properties: { x: { $ref: "#/$defs/a" } },
        required: ["x"],
      }),
      /no finite document/,
    );
    const tree = {
      $defs: {
        node: {
          type: "object",
          properties: {
            id: { type: "integer", minimum: 0, maximum: 9 },
            children: { type: "array", maxItems: 2, items: { $ref: "#/$defs/node" } },
          },
          required: ["id"],
        },
      },
      $ref: "#/$defs/node",
    };
    const completion = await complete({
      max_tokens: 200,
      random_seed: 4,
      response_format: { type: "json_schema", json_schema: { name: "tree", schema: tree } },
    });
    const content = completion.choices[0].message.content as string;
    expect(completion.choices[0].finish_reason, content).not.toBe("error");
    if (completion.choices[0].finish_reason === "stop")
      expect(new Ajv({ strict: false }).validate(tree, JSON.parse(content))).toBe(true);
  });

  it("while large schemas compile, an unconstrained request runs to its end before any of them is accepted", async () => {
    // Three distinct schemas near the limits (1,000 required bounded integers each, about 60 KB):
    // they compile one after another in the grammar thread, each for about a second.
    const large = (variant: number) => {
      const properties = Object.fromEntries(
        Array.from({ length: 1000 }, (_, i) => [`p${i}`, { type: "integer", minimum: 0, maximum: 100 + i + variant }]),
      );
      return { type: "object", properties, required: Object.keys(properties) };
    };
    const accepted: number[] = [];
    const grammarRequests = [1, 2, 3].map(async (variant) => {
      const response = await post({
        max_tokens: 1,
        stream: true,
        response_format: { type: "json_schema", json_schema: { name: "large", schema: large(variant) } },
      });
      accepted.push(variant);
      expect(response.status).toBe(200);
      await response.text();
    });
    // Only to let the large requests reach the backend first; nothing is timed.
    await new Promise((resolve) => setTimeout(resolve, 200));
    await complete({ max_tokens: 8, random_seed: 3 });
    expect(accepted).toEqual([]);
    await Promise.all(grammarRequests);
    expect(accepted).toHaveLength(3);
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
