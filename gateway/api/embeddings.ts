import { EmbeddingRequest } from "../../protocol/index.ts";
import type { InferenceRoute } from "../proxy/serve-inference.ts";

export const embeddings: InferenceRoute<typeof EmbeddingRequest> = {
  path: "/v1/embeddings",
  schema: EmbeddingRequest,
  modelType: "embedding",
  promptTexts: (request) => (typeof request.input === "string" ? [request.input] : request.input),
  completion: () => ({ choices: 0, maxTokens: null }),
  affinityKey: () => Promise.resolve(null),
  upstreamBody: (body, _request, model) => Promise.resolve({ ...body, model: model.deployment }),
  streams: () => false,
  asksForUsageChunk: () => false,
};
