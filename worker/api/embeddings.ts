import { EmbeddingRequest } from "../../protocol/index.ts";
import type { InferenceRoute } from "../proxy/serve-inference.ts";

export const embeddings: InferenceRoute<typeof EmbeddingRequest> = {
  path: "/v1/embeddings",
  schema: EmbeddingRequest,
  modelType: "embedding",
  promptTexts: (request) => (typeof request.input === "string" ? [request.input] : request.input),
  completionReservation: () => 0,
  affinityKey: async () => null,
  upstreamBody: (body, _request, model) => ({ ...body, model: model.deployment }),
  streams: () => false,
  asksForUsageChunk: () => false,
};
