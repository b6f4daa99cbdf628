import { ChatCompletionRequest, messageText, type ChatMessage } from "../../protocol/index.ts";
import { cacheScopeOf } from "../auth/key-record.ts";
import type { InferenceRoute } from "../proxy/serve-inference.ts";
import { cacheSalt } from "./cache-salt.ts";

/** Messages whose prefix identifies a conversation across its turns: the system prompt and the first user turn. */
const AFFINITY_MESSAGES = 2;

export const chatCompletions: InferenceRoute<typeof ChatCompletionRequest> = {
  path: "/v1/chat/completions",
  schema: ChatCompletionRequest,
  modelType: "chat",
  // Everything the chat template puts in front of the model, so a prompt cannot hide tokens from the reservation.
  promptTexts: (request) => [
    ...request.messages.map(messageReads),
    ...(request.tools ?? []).map((tool) => JSON.stringify(tool.function)),
    ...(request.response_format?.json_schema ? [JSON.stringify(request.response_format.json_schema)] : []),
  ],
  completion: (request) => ({ choices: request.n, maxTokens: request.max_tokens ?? null }),
  // Per cache scope, like the backend's cache itself: no tenant's requests steer toward another's warm prefix.
  async affinityKey(request, key) {
    const prefix = JSON.stringify([
      await cacheSalt(cacheScopeOf(key), request.cache_salt),
      request.prompt_cache_key ?? request.messages.slice(0, AFFINITY_MESSAGES),
    ]);
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(prefix));
    return btoa(String.fromCharCode(...new Uint8Array(digest)));
  },
  upstreamBody: async (body, request, model, maxTokens, key) => ({
    ...body,
    model: model.deployment,
    // The client's max_tokens, or the cap its key's limits set on an unset one.
    ...(maxTokens !== null ? { max_tokens: maxTokens } : {}),
    // Mistral's API always ends a stream with usage; OpenAI-style servers (vLLM) need asking. The
    // relay drops the usage-only chunk this adds unless the client asked for it too.
    ...(request.stream ? { stream_options: { ...request.stream_options, include_usage: true } } : {}),
    cache_salt: await cacheSalt(cacheScopeOf(key), request.cache_salt),
  }),
  streams: (request) => request.stream,
  asksForUsageChunk: (request) => request.stream_options?.include_usage === true,
};

/** What the model reads of a message: its content, an assistant's tool calls, a tool result's name and call id. */
function messageReads(message: ChatMessage): string {
  switch (message.role) {
    case "assistant":
      return [
        messageText(message.content),
        ...(message.tool_calls ?? []).map(
          ({ id, function: call }) =>
            (id ?? "") +
            call.name +
            (typeof call.arguments === "string" ? call.arguments : JSON.stringify(call.arguments)),
        ),
      ].join("");
    case "tool":
      return (message.tool_call_id ?? "") + (message.name ?? "") + messageText(message.content);
    default:
      return messageText(message.content);
  }
}
