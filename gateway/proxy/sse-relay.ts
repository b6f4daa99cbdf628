import { createParser, type EventSourceMessage } from "eventsource-parser";
import { errorBody, type UsageInfo } from "../../protocol/index.ts";

/** Relayed chunks a client may leave unread (an event or a few each) before it counts as gone. */
const MAX_UNREAD_CHUNKS = 20_000;

export type StreamOutcome = "complete" | "client_aborted" | "upstream_failed";

export interface RelayResult {
  outcome: StreamOutcome;
  /** The backend's usage; null when the stream ended before its final chunk. */
  usage: UsageInfo | null;
  /** Events that carried content: about one token each, what a stream cut short is charged. */
  contentEvents: number;
}

interface StreamChunk {
  model?: string;
  usage?: UsageInfo | null;
  choices?: { delta?: { content?: string }; finish_reason?: string | null }[];
}

/**
 * Passes a backend's SSE stream to the client event by event, unbuffered: each event is renamed
 * to the model the client asked for and watched for the final usage. A backend that fails or
 * stops before `[DONE]`, or sends nothing for `idleMs` (not even a keep-alive comment), gets the
 * client an SSE error event and a closed stream, never a hang.
 *
 * `finished` settles on every path, whichever comes first: the
 * backend's stream ends, the client cancels the stream, or `clientGone` fires (the runtime may drop
 * a disconnected client's stream without cancelling it); a client that goes away also aborts the
 * backend request so its slot is freed.
 *
 * The gateway always asks the backend for usage (OpenAI's stream_options.include_usage). A client
 * that did not ask gets Mistral's ending instead: usage on the last chunk with a finish_reason and
 * no usage-only chunk. To move a usage-only chunk's usage onto the finish chunk before it (vLLM
 * reports usage only there), a finish chunk without usage is held back until the next event
 * arrives — at most one event, and only at the end of a choice.
 */
export function relaySse(
  upstream: ReadableStream<Uint8Array>,
  options: {
    publicModel: string;
    clientAskedForUsage: boolean;
    abortUpstream: () => void;
    clientGone: AbortSignal;
    idleMs: number;
  },
): { body: ReadableStream<Uint8Array>; finished: Promise<RelayResult> } {
  const { publicModel, clientAskedForUsage } = options;
  const reader = upstream.getReader();
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const pending: string[] = [];
  let usage: UsageInfo | null = null;
  let contentEvents = 0;
  let sawDone = false;
  /** A finish chunk without usage, held back in case a usage-only chunk follows. */
  let heldFinish: { eventName: string | undefined; chunk: StreamChunk } | null = null;

  const releaseHeld = () => {
    if (heldFinish) pending.push(serialize(heldFinish.eventName, JSON.stringify(heldFinish.chunk)));
    heldFinish = null;
  };

  const parser = createParser({
    // The backend's keep-alive comments go on to the client, so its connection and any proxy on
    // the way also see a live stream while the request waits or prefills.
    onComment(comment: string) {
      pending.push(`: ${comment}\n\n`);
    },
    onEvent(event: EventSourceMessage) {
      if (event.data === "[DONE]") sawDone = true;
      const chunk = parseChunk(event.data);
      if (!chunk) {
        releaseHeld();
        pending.push(serialize(event.event, event.data));
        return;
      }
      if (chunk.usage) usage = chunk.usage;
      if (chunk.choices?.some((choice) => choice.delta?.content)) contentEvents += 1;
      if (typeof chunk.model === "string") chunk.model = publicModel;
      if (!clientAskedForUsage && chunk.usage && chunk.choices?.length === 0) {
        if (heldFinish && !heldFinish.chunk.usage) heldFinish.chunk.usage = chunk.usage;
        releaseHeld();
        return;
      }
      releaseHeld();
      if (!clientAskedForUsage && !chunk.usage && chunk.choices?.some((choice) => choice.finish_reason))
        heldFinish = { eventName: event.event, chunk };
      else pending.push(serialize(event.event, JSON.stringify(chunk)));
    },
  });

  let settle!: (result: RelayResult) => void;
  const finished = new Promise<RelayResult>((resolve) => (settle = resolve));
  let ended = false;
  const end = (outcome: StreamOutcome) => {
    if (ended) return;
    ended = true;
    options.clientGone.removeEventListener("abort", leave);
    settle({ outcome, usage, contentEvents });
  };
  function leave() {
    if (ended) return;
    end("client_aborted");
    options.abortUpstream();
    reader.cancel().catch(() => {});
  }
  if (options.clientGone.aborted) queueMicrotask(leave);
  else options.clientGone.addEventListener("abort", leave, { once: true });

  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>(
    { start: (streamController) => void (controller = streamController), cancel: leave },
    new CountQueuingStrategy({ highWaterMark: 1 }),
  );
  const send = () => {
    if (pending.length > 0) controller.enqueue(encoder.encode(pending.splice(0).join("")));
  };

  /**
   * Always has a read of the backend outstanding and never waits on the client: the runtime treats
   * a request with nothing left to wait for as hung and cancels it, its settlement with it. What a
   * slow client has not read yet queues here, up to MAX_UNREAD_CHUNKS; a client that far behind
   * is treated as gone.
   */
  const pump = async () => {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      let idle: ReturnType<typeof setTimeout> | undefined;
      try {
        chunk = await Promise.race([
          reader.read(),
          new Promise<never>((_, reject) => (idle = setTimeout(() => reject(new IdleError()), options.idleMs))),
        ]);
      } catch (error) {
        // A client that left cancelled this read itself (leave): nothing failed, nothing to log.
        if (ended) return;
        options.abortUpstream();
        // The network error is the operator's business: logged, not told to the client.
        if (!(error instanceof IdleError))
          console.error(
            JSON.stringify({
              error: `backend stream failed: ${error instanceof Error ? error.message : String(error)}`,
            }),
          );
        return fail(
          error instanceof IdleError
            ? `The backend sent nothing for ${options.idleMs / 1000} s`
            : "The backend failed mid-stream",
        );
      } finally {
        if (idle !== undefined) clearTimeout(idle);
      }
      if (ended) return;
      if (chunk.done) {
        if (!sawDone) return fail("The backend closed the stream before it finished");
        releaseHeld();
        send();
        controller.close();
        return end("complete");
      }
      parser.feed(decoder.decode(chunk.value, { stream: true }));
      send();
      if ((controller.desiredSize ?? 0) < -MAX_UNREAD_CHUNKS) return leave();
    }
  };

  const fail = (message: string) => {
    if (ended) return;
    releaseHeld();
    pending.push(serialize("error", JSON.stringify(errorBody(message, "upstream_error", "stream_interrupted"))));
    send();
    controller.close();
    end("upstream_failed");
  };
  void pump();

  return { body, finished };
}

class IdleError extends Error {}

function parseChunk(data: string): StreamChunk | null {
  if (!data.startsWith("{")) return null;
  try {
    return JSON.parse(data) as StreamChunk;
  } catch {
    return null;
  }
}

function serialize(eventName: string | undefined, data: string): string {
  const name = eventName ? `event: ${eventName}\n` : "";
  return `${name}${data
    .split("\n")
    .map((line) => `data: ${line}`)
    .join("\n")}\n\n`;
}
