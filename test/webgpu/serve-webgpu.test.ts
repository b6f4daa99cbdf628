// `moxie serve --execution-provider webgpu` as a real process on SwiftShader, driven by the OpenAI SDK.
import OpenAI from "openai";
import { afterAll, beforeAll, expect, it } from "vitest";
import { fixture } from "../node/support/fixture.ts";
import { serveFailure, startServe, type ServeProcess } from "../node/support/serve-process.ts";

const secret = "test-backend-secret";
const request = {
  model: "mixtral-tiny",
  messages: [{ role: "user" as const, content: "Bonjour" }],
  max_tokens: 3,
  temperature: 0,
};
const common = ["--model", fixture, "--context", "128", "--max-seqs", "2", "--threads", "2"];
let gpu: ServeProcess;
let cpu: ServeProcess;
beforeAll(async () => {
  gpu = await startServe([...common, "--execution-provider", "webgpu"], { MOXIE_BACKEND_SECRET: secret });
  cpu = await startServe(common, { MOXIE_BACKEND_SECRET: secret });
});
afterAll(async () => {
  await gpu?.stop();
  await cpu?.stop();
});

it("serves a streamed chat completion on the device with the CPU's greedy text, and exports the bytes it moved", async () => {
  expect(gpu.stderr()).toMatch(/WebGPU adapter: google swiftshader/);
  const streamed = async (server: ServeProcess) => {
    const client = new OpenAI({ apiKey: secret, baseURL: `${server.url}/v1` });
    let text = "";
    for await (const chunk of await client.chat.completions.create({ ...request, stream: true }))
      text += chunk.choices[0]?.delta.content ?? "";
    return text;
  };
  const text = await streamed(gpu);
  expect(text.length).toBeGreaterThan(0);
  expect(text).toBe(await streamed(cpu));
  const metrics = await (await fetch(`${gpu.url}/metrics`, { headers: { authorization: `Bearer ${secret}` } })).text();
  const total = (name: string) => Number(new RegExp(`^${name}\\{[^}]*\\} (\\d+)`, "m").exec(metrics)?.[1]);
  expect(total("moxie:engine_uploaded_bytes_total")).toBeGreaterThan(0);
  expect(total("moxie:engine_downloaded_bytes_total")).toBeGreaterThan(0);
});

it("refuses to start without an adapter, saying how to get one", async () => {
  const { code, stderr } = await serveFailure([...common, "--execution-provider", "webgpu"], {
    MOXIE_BACKEND_SECRET: secret,
    VK_ICD_FILENAMES: "/nonexistent/icd.json",
  });
  expect(code).not.toBe(0);
  expect(stderr).toMatch(/WebGPU found no GPU adapter/);
  expect(stderr).toMatch(/VK_ICD_FILENAMES/);
});

it.each([
  ["a float16 KV cache", ["--kv-cache-dtype", "float16"], /needs shader-f16.*--kv-cache-dtype float32/],
  ["float16 weights", ["--dtype", "float16"], /--dtype float16 needs shader-f16.*--dtype float32 or --quantize/],
])("refuses %s on an adapter without shader-f16 (SwiftShader), naming the way out", async (_, flags, message) => {
  const { code, stderr } = await serveFailure([...common, "--execution-provider", "webgpu", ...flags], {
    MOXIE_BACKEND_SECRET: secret,
  });
  expect(code).not.toBe(0);
  expect(stderr).toMatch(message);
});
