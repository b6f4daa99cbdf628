// Worker threads do not inherit the main thread's tsx loader: register it here, then load the
// TypeScript module typescript-worker.ts names as the thread's last argument.
import { argv } from "node:process";
import { register } from "tsx/esm/api";

register();
await import(argv.at(-1));
