import { describe, expect, it } from "vitest";
import { budgetPeriodOf } from "../../gateway/ratelimit/spend-budget.ts";
import { adminCall, chat, createKey, eventually, scenario } from "./gateway-client.ts";

/** The fake backend reports 10 prompt + 3 completion tokens; "Hello there" is bounded at 11 bytes + 16 = 27 prompt tokens. */
const PROMPT_TOKENS = 10;
const COMPLETION_TOKENS = 3;
const PROMPT_ESTIMATE = 27;

async function pricedModel(name: string, input: number, output: number): Promise<string> {
  const { model } = await scenario(name, 1);
  const saved = await adminCall("PUT", `/models/${model}`, {
    deployment: `deploy-${name}`,
    type: "chat",
    max_context_length: 4096,
    price_per_million_tokens: { input, output },
  });
  expect(saved.status).toBe(200);
  return model;
}

describe("key expiry", () => {
  it("refuses a key with 401 once expires_at has passed, saying it expired; lifting the expiry restores it", async () => {
    const { model } = await scenario("expiry", 1);
    const expiresAt = new Date(Date.now() + 1_500).toISOString();
    const { id, key } = await createKey({ expires_at: expiresAt });
    expect(await (await adminCall("GET", `/keys/${id}`)).json()).toMatchObject({ expires_at: expiresAt });
    expect((await chat(key, { model })).status).toBe(200);

    const refused = await eventually(async () => {
      const response = await chat(key, { model });
      return response.status === 401 ? response : (await response.text(), undefined);
    });
    expect(await refused.json()).toMatchObject({
      type: "authentication_error",
      code: "expired_api_key",
      message: `This API key expired at ${expiresAt}`,
    });

    expect((await adminCall("PATCH", `/keys/${id}`, { expires_at: null })).status).toBe(200);
    expect((await chat(key, { model })).status).toBe(200);
  });

  it("stores expires_at in UTC whatever the offset, and refuses what is not a date-time with 422", async () => {
    const created = await adminCall("POST", "/keys", { name: "offset", expires_at: "2030-01-01T02:00:00+02:00" });
    expect(await created.json()).toMatchObject({ expires_at: "2030-01-01T00:00:00.000Z" });
    const bad = await adminCall("POST", "/keys", { name: "bad", expires_at: "tomorrow" });
    expect(bad.status).toBe(422);
    expect(await bad.json()).toMatchObject({ detail: [{ loc: ["body", "expires_at"] }] });
  });

  it("refuses an expires_at already past with 400, on create and on update", async () => {
    const past = new Date(Date.now() - 60_000).toISOString();
    const created = await adminCall("POST", "/keys", { name: "born-expired", expires_at: past });
    expect(created.status).toBe(400);
    expect(await created.json()).toMatchObject({ code: "invalid_expiry", param: "expires_at" });
    const { id } = await createKey();
    const updated = await adminCall("PATCH", `/keys/${id}`, { expires_at: past });
    expect(updated.status).toBe(400);
    expect(await (await adminCall("GET", `/keys/${id}`)).json()).toMatchObject({ expires_at: null });
  });
});

describe("money budgets through the gateway", () => {
  it("charges usage at the model's price, shows the remaining spend, refuses with 429 budget_exceeded, and reports spend", async () => {
    // 1000 per million input and 2000 per million output tokens: a request of 10 + 3 tokens costs 0.016.
    const model = await pricedModel("budget-money", 1000, 2000);
    const cost = (PROMPT_TOKENS * 1000 + COMPLETION_TOKENS * 2000) / 1e6;
    const { id, key } = await createKey({ max_budget: 0.06, budget_period: "day" });

    const first = await chat(key, { model, max_tokens: 5 });
    expect(first.status).toBe(200);
    expect(first.headers.get("x-ratelimit-limit-budget")).toBe("0.06");
    // Right after admission the remaining spend holds the request's reservation: 27 prompt + 5 completion tokens.
    const reservation = (PROMPT_ESTIMATE * 1000 + 5 * 2000) / 1e6;
    expect(Number(first.headers.get("x-ratelimit-remaining-budget"))).toBeCloseTo(0.06 - reservation, 6);

    // 0.016 per request, 0.037 reserved: the second is admitted at 0.016 spent (0.044 left), the third
    // not at 0.032 (0.028 left): the spend never passes the budget.
    const refused = await eventually(async () => {
      const response = await chat(key, { model, max_tokens: 5 });
      return response.status === 429 ? response : (await response.text(), undefined);
    });
    expect(await refused.json()).toMatchObject({ type: "rate_limited", code: "budget_exceeded" });
    expect(Number(refused.headers.get("x-ratelimit-remaining-budget"))).toBeCloseTo(0.06 - 2 * cost, 6);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(Number(refused.headers.get("retry-after"))).toBeLessThanOrEqual(86_400);

    const spend = await eventually(async () => {
      const body = await (
        await adminCall("GET", `/keys/${id}/spend`)
      ).json<{
        current: { spend: number };
        data: { requests: number }[];
      }>();
      return body.data[0]?.requests === 2 ? body : undefined;
    });
    const today = new Date().toISOString().slice(0, 10);
    expect(spend).toMatchObject({
      key_id: id,
      max_budget: 0.06,
      budget_period: "day",
      current: {
        period: today,
        start: `${today}T00:00:00.000Z`,
        spend: expect.closeTo(2 * cost, 9),
        remaining: expect.closeTo(0.06 - 2 * cost, 9),
      },
      data: [
        {
          period: today,
          requests: 2,
          prompt_tokens: 2 * PROMPT_TOKENS,
          completion_tokens: 2 * COMPLETION_TOKENS,
          spend: expect.closeTo(2 * cost, 9),
        },
      ],
    });
    const monthly = await (
      await adminCall("GET", `/keys/${id}/spend?period=month`)
    ).json<{
      data: { period: string }[];
    }>();
    expect(monthly.data.map((entry) => entry.period)).toEqual([today.slice(0, 7)]);

    // Raising the budget lets the key go on at once.
    await adminCall("PATCH", `/keys/${id}`, { max_budget: 1 });
    expect((await chat(key, { model })).status).toBe(200);
  });

  it("lists each key with its last use, its spend in the current period and what its budget leaves", async () => {
    const model = await pricedModel("budget-listed", 1000, 2000);
    const cost = (PROMPT_TOKENS * 1000 + COMPLETION_TOKENS * 2000) / 1e6;
    const budgeted = await createKey({ max_budget: 1, budget_period: "week" });
    const unused = await createKey();
    const sent = new Date().toISOString();
    expect((await chat(budgeted.key, { model, max_tokens: 5 })).status).toBe(200);

    type Listed = { id: string; last_used_at: string | null; current_spend: Record<string, unknown> };
    const listed = await eventually(async () => {
      const { data } = await (await adminCall("GET", "/keys")).json<{ data: Listed[] }>();
      const entry = data.find((key) => key.id === budgeted.id);
      return entry?.last_used_at ? { entry, data } : undefined;
    });
    expect(listed.entry.last_used_at! >= sent).toBe(true);
    const monday = budgetPeriodOf("week", Date.now());
    expect(listed.entry.current_spend).toEqual({
      ...monday,
      spend: expect.closeTo(cost, 9),
      remaining: expect.closeTo(1 - cost, 9),
    });
    // A key without requests or a budget: never used, nothing spent in its lifetime, nothing to remain.
    expect(listed.data.find((key) => key.id === unused.id)).toMatchObject({
      last_used_at: null,
      current_spend: { period: "lifetime", start: null, spend: 0, remaining: null },
    });
    // One key reads the same as in the list.
    expect(await (await adminCall("GET", `/keys/${budgeted.id}`)).json()).toMatchObject({
      last_used_at: listed.entry.last_used_at,
      current_spend: { spend: expect.closeTo(cost, 9) },
    });
  });

  it("never lets n × max_tokens or an unset max_tokens pass the budget: 400 when it cannot fit at all, a cap when unset", async () => {
    // 10 per million input tokens, 0.001 per completion token; the context is 4096.
    const { model, backends } = await scenario("budget-worst", 1);
    const priced = { deployment: "deploy-budget-worst", type: "chat", max_context_length: 4096 };
    await adminCall("PUT", `/models/${model}`, { ...priced, price_per_million_tokens: { input: 10, output: 1000 } });
    const { key } = await createKey({ max_budget: 1, budget_period: "day" });
    // 16 × 100 completion tokens may cost 1.6: more than the whole budget, whatever is spent.
    const never = await chat(key, { model, n: 16, max_tokens: 100 });
    expect(never.status).toBe(400);
    expect(await never.json()).toMatchObject({
      type: "invalid_request_error",
      code: "exceeds_key_limit",
      message: expect.stringMatching(/may cost up to 1\.60027 .*whole budget of 1 per day: lower max_tokens or n/),
    });
    expect((await backends[0].stats()).requests).toBe(0);
    // A stream with max_tokens unset may run to the context (4,069 tokens: 4.07): capped to the 999 that 1 buys.
    const capped = await chat(key, { model, stream: true });
    expect(capped.status).toBe(200);
    expect(await capped.text()).toContain("[DONE]");
    expect((await backends[0].stats()).lastBody).toMatchObject({ max_tokens: 999 });
  });

  it("refuses a bad budget period or a negative budget with 422, and answers 404 for an unknown key's spend", async () => {
    expect((await adminCall("POST", "/keys", { name: "bad", max_budget: 1, budget_period: "year" })).status).toBe(422);
    expect((await adminCall("POST", "/keys", { name: "bad", max_budget: -1 })).status).toBe(422);
    expect((await adminCall("GET", "/keys/key_missing/spend")).status).toBe(404);
  });
});
