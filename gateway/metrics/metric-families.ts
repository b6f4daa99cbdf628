/**
 * The gateway's metric families. Names are LiteLLM's proxy metrics (as prometheus_client exposes
 * them, counters with `_total`) where one exists, so dashboards and alerts written for LiteLLM
 * work unchanged; the rest are moxie's own.
 */
export const METRIC_FAMILIES = {
  litellm_proxy_total_requests_metric: {
    type: "counter",
    help: "Admitted requests, by the model asked, the model that answered, the backend and the status",
  },
  litellm_proxy_failed_requests_metric: {
    type: "counter",
    help: "Admitted requests that ended in an error status, by error code",
  },
  litellm_input_tokens_metric: { type: "counter", help: "Prompt tokens of admitted requests" },
  litellm_output_tokens_metric: { type: "counter", help: "Completion tokens of admitted requests" },
  moxie_gateway_cached_tokens: { type: "counter", help: "Prompt tokens served from the backends' prefix cache" },
  litellm_spend_metric: { type: "counter", help: "Spend, at the answering model's price" },
  litellm_request_total_latency_metric: {
    type: "histogram",
    help: "Seconds from a request's arrival to its end (a stream's last event)",
  },
  litellm_llm_api_time_to_first_token_metric: {
    type: "histogram",
    help: "Seconds from a streamed request's arrival to its first content",
  },
  litellm_deployment_successful_fallbacks: { type: "counter", help: "Requests a fallback model answered successfully" },
  litellm_deployment_failed_fallbacks: {
    type: "counter",
    help: "Requests that moved to fallback models and still failed",
  },
  moxie_gateway_backend_retries: {
    type: "counter",
    help: "Requests sent again to another backend before a response started",
  },
  moxie_gateway_refused_requests: {
    type: "counter",
    help: "Requests refused before admission (authentication, validation, model, key limits), by status and code",
  },
} as const satisfies Record<string, { type: "counter" | "histogram"; help: string }>;
export type MetricFamily = keyof typeof METRIC_FAMILIES;

/** Latency buckets in seconds, from a cached short prompt's first token to a long generation. */
export const LATENCY_BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320] as const;
