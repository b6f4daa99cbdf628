import { ChatCompletionRequest, messageText } from "../../protocol/index.ts";
import type { InferenceRoute } from "../proxy/serve-inference.ts";

/** Messages whose prefix identifies a conversation across its turns: the system prompt and the first user turn. */
const AFFINITY_MESSAGES = 2;

export const chatCompletions: InferenceRoute<typeof ChatCompletionRequest> = {
  path: "/v1/chat/completions",
  schema: ChatCompletionRequest,
  modelType: "chat",
  promptTexts: (request) => request.messages.map((message) => messageText(message.content)),
  completion: (request) => ({ choices: request.n, maxTokens: request.max_tokens ?? null }),
  async affinityKey(request, key) {
    const prefix = request.prompt_cache_key ?? JSON.stringify([key.id, request.messages.slice(0, AFFINITY_MESSAGES)]);
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(prefix));
    return btoa(String.fromCharCode(...new Uint8Array(digest)));
  },
  upstreamBody: (body, request, model, maxTokens) => ({
    ...body,
    model: model.deployment,
    // The client's max_tokens, or the cap its key's limits set on an unset one.
    ...(maxTokens !== null ? { max_tokens: maxTokens } : {}),
    // Mistral's API always ends a stream with usage; OpenAI-style servers (vLLM) need asking. The
    // relay drops the usage-only chunk this adds unless the client asked for it too.
    ...(request.stream ? { stream_options: { ...request.stream_options, include_usage: true } } : {}),
  }),
  streams: (request) => request.stream,
  asksForUsageChunk: (request) => request.stream_options?.include_usage === true,
};
