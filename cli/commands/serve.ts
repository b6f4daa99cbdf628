import { optionDefaults } from "../../backend/options.ts";
import { startBackend } from "../../backend/server/start.ts";
import { byteSize, defineCommand } from "../command.ts";
import { engineOptions, engineSettings, poolingOption } from "../model-options.ts";

export const serve = defineCommand({
  name: "serve",
  summary: "run one backend: the Mistral-compatible API over a checkpoint, with continuous batching",
  options: {
    ...engineOptions,
    host: { type: "string", default: optionDefaults.host, description: "address to listen on" },
    port: {
      type: "integer",
      min: 0,
      max: 65535,
      default: String(optionDefaults.port),
      description: "port to listen on (0 = any free port)",
    },
    "served-model-name": {
      type: "string",
      placeholder: "NAME[,ALIAS…]",
      description: "model id clients use (default: the folder name)",
    },
    "max-seqs": {
      type: "integer",
      min: 1,
      default: String(optionDefaults.maxSeqs),
      description: "sequences decoded at once",
    },
    "max-queue": {
      type: "integer",
      min: 1,
      default: String(optionDefaults.maxQueue),
      description: "sequences that may wait to start; beyond it requests get 503",
    },
    context: {
      type: "integer",
      min: 2,
      description: "tokens per sequence, prompt + answer (default: the model's max_position_embeddings)",
    },
    "kv-cache-memory": {
      type: "string",
      placeholder: "SIZE",
      description: `memory of the KV-cache pool, e.g. 8GiB (default: ${optionDefaults.kvCacheMemoryShare * 100}% of the memory free once the weights are loaded); start-up fails if one full-context sequence does not fit`,
    },
    "no-prefix-caching": {
      type: "boolean",
      description: "do not keep finished requests' KV blocks for later requests sharing their prefix",
    },
    pooling: poolingOption,
    "stream-keepalive": {
      type: "number",
      min: 0,
      placeholder: "SECONDS",
      default: String(optionDefaults.streamKeepalive),
      description:
        "an SSE comment on every open stream this often, so a request that waits in the queue or prefills a long prompt does not look dead to the gateway or a proxy (0 = none)",
    },
    "insecure-no-auth": { type: "boolean", description: "serve without MOXIE_BACKEND_SECRET (loopback hosts only)" },
  },
  async run(values) {
    const options = {
      ...engineSettings(values),
      host: values.host,
      port: values.port,
      servedModelNames: values["served-model-name"]
        ?.split(",")
        .map((name) => name.trim())
        .filter(Boolean),
      maxSeqs: values["max-seqs"],
      maxQueue: values["max-queue"],
      contextLength: values.context,
      kvCacheMemory:
        values["kv-cache-memory"] === undefined ? undefined : byteSize(values["kv-cache-memory"], "kv-cache-memory"),
      prefixCaching: !values["no-prefix-caching"],
      pooling: values.pooling,
      secret: process.env.MOXIE_BACKEND_SECRET || undefined,
      insecureNoAuth: values["insecure-no-auth"],
      streamKeepalive: values["stream-keepalive"],
    };
    const backend = await startBackend(options);
    console.log(`moxie serve: listening on ${backend.url}, loading ${options.model}…`);
    const stop = async () => {
      await backend.close();
      process.exit(0);
    };
    process.once("SIGINT", () => void stop());
    process.once("SIGTERM", () => void stop());
    try {
      await backend.ready;
    } catch (error) {
      await backend.close();
      throw new Error(`cannot load ${options.model}: ${(error as Error).message}`, { cause: error });
    }
    console.log(`moxie serve: ready on ${backend.url} (GET /health, POST /v1/chat/completions, POST /v1/embeddings)`);
    try {
      await backend.crashed;
    } catch (error) {
      await backend.close();
      throw new Error(`the inference thread crashed: ${(error as Error).message}`, { cause: error });
    }
  },
});
