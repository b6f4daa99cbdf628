import {
  DiagConsoleLogger,
  DiagLogLevel,
  ROOT_CONTEXT,
  SpanKind,
  defaultTextMapGetter,
  defaultTextMapSetter,
  diag,
  trace,
  type Tracer,
} from "@opentelemetry/api";
import {
  W3CTraceContextPropagator,
  diagLogLevelFromString,
  getBooleanFromEnv,
  getStringFromEnv,
} from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_ROUTE, ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";
import type { Context, MiddlewareHandler } from "hono";
import { epochMs } from "../scheduler/request-timeline.ts";
import { GEN_AI, TracedRequest, UNTRACED, type RequestSpan } from "./request-span.ts";

declare module "hono" {
  interface ContextVariableMap {
    /** The inference request's server span, set by traced() (UNTRACED when tracing is off). */
    span: RequestSpan;
  }
}

/** The inference operations, as the GenAI conventions name them. */
type Operation = "chat" | "embeddings";

/**
 * OpenTelemetry traces of the inference requests, exported over OTLP/HTTP. Everything is configured
 * by OTel's own environment variables (endpoint, headers, sampler, batching, OTEL_SERVICE_NAME,
 * OTEL_RESOURCE_ATTRIBUTES), read by the SDK; the service is `moxie-backend` unless they name it.
 */
export class Tracing {
  private readonly provider: BasicTracerProvider;
  private readonly tracer: Tracer;
  private readonly propagator = new W3CTraceContextPropagator();

  /** On only when an OTLP endpoint is set (and OTEL_SDK_DISABLED is not true). */
  static fromEnv(): Tracing | undefined {
    const endpoint =
      getStringFromEnv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") ?? getStringFromEnv("OTEL_EXPORTER_OTLP_ENDPOINT");
    return endpoint && !getBooleanFromEnv("OTEL_SDK_DISABLED") ? new Tracing() : undefined;
  }

  private constructor() {
    // The SDK reports failed exports (an unreachable collector) through diag, silent without a logger.
    const level = diagLogLevelFromString(getStringFromEnv("OTEL_LOG_LEVEL")) ?? DiagLogLevel.WARN;
    diag.setLogger(new DiagConsoleLogger(), level);
    const resource = defaultResource()
      .merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: "moxie-backend" }))
      .merge(detectResources({ detectors: [envDetector] }));
    this.provider = new BasicTracerProvider({
      resource,
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
    });
    this.tracer = this.provider.getTracer("moxie-backend");
  }

  /**
   * Starts a request's server span, continuing the trace of its `traceparent` header (a new trace
   * without one), and answers with the span's own `traceparent`, so a client can find its trace.
   */
  start(c: Context, operation: Operation): RequestSpan {
    const carrier = { traceparent: c.req.header("traceparent"), tracestate: c.req.header("tracestate") };
    const parent = this.propagator.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter);
    const span = this.tracer.startSpan(
      `${c.req.method} ${c.req.routePath}`,
      {
        kind: SpanKind.SERVER,
        startTime: epochMs(),
        attributes: {
          [ATTR_HTTP_REQUEST_METHOD]: c.req.method,
          [ATTR_HTTP_ROUTE]: c.req.routePath,
          [GEN_AI.operation]: operation,
          "moxie.request_id": c.get("requestId"),
        },
      },
      parent,
    );
    const answer: Record<string, string> = {};
    this.propagator.inject(trace.setSpan(ROOT_CONTEXT, span), answer, defaultTextMapSetter);
    for (const [name, value] of Object.entries(answer)) c.header(name, value);
    return new TracedRequest(this.tracer, span, c.req.raw.signal);
  }

  /** Exports the spans still buffered, then stops. */
  shutdown(): Promise<void> {
    return this.provider.shutdown();
  }
}

/**
 * Gives an inference route its request's span (UNTRACED when tracing is off). The route ends the
 * span of a request that ran, when its answer is complete; an answer with an error ends it here.
 */
export function traced(tracing: Tracing | undefined, operation: Operation): MiddlewareHandler {
  return async (c, next) => {
    const span = tracing ? tracing.start(c, operation) : UNTRACED;
    c.set("span", span);
    await next();
    if (c.error || c.res.status >= 400) span.fail(c.res.status, c.error);
  };
}
