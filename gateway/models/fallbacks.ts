import { resolveModel } from "./model-catalog.ts";
import type { ModelDefinition } from "./model-definition.ts";

/**
 * The models to try, in order, after `model` could not answer: its fallbacks, each followed by its
 * own fallbacks (depth first), none twice and never `model` itself. Names that no longer resolve
 * (a model deleted since) are skipped.
 */
export function fallbackChain(catalog: ModelDefinition[], model: ModelDefinition): ModelDefinition[] {
  const chain: ModelDefinition[] = [];
  const seen = new Set([model.id]);
  const visit = (from: ModelDefinition) => {
    for (const name of from.fallbacks) {
      const next = resolveModel(catalog, name);
      if (!next || seen.has(next.id)) continue;
      seen.add(next.id);
      chain.push(next);
      visit(next);
    }
  };
  visit(model);
  return chain;
}

/**
 * Why `saved` cannot join the catalog with its fallbacks, or null: each must name another model of
 * the same type, and following fallbacks from any model must never lead back to it (a loop would
 * send one request around the catalog).
 */
export function fallbackProblem(catalog: ModelDefinition[], saved: ModelDefinition): string | null {
  catalog = [...catalog.filter((model) => model.id !== saved.id), saved];
  for (const name of saved.fallbacks) {
    const target = resolveModel(catalog, name);
    if (!target) return `Model '${saved.id}' falls back to '${name}', which is not in the catalog`;
    if (target.type !== saved.type)
      return `Model '${saved.id}' (${saved.type}) falls back to '${target.id}' (${target.type})`;
  }
  // A catalog without loops gets one only through the model saved, so only loops through it are looked for.
  const loop = loopFrom(catalog, saved, [saved.id]);
  return loop ? `Fallbacks loop: ${loop.join(" → ")}` : null;
}

function loopFrom(catalog: ModelDefinition[], model: ModelDefinition, path: string[]): string[] | null {
  for (const name of model.fallbacks) {
    const next = resolveModel(catalog, name);
    if (!next) continue;
    if (next.id === path[0]) return [...path, next.id];
    if (path.includes(next.id)) continue;
    const loop = loopFrom(catalog, next, [...path, next.id]);
    if (loop) return loop;
  }
  return null;
}
