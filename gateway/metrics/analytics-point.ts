import type { LoggedRequest } from "../logs/logged-request.ts";

/**
 * A settled request as a Workers Analytics Engine data point. Its SQL API names columns by position,
 * so the order here is the schema: blob1 model asked … blob6 key; double1 prompt tokens … double6 cost.
 */
export function analyticsPoint(request: LoggedRequest): AnalyticsEngineDataPoint {
  return {
    indexes: [request.model_answered ?? request.model_asked],
    blobs: [
      request.model_asked,
      request.model_answered ?? "",
      request.backend_id ?? "",
      String(request.status),
      request.error_code ?? "",
      request.key_id,
    ],
    doubles: [
      request.prompt_tokens,
      request.completion_tokens,
      request.cached_tokens ?? 0,
      request.ttft_ms ?? -1,
      request.duration_ms,
      request.cost,
    ],
  };
}
