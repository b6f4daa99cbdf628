import { startBackend } from "../../gpu-backend/server/start.ts";
import { defineCommand, UsageError } from "../command.ts";

function positiveInt(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw new UsageError(`--${name} must be a positive integer, got ${JSON.stringify(value)}`);
  return number;
}

function oneOf<const T extends string>(name: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!allowed.includes(value as T)) throw new UsageError(`--${name} must be one of ${allowed.join(", ")}, got ${JSON.stringify(value)}`);
  return value as T;
}

export const serve = defineCommand({
  name: "serve",
  summary: "run one backend: the Mistral-compatible API over a checkpoint, with continuous batching",
  options: {
    model: { type: "string", required: true, placeholder: "DIR", description: "Hugging Face checkpoint folder" },
    host: { type: "string", default: "127.0.0.1", description: "address to listen on" },
    port: { type: "string", default: "8000", description: "port to listen on (0 = any free port)" },
    "served-model-name": { type: "string", placeholder: "NAME[,ALIAS…]", description: "model id clients use (default: the folder name)" },
    quantize: { type: "string", placeholder: "int4|int8", description: "weight-only quantization" },
    "max-seqs": { type: "string", default: "16", placeholder: "N", description: "sequences decoded at once (KV slots)" },
    "max-queue": { type: "string", default: "256", placeholder: "N", description: "sequences that may wait for a slot; beyond it requests get 503" },
    context: { type: "string", placeholder: "N", description: "tokens per sequence, prompt + answer (default: the model's, at most 4096)" },
    threads: { type: "string", placeholder: "N", description: "ONNX Runtime intra-op threads (default: all cores)" },
    pooling: { type: "string", default: "mean", placeholder: "mean|last", description: "embedding pooling of the final hidden states" },
    "insecure-no-auth": { type: "boolean", description: "serve without MOXIE_BACKEND_SECRET (loopback hosts only)" },
  },
  async run(values) {
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0-65535, got ${JSON.stringify(values.port)}`);
    const options = {
      model: values.model,
      host: values.host,
      port,
      servedModelNames: values["served-model-name"]?.split(",").map((name) => name.trim()).filter(Boolean),
      quantize: oneOf("quantize", values.quantize, ["int4", "int8"]),
      maxSeqs: positiveInt("max-seqs", values["max-seqs"])!,
      maxQueue: positiveInt("max-queue", values["max-queue"])!,
      contextLength: positiveInt("context", values.context),
      threads: positiveInt("threads", values.threads),
      pooling: oneOf("pooling", values.pooling, ["mean", "last"])!,
      secret: process.env.MOXIE_BACKEND_SECRET || undefined,
      insecureNoAuth: values["insecure-no-auth"],
    };
    const backend = await startBackend(options);
    console.log(`moxie serve: listening on ${backend.url}, loading ${options.model}…`);
    const stop = async () => {
      await backend.close();
      process.exit(0);
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    try {
      await backend.ready;
    } catch (error) {
      await backend.close();
      throw new Error(`cannot load ${options.model}: ${(error as Error).message}`);
    }
    console.log(`moxie serve: ready on ${backend.url} (GET /health, POST /v1/chat/completions, POST /v1/embeddings)`);
    try {
      await backend.crashed;
    } catch (error) {
      await backend.close();
      throw new Error(`the inference worker crashed: ${(error as Error).message}`);
    }
  },
});
