import { parentPort, workerData } from "node:worker_threads";
import type { TokenConstraint } from "../sampler/token-constraint.ts";
import type { FromGrammarThread, GrammarThreadData, ToGrammarThread } from "./grammar-messages.ts";
import { Grammars } from "./grammars.ts";
import { JSON_MODE } from "./response-format.ts";

/**
 * A grammar thread: xgrammar's compiler, its cache and every matcher of its grammars, off the
 * inference thread (grammar-pool.ts starts and retires these). Messages are handled one at a
 * time in arrival order, so a matcher's masks follow its tokens.
 */

const { pieces, eosId } = workerData as GrammarThreadData;
const grammars = new Grammars(pieces, eosId);
const matchers = new Map<number, TokenConstraint>();

const post = (message: FromGrammarThread, transfer: ArrayBuffer[] = []) => parentPort!.postMessage(message, transfer);

async function sendMask(id: number, matcher: TokenConstraint): Promise<void> {
  try {
    const mask = (await matcher.allowed())!;
    post({ type: "mask", matcher: id, mask }, [mask.buffer as ArrayBuffer]);
  } catch (error) {
    post({ type: "mask", matcher: id, error: (error as Error).message });
  }
}

async function handle(message: ToGrammarThread): Promise<void> {
  if (message.type === "compile") {
    try {
      const compiled = await grammars.compile(message.spec);
      for (const id of message.matchers) matchers.set(id, await grammars.constraint(compiled));
    } catch (error) {
      for (const id of message.matchers) matchers.get(id)?.release();
      for (const id of message.matchers) matchers.delete(id);
      // An abort (or a trap in what one left behind) is a WebAssembly.RuntimeError.
      const { cause } = error as Error;
      const aborted = cause instanceof Error && cause.name === "RuntimeError";
      return post({ type: "failed", id: message.id, message: (error as Error).message, aborted });
    }
    post({ type: "compiled", id: message.id });
    for (const id of message.matchers) await sendMask(id, matchers.get(id)!);
  } else if (message.type === "accept") {
    const matcher = matchers.get(message.matcher);
    if (!matcher) return;
    try {
      matcher.accept(message.token);
    } catch (error) {
      return post({ type: "mask", matcher: message.matcher, error: (error as Error).message });
    }
    await sendMask(message.matcher, matcher);
  } else {
    matchers.get(message.matcher)?.release();
    matchers.delete(message.matcher);
  }
}

// The self-check /health reports: JSON mode compiles and yields a mask on this instance.
const check = await grammars.constraint(await grammars.compile(JSON_MODE));
await check.allowed();
check.release();

let queue = Promise.resolve();
parentPort!.on("message", (message: ToGrammarThread) => {
  queue = queue.then(() => handle(message));
});
post({ type: "ready" });
