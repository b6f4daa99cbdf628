// The grammar threads (issue 20): xgrammar runs off the inference thread, and what breaks it
// (aborts, a compile over budget) costs a thread, never JSON mode for later requests.
import { describe, expect, it } from "vitest";
import { GrammarPool } from "../../backend/grammar/grammar-pool.ts";
import type { GrammarSpec } from "../../backend/grammar/grammars.ts";
import { prepareSchema } from "../../backend/grammar/json-schema-support.ts";
import { JSON_MODE } from "../../backend/grammar/response-format.ts";
import { loadTokenizer } from "../../backend/text/tokenizer.ts";
import { fixture } from "./support/fixture.ts";

const tokenizer = await loadTokenizer(fixture);

const pool = (budgetMs?: number) => new GrammarPool(tokenizer, 32000, tokenizer.eosId!, budgetMs);
const allowedTokens = (mask: Int32Array | undefined) =>
  Array.from({ length: mask!.length * 32 }, (_, token) => token).filter(
    (token) => (mask![token >> 5] & (1 << (token & 31))) !== 0,
  );
const schemaSpec = (schema: unknown): GrammarSpec => ({
  prepared: prepareSchema(schema, true),
  closedObjects: true,
  param: "response_format",
});
/** A schema as it reached xgrammar before the checks: unprepared, as the attack sent it. */
const raw = (schema: unknown): GrammarSpec => ({
  prepared: { schema, ranges: {} },
  closedObjects: true,
  param: "tools",
});
/** How a schema xgrammar cannot compile refuses its request. */
const unsupportedTools = expect.objectContaining({ reason: "unsupported_schema", param: "tools" });

/** JSON mode masks: a few tokens may start the object, and one of them leads on. */
async function jsonModeWorks(grammars: GrammarPool): Promise<void> {
  const [matcher] = await grammars.constraints(JSON_MODE, 1);
  const first = allowedTokens(await matcher.allowed());
  expect(first.length).toBeGreaterThan(0);
  expect(first.length).toBeLessThan(100);
  matcher.accept(first[0]);
  expect(allowedTokens(await matcher.allowed()).length).toBeGreaterThan(0);
  matcher.release();
}

describe("grammar threads", () => {
  const grammars = pool();

  it("after 32 schemas that make xgrammar abort, JSON mode and json_schema still work, and so does a matcher made before", async () => {
    const [before] = await grammars.constraints(
      schemaSpec({ type: "object", properties: { a: { type: "integer" } } }),
      1,
    );
    const aborting = [
      { type: "string", pattern: "([" },
      { $ref: "#/$defs/nope" },
      { type: "array", minItems: 3, maxItems: 1 },
      { type: "string", minLength: 5, maxLength: 1 },
    ];
    for (let i = 0; i < 32; i++)
      await expect(grammars.constraints(raw(aborting[i % aborting.length]), 1)).rejects.toThrow(unsupportedTools);
    await jsonModeWorks(grammars);
    const [person] = await grammars.constraints(
      schemaSpec({
        type: "object",
        properties: { age: { type: "integer", minimum: 0, maximum: 120 } },
        required: ["age"],
      }),
      2,
    );
    expect(allowedTokens(await person.allowed()).length).toBeGreaterThan(0);
    person.release();
    expect(allowedTokens(await before.allowed()).length).toBeGreaterThan(0);
    before.release();
    expect(grammars.healthy).toBe(true);
  });

  it("a token outside the mask surfaces as an error on the next allowed()", async () => {
    const [matcher] = await grammars.constraints(JSON_MODE, 1);
    const mask = (await matcher.allowed())!;
    const outside = Array.from({ length: 32000 }, (_, token) => token).find(
      (token) => (mask[token >> 5] & (1 << (token & 31))) === 0,
    )!;
    matcher.accept(outside);
    await expect(matcher.allowed()).rejects.toThrow(/does not accept token/);
    matcher.release();
  });
});

describe("the compile budget", () => {
  it("a compile over it is refused, the thread is replaced, and the next grammar request works; a matcher stuck behind the runaway compile fails instead of hanging", async () => {
    const grammars = pool(500);
    const [live] = await grammars.constraints(JSON_MODE, 1);
    const first = await live.allowed();
    // 3,000 required integers (past the schema limits, which this level does not check): a compile of
    // about 5 s here, far over the budget however loaded the machine is.
    const properties = Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`q${i}`, { type: "integer" }]));
    const runaway = grammars.constraints(
      {
        prepared: { schema: { type: "object", properties, required: Object.keys(properties) }, ranges: {} },
        closedObjects: true,
        param: "response_format",
      },
      1,
    );
    // Once the compile is posted (a turn of the event loop), the live matcher's next mask is asked
    // for: it waits behind the compile in the same thread, past two budgets.
    await new Promise((resolve) => setImmediate(resolve));
    live.accept(allowedTokens(first)[0]);
    const stuck = live.allowed();
    await expect(runaway).rejects.toThrow(
      expect.objectContaining({
        reason: "unsupported_schema",
        message: "compiling the JSON schema took longer than the limit of 0.5 s",
        param: "response_format",
      }),
    );
    await expect(stuck).rejects.toThrow(/the grammar thread failed: no grammar mask came within 1 s/);
    await jsonModeWorks(grammars);
    expect(grammars.healthy).toBe(true);
    live.release();
  });
});
