import type { InferenceClient } from "../inference/inference-client.ts";
import type { ServingMetrics } from "./metrics.ts";
import type { Tracing } from "./tracing.ts";

/** What the routes share: the inference thread, the names the model is served under, the metrics and traces. */
export interface Backend {
  client: InferenceClient;
  /** The first is the model card's id, the others its aliases. */
  modelIds: string[];
  metrics: ServingMetrics;
  /** Undefined when tracing is off (no OTLP endpoint set). */
  tracing: Tracing | undefined;
  /** Bearer secret every route but /health requires; undefined only with --insecure-no-auth on loopback. */
  secret: string | undefined;
  /** Largest request body accepted, in bytes. */
  maxBodyBytes: number;
  /** Milliseconds between the SSE comments that keep a quiet stream alive (0 = none). */
  streamKeepaliveMs: number;
}
