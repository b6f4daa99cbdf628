import type { UsageInfo } from "../../protocol/index.ts";
import { apiErrors, bodyOf } from "../api-errors.ts";
import type { BodyCapture } from "../logs/logged-request.ts";
import { IdleError, readWithin } from "./idle-watchdog.ts";
import { SseRewriter } from "./sse-rewriter.ts";

/** Relayed chunks a client may leave unread (an event or a few each) before it counts as gone. */
const MAX_UNREAD_CHUNKS = 20_000;

export type StreamOutcome = "complete" | "client_aborted" | "upstream_failed";

export interface RelayResult {
  outcome: StreamOutcome;
  /** The backend's usage; null when the stream ended before its final chunk. */
  usage: UsageInfo | null;
  /** Events that carried content: about one token each, what a stream cut short is charged. */
  contentEvents: number;
  finishReason: string | null;
  /** When the first content went to the client; null when none did. */
  firstContentAt: number | null;
}

export interface RelayOptions {
  /** The model name each chunk carries to the client. */
  publicModel: string;
  clientAskedForUsage: boolean;
  abortUpstream: () => void;
  clientGone: AbortSignal;
  idleMs: number;
  /** Keeps what the client is sent (the key logs bodies). */
  capture: BodyCapture | null;
}

/**
 * Passes a backend's SSE stream to the client event by event, unbuffered: each event is renamed
 * to the model the client asked for and watched for the final usage (see SseRewriter). A backend
 * that fails or stops before `[DONE]`, or sends nothing for `idleMs` (not even a keep-alive
 * comment), gets the client an SSE error event and a closed stream, never a hang.
 *
 * `finished` settles on every path, whichever comes first: the
 * backend's stream ends, the client cancels the stream, or `clientGone` fires (the runtime may drop
 * a disconnected client's stream without cancelling it); a client that goes away also aborts the
 * backend request so its slot is freed.
 */
export function relaySse(
  upstream: ReadableStream<Uint8Array>,
  options: RelayOptions,
): { body: ReadableStream<Uint8Array>; finished: Promise<RelayResult> } {
  const relay = new SseRelay(upstream, options);
  return { body: relay.body, finished: relay.finished };
}

class SseRelay {
  readonly body: ReadableStream<Uint8Array>;
  readonly finished: Promise<RelayResult>;
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly rewriter: SseRewriter;
  private readonly encoder = new TextEncoder();
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  private settle!: (result: RelayResult) => void;
  private ended = false;
  private firstContentAt: number | null = null;

  constructor(
    upstream: ReadableStream<Uint8Array>,
    private readonly options: RelayOptions,
  ) {
    this.reader = upstream.getReader();
    this.rewriter = new SseRewriter(options.publicModel, options.clientAskedForUsage);
    this.finished = new Promise<RelayResult>((resolve) => (this.settle = resolve));
    if (options.clientGone.aborted) queueMicrotask(this.leave);
    else options.clientGone.addEventListener("abort", this.leave, { once: true });
    this.body = new ReadableStream<Uint8Array>(
      { start: (controller) => void (this.controller = controller), cancel: this.leave },
      new CountQueuingStrategy({ highWaterMark: 1 }),
    );
    void this.pump();
  }

  /**
   * Always has a read of the backend outstanding and never waits on the client: the runtime treats
   * a request with nothing left to wait for as hung and cancels it, its settlement with it. What a
   * slow client has not read yet queues here, up to MAX_UNREAD_CHUNKS; a client that far behind
   * is treated as gone.
   */
  private async pump(): Promise<void> {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await readWithin(this.reader, this.options.idleMs);
      } catch (error) {
        return this.broken(error);
      }
      if (this.ended) return;
      if (chunk.done) {
        if (!this.rewriter.sawDone) return this.fail("The backend closed the stream before it finished");
        this.rewriter.releaseHeld();
        this.send();
        this.controller.close();
        return this.end("complete");
      }
      this.rewriter.feed(chunk.value);
      this.send();
      if ((this.controller.desiredSize ?? 0) < -MAX_UNREAD_CHUNKS) return this.leave();
    }
  }

  /** A read of the backend failed or timed out. */
  private broken(error: unknown): void {
    // A client that left cancelled this read itself (leave): nothing failed, nothing to log.
    if (this.ended) return;
    this.options.abortUpstream();
    if (error instanceof IdleError) return this.fail(`The backend sent nothing for ${this.options.idleMs / 1000} s`);
    // The network error is the operator's business: logged, not told to the client.
    console.error(
      JSON.stringify({ error: `backend stream failed: ${error instanceof Error ? error.message : String(error)}` }),
    );
    this.fail("The backend failed mid-stream");
  }

  /** Ends the client's stream with an error event. */
  private fail(message: string): void {
    if (this.ended) return;
    this.rewriter.append("error", bodyOf(apiErrors.streamInterrupted(message)));
    this.send();
    this.controller.close();
    this.end("upstream_failed");
  }

  /** The client went (it cancelled the stream, disconnected, or fell too far behind). */
  private readonly leave = (): void => {
    if (this.ended) return;
    this.end("client_aborted");
    this.options.abortUpstream();
    this.reader.cancel().catch(() => {});
  };

  private send(): void {
    const text = this.rewriter.take();
    if (!text) return;
    if (this.firstContentAt === null && this.rewriter.contentEvents > 0) this.firstContentAt = Date.now();
    this.options.capture?.add(text);
    this.controller.enqueue(this.encoder.encode(text));
  }

  private end(outcome: StreamOutcome): void {
    if (this.ended) return;
    this.ended = true;
    this.options.clientGone.removeEventListener("abort", this.leave);
    const { usage, contentEvents, finishReason } = this.rewriter;
    this.settle({ outcome, usage, contentEvents, finishReason, firstContentAt: this.firstContentAt });
  }
}
