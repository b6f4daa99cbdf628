// Responses built through our own schemas (parse = what we would put on the wire), and a
// fetch handler that validates requests with them: the contract tests hand it to the
// official SDKs as their transport, so real SDK code serializes requests and parses answers.
import {
  base64Embedding,
  ChatCompletionChunk,
  ChatCompletionRequest,
  ChatCompletionResponse,
  EmbeddingRequest,
  EmbeddingResponse,
  ModelList,
  messageText,
  validate,
} from "../../../protocol/index.ts";

export const usage = { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 };

export const completion = (request: ChatCompletionRequest): ChatCompletionResponse =>
  ChatCompletionResponse.parse({
    id: "cmpl-1",
    object: "chat.completion",
    created: 1_700_000_000,
    model: request.model,
    choices: [
      {
        index: 0,
        message: { role: "assistant", content: `echo: ${messageText(request.messages.at(-1)?.content)}` },
        finish_reason: "stop",
      },
    ],
    usage,
  });

export const toolCallCompletion = ChatCompletionResponse.parse({
  id: "cmpl-2",
  object: "chat.completion",
  created: 1_700_000_001,
  model: "mixtral",
  choices: [
    {
      index: 0,
      message: {
        role: "assistant",
        content: null,
        tool_calls: [
          { id: "call_1", type: "function", function: { name: "weather", arguments: '{"city":"Paris"}' }, index: 0 },
        ],
      },
      finish_reason: "tool_calls",
    },
  ],
  usage,
});

/** A whole stream: role first, text pieces, a finish chunk, then a usage-only last chunk. */
export const streamChunks = (model: string): ChatCompletionChunk[] =>
  [
    { choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] },
    { choices: [{ index: 0, delta: { content: "Bon" }, finish_reason: null }] },
    { choices: [{ index: 0, delta: { content: "jour" }, finish_reason: null }] },
    { choices: [{ index: 0, delta: { content: "" }, finish_reason: "stop" }] },
    { choices: [], usage },
  ].map((part) =>
    ChatCompletionChunk.parse({
      id: "cmpl-3",
      object: "chat.completion.chunk",
      created: 1_700_000_002,
      model,
      ...part,
    }),
  );

export const modelList = ModelList.parse({
  object: "list",
  data: [
    {
      id: "mixtral-tiny",
      object: "model",
      created: 1_700_000_000,
      owned_by: "moxie",
      capabilities: {
        completion_chat: true,
        function_calling: true,
        completion_fim: false,
        fine_tuning: false,
        vision: false,
      },
      max_context_length: 4096,
      name: "Mixtral tiny",
      description: "a small sparse mixture of experts",
      aliases: ["tiny"],
      type: "base",
    },
  ],
});

export const embeddings = (request: EmbeddingRequest): EmbeddingResponse =>
  EmbeddingResponse.parse({
    id: "emb-1",
    object: "list",
    model: request.model,
    data: [request.input].flat().map((_, index) => {
      const vector = [0.25, -0.5, index];
      return {
        object: "embedding",
        embedding: request.encoding_format === "base64" ? base64Embedding(vector) : vector,
        index,
      };
    }),
    usage: { prompt_tokens: 4, completion_tokens: 0, total_tokens: 4 },
  });

const jsonResponse = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

/** Every request body this handler accepted, in order, as our schemas parsed it. */
export const received: unknown[] = [];

export async function handle(request: Request): Promise<Response> {
  const { pathname } = new URL(request.url);
  if (request.method === "GET" && pathname === "/v1/models") return jsonResponse(modelList);
  const body: unknown = await request.json();
  if (pathname === "/v1/embeddings") {
    const parsed = validate(EmbeddingRequest, body);
    if (!parsed.success) return jsonResponse(parsed.error, 422);
    received.push(parsed.data);
    return jsonResponse(embeddings(parsed.data));
  }
  const parsed = validate(ChatCompletionRequest, body);
  if (!parsed.success) return jsonResponse(parsed.error, 422);
  received.push(parsed.data);
  if (!parsed.data.stream) return jsonResponse(completion(parsed.data));
  const events = streamChunks(parsed.data.model).map((chunk) => `data: ${JSON.stringify(chunk)}\n\n`);
  return new Response(events.join("") + "data: [DONE]\n\n", { headers: { "content-type": "text/event-stream" } });
}

/** A fetch that answers from `handle`, for SDKs that take a custom fetch. */
export const fetcher = async (input: string | URL | Request, init?: RequestInit) => handle(new Request(input, init));
