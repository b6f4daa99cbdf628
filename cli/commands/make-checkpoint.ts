import { writeRandomCheckpoint } from "../../gpu-backend/engine/checkpoint/random-checkpoint.ts";
import { presets, type PresetName } from "../../gpu-backend/engine/checkpoint/presets.ts";
import type { TensorDtype } from "../../gpu-backend/engine/checkpoint/safetensors.ts";
import { writeMixtralTokenizerFiles } from "../../gpu-backend/text/tokenizer-files.ts";
import { defineCommand } from "../command.ts";

const dtypes = { f32: "F32", bf16: "BF16", f16: "F16" } satisfies Record<string, TensorDtype>;

export const makeCheckpoint = defineCommand({
  name: "make-checkpoint",
  summary: "write a random-weight Mixtral checkpoint in the Hugging Face layout (safetensors, config.json, tokenizer files)",
  options: {
    preset: { type: "string", required: true, choices: ["tiny", "mini", "mixtral-8x7b"], description: "model shape" },
    out: { type: "string", required: true, placeholder: "DIR", description: "folder to write" },
    seed: { type: "integer", min: 0, default: "0", description: "seed of the random weights" },
    dtype: { type: "string", choices: ["f32", "bf16", "f16"], default: "f32", description: "stored weight precision" },
    "config-only": { type: "boolean", description: "write config.json and tokenizer files, no weights" },
    json: { type: "boolean", description: "print a JSON summary line" },
  },
  async run(values) {
    let last = 0;
    writeRandomCheckpoint(values.out, presets[values.preset satisfies PresetName], {
      seed: values.seed,
      dtype: dtypes[values.dtype],
      configOnly: values["config-only"],
      onProgress: (done, total) => {
        if (Date.now() - last < 2000 && done < total) return;
        last = Date.now();
        process.stderr.write(`make-checkpoint: ${done}/${total} tensors\n`);
      },
    });
    await writeMixtralTokenizerFiles(values.out);
    if (values.json) console.log(JSON.stringify({ out: values.out, preset: values.preset, dtype: values.dtype, config_only: values["config-only"] }));
  },
});
