import type { Context } from "hono";
import { base64Embedding, EmbeddingRequest, type EmbeddingResponse } from "../../protocol/embeddings.ts";
import { RequestError } from "../request-error.ts";
import type { Backend } from "./backend.ts";
import { readBody } from "../../protocol/http/read-body.ts";
import { modelLoading, unknownModel } from "./errors.ts";

/** Inputs one request may embed. */
const maxEmbeddingInputs = 512;

/** POST /v1/embeddings: pooled, L2-normalised final hidden states (the worker runs them in passes between generation steps). */
export function embeddings(backend: Backend) {
  return async (c: Context): Promise<Response> => {
    const parsed = await readBody(c, EmbeddingRequest);
    if ("response" in parsed) return parsed.response;
    const request = parsed.data;
    const span = c.get("span");
    span.request({ model: request.model });
    if (!backend.modelIds.includes(request.model)) throw unknownModel(request.model);
    if (request.output_dtype !== "float" || request.output_dimension != null) {
      const param = request.output_dtype !== "float" ? "output_dtype" : "output_dimension";
      throw new RequestError(
        "unsupported_feature",
        `${param} is not supported by this backend: embeddings are float32 of the model's hidden size.`,
        param,
      );
    }
    const inputs = typeof request.input === "string" ? [request.input] : request.input;
    if (inputs.length > maxEmbeddingInputs)
      throw new RequestError(
        "too_many_inputs",
        `Too many inputs: ${inputs.length}, at most ${maxEmbeddingInputs} per request.`,
        "input",
      );
    if (!backend.client.model) throw modelLoading();
    const result = await backend.client.embed(inputs);
    const response: EmbeddingResponse = {
      id: crypto.randomUUID().replaceAll("-", ""),
      object: "list",
      model: request.model,
      data: result.vectors.map((vector, index) => ({
        object: "embedding",
        embedding: request.encoding_format === "base64" ? base64Embedding(vector) : Array.from(vector),
        index,
      })),
      usage: { prompt_tokens: result.promptTokens, completion_tokens: 0, total_tokens: result.promptTokens },
    };
    span.finish({ responseId: response.id, usage: response.usage });
    return c.json(response);
  };
}
