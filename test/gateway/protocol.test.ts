// The protocol runs inside workerd too: no Node API may creep into protocol/.
import { expect, it } from "vitest";
import {
  base64Embedding,
  ChatCompletionRequest,
  EmbeddingRequest,
  openApiDocument,
  validate,
} from "../../protocol/index.ts";

it("validates requests inside workerd", () => {
  const chat = validate(ChatCompletionRequest, {
    model: "m",
    messages: [{ role: "user", content: [{ type: "text", text: "hi" }] }],
    stop: ["\n"],
  });
  expect(chat).toMatchObject({ success: true, data: { stream: false, top_p: 1, stop: ["\n"] } });
  expect(validate(EmbeddingRequest, { model: "m", input: "a", extra: 1 })).toEqual({
    success: false,
    error: {
      detail: [{ loc: ["body", "extra"], msg: "Extra inputs are not permitted", type: "extra_forbidden", input: 1 }],
    },
  });
});

it("encodes base64 embeddings without Node's Buffer", () => {
  expect(base64Embedding([1, -2])).toBe("AACAPwAAAMA=");
});

it("generates the OpenAPI document inside workerd", () => {
  expect(Object.keys(openApiDocument().paths)).toContain("/v1/chat/completions");
});
