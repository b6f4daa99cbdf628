// Ties `cloudflare:workers` typings (env, exports) to this worker's bindings and entry module.
declare namespace Cloudflare {
  interface GlobalProps {
    mainModule: typeof import("./index.ts");
  }
}
