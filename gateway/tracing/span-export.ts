import type { LoggedRequest } from "../logs/logged-request.ts";
import type { GatewaySpan } from "./trace-context.ts";

/** OTLP's SpanKind SERVER and StatusCode OK / ERROR. */
const SPAN_KIND_SERVER = 2;
const STATUS_OK = 1;
const STATUS_ERROR = 2;

/**
 * Sends the gateway's span of one request to an OTLP/HTTP collector as OTLP/JSON. Written by hand
 * because the OpenTelemetry JS exporters need Node's http module or a browser's XHR, neither of
 * which workerd has, and one span per request is a handful of fields.
 */
export async function exportSpan(url: string, span: GatewaySpan, request: LoggedRequest, endMs: number): Promise<void> {
  const attributes = {
    "http.request.method": "POST",
    "url.path": request.endpoint,
    "http.response.status_code": request.status,
    "moxie.request_id": request.request_id,
    "moxie.key_id": request.key_id,
    "gen_ai.request.model": request.model_asked,
    "gen_ai.response.model": request.model_answered,
    "moxie.backend_id": request.backend_id,
    "gen_ai.usage.input_tokens": request.prompt_tokens,
    "gen_ai.usage.output_tokens": request.completion_tokens,
    "moxie.attempts": request.attempts,
    "moxie.fallbacks": request.fallbacks,
    "error.type": request.error_code,
  };
  const body = {
    resourceSpans: [
      {
        resource: { attributes: [attribute("service.name", "moxie-gateway")] },
        scopeSpans: [
          {
            scope: { name: "moxie-gateway" },
            spans: [
              {
                traceId: span.traceId,
                spanId: span.spanId,
                ...(span.parentSpanId ? { parentSpanId: span.parentSpanId } : {}),
                name: `POST ${request.endpoint}`,
                kind: SPAN_KIND_SERVER,
                startTimeUnixNano: nanos(span.startMs),
                endTimeUnixNano: nanos(endMs),
                attributes: Object.entries(attributes)
                  .filter((entry): entry is [string, string | number] => entry[1] !== null)
                  .map(([key, value]) => attribute(key, value)),
                status: request.status >= 500 ? { code: STATUS_ERROR } : { code: STATUS_OK },
              },
            ],
          },
        ],
      },
    ],
  };
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  await response.body?.cancel();
  if (!response.ok) throw new Error(`OTLP collector answered ${response.status}`);
}

function attribute(key: string, value: string | number) {
  return { key, value: typeof value === "number" ? { intValue: value } : { stringValue: value } };
}

/** Epoch milliseconds as OTLP/JSON's decimal-string nanoseconds. */
function nanos(ms: number): string {
  return `${BigInt(Math.round(ms)) * 1_000_000n}`;
}
