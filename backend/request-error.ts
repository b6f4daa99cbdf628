/**
 * Why the backend refuses a request; backend/server/request-error-answers.ts answers each over HTTP.
 * Backend-wide: any layer (text, grammar, scheduler, inference, server) may throw one.
 */
export type RequestErrorReason =
  | "unauthorized"
  | "model_not_found"
  | "loading"
  | "queue_full"
  | "context_length"
  | "invalid_messages"
  | "too_many_choices"
  | "too_many_inputs"
  | "unsupported_feature"
  | "unsupported_schema"
  | "internal";

/** A RequestError as plain data: how it crosses a thread, where an Error would lose its class and fields. */
export interface RequestErrorData {
  reason: RequestErrorReason;
  message: string;
  /** The request field at fault, if one is. */
  param: string | undefined;
}

/** A request the backend refuses, thrown where the refusal is decided; the client is told `message`. */
export class RequestError extends Error {
  constructor(
    readonly reason: RequestErrorReason,
    message: string,
    readonly param?: string,
  ) {
    super(message);
  }

  get data(): RequestErrorData {
    return { reason: this.reason, message: this.message, param: this.param };
  }

  static from({ reason, message, param }: RequestErrorData): RequestError {
    return new RequestError(reason, message, param);
  }
}

/** What a failed request is told: its RequestError, or an unexpected failure (a bug, not bad input) as `internal`. */
export function asRequestError(error: unknown): RequestError {
  if (error instanceof RequestError) return error;
  return new RequestError("internal", `Internal error: ${(error as Error).message}`);
}
