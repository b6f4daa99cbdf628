import type { InferenceClient } from "../inference/inference-client.ts";
import type { ServingMetrics } from "./metrics.ts";

/** What the routes share: the inference thread, the names the model is served under, the metrics. */
export interface Backend {
  client: InferenceClient;
  /** The first is the model card's id, the others its aliases. */
  modelIds: string[];
  metrics: ServingMetrics;
  /** Bearer secret every route but /health requires; undefined only with --insecure-no-auth on loopback. */
  secret: string | undefined;
  /** Largest request body accepted, in bytes. */
  maxBodyBytes: number;
  /** Milliseconds between the SSE comments that keep a quiet stream alive (0 = none). */
  streamKeepaliveMs: number;
}
