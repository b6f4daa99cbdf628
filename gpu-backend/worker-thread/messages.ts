import type { ChatCompletionRequest, FinishReason, TokenLogprob, ToolCall } from "../../protocol/chat.ts";
import type { SchedulerStats } from "../scheduler/scheduler.ts";
import type { Refusal } from "./refusal.ts";

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
  /** `tenant`: who the request is for (the gateway's TENANT_HEADER), for fair scheduling. */
  | { type: "chat"; id: number; request: ChatCompletionRequest; tenant?: string }
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
  /** Prompt tokens of the request served from the prefix cache. */
  cachedTokens: number;
  /** The log-probability of the token, when the request asked for logprobs. */
  logprobs: TokenLogprob | undefined;
  /** The calls the choice made, on its last output (finish "tool_calls"). */
  toolCalls?: ToolCall[];
}

export type FromWorker =
  | { type: "ready"; model: ModelInfo; status: LoadStatus }
  | { type: "failed"; message: string }
  | { type: "accepted"; id: number; promptTokens: number }
  | { type: "refused"; id: number; refusal: Refusal }
  | { type: "outputs"; outputs: ChoiceOutput[]; status: LoadStatus }
  | { type: "embedded"; id: number; vectors: Float32Array[]; promptTokens: number };
