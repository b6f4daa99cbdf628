import { createParser, type EventSourceMessage } from "eventsource-parser";
import { errorBody, type UsageInfo } from "../../protocol/index.ts";

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
 * stops before `[DONE]` gets the client an SSE error event and a closed stream, never a hang;
 * a client that goes away aborts the backend request so its slot is freed.
 *
 * The gateway always asks the backend for usage (OpenAI's stream_options.include_usage). A client
 * that did not ask gets Mistral's ending instead: usage on the last chunk with a finish_reason and
 * no usage-only chunk. To move a usage-only chunk's usage onto the finish chunk before it (vLLM
 * reports usage only there), a finish chunk without usage is held back until the next event
 * arrives — at most one event, and only at the end of a choice.
 */
export function relaySse(
  upstream: ReadableStream<Uint8Array>,
  publicModel: string,
  clientAskedForUsage: boolean,
  abortUpstream: () => void,
): { body: ReadableStream<Uint8Array>; finished: Promise<RelayResult> } {
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const writer = writable.getWriter();
  const reader = upstream.getReader();
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const pending: string[] = [];
  let usage: UsageInfo | null = null;
  let contentEvents = 0;
  let sawDone = false;
  let clientGone = false;
  /** A finish chunk without usage, held back in case a usage-only chunk follows. */
  let heldFinish: { eventName: string | undefined; chunk: StreamChunk } | null = null;

  const releaseHeld = () => {
    if (heldFinish) pending.push(serialize(heldFinish.eventName, JSON.stringify(heldFinish.chunk)));
    heldFinish = null;
  };

  const parser = createParser({
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
      if (!clientAskedForUsage && !chunk.usage && chunk.choices?.some((choice) => choice.finish_reason)) heldFinish = { eventName: event.event, chunk };
      else pending.push(serialize(event.event, JSON.stringify(chunk)));
    },
  });

  const leave = () => {
    clientGone = true;
    abortUpstream();
    reader.cancel().catch(() => {});
  };
  // The client cancelling the response errors the writable side: stop reading the backend at once,
  // even while waiting for its next event.
  writer.closed.catch(leave);

  /** Relays until the backend's stream ends; returns why it ended early, if it did. */
  const relay = async (): Promise<string | null> => {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        return `The backend failed mid-stream: ${error instanceof Error ? error.message : String(error)}`;
      }
      if (chunk.done) return sawDone ? null : "The backend closed the stream before it finished";
      parser.feed(decoder.decode(chunk.value, { stream: true }));
      if (!(await writePending())) return null;
    }
  };

  /** Writes the events parsed so far; false when the client has gone. */
  const writePending = async (): Promise<boolean> => {
    try {
      for (const event of pending.splice(0)) await writer.write(encoder.encode(event));
      return true;
    } catch {
      leave();
      return false;
    }
  };

  const finished = (async (): Promise<RelayResult> => {
    const failure = await relay();
    if (!clientGone) {
      releaseHeld();
      await writePending();
    }
    if (clientGone) return { outcome: "client_aborted", usage, contentEvents };
    if (failure) await writer.write(encoder.encode(serialize("error", JSON.stringify(errorBody(failure, "upstream_error", "stream_interrupted"))))).catch(() => {});
    await writer.close().catch(() => {});
    return { outcome: failure ? "upstream_failed" : "complete", usage, contentEvents };
  })();

  return { body: readable, finished };
}

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
