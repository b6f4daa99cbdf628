/** Why the inference thread refused a request before running it. backend/server/refusal-answers.ts maps each to HTTP. */
export type RefusalReason =
  "queue_full" | "context_length" | "invalid_messages" | "too_many_choices" | "unsupported_schema" | "internal";

export interface Refusal {
  reason: RefusalReason;
  message: string;
  /** The request field at fault, if one is. */
  param: string | undefined;
}

/** Thrown where a refusal is decided (input processing, admission); crosses threads as its `refusal`. */
export class RefusedError extends Error {
  readonly refusal: Refusal;

  constructor(reason: RefusalReason, message: string, param?: string) {
    super(message);
    this.refusal = { reason, message, param };
  }
}

/** An unexpected failure while taking a request in, refused as such. */
export function internalRefusal(error: Error): Refusal {
  return { reason: "internal", message: `Internal error: ${error.message}`, param: undefined };
}
