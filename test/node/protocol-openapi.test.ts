import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import { openApiDocument } from "../../protocol/index.ts";

const document = openApiDocument();

/** Every `$ref` anywhere in a JSON value. */
const refs = (value: unknown): string[] =>
  typeof value !== "object" || value === null
    ? []
    : Object.entries(value).flatMap(([key, inner]) =>
        key === "$ref" && typeof inner === "string" ? [inner] : refs(inner),
      );

it("is OpenAPI 3.1 and names every route with its methods", () => {
  expect(document.openapi).toBe("3.1.0");
  expect(Object.fromEntries(Object.entries(document.paths).map(([path, item]) => [path, Object.keys(item)]))).toEqual({
    "/v1/chat/completions": ["post"],
    "/v1/embeddings": ["post"],
    "/v1/models": ["get"],
    "/v1/models/{model_id}": ["get"],
    "/v1/openapi.json": ["get"],
  });
});

it("describes chat completions as JSON and as an event stream, with the error bodies", () => {
  const { responses } = document.paths["/v1/chat/completions"].post;
  expect(Object.keys(responses["200"].content)).toEqual(["application/json", "text/event-stream"]);
  expect(responses["422"].content["application/json"].schema.$ref).toBe("#/components/schemas/ValidationErrorBody");
  expect(responses["429"].content["application/json"].schema.$ref).toBe("#/components/schemas/ErrorBody");
});

it("has every referenced schema, generated from the zod schemas", () => {
  const schemas = document.components.schemas as Record<
    string,
    { type?: string; properties?: Record<string, unknown>; additionalProperties?: unknown }
  >;
  for (const ref of refs(document)) expect(schemas).toHaveProperty(ref.replace("#/components/schemas/", ""));
  const request = schemas.ChatCompletionRequest;
  expect(request.additionalProperties).toBe(false);
  expect(Object.keys(request.properties ?? {})).toEqual(
    expect.arrayContaining(["model", "messages", "stop", "tools", "stream_options", "user"]),
  );
  expect(request.properties?.top_p).toMatchObject({ default: 1 });
  expect(schemas.ChatCompletionChunk.properties?.object).toEqual({ type: "string", const: "chat.completion.chunk" });
});

it("`moxie openapi` prints the same document", async () => {
  const { stdout } = await promisify(execFile)("node", ["bin/moxie.js", "openapi"]);
  expect(JSON.parse(stdout)).toEqual(JSON.parse(JSON.stringify(document)));
});
