import * as z from "zod";
import { ModelDefinition } from "./models/model-definition.ts";
import { BackendConfig } from "./routing/backend.ts";

/** A var set to "" counts as unset: its default applies. */
const unsetIfEmpty = (value: unknown) => (value === "" ? undefined : value);

/** A duration var in seconds, as milliseconds. */
const seconds = (fallback: number) =>
  z.preprocess(unsetIfEmpty, z.coerce.number().positive().default(fallback)).transform((value) => value * 1000);

/** A count var: a positive integer. */
const count = (fallback: number) => z.preprocess(unsetIfEmpty, z.coerce.number().int().positive().default(fallback));

/** A JSON list var, each item checked against `item`. */
const jsonList = <T extends z.ZodType>(item: T) =>
  z.preprocess(
    unsetIfEmpty,
    z
      .string()
      .default("[]")
      .transform((text, context) => {
        try {
          return JSON.parse(text) as unknown;
        } catch {
          context.addIssue({ code: "custom", message: "not valid JSON" });
          return z.NEVER;
        }
      })
      .pipe(z.array(item)),
  );

/**
 * The gateway's vars (wrangler.toml [vars], `--var`, .dev.vars), all strings, parsed into what the
 * code uses. The defaults live here; wrangler.toml may restate them for the operator to see.
 * Bindings (DB, the Durable Objects, ASSETS) and secrets stay on `env`.
 */
const GatewayConfig = z
  .object({
    /** "*" or a comma-separated list of origins; "" allows none. */
    CORS_ORIGINS: z.string().default("*"),
    MAX_BODY_BYTES: z.preprocess(
      unsetIfEmpty,
      z.coerce
        .number()
        .int()
        .positive()
        .default(1024 * 1024),
    ),
    /** Concurrent requests a key without its own max_concurrent may have; "" or a non-positive number = unlimited. */
    DEFAULT_KEY_CONCURRENCY: z
      .string()
      .default("8")
      .transform((text) => (text.trim() === "" ? 0 : Number(text)))
      .pipe(z.int())
      .transform((count) => (count > 0 ? count : null)),
    HEALTH_POLL_SECONDS: seconds(5),
    /** How long a backend's open circuit refuses traffic before a trial request. */
    BREAKER_COOLDOWN_SECONDS: seconds(10),
    /** A stream's headers, and then each of its chunks, must come from the backend within this. */
    UPSTREAM_IDLE_SECONDS: seconds(60),
    /** A non-streamed answer must be complete within this. */
    UPSTREAM_TIMEOUT_SECONDS: seconds(600),
    /** "true" lets the admin API register loopback backends (local setups only). */
    ALLOW_LOOPBACK_BACKENDS: z.preprocess(unsetIfEmpty, z.enum(["true", "false"]).default("false")),
    /** Statically configured backends (see gateway/routing/backend.ts). */
    BACKENDS: jsonList(BackendConfig),
    /** Public models (see gateway/models/model-definition.ts). */
    MODELS: jsonList(ModelDefinition),
    /** "false" turns the request log off (usage rows are still written). */
    REQUEST_LOG: z.preprocess(unsetIfEmpty, z.enum(["true", "false"]).default("true")),
    /** The request log keeps rows this many days, and at most LOG_MAX_ROWS of them. */
    LOG_RETENTION_DAYS: z.preprocess(unsetIfEmpty, z.coerce.number().positive().default(14)),
    LOG_MAX_ROWS: count(500_000),
    /** Bodies (keys with log_bodies only) are kept this many hours, and for at most the newest LOG_MAX_BODIES rows. */
    LOG_BODY_RETENTION_HOURS: z.preprocess(unsetIfEmpty, z.coerce.number().positive().default(24)),
    LOG_MAX_BODIES: count(10_000),
    /** OTLP/HTTP collector the gateway sends its spans to (`/v1/traces` is appended); unset = none. */
    OTEL_EXPORTER_OTLP_ENDPOINT: z.preprocess(unsetIfEmpty, z.url().optional()),
  })
  .transform((vars) => ({
    corsOrigins: vars.CORS_ORIGINS.split(",")
      .map((origin) => origin.trim())
      .filter(Boolean),
    maxBodyBytes: vars.MAX_BODY_BYTES,
    defaultKeyConcurrency: vars.DEFAULT_KEY_CONCURRENCY,
    healthPollMs: vars.HEALTH_POLL_SECONDS,
    breakerCooldownMs: vars.BREAKER_COOLDOWN_SECONDS,
    upstreamIdleMs: vars.UPSTREAM_IDLE_SECONDS,
    upstreamTimeoutMs: vars.UPSTREAM_TIMEOUT_SECONDS,
    allowLoopbackBackends: vars.ALLOW_LOOPBACK_BACKENDS === "true",
    backends: vars.BACKENDS,
    models: vars.MODELS,
    requestLog: vars.REQUEST_LOG === "true" ? logRetention(vars) : null,
    otlpTracesUrl: vars.OTEL_EXPORTER_OTLP_ENDPOINT
      ? `${vars.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/$/, "")}/v1/traces`
      : null,
  }));
export type GatewayConfig = z.output<typeof GatewayConfig>;

const DAY_MS = 24 * 60 * 60 * 1000;

/** The request log's bounds; the bodies' never exceed the rows'. */
function logRetention(vars: {
  LOG_RETENTION_DAYS: number;
  LOG_MAX_ROWS: number;
  LOG_BODY_RETENTION_HOURS: number;
  LOG_MAX_BODIES: number;
}) {
  const retentionMs = vars.LOG_RETENTION_DAYS * DAY_MS;
  return {
    retentionMs,
    maxRows: vars.LOG_MAX_ROWS,
    bodyRetentionMs: Math.min(retentionMs, (vars.LOG_BODY_RETENTION_HOURS * DAY_MS) / 24),
    maxBodies: Math.min(vars.LOG_MAX_ROWS, vars.LOG_MAX_BODIES),
  };
}
export type LogRetention = ReturnType<typeof logRetention>;

/** Parsed once per isolate: the env object is the same for every request an isolate serves. */
const parsed = new WeakMap<Env, GatewayConfig>();

/** The gateway's configuration; a var that does not parse fails every request that reads it, naming the var. */
export function gatewayConfig(env: Env): GatewayConfig {
  let config = parsed.get(env);
  if (!config) {
    const result = GatewayConfig.safeParse(env);
    if (!result.success) throw new Error(`Invalid gateway configuration: ${z.prettifyError(result.error)}`);
    config = result.data;
    parsed.set(env, config);
  }
  return config;
}
