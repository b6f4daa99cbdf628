import type { TestProject } from "vitest/node";
import { startFakeBackend } from "./fake-backend.ts";

declare module "vitest" {
  export interface ProvidedContext {
    fakeBackendUrl: string;
  }
}

/** Runs in Node before the workerd tests: one real HTTP server that plays every backend they register. */
export default async function setup(project: TestProject) {
  const { url, server } = await startFakeBackend();
  project.provide("fakeBackendUrl", url);
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}
