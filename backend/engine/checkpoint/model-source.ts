import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { CheckpointError } from "./config.ts";

/** What `--model` names: a Hugging Face checkpoint folder, or one GGUF file (given, or alone in its folder). */
export type ModelSource = { kind: "safetensors"; dir: string } | { kind: "gguf"; file: string };

export function modelSource(path: string): ModelSource {
  if (!existsSync(path)) throw new CheckpointError(`${path}: no such file or folder`);
  if (statSync(path).isFile()) {
    if (path.toLowerCase().endsWith(".gguf")) return { kind: "gguf", file: path };
    throw new CheckpointError(`${path}: a model is a checkpoint folder or a .gguf file`);
  }
  if (existsSync(join(path, "config.json"))) return { kind: "safetensors", dir: path };
  const ggufs = readdirSync(path).filter((name) => name.toLowerCase().endsWith(".gguf"));
  if (ggufs.length === 1) return { kind: "gguf", file: join(path, ggufs[0]) };
  if (ggufs.length > 1)
    throw new CheckpointError(`${path} holds ${ggufs.length} .gguf files (${ggufs.join(", ")}): name one`);
  return { kind: "safetensors", dir: path };
}
