import * as z from "zod";
import { UsageInfo } from "./usage.ts";

/**
 * Mistral's API treats `null` like an absent field; the parsed value carries the documented
 * default so the backend never has to know which of the two a client sent.
 */
function nullOrDefault<T extends z.ZodType>(schema: T, fallback: z.output<T>) {
  return schema
    .nullish()
    .meta({ default: fallback })
    .transform((value) => value ?? fallback);
}

export const TextChunk = z.strictObject({ type: z.literal("text"), text: z.string() });

/** Message content: a plain string, or text chunks (the only chunk kind a text-only model takes). */
export const MessageContent = z.union([z.string(), z.array(TextChunk)]);
export type MessageContent = z.infer<typeof MessageContent>;

export const FunctionCall = z.strictObject({
  name: z.string(),
  /** A JSON-encoded string in responses; clients may send the object itself. */
  arguments: z.union([z.record(z.string(), z.unknown()), z.string()]),
});

export const ToolCall = z.strictObject({
  id: z.string().optional(),
  type: z.literal("function").default("function"),
  function: FunctionCall,
  index: z.int().min(0).optional(),
});
export type ToolCall = z.infer<typeof ToolCall>;

export const SystemMessage = z.strictObject({
  role: z.literal("system"),
  content: MessageContent,
});

export const UserMessage = z.strictObject({
  role: z.literal("user"),
  content: MessageContent.nullable(),
});

export const AssistantMessage = z.strictObject({
  role: z.literal("assistant"),
  content: MessageContent.nullish(),
  tool_calls: z.array(ToolCall).nullish(),
  /** The content is the start of the answer: the model continues it instead of answering anew. */
  prefix: z.boolean().default(false),
});

export const ToolMessage = z.strictObject({
  role: z.literal("tool"),
  content: MessageContent.nullable(),
  tool_call_id: z.string().nullish(),
  name: z.string().nullish(),
});

export const ChatMessage = z.discriminatedUnion("role", [SystemMessage, UserMessage, AssistantMessage, ToolMessage]);
export type ChatMessage = z.infer<typeof ChatMessage>;

export const FunctionDefinition = z.strictObject({
  name: z.string().min(1),
  description: z.string().optional(),
  strict: z.boolean().optional(),
  parameters: z.record(z.string(), z.unknown()),
});

export const Tool = z.strictObject({
  type: z.literal("function").default("function"),
  function: FunctionDefinition,
});
export type Tool = z.infer<typeof Tool>;

export const ToolChoice = z.union([
  z.enum(["auto", "none", "any", "required"]),
  z.strictObject({ type: z.literal("function").default("function"), function: z.strictObject({ name: z.string() }) }),
]);
export type ToolChoice = z.infer<typeof ToolChoice>;

export const JsonSchemaFormat = z.strictObject({
  name: z.string(),
  description: z.string().nullish(),
  schema: z.record(z.string(), z.unknown()),
  strict: z.boolean().optional(),
});

export const ResponseFormat = z
  .strictObject({
    type: z.enum(["text", "json_object", "json_schema"]).default("text"),
    json_schema: JsonSchemaFormat.nullish(),
  })
  .refine((format) => format.type !== "json_schema" || format.json_schema, {
    message: "json_schema is required when type is json_schema",
    path: ["json_schema"],
  });
export type ResponseFormat = z.infer<typeof ResponseFormat>;

export const Prediction = z.strictObject({
  type: z.literal("content").default("content"),
  content: z.string().default(""),
});

/** OpenAI's stream options, accepted so the OpenAI SDK works unchanged. */
/** Choices one request may ask for (`n`): each runs as its own sequence, so a backend also needs that many free slots. */
export const MAX_CHOICES = 16;

export const StreamOptions = z.strictObject({
  include_usage: z.boolean().optional(),
  include_obfuscation: z.boolean().optional(),
});

/** Longest cache_salt: room for a tenant scope and a client's own salt. */
export const MAX_CACHE_SALT_LENGTH = 256;

/**
 * Header the gateway sends a backend with the tenant a request belongs to (the API key's id), so
 * the backend's scheduler shares seats fairly between tenants. Absent: one shared tenant.
 */
export const TENANT_HEADER = "x-moxie-tenant";

/** OpenAI's bound on top_logprobs. */
export const MAX_TOP_LOGPROBS = 20;

/** One candidate token at a position: its text, log-probability and UTF-8 bytes (OpenAI's shape). */
export const TopLogprob = z.object({
  token: z.string(),
  logprob: z.number(),
  bytes: z.array(z.int().min(0).max(255)).nullable(),
});

export const TokenLogprob = TopLogprob.extend({ top_logprobs: z.array(TopLogprob) });
export type TokenLogprob = z.infer<typeof TokenLogprob>;

/** A choice's logprobs: one entry per generated token, in order. */
export const ChoiceLogprobs = z.object({ content: z.array(TokenLogprob).nullable() });

/**
 * POST /v1/chat/completions. Bounds and defaults follow Mistral's API reference; unknown
 * fields are refused like Mistral does. `stream_options`, `user` and `seed` (OpenAI's name for
 * random_seed) are OpenAI's, accepted as documented extensions.
 */
export const ChatCompletionRequest = z
  .strictObject({
    model: z.string().min(1),
    messages: z.array(ChatMessage).min(1),
    /**
     * No default: it depends on the model. Mistral's SDK states no upper bound; 2 is OpenAI's,
     * so no value either SDK documents as valid is refused.
     */
    temperature: z.number().min(0).max(2).nullish(),
    top_p: nullOrDefault(z.number().min(0).max(1), 1),
    max_tokens: z.int().min(0).nullish(),
    stream: z.boolean().default(false),
    stop: z.union([z.string(), z.array(z.string())]).nullish(),
    random_seed: z.int().min(0).nullish(),
    response_format: ResponseFormat.optional(),
    tools: z.array(Tool).nullish(),
    tool_choice: ToolChoice.default("auto"),
    parallel_tool_calls: z.boolean().default(true),
    presence_penalty: nullOrDefault(z.number().min(-2).max(2), 0),
    frequency_penalty: nullOrDefault(z.number().min(-2).max(2), 0),
    n: nullOrDefault(
      z
        .int()
        .min(1)
        .max(MAX_CHOICES)
        .describe(
          `Completions to generate for the prompt, at most ${MAX_CHOICES}; a backend refuses more than it has sequence slots (400).`,
        ),
      1,
    ),
    safe_prompt: z.boolean().default(false),
    prediction: Prediction.optional(),
    prompt_mode: z.literal("reasoning").nullish(),
    metadata: z.record(z.string(), z.unknown()).nullish(),
    prompt_cache_key: z.string().nullish(),
    /**
     * vLLM's: mixed into the prefix cache's block hashes, so only requests with the same salt share
     * cached prompt blocks. The gateway sets it per tenant (the key, or the operator's cache scope),
     * a client's own salt only partitioning that scope further.
     */
    cache_salt: z.string().min(1).max(MAX_CACHE_SALT_LENGTH).nullish(),
    stream_options: StreamOptions.nullish(),
    user: z.string().optional(),
    seed: z.int().min(0).nullish(),
    /** OpenAI's: the log-probability of each generated token under the model's raw distribution. */
    logprobs: nullOrDefault(z.boolean(), false),
    /** OpenAI's: also the most likely alternatives at each position (needs logprobs: true). */
    top_logprobs: z.int().min(0).max(MAX_TOP_LOGPROBS).nullish(),
  })
  .refine((request) => request.top_logprobs == null || request.logprobs, {
    message: "top_logprobs needs logprobs: true",
    path: ["top_logprobs"],
  });
export type ChatCompletionRequest = z.infer<typeof ChatCompletionRequest>;

export const FinishReason = z.enum(["stop", "length", "model_length", "error", "tool_calls"]);
export type FinishReason = z.infer<typeof FinishReason>;

export const ChatCompletionChoice = z.object({
  index: z.int().min(0),
  message: AssistantMessage,
  finish_reason: FinishReason,
  logprobs: ChoiceLogprobs.nullish(),
});

export const ChatCompletionResponse = z.object({
  id: z.string(),
  object: z.literal("chat.completion"),
  created: z.int(),
  model: z.string(),
  choices: z.array(ChatCompletionChoice),
  usage: UsageInfo,
});
export type ChatCompletionResponse = z.infer<typeof ChatCompletionResponse>;

export const DeltaMessage = z.object({
  role: z.literal("assistant").optional(),
  content: z.string(),
  tool_calls: z.array(ToolCall).optional(),
});

export const ChatCompletionStreamChoice = z.object({
  index: z.int().min(0),
  delta: DeltaMessage,
  finish_reason: FinishReason.nullable(),
  logprobs: ChoiceLogprobs.nullish(),
});

/** One `data:` event of a streamed completion; the last one carries `usage` (and may have no choices). */
export const ChatCompletionChunk = z.object({
  id: z.string(),
  object: z.literal("chat.completion.chunk"),
  created: z.int(),
  model: z.string(),
  choices: z.array(ChatCompletionStreamChoice),
  usage: UsageInfo.optional(),
});
export type ChatCompletionChunk = z.infer<typeof ChatCompletionChunk>;

/** The text of a message's content, chunks joined in order; null content is empty text. */
export function messageText(content: MessageContent | null | undefined): string {
  if (content == null) return "";
  if (typeof content === "string") return content;
  return content.map((chunk) => chunk.text).join("");
}
