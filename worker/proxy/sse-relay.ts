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

/**
 * Passes a backend's SSE stream to the client event by event, unbuffered: each event is renamed
 * to the model the client asked for and watched for the final usage. A backend that fails or
 * stops before `[DONE]` gets the client an SSE error event and a closed stream, never a hang;
 * a client that goes away aborts the backend request so its slot is freed.
 */
export function relaySse(upstream: ReadableStream<Uint8Array>, publicModel: string, abortUpstream: () => void): { body: ReadableStream<Uint8Array>; finished: Promise<RelayResult> } {
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

  const parser = createParser({
    onEvent(event: EventSourceMessage) {
      if (event.data === "[DONE]") sawDone = true;
      pending.push(serialize(event.event, watchAndRename(event.data)));
    },
  });

  function watchAndRename(data: string): string {
    if (!data.startsWith("{")) return data;
    try {
      const chunk = JSON.parse(data) as { model?: string; usage?: UsageInfo; choices?: { delta?: { content?: string } }[] };
      if (chunk.usage) usage = chunk.usage;
      if (chunk.choices?.some((choice) => choice.delta?.content)) contentEvents += 1;
      if (typeof chunk.model !== "string") return data;
      chunk.model = publicModel;
      return JSON.stringify(chunk);
    } catch {
      return data;
    }
  }

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
      try {
        for (const event of pending.splice(0)) await writer.write(encoder.encode(event));
      } catch {
        leave();
        return null;
      }
    }
  };

  const finished = (async (): Promise<RelayResult> => {
    const failure = await relay();
    if (clientGone) return { outcome: "client_aborted", usage, contentEvents };
    if (failure) await writer.write(encoder.encode(serialize("error", JSON.stringify(errorBody(failure, "upstream_error", "stream_interrupted"))))).catch(() => {});
    await writer.close().catch(() => {});
    return { outcome: failure ? "upstream_failed" : "complete", usage, contentEvents };
  })();

  return { body: readable, finished };
}

function serialize(eventName: string | undefined, data: string): string {
  const name = eventName ? `event: ${eventName}\n` : "";
  return `${name}${data
    .split("\n")
    .map((line) => `data: ${line}`)
    .join("\n")}\n\n`;
}
