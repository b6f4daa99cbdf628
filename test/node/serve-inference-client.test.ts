import { resolve } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ChatCompletionRequest } from "../../protocol/chat.ts";
import { InferenceOptions } from "../../backend/options.ts";
import { InferenceClient } from "../../backend/inference/inference-client.ts";
import { fixture } from "./support/fixture.ts";

let client: InferenceClient;

beforeAll(async () => {
  client = new InferenceClient(InferenceOptions.parse({ model: resolve(fixture), threads: 1, maxSeqs: 2 }));
  await client.ready;
});
afterAll(async () => {
  await client?.close();
});

it("a request that cannot be handed to the inference thread fails, and leaves nothing pending", async () => {
  const request = ChatCompletionRequest.parse({
    model: "m",
    messages: [{ role: "user", content: "hi" }],
    max_tokens: 1,
  });
  // Something the structured clone of postMessage refuses, as a body nested beyond the stack once did.
  const unclonable = { ...request, metadata: { callback: () => undefined } } as unknown as ChatCompletionRequest;
  await expect(client.chat(unclonable)).rejects.toThrow(/could not be cloned/);
  expect((Reflect.get(client, "pending") as Map<number, unknown>).size).toBe(0);

  // The client and its worker go on serving.
  const run = await client.chat(request);
  const outputs = [];
  for await (const output of run.outputs) outputs.push(output);
  expect(outputs.at(-1)).toMatchObject({ finish: "length" });
  expect((Reflect.get(client, "pending") as Map<number, unknown>).size).toBe(0);
});
