// Bindings the worker test project adds (vitest.config.ts) on top of wrangler.toml's.
declare namespace Cloudflare {
  interface Env {
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
    FAKE_BACKEND_URL: string;
    TEST_BACKEND_SECRET: string;
    /** The secret of the stand-in external upstream (an OpenAI/Mistral-compatible API with its own key). */
    EXTERNAL_BACKEND_KEY: string;
  }
}
