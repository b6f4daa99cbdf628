import { writeRandomCheckpoint } from "../../backend/engine/checkpoint/random-checkpoint.ts";
import { presets, type PresetName } from "../../backend/engine/checkpoint/presets.ts";
import type { TensorDtype } from "../../backend/engine/checkpoint/safetensors.ts";
import {
  TOKENIZER_VOCAB_SIZE,
  writeMistralTokenizerFiles,
  type TokenizerVersion,
} from "../../backend/text/tokenizer-files.ts";
import { defineCommand } from "../command.ts";

const dtypes = { f32: "F32", bf16: "BF16", f16: "F16" } satisfies Record<string, TensorDtype>;

export const makeCheckpoint = defineCommand({
  name: "make-checkpoint",
  summary:
    "write a random-weight Mixtral checkpoint in the Hugging Face layout (safetensors, config.json, tokenizer files)",
  options: {
    preset: { type: "string", required: true, choices: ["tiny", "mini", "mixtral-8x7b"], description: "model shape" },
    out: { type: "string", required: true, placeholder: "DIR", description: "folder to write" },
    layers: {
      type: "integer",
      min: 1,
      description: "decoder layers (default: the preset's), e.g. a few of Mixtral's shape to measure",
    },
    seed: { type: "integer", min: 0, default: "0", description: "seed of the random weights" },
    dtype: { type: "string", choices: ["f32", "bf16", "f16"], default: "f32", description: "stored weight precision" },
    tokenizer: {
      type: "string",
      choices: ["v1", "v3"],
      default: "v1",
      description: "Mistral tokenizer: v1 (Mixtral-8x7B) or v3 (tool calling, vocabulary 32768)",
    },
    "config-only": { type: "boolean", description: "write config.json and tokenizer files, no weights" },
    json: { type: "boolean", description: "print a JSON summary line" },
  },
  async run(values) {
    let last = 0;
    const tokenizer = values.tokenizer satisfies TokenizerVersion;
    const preset = presets[values.preset satisfies PresetName];
    const config = {
      ...preset,
      num_hidden_layers: values.layers ?? preset.num_hidden_layers,
      vocab_size: TOKENIZER_VOCAB_SIZE[tokenizer],
    };
    writeRandomCheckpoint(values.out, config, {
      seed: values.seed,
      dtype: dtypes[values.dtype],
      configOnly: values["config-only"],
      onProgress: (done, total) => {
        if (Date.now() - last < 2000 && done < total) return;
        last = Date.now();
        process.stderr.write(`make-checkpoint: ${done}/${total} tensors\n`);
      },
    });
    await writeMistralTokenizerFiles(values.out, tokenizer);
    if (values.json)
      console.log(
        JSON.stringify({
          out: values.out,
          preset: values.preset,
          dtype: values.dtype,
          tokenizer,
          config_only: values["config-only"],
        }),
      );
  },
});
