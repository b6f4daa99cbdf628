import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";

// The same migrations `wrangler d1 migrations apply` runs; applied once per test file's storage.
await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
