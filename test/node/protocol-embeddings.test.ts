// Embeddings against the Mistral SDK's models, both directions.
import {
  EmbeddingRequest$outboundSchema,
  EmbeddingResponse$inboundSchema,
  type EmbeddingRequest as SdkEmbeddingRequest,
} from "@mistralai/mistralai/models/components";
import { describe, expect, it } from "vitest";
import { EmbeddingRequest, EmbeddingResponse, base64Embedding } from "../../protocol/index.ts";
import { embeddings } from "./support/protocol-fixtures.ts";

const sdkWire = (request: SdkEmbeddingRequest) =>
  JSON.parse(JSON.stringify(EmbeddingRequest$outboundSchema.parse(request)));

describe("requests the Mistral SDK sends pass our schema", () => {
  it.each<[string, SdkEmbeddingRequest]>([
    ["one string", { model: "embed", inputs: "hello" }],
    ["a list", { model: "embed", inputs: ["a", "b", "c"] }],
    [
      "every option",
      {
        model: "embed",
        inputs: ["a"],
        encodingFormat: "base64",
        outputDimension: 256,
        outputDtype: "int8",
        metadata: { job: 1 },
      },
    ],
    ["null dimension", { model: "embed", inputs: "a", outputDimension: null }],
  ])("%s", (_, request) => {
    const wire = sdkWire(request);
    expect(EmbeddingRequest.parse(wire)).toMatchObject({
      ...wire,
      encoding_format: wire.encoding_format ?? "float",
      output_dtype: wire.output_dtype ?? "float",
    });
  });

  it("our fields are exactly the SDK's", () => {
    const sdkFields = Object.keys((EmbeddingRequest$outboundSchema as unknown as { in: { shape: object } }).in.shape)
      .map(
        (key) =>
          ({
            inputs: "input",
            outputDimension: "output_dimension",
            outputDtype: "output_dtype",
            encodingFormat: "encoding_format",
          })[key] ?? key,
      )
      .sort();
    expect(sdkFields).toEqual(Object.keys(EmbeddingRequest.shape).sort());
  });
});

describe("our rules", () => {
  it.each([
    ["an unknown field", { model: "embed", input: "a", dimensions: 8 }],
    ["an empty list", { model: "embed", input: [] }],
    ["a zero dimension", { model: "embed", input: "a", output_dimension: 0 }],
    ["an unknown dtype", { model: "embed", input: "a", output_dtype: "float16" }],
    ["a number input", { model: "embed", input: 3 }],
  ])("refuses %s", (_, body) => {
    expect(EmbeddingRequest.safeParse(body).success).toBe(false);
  });
});

describe("responses we produce parse with the SDK", () => {
  it("float embeddings, one per input, with usage", () => {
    const ours = embeddings(EmbeddingRequest.parse({ model: "embed", input: ["a", "b"] }));
    const sdk = EmbeddingResponse$inboundSchema.parse(JSON.parse(JSON.stringify(ours)));
    expect(sdk).toMatchObject({
      id: "emb-1",
      object: "list",
      model: "embed",
      usage: { promptTokens: 4, totalTokens: 4 },
    });
    expect(sdk.data).toEqual([
      { object: "embedding", embedding: [0.25, -0.5, 0], index: 0 },
      { object: "embedding", embedding: [0.25, -0.5, 1], index: 1 },
    ]);
  });

  it("base64 embeddings are little-endian float32s", () => {
    expect(base64Embedding([1])).toBe("AACAPw==");
    const ours = EmbeddingResponse.parse(
      embeddings(EmbeddingRequest.parse({ model: "embed", input: "a", encoding_format: "base64" })),
    );
    expect(ours.data[0].embedding).toBe(base64Embedding([0.25, -0.5, 0]));
  });
});
