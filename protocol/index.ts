export * from "./bearer.ts";
export * from "./chat.ts";
export * from "./embeddings.ts";
export * from "./errors.ts";
export * from "./health.ts";
export * from "./models.ts";
export * from "./openapi.ts";
export * from "./usage.ts";
