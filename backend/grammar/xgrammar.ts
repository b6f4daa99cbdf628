import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import type * as XGrammar from "@mlc-ai/web-xgrammar";

let loaded: Promise<typeof XGrammar> | undefined;

/**
 * xgrammar (WASM) as web-xgrammar 0.1.27 ships it: a UMD bundle that, outside a browser, calls
 * `require` and reads `__filename` as globals (an ES module has neither) and puts its classes on
 * `globalThis.xgrammar`. Loaded once per thread, on first use.
 */
export function loadXGrammar(): Promise<typeof XGrammar> {
  loaded ??= (async () => {
    const global = globalThis as { require?: NodeJS.Require; __filename?: string; xgrammar?: typeof XGrammar };
    global.require ??= createRequire(import.meta.url);
    global.__filename ??= fileURLToPath(import.meta.resolve("@mlc-ai/web-xgrammar"));
    await import("@mlc-ai/web-xgrammar");
    if (!global.xgrammar) throw new Error("@mlc-ai/web-xgrammar did not load");
    return global.xgrammar;
  })();
  return loaded;
}
