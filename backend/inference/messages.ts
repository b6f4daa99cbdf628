import type { LoadReport } from "../../protocol/health.ts";
import type { ChatCompletionRequest, FinishReason, TokenLogprob, ToolCall } from "../../protocol/chat.ts";
import type { RequestErrorData } from "../request-error.ts";
import type { FinishedTimeline } from "../scheduler/request-timeline.ts";
import type { ChatInput } from "./input-processor.ts";

/** What the HTTP side needs to know about the loaded model. */
export interface ModelInfo {
  contextLength: number;
  /** Whether its chat format offers tools (Mistral's v3 tokenizer). */
  functionCalling: boolean;
  /** Longest embedding input, in tokens (ModelShape.maxEvaluationTokens). */
  embeddingLength: number;
  vocabSize: number;
}

/** To the input thread: the loaded model's limits (first), then requests to tokenize. */
export type ToInputThread =
  | { type: "model"; model: ModelInfo }
  | { type: "chat"; id: number; request: ChatCompletionRequest; tenant: string | undefined }
  | { type: "embed"; id: number; inputs: string[] };

export type FromInputThread =
  | { type: "chat"; id: number; input: ChatInput }
  | { type: "embed"; id: number; sequences: number[][] }
  | { type: "refused"; id: number; error: RequestErrorData };

export type ToInferenceThread =
  /** A request with its input already tokenized by the input thread. */
  | { type: "chat"; id: number; request: ChatCompletionRequest; input: ChatInput }
  | { type: "embed"; id: number; sequences: number[][] }
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
  /** On the request's last output: when it reached each phase, for its trace. */
  timeline?: FinishedTimeline;
}

export type FromInferenceThread =
  | { type: "ready"; model: ModelInfo; status: LoadReport }
  | { type: "failed"; message: string }
  | { type: "fault"; reason: string }
  | { type: "accepted"; id: number; promptTokens: number }
  | { type: "refused"; id: number; error: RequestErrorData }
  | { type: "outputs"; outputs: ChoiceOutput[]; status: LoadReport }
  | { type: "embedded"; id: number; vectors: Float32Array[]; promptTokens: number };
