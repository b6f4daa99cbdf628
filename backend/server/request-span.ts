import { ROOT_CONTEXT, SpanStatusCode, trace, type Span, type Tracer } from "@opentelemetry/api";
import { ATTR_ERROR_TYPE, ATTR_HTTP_RESPONSE_STATUS_CODE } from "@opentelemetry/semantic-conventions";
import type { FinishReason } from "../../protocol/chat.ts";
import type { UsageInfo } from "../../protocol/usage.ts";
import { RequestError } from "../request-error.ts";
import { epochMs, type FinishedTimeline } from "../scheduler/request-timeline.ts";

/**
 * The GenAI semantic conventions' attributes. They are still in development, so they are copied
 * here, as @opentelemetry/semantic-conventions advises, rather than imported from its incubating entry.
 */
export const GEN_AI = {
  operation: "gen_ai.operation.name",
  requestModel: "gen_ai.request.model",
  stream: "gen_ai.request.stream",
  choiceCount: "gen_ai.request.choice.count",
  responseId: "gen_ai.response.id",
  finishReasons: "gen_ai.response.finish_reasons",
  inputTokens: "gen_ai.usage.input_tokens",
  outputTokens: "gen_ai.usage.output_tokens",
  cachedInputTokens: "gen_ai.usage.cache_read.input_tokens",
} as const;

/** How a request that ran ended: what it answered, and for chat its choices' finishes and its timeline in the engine. */
export interface RunResult {
  responseId: string;
  usage: UsageInfo;
  finishes?: FinishReason[];
  /** Undefined when the run did not finish (cancelled, or the inference thread failed). */
  timeline?: FinishedTimeline;
}

/** One inference request's server span, as its route reports to it; UNTRACED when tracing is off. */
export interface RequestSpan {
  /** What the request asks for. */
  request(asked: { model: string; stream?: boolean; choices?: number }): void;
  /** Ends the span of a request that ran; a client gone or a choice that failed sets its status. */
  finish(result: RunResult): void;
  /** Ends the span of a request answered with an error. */
  fail(status: number, error: Error | undefined): void;
}

export const UNTRACED: RequestSpan = { request() {}, finish() {}, fail() {} };

/**
 * A recording server span. Its children are made when the run finishes, from the times the
 * inference thread reports (OTel stays out of the worker threads); it and they are timed with
 * epochMs(), the clock those times are read from.
 */
export class TracedRequest implements RequestSpan {
  private ended = false;

  constructor(
    private readonly tracer: Tracer,
    private readonly span: Span,
    /** The request's: aborted when the client goes away before the answer is complete. */
    private readonly signal: AbortSignal,
  ) {}

  request({ model, stream, choices }: { model: string; stream?: boolean; choices?: number }): void {
    this.span.setAttributes({ [GEN_AI.requestModel]: model, [GEN_AI.stream]: stream, [GEN_AI.choiceCount]: choices });
  }

  finish({ responseId, usage, finishes, timeline }: RunResult): void {
    this.span.setAttributes({
      [ATTR_HTTP_RESPONSE_STATUS_CODE]: 200,
      [GEN_AI.responseId]: responseId,
      [GEN_AI.inputTokens]: usage.prompt_tokens,
      [GEN_AI.outputTokens]: usage.completion_tokens,
      [GEN_AI.cachedInputTokens]: usage.prompt_tokens_details?.cached_tokens,
      [GEN_AI.finishReasons]: finishes,
    });
    if (timeline) this.phases(timeline);
    if (this.signal.aborted) this.end("cancelled", "The client went away before the answer was complete.");
    else if (finishes?.includes("error")) this.end("finish_reason_error", "A choice ended with finish_reason error.");
    else this.end();
  }

  fail(status: number, error: Error | undefined): void {
    this.span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
    this.end(error instanceof RequestError ? error.reason : String(status), error?.message);
  }

  /** The request's phases in the engine, as child spans: grammar compile, queue wait, prefill, decode. */
  private phases({ grammar, queued, scheduled, firstToken, finished }: FinishedTimeline): void {
    const parent = trace.setSpan(ROOT_CONTEXT, this.span);
    const child = (name: string, start: number, end: number) =>
      this.tracer.startSpan(name, { startTime: start }, parent).end(end);
    if (grammar) child("grammar compile", grammar.start, grammar.end);
    // A request that ended before it was scheduled (max_tokens 0) waited until it finished.
    child("queue wait", queued, scheduled ?? finished);
    if (scheduled !== undefined) child("prefill", scheduled, firstToken ?? finished);
    if (firstToken !== undefined) child("decode", firstToken, finished);
  }

  /** Ends the span once; an error type sets its status to error. */
  private end(errorType?: string, message?: string): void {
    if (this.ended) return;
    this.ended = true;
    if (errorType !== undefined) {
      this.span.setAttribute(ATTR_ERROR_TYPE, errorType);
      this.span.setStatus({ code: SpanStatusCode.ERROR, message });
    }
    this.span.end(epochMs());
  }
}
