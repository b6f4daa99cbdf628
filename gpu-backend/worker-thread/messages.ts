import type { ChatCompletionRequest, FinishReason, TokenLogprob, ToolCall } from "../../protocol/chat.ts";
import type { Pooling } from "../engine/engine.ts";
import type { SchedulerStats } from "../scheduler/scheduler.ts";

/** What the worker is given at start: the `moxie serve` flags that concern inference. */
export interface WorkerOptions {
  model: string;
  quantize: "int4" | "int8" | undefined;
  executionProvider: "cpu" | "cuda";
  threads: number | undefined;
  maxSeqs: number;
  maxQueue: number;
  contextLength: number | undefined;
  pooling: Pooling;
}

/** The scheduler's load, posted after every step; /health and /metrics read the latest one. */
export interface LoadStatus extends SchedulerStats {
  /** Generated tokens per second over the last few seconds. */
  tokensPerSecond: number;
}

/** What the HTTP side needs to know about the loaded model. */
export interface ModelInfo {
  contextLength: number;
  /** Whether its chat format offers tools (Mistral's v3 tokenizer). */
  functionCalling: boolean;
}

export type ToWorker =
  | { type: "chat"; id: number; request: ChatCompletionRequest }
  | { type: "embed"; id: number; inputs: string[] }
  | { type: "cancel"; id: number }
  | { type: "close" };

/** New text of one choice in one step; `tokens` counts the tokens it came from. */
export interface ChoiceOutput {
  id: number;
  choice: number;
  text: string;
  tokens: number;
  finish: FinishReason | undefined;
  /** The log-probability of the token, when the request asked for logprobs. */
  logprobs: TokenLogprob | undefined;
  /** The calls the choice made, on its last output (finish "tool_calls"). */
  toolCalls?: ToolCall[];
}

/** Why a request was refused before it ran: the status and message the HTTP layer sends. */
export interface Refusal {
  status: 400 | 500 | 503;
  message: string;
  type: string;
  code: string | undefined;
  param: string | undefined;
}

export type FromWorker =
  | { type: "ready"; model: ModelInfo; status: LoadStatus }
  | { type: "failed"; message: string }
  | { type: "accepted"; id: number; promptTokens: number }
  | { type: "refused"; id: number; refusal: Refusal }
  | { type: "outputs"; outputs: ChoiceOutput[]; status: LoadStatus }
  | { type: "embedded"; id: number; vectors: Float32Array[]; promptTokens: number };
