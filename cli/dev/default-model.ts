import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { makeCheckpoint } from "../commands/make-checkpoint.ts";

/**
 * The embedded default model: a tiny random-weight Mixtral with Mistral's v3 tokenizer (the
 * Mixtral vocabulary plus the tool-calling control tokens, so tools work out of the box), made
 * once by `moxie make-checkpoint` and cached. Written to a temporary folder and renamed,
 * so an interrupted first start never leaves half a checkpoint behind.
 */
export async function ensureDefaultModel(stateDir: string): Promise<{ dir: string; created: boolean }> {
  const dir = join(stateDir, "models", "default-tiny-v3");
  if (existsSync(join(dir, "model.safetensors"))) return { dir, created: false };
  const partial = `${dir}.partial`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  await makeCheckpoint.run(
    {
      preset: "tiny",
      out: partial,
      layers: undefined,
      seed: 0,
      dtype: "f32",
      tokenizer: "v3",
      "config-only": false,
      json: false,
    },
    [],
  );
  renameSync(partial, dir);
  return { dir, created: true };
}
