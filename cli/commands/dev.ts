import { defineCommand } from "../command.ts";
import { runDevStack } from "../dev/stack.ts";

export const dev = defineCommand({
  name: "dev",
  summary: "run the whole stack locally (backend + gateway + a dev key); `npm start` runs this",
  options: {
    model: { type: "string", placeholder: "DIR", description: "checkpoint folder (default: $MOXIE_MODEL, else the embedded random-weight tiny model)" },
    port: { type: "string", default: "8787", placeholder: "N", description: "gateway port" },
    "backend-port": { type: "string", default: "8000", placeholder: "N", description: "backend port" },
    quantize: { type: "string", placeholder: "int4|int8", description: "weight-only quantization of the backend" },
    threads: { type: "string", placeholder: "N", description: "ONNX Runtime threads of the backend" },
    "state-dir": { type: "string", default: ".moxie", placeholder: "DIR", description: "default model, local D1 state, logs and dev.json" },
  },
  async run(values) {
    await runDevStack({
      stateDir: values["state-dir"],
      model: values.model ?? process.env.MOXIE_MODEL,
      port: Number(values.port),
      backendPort: Number(values["backend-port"]),
      quantize: values.quantize,
      threads: values.threads,
    });
  },
});
