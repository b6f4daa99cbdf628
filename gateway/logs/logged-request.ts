import * as z from "zod";

/** One request as the request log records it and GET /admin/logs returns it. */
export const LoggedRequest = z.object({
  /** The gateway's id, as its x-request-id header gave it. */
  request_id: z.string(),
  client_request_id: z.string().nullable(),
  /** When the request arrived (ISO 8601, UTC). */
  created_at: z.string(),
  key_id: z.string(),
  endpoint: z.string(),
  /** The model name the client sent, and the catalog id of the model that answered (a fallback's when one did). */
  model_asked: z.string(),
  model_answered: z.string().nullable(),
  backend_id: z.string().nullable(),
  status: z.int(),
  error_code: z.string().nullable(),
  stream: z.coerce.boolean(),
  prompt_tokens: z.int(),
  completion_tokens: z.int(),
  cached_tokens: z.int().nullable(),
  cost: z.number(),
  /** From arrival to the first content sent on (streams only). */
  ttft_ms: z.int().nullable(),
  /** From arrival to settlement: a stream's end. */
  duration_ms: z.int(),
  finish_reason: z.string().nullable(),
  /** Backends tried, and fallback models moved to. */
  attempts: z.int(),
  fallbacks: z.int(),
  /** The client's country as Cloudflare's edge saw it (ISO 3166-1 alpha-2); null locally. */
  country: z.string().nullable(),
  /** The W3C trace the request belongs to. */
  trace_id: z.string().nullable(),
});
export type LoggedRequest = z.output<typeof LoggedRequest>;

/** A logged request's bodies, when its key had log_bodies on (each capped at MAX_LOGGED_BODY_CHARS). */
export const LoggedBodies = z.object({ request_body: z.string().nullable(), response_body: z.string().nullable() });
export type LoggedBodies = z.output<typeof LoggedBodies>;

/** GET /admin/logs' answer: a page, newest first, and the cursor of the next (null on the last). */
export interface LogPage {
  data: LoggedRequest[];
  next_cursor: string | null;
}

/** GET /admin/logs/:id's answer. */
export type LogDetail = LoggedRequest & { bodies: LoggedBodies | null };

/** The most of a body the log keeps (a log is for finding requests, not archiving conversations). */
export const MAX_LOGGED_BODY_CHARS = 16 * 1024;

/** Keeps the first MAX_LOGGED_BODY_CHARS of a text given piece by piece. */
export class BodyCapture {
  private text = "";

  add(piece: string): void {
    if (this.text.length < MAX_LOGGED_BODY_CHARS) this.text += piece.slice(0, MAX_LOGGED_BODY_CHARS - this.text.length);
  }

  get captured(): string {
    return this.text;
  }
}
