import { existsSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { basename, join, resolve } from "node:path";
import { serve, type ServerType } from "@hono/node-server";
import type * as z from "zod";
import { modelSource } from "../engine/checkpoint/model-source.ts";
import { BackendOptions } from "../options.ts";
import { InferenceClient } from "../inference/inference-client.ts";
import { createApp } from "./app.ts";
import { ServingMetrics } from "./metrics.ts";
import { Tracing } from "./tracing.ts";

/** Bodies above this are refused with 413 (a full 32k-token context is well under 1 MB of text). */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127(\.\d{1,3}){3}$/.test(host);
}

export interface RunningBackend {
  url: string;
  /** Resolves once the model is loaded and requests are served. */
  ready: Promise<void>;
  /** Rejects when the inference thread crashes. */
  crashed: Promise<never>;
  close(): Promise<void>;
}

/**
 * Starts one backend: the HTTP server listens at once (GET /health says "loading"), while the
 * inference worker loads the model. Refuses to run without a secret unless explicitly insecure on loopback.
 */
export async function startBackend(input: z.input<typeof BackendOptions>): Promise<RunningBackend> {
  const options = BackendOptions.parse(input);
  if (options.secret === undefined && !(options.insecureNoAuth && isLoopback(options.host))) {
    throw new Error(
      options.insecureNoAuth
        ? `--insecure-no-auth is only allowed on a loopback host (127.0.0.1, ::1, localhost), not ${options.host}`
        : "MOXIE_BACKEND_SECRET is not set: set it (clients send it as `Authorization: Bearer <secret>`), or pass --insecure-no-auth on a loopback host",
    );
  }
  const model = resolve(options.model);
  // A GGUF file carries its config and tokenizer; a checkpoint folder needs both files.
  if (modelSource(model).kind === "safetensors") {
    if (!existsSync(join(model, "config.json")))
      throw new Error(`${model} is not a model folder: it has no config.json`);
    if (!existsSync(join(model, "tokenizer.json")))
      throw new Error(`${model} has no tokenizer.json, which serving needs`);
  }

  const client = new InferenceClient({ ...options, model });
  // A GGUF is served under its file name without the extension (as llama.cpp's server names it).
  const modelIds = options.servedModelNames?.length
    ? options.servedModelNames
    : [basename(model).replace(/\.gguf$/i, "")];
  const metrics = new ServingMetrics(modelIds[0], () => client.status);
  const tracing = Tracing.fromEnv();
  const app = createApp({
    client,
    modelIds,
    metrics,
    tracing,
    secret: options.secret,
    maxBodyBytes: MAX_BODY_BYTES,
    streamKeepaliveMs: 1000 * options.streamKeepalive,
  });
  const server = await listen(app.fetch, options.host, options.port).catch(async (error) => {
    await client.close();
    await tracing?.shutdown();
    throw error;
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}`,
    ready: client.ready.then(() => undefined),
    crashed: client.crashed,
    /**
     * Stops listening and stops the worker; requests still running end with an error, then their
     * connections close, and the spans not yet exported are.
     */
    async close() {
      const closed = new Promise((done) => server.close(done));
      await client.close();
      if ("closeAllConnections" in server) server.closeAllConnections();
      await closed;
      await tracing?.shutdown();
    },
  };
}

function listen(
  fetch: (request: Request) => Response | Promise<Response>,
  hostname: string,
  port: number,
): Promise<ServerType> {
  return new Promise((resolveServer, reject) => {
    const server = serve({ fetch, hostname, port }, () => resolveServer(server));
    server.once("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EADDRINUSE")
        reject(new Error(`port ${port} on ${hostname} is already in use (choose another with --port)`));
      else if (error.code === "EADDRNOTAVAIL") reject(new Error(`cannot listen on ${hostname}: no such local address`));
      else reject(error);
    });
  });
}
