import { RequestError } from "../request-error.ts";

/** The model is still loading (or the backend is shutting down): retry soon. */
export function modelLoading(): RequestError {
  return new RequestError("loading", "The model is still loading.");
}

/** A request for a model this backend does not serve. */
export function unknownModel(model: string): RequestError {
  return new RequestError("model_not_found", `The model \`${model}\` does not exist on this backend.`, "model");
}
