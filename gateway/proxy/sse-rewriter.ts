import { createParser, type EventSourceMessage, type ParserCallbacks } from "eventsource-parser";
import type { UsageInfo } from "../../protocol/index.ts";

interface StreamChunk {
  model?: string;
  usage?: UsageInfo | null;
  choices?: { delta?: { content?: string }; finish_reason?: string | null }[];
}

/**
 * Rewrites a backend's SSE text for the client, event by event: each chunk is renamed to the public
 * model, and its usage and content are counted on the way past.
 *
 * The gateway always asks the backend for usage (OpenAI's stream_options.include_usage). A client
 * that did not ask gets Mistral's ending instead: usage on the last chunk with a finish_reason and
 * no usage-only chunk. To move a usage-only chunk's usage onto the finish chunk before it (vLLM
 * reports usage only there), a finish chunk without usage is held back until the next event
 * arrives — at most one event, and only at the end of a choice.
 */
export class SseRewriter {
  /** The backend's usage; null until its final chunk. */
  usage: UsageInfo | null = null;
  /** Events that carried content: about one token each. */
  contentEvents = 0;
  /** The last finish_reason a choice reported. */
  finishReason: string | null = null;
  /** Whether the backend sent `[DONE]`: only then did its stream finish. */
  sawDone = false;
  private pending: string[] = [];
  /** A finish chunk without usage, held back in case a usage-only chunk follows. */
  private heldFinish: { eventName: string | undefined; chunk: StreamChunk } | null = null;
  private readonly decoder = new TextDecoder();
  private readonly parser = createParser(this.callbacks());

  constructor(
    private readonly publicModel: string,
    private readonly clientAskedForUsage: boolean,
  ) {}

  feed(bytes: Uint8Array): void {
    this.parser.feed(this.decoder.decode(bytes, { stream: true }));
  }

  /** The text ready for the client since the last call ("" when none). */
  take(): string {
    return this.pending.splice(0).join("");
  }

  /** Sends on a finish chunk held back: the stream ended, or an event that is not a chunk came. */
  releaseHeld(): void {
    if (this.heldFinish) this.pending.push(serialize(this.heldFinish.eventName, JSON.stringify(this.heldFinish.chunk)));
    this.heldFinish = null;
  }

  /** Adds an event of the gateway's own (an error) after whatever is held back. */
  append(eventName: string, data: unknown): void {
    this.releaseHeld();
    this.pending.push(serialize(eventName, JSON.stringify(data)));
  }

  private callbacks(): ParserCallbacks {
    return {
      // The backend's keep-alive comments go on to the client, so its connection and any proxy on
      // the way also see a live stream while the request waits or prefills.
      onComment: (comment) => void this.pending.push(`: ${comment}\n\n`),
      onEvent: (event) => this.rewrite(event),
    };
  }

  private rewrite(event: EventSourceMessage): void {
    if (event.data === "[DONE]") this.sawDone = true;
    const chunk = parseChunk(event.data);
    if (!chunk) {
      this.releaseHeld();
      this.pending.push(serialize(event.event, event.data));
      return;
    }
    if (chunk.usage) this.usage = chunk.usage;
    if (chunk.choices?.some((choice) => choice.delta?.content)) this.contentEvents += 1;
    for (const choice of chunk.choices ?? []) if (choice.finish_reason) this.finishReason = choice.finish_reason;
    if (typeof chunk.model === "string") chunk.model = this.publicModel;
    if (!this.clientAskedForUsage && chunk.usage && chunk.choices?.length === 0) {
      if (this.heldFinish && !this.heldFinish.chunk.usage) this.heldFinish.chunk.usage = chunk.usage;
      this.releaseHeld();
      return;
    }
    this.releaseHeld();
    if (!this.clientAskedForUsage && !chunk.usage && chunk.choices?.some((choice) => choice.finish_reason))
      this.heldFinish = { eventName: event.event, chunk };
    else this.pending.push(serialize(event.event, JSON.stringify(chunk)));
  }
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
