// `moxie serve --model file.gguf` (llama.cpp's Q4_K_M micro Mixtral from ../shared/fixtures-gguf)
// behind the gateway under wrangler dev, called with the official Mistral SDK: the file's own
// tokenizer encodes the chat (Mistral's instruct format: the file has no chat template), and the
// answers stream and end as any model's do.
import { Mistral } from "@mistralai/mistralai";
import { afterAll, beforeAll, expect, it } from "vitest";
import { encodeChat } from "../../backend/text/chat-encoding.ts";
import { loadTokenizer } from "../../backend/text/tokenizer.ts";
import { startGatewayWorker } from "./support/local-gateway.ts";
import { startServe, type ServeProcess } from "./support/serve-process.ts";

const file = "../shared/fixtures-gguf/micro-q4_k_m.gguf";
const secret = "gguf-backend-secret";
const adminToken = "gguf-admin-token";
let server: ServeProcess;
let gateway: Awaited<ReturnType<typeof startGatewayWorker>>;
let mistral: Mistral;

beforeAll(async () => {
  server = await startServe(["--model", file, "--threads", "1"], { MOXIE_BACKEND_SECRET: secret });
  gateway = await startGatewayWorker({
    ADMIN_TOKEN: adminToken,
    GGUF_BACKEND_SECRET: secret,
    ALLOW_LOOPBACK_BACKENDS: "true",
  });
  const admin = async (method: string, path: string, body: unknown) => {
    const response = await fetch(`${gateway.url}/admin${path}`, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
    return response.json() as Promise<{ key: string }>;
  };
  // The backend serves the file under its name without ".gguf".
  await admin("PUT", "/models/micro-mixtral", { deployment: "micro-q4_k_m", type: "chat", max_context_length: 4096 });
  await admin("POST", "/backends", { id: "gguf", url: server.url, secret_name: "GGUF_BACKEND_SECRET" });
  const { key } = await admin("POST", "/keys", { name: "gguf" });
  mistral = new Mistral({ apiKey: key, serverURL: gateway.url });
}, 120_000);
afterAll(async () => {
  await gateway?.dispose();
  await server?.stop();
});

const messages = [
  { role: "system" as const, content: "Answer briefly." },
  { role: "user" as const, content: "Où est la tour Eiffel ?" },
];

it("answers a chat through the gateway, its prompt encoded by the file's own tokenizer and chat format", async () => {
  const answer = await mistral.chat.complete({ model: "micro-mixtral", messages, maxTokens: 12, temperature: 0 });
  expect(answer.usage).toBeDefined();
  const tokenizer = await loadTokenizer(file);
  const reference = await loadTokenizer("../shared/reference");
  // The same ids from the GGUF's tokenizer and from Mixtral's tokenizer.json.
  const expected = encodeChat(reference, messages);
  expect(encodeChat(tokenizer, messages)).toEqual(expected);
  expect(answer.usage.promptTokens).toBe(expected.length);
  // A random model: greedy may end early with </s>, or run to max_tokens.
  const { completionTokens } = answer.usage;
  expect(completionTokens).toBeGreaterThan(0);
  expect(completionTokens).toBeLessThanOrEqual(12);
  const [choice] = answer.choices;
  expect(choice.finishReason).toBe(completionTokens === 12 ? "length" : "stop");
  // Greedy is deterministic: the same answer streamed, chunk by chunk.
  const stream = await mistral.chat.stream({ model: "micro-mixtral", messages, maxTokens: 12, temperature: 0 });
  let text = "";
  for await (const event of stream) {
    const content: unknown = event.data.choices.at(0)?.delta.content;
    if (typeof content === "string") text += content;
  }
  expect(text).toBe(choice.message?.content);
});
