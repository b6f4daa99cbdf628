import { defineCommand } from "../command.ts";
import { runDevStack } from "../dev/stack.ts";
import { engineOptions } from "../model-options.ts";

export const dev = defineCommand({
  name: "dev",
  summary: "run the whole stack locally (backend + gateway + a dev key); `npm start` runs this",
  options: {
    model: {
      type: "string",
      placeholder: "DIR",
      description: "checkpoint folder (default: $MOXIE_MODEL, else the embedded random-weight tiny model)",
    },
    port: { type: "integer", min: 1, max: 65535, default: "8787", description: "gateway port" },
    "backend-port": { type: "integer", min: 1, max: 65535, default: "8000", description: "backend port" },
    quantize: engineOptions.quantize,
    threads: engineOptions.threads,
    "execution-provider": engineOptions["execution-provider"],
    dtype: engineOptions.dtype,
    "state-dir": {
      type: "string",
      default: ".moxie",
      placeholder: "DIR",
      description: "default model, local D1 state, logs and dev.json",
    },
  },
  async run(values) {
    await runDevStack({
      stateDir: values["state-dir"],
      model: values.model ?? process.env.MOXIE_MODEL,
      port: values.port,
      backendPort: values["backend-port"],
      quantize: values.quantize,
      threads: values.threads,
      executionProvider: values["execution-provider"],
      dtype: values.dtype,
    });
  },
});
