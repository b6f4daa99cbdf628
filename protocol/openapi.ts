import * as z from "zod";
import { ChatCompletionChunk, ChatCompletionRequest, ChatCompletionResponse } from "./chat.ts";
import { EmbeddingRequest, EmbeddingResponse } from "./embeddings.ts";
import { ErrorBody, ValidationErrorBody } from "./errors.ts";
import { ModelCard, ModelList } from "./models.ts";

const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });

/** JSON Schemas of the named zod schemas, as they are read (`input`) or written (`output`). */
function components(schemas: Record<string, z.ZodType>, io: "input" | "output"): Record<string, unknown> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(schemas)) registry.add(schema, { id });
  const { schemas: generated } = z.toJSONSchema(registry, { io, target: "draft-2020-12", uri: (id) => ref(id).$ref });
  // Each component is embedded in the document, so its own $schema line is noise.
  return Object.fromEntries(Object.entries(generated).map(([id, { $schema: _, ...schema }]) => [id, schema]));
}

const json = (id: string) => ({ "application/json": { schema: ref(id) } });

const errors = {
  "401": { description: "Missing or unknown API key", content: json("ErrorBody") },
  "422": { description: "The request failed validation", content: json("ValidationErrorBody") },
  "429": { description: "A rate limit or budget of the API key is exhausted", content: json("ErrorBody") },
  "503": { description: "No backend can take the request now", content: json("ErrorBody") },
};

/** The routes: chat completions, embeddings, models and this document. */
const paths = {
  "/v1/chat/completions": {
    post: {
      operationId: "chat_completion",
      summary: "Chat completion",
      requestBody: { required: true, content: json("ChatCompletionRequest") },
      responses: {
        "200": {
          description:
            "The completion; with `stream: true`, server-sent events whose `data:` lines are ChatCompletionChunk JSON, the last chunk carrying `usage`, then `data: [DONE]`",
          content: {
            ...json("ChatCompletionResponse"),
            "text/event-stream": {
              schema: { type: "string", description: "data: <ChatCompletionChunk>\\n\\n … data: [DONE]\\n\\n" },
            },
          },
        },
        ...errors,
      },
    },
  },
  "/v1/embeddings": {
    post: {
      operationId: "embeddings",
      summary: "Embeddings",
      requestBody: { required: true, content: json("EmbeddingRequest") },
      responses: { "200": { description: "The embeddings", content: json("EmbeddingResponse") }, ...errors },
    },
  },
  "/v1/models": {
    get: {
      operationId: "list_models",
      summary: "List models",
      responses: { "200": { description: "The models served", content: json("ModelList") }, "401": errors["401"] },
    },
  },
  "/v1/models/{model_id}": {
    get: {
      operationId: "retrieve_model",
      summary: "Retrieve a model by id or alias (an alias answers with the card of its model)",
      parameters: [{ name: "model_id", in: "path", required: true, schema: { type: "string" } }],
      responses: {
        "200": { description: "The model's card", content: json("ModelCard") },
        "401": errors["401"],
        "404": { description: "No model of that id or alias", content: json("ErrorBody") },
      },
    },
  },
  "/v1/openapi.json": {
    get: {
      operationId: "openapi",
      summary: "This document",
      security: [],
      responses: {
        "200": {
          description: "The OpenAPI 3.1 document",
          content: { "application/json": { schema: { type: "object" } } },
        },
      },
    },
  },
};

/** The OpenAPI 3.1 description of the public API, generated from the protocol's zod schemas. */
export function openApiDocument() {
  return {
    openapi: "3.1.0",
    info: {
      title: "moxie",
      version: "1",
      description:
        "Mistral-compatible API for sparse mixture-of-experts models. Unknown request fields are refused (422) like Mistral's API; OpenAI's `stream_options`, `user`, `seed`, `logprobs` and `top_logprobs` are accepted as extensions.",
    },
    servers: [{ url: "/" }],
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "An API key" } },
      schemas: {
        ...components({ ChatCompletionRequest, EmbeddingRequest }, "input"),
        ...components(
          {
            ChatCompletionResponse,
            ChatCompletionChunk,
            EmbeddingResponse,
            ModelCard,
            ModelList,
            ErrorBody,
            ValidationErrorBody,
          },
          "output",
        ),
      },
    },
  };
}
