#!/usr/bin/env node
// The one entry point: TypeScript runs directly through tsx, no build step.
import { register } from "tsx/esm/api";

register();
await import("../cli/main.ts");
