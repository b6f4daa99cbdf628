import { DurableObject } from "cloudflare:workers";
import type { LoggedRequest } from "../logs/logged-request.ts";
import { LATENCY_BUCKETS, METRIC_FAMILIES, type MetricFamily } from "./metric-families.ts";

type Labels = Record<string, string>;

/**
 * The gateway's Prometheus metrics: one object for every isolate's requests, its series kept in its
 * own SQLite storage so counters survive the object's eviction (a reset would read as a restart).
 * prom-client keeps its series in process memory, which a Durable Object loses; the exposition
 * below is the small part of it this needs.
 */
export class GatewayMetrics extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(
      `CREATE TABLE IF NOT EXISTS series (
         family TEXT NOT NULL, sample TEXT NOT NULL, labels TEXT NOT NULL, value REAL NOT NULL,
         PRIMARY KEY (sample, labels))`,
    );
  }

  /** Adds one settled request to the series. */
  observe(request: LoggedRequest): void {
    const model = request.model_answered ?? "";
    const backend = request.backend_id ?? "";
    const status = String(request.status);
    const byRoute = { requested_model: request.model_asked, model, backend };
    this.add("litellm_proxy_total_requests_metric", { ...byRoute, status_code: status });
    if (request.status >= 400)
      this.add("litellm_proxy_failed_requests_metric", {
        ...byRoute,
        status_code: status,
        error_code: request.error_code ?? "",
      });
    const byModel = { model, backend };
    this.add("litellm_input_tokens_metric", byModel, request.prompt_tokens);
    this.add("litellm_output_tokens_metric", byModel, request.completion_tokens);
    this.add("moxie_gateway_cached_tokens", byModel, request.cached_tokens ?? 0);
    this.add("litellm_spend_metric", { model }, request.cost);
    this.histogram("litellm_request_total_latency_metric", byModel, request.duration_ms / 1000);
    if (request.ttft_ms !== null)
      this.histogram("litellm_llm_api_time_to_first_token_metric", byModel, request.ttft_ms / 1000);
    if (request.fallbacks > 0)
      this.add(
        request.status < 400 ? "litellm_deployment_successful_fallbacks" : "litellm_deployment_failed_fallbacks",
        { requested_model: request.model_asked, fallback_model: model },
      );
    if (request.attempts > 1) this.add("moxie_gateway_backend_retries", byModel, request.attempts - 1);
  }

  /** Counts a request refused before admission (it has no log row: an attacker cannot fill the log). */
  refused(status: number, code: string | null): void {
    this.add("moxie_gateway_refused_requests", { status_code: String(status), code: code ?? "" });
  }

  /** Every series in Prometheus' text exposition format 0.0.4. */
  exposition(): string {
    const rows = this.ctx.storage.sql
      .exec<{ family: string; sample: string; labels: string; value: number }>(
        "SELECT family, sample, labels, value FROM series ORDER BY family, rowid",
      )
      .toArray();
    const lines: string[] = [];
    let family = "";
    for (const row of rows) {
      if (row.family !== family) {
        family = row.family;
        const { type, help } = METRIC_FAMILIES[family as MetricFamily];
        const exposed = type === "counter" ? `${family}_total` : family;
        lines.push(`# HELP ${exposed} ${help}`, `# TYPE ${exposed} ${type}`);
      }
      lines.push(`${row.sample}${row.labels} ${row.value}`);
    }
    return lines.join("\n") + "\n";
  }

  private histogram(family: MetricFamily, labels: Labels, seconds: number): void {
    for (const le of LATENCY_BUCKETS) this.add(family, { ...labels, le: String(le) }, seconds <= le ? 1 : 0, "_bucket");
    this.add(family, { ...labels, le: "+Inf" }, 1, "_bucket");
    this.add(family, labels, seconds, "_sum");
    this.add(family, labels, 1, "_count");
  }

  /** Adds to one series, creating it (in the order its samples are exposed) the first time. */
  private add(family: MetricFamily, labels: Labels, amount = 1, suffix = ""): void {
    const sample = family + (suffix || (METRIC_FAMILIES[family].type === "counter" ? "_total" : ""));
    this.ctx.storage.sql.exec(
      `INSERT INTO series (family, sample, labels, value) VALUES (?, ?, ?, ?)
       ON CONFLICT (sample, labels) DO UPDATE SET value = value + excluded.value`,
      family,
      sample,
      renderLabels(labels),
      amount,
    );
  }
}

function renderLabels(labels: Labels): string {
  const pairs = Object.entries(labels).map(
    ([name, value]) => `${name}="${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`,
  );
  return pairs.length ? `{${pairs.join(",")}}` : "";
}

/** The one metrics object. */
export function gatewayMetrics(env: Env): DurableObjectStub<GatewayMetrics> {
  return env.GATEWAY_METRICS.get(env.GATEWAY_METRICS.idFromName("gateway"));
}
