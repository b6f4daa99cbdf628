import { Worker, type WorkerOptions as ThreadOptions } from "node:worker_threads";

/**
 * A worker_thread running a TypeScript module. Worker threads do not inherit the main thread's
 * tsx loader, so each starts in bootstrap.mjs, which registers it and then imports the module
 * (its URL is the thread's last argv).
 */
export function typescriptWorker(module: URL, options: ThreadOptions): Worker {
  return new Worker(new URL("./bootstrap.mjs", import.meta.url), { ...options, argv: [module.href] });
}
