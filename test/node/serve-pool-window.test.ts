// `moxie serve` with its default KV pool (sized by memory, far larger than one conversation) reads
// a long conversation's cache where it lies: its blocks, taken in order from the free list, make a
// window little wider than itself (inPlaceWindow). /metrics and /health count the steps each way.
import OpenAI from "openai";
import { afterAll, beforeAll, expect, it } from "vitest";
import { BackendHealth } from "../../protocol/health.ts";
import { fixture } from "./support/fixture.ts";
import { startServe, type ServeProcess } from "./support/serve-process.ts";

const secret = "pool-window-secret";
const model = "mixtral-tiny";
let server: ServeProcess;

beforeAll(async () => {
  server = await startServe(["--model", fixture, "--threads", "1"], { MOXIE_BACKEND_SECRET: secret });
});
afterAll(async () => {
  await server?.stop();
});

async function counter(name: string): Promise<number> {
  const metrics = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${secret}` } }).then(
    (response) => response.text(),
  );
  return Number(new RegExp(`^${name}\\{model_name="${model}"\\} (\\d+)$`, "m").exec(metrics)?.[1]);
}

it("decodes a long answer through a window of its default pool read in place, counted on /metrics and /health", async () => {
  const openai = new OpenAI({ apiKey: secret, baseURL: `${server.url}/v1` });
  const [inPlaceBefore, gatheredBefore] = [
    await counter("moxie:engine_steps_read_in_place_total"),
    await counter("moxie:engine_steps_gathered_total"),
  ];
  const answer = await openai.chat.completions.create({
    model,
    messages: [{ role: "user", content: "Write a long story about the sea." }],
    max_tokens: 800,
    temperature: 0,
  });
  const { prompt_tokens: prompt, completion_tokens: completion } = answer.usage!;
  expect(completion).toBeGreaterThan(600);
  const inPlace = (await counter("moxie:engine_steps_read_in_place_total")) - inPlaceBefore;
  const gathered = (await counter("moxie:engine_steps_gathered_total")) - gatheredBefore;
  // One step per token drawn: the prefill, then a decode step from each cached length in
  // [prompt, prompt + completion - 2]. Blocks of 16, chunks of 1,024 positions: a decode step reads
  // its window in place once its blocks hold more than half of it, from 513 cached positions.
  expect(inPlace + gathered).toBe(completion);
  expect(inPlace).toBe(prompt + completion - 2 - 513 + 1);
  const health = BackendHealth.parse(await fetch(`${server.url}/health`).then((response) => response.json()));
  expect(health.steps_read_in_place).toBe(inPlaceBefore + inPlace);
});
