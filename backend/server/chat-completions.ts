import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import {
  ChatCompletionRequest,
  TENANT_HEADER,
  type ChatCompletionChunk,
  type ChatCompletionResponse,
  type FinishReason,
  type TokenLogprob,
  type ToolCall,
} from "../../protocol/chat.ts";
import { PROMPT_TOKENS_HEADER, type UsageInfo } from "../../protocol/usage.ts";
import type { ChatRun } from "../inference/inference-client.ts";
import type { ModelInfo } from "../inference/messages.ts";
import { RequestError } from "../request-error.ts";
import type { Backend } from "./backend.ts";
import { readBody } from "../../protocol/http/read-body.ts";
import { modelLoading, unknownModel } from "./errors.ts";
import type { RequestTimer } from "./metrics.ts";
import type { RequestSpan } from "./request-span.ts";

/** Refuses what this model cannot do, naming the field. */
function refuseUnsupported(request: ChatCompletionRequest, model: ModelInfo): void {
  if (request.tools?.length && !model.functionCalling)
    throw new RequestError(
      "unsupported_feature",
      "This model does not support tools (function calling): its tokenizer has no tool-call tokens (Mistral's v3 has).",
      "tools",
    );
}

/** POST /v1/chat/completions: Mistral's chat API, streamed (SSE) or not. */
export function chatCompletions(backend: Backend) {
  return async (c: Context): Promise<Response> => {
    const timer = backend.metrics.request();
    const span = c.get("span");
    const parsed = await readBody(c, ChatCompletionRequest);
    if ("response" in parsed) return parsed.response;
    const request = parsed.data;
    span.request({ model: request.model, stream: request.stream, choices: request.n });
    if (!backend.modelIds.includes(request.model)) throw unknownModel(request.model);
    if (!backend.client.model) throw modelLoading();
    refuseUnsupported(request, backend.client.model);
    const run = await backend.client.chat(request, c.req.header(TENANT_HEADER));
    const signal = c.req.raw.signal;
    if (signal.aborted) run.cancel();
    else signal.addEventListener("abort", () => run.cancel(), { once: true });
    c.header(PROMPT_TOKENS_HEADER, String(run.promptTokens));
    const head = {
      id: crypto.randomUUID().replaceAll("-", ""),
      created: Math.floor(Date.now() / 1000),
      model: request.model,
    };
    return request.stream
      ? stream(c, request, run, timer, span, head, backend.streamKeepaliveMs)
      : complete(c, request, run, timer, span, head);
  };
}

interface Head {
  id: string;
  created: number;
  model: string;
}

function usage(promptTokens: number, completionTokens: number, cachedTokens: number): UsageInfo {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: cachedTokens },
  };
}

async function complete(
  c: Context,
  request: ChatCompletionRequest,
  run: ChatRun,
  timer: RequestTimer,
  span: RequestSpan,
  head: Head,
): Promise<Response> {
  const texts = Array.from({ length: request.n }, () => "");
  const finishes: FinishReason[] = Array.from({ length: request.n }, () => "error");
  const logprobs = Array.from({ length: request.n }, (): TokenLogprob[] => []);
  const toolCalls: (ToolCall[] | null)[] = Array.from({ length: request.n }, () => null);
  let completionTokens = 0;
  let cachedTokens = 0;
  try {
    for await (const output of run.outputs) {
      texts[output.choice] += output.text;
      if (output.logprobs) logprobs[output.choice].push(output.logprobs);
      if (output.toolCalls) toolCalls[output.choice] = output.toolCalls;
      completionTokens += output.tokens;
      cachedTokens = output.cachedTokens;
      timer.tokens(output.tokens);
      if (output.finish === undefined) continue;
      finishes[output.choice] = output.finish;
      timer.finished(output.finish);
    }
  } catch (error) {
    throw new RequestError("internal", `Inference failed: ${(error as Error).message}`);
  }
  const response: ChatCompletionResponse = {
    id: head.id,
    object: "chat.completion",
    created: head.created,
    model: head.model,
    choices: texts.map((content, index) => ({
      index,
      message: { role: "assistant", content, tool_calls: toolCalls[index], prefix: false },
      finish_reason: finishes[index],
      logprobs: request.logprobs ? { content: logprobs[index] } : null,
    })),
    usage: usage(run.promptTokens, completionTokens, cachedTokens),
  };
  span.finish({ responseId: head.id, usage: response.usage, finishes, timeline: run.timeline });
  return c.json(response);
}

/**
 * Mistral's stream: a first chunk with the role, content deltas, each choice's last chunk with
 * its finish_reason (the very last also with usage), then `data: [DONE]`. With OpenAI's
 * stream_options.include_usage a usage-only chunk with no choices comes before [DONE], as OpenAI sends it.
 */
function stream(
  c: Context,
  request: ChatCompletionRequest,
  run: ChatRun,
  timer: RequestTimer,
  span: RequestSpan,
  head: Head,
  keepaliveMs: number,
): Response {
  return streamSSE(c, async (sse) => {
    sse.onAbort(() => run.cancel());
    // A request waiting in the queue or prefilling a long prompt sends nothing for a while, which
    // the gateway (UPSTREAM_IDLE_SECONDS) and proxies would take for a dead backend. Clients and
    // SDKs skip SSE comments.
    const keepalive = keepaliveMs > 0 ? setInterval(() => void sse.write(": keep-alive\n\n"), keepaliveMs) : undefined;
    const choices = Array.from({ length: request.n }, (_, index) => index);
    const open = new Set(choices);
    // A choice that never finishes (the client went away, the worker failed) ended in error.
    const finishes = choices.map((): FinishReason => "error");
    let completionTokens = 0;
    let cachedTokens = 0;
    try {
      const send = (chunk: Omit<ChatCompletionChunk, keyof Head | "object">) =>
        sse.writeSSE({
          data: JSON.stringify({
            id: head.id,
            object: "chat.completion.chunk",
            created: head.created,
            model: head.model,
            ...chunk,
          } satisfies ChatCompletionChunk),
        });
      await send({
        choices: choices.map((index) => ({ index, delta: { role: "assistant", content: "" }, finish_reason: null })),
      });
      try {
        for await (const output of run.outputs) {
          completionTokens += output.tokens;
          cachedTokens = output.cachedTokens;
          timer.tokens(output.tokens);
          if (output.text === "" && output.finish === undefined && !output.logprobs) continue;
          if (output.finish !== undefined) {
            open.delete(output.choice);
            finishes[output.choice] = output.finish;
            timer.finished(output.finish);
          }
          const last = open.size === 0 ? { usage: usage(run.promptTokens, completionTokens, cachedTokens) } : {};
          const logprobs = output.logprobs ? { logprobs: { content: [output.logprobs] } } : {};
          // Tool calls come whole, in the choice's last chunk, as Mistral's API streams them.
          const delta = { content: output.text, ...(output.toolCalls ? { tool_calls: output.toolCalls } : {}) };
          await send({
            choices: [{ index: output.choice, delta, finish_reason: output.finish ?? null, ...logprobs }],
            ...last,
          });
        }
      } catch {
        // The worker failed mid-stream: close each open choice with finish_reason "error".
        for (const index of open) await send({ choices: [{ index, delta: { content: "" }, finish_reason: "error" }] });
      }
      if (request.stream_options?.include_usage)
        await send({ choices: [], usage: usage(run.promptTokens, completionTokens, cachedTokens) });
      await sse.writeSSE({ data: "[DONE]" });
    } finally {
      clearInterval(keepalive);
      const total = usage(run.promptTokens, completionTokens, cachedTokens);
      span.finish({ responseId: head.id, usage: total, finishes, timeline: run.timeline });
    }
  });
}
