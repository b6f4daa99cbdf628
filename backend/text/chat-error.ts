import { RequestError } from "../request-error.ts";

/** A conversation the model's chat format cannot encode: the request is refused (400), naming `messages`. */
export function chatEncodingError(message: string): RequestError {
  return new RequestError("invalid_messages", message, "messages");
}
