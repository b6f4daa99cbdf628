// Error bodies: the 422 shape must be what the Mistral SDK reads as HTTPValidationError.
import { HTTPValidationError, HTTPValidationError$inboundSchema } from "@mistralai/mistralai/models/errors";
import { describe, expect, it } from "vitest";
import {
  ChatCompletionRequest,
  ErrorBody,
  ValidationErrorBody,
  errorBody,
  invalidJsonBody,
  validate,
} from "../../protocol/index.ts";

const valid = { model: "mixtral", messages: [{ role: "user", content: "Hi" }] };

/** The 422 detail for a request body, as validate() produces it. */
const detailOf = (body: unknown) => {
  const result = validate(ChatCompletionRequest, body);
  if (result.success) throw new Error("expected the body to be refused");
  return result.error.detail;
};

describe("validationErrorBody speaks pydantic, as Mistral's 422 does", () => {
  it.each([
    [
      "an unknown top-level field",
      { ...valid, logit_bias: { 1: 2 } },
      [
        {
          loc: ["body", "logit_bias"],
          msg: "Extra inputs are not permitted",
          type: "extra_forbidden",
          input: { 1: 2 },
        },
      ],
    ],
    [
      "an unknown field inside a message",
      { ...valid, messages: [{ role: "user", content: "Hi", name: "bob" }] },
      [
        {
          loc: ["body", "messages", 0, "name"],
          msg: "Extra inputs are not permitted",
          type: "extra_forbidden",
          input: "bob",
        },
      ],
    ],
    [
      "a missing field",
      { messages: valid.messages },
      [{ loc: ["body", "model"], msg: "Field required", type: "missing" }],
    ],
    [
      "a wrong type",
      { ...valid, model: 3 },
      [{ loc: ["body", "model"], msg: "Input should be a valid string", type: "string_type", input: 3 }],
    ],
    [
      "a fraction where an integer belongs",
      { ...valid, max_tokens: 1.5 },
      [
        {
          loc: ["body", "max_tokens"],
          msg: "Input should be a valid integer, got a number with a fractional part",
          type: "int_from_float",
          input: 1.5,
        },
      ],
    ],
    [
      "a number above its bound",
      { ...valid, top_p: 2 },
      [{ loc: ["body", "top_p"], msg: "Input should be less than or equal to 1", type: "less_than_equal", input: 2 }],
    ],
    [
      "a number below its bound",
      { ...valid, n: 0 },
      [{ loc: ["body", "n"], msg: "Input should be greater than or equal to 1", type: "greater_than_equal", input: 0 }],
    ],
    [
      "an empty message list",
      { ...valid, messages: [] },
      [
        {
          loc: ["body", "messages"],
          msg: "List should have at least 1 item after validation",
          type: "too_short",
          input: [],
        },
      ],
    ],
    [
      "a value outside an enum",
      { ...valid, response_format: { type: "xml" } },
      [
        {
          loc: ["body", "response_format", "type"],
          msg: "Input should be 'text', 'json_object' or 'json_schema'",
          type: "enum",
          input: "xml",
        },
      ],
    ],
  ])("%s", (_, body, expected) => {
    expect(detailOf(body)).toEqual(expected);
  });

  it("an unknown role", () => {
    expect(detailOf({ ...valid, messages: [{ role: "robot", content: "x" }] })).toEqual([
      {
        loc: ["body", "messages", 0, "role"],
        msg: "Input tag 'robot' found using 'role' does not match any of the expected tags: 'system', 'user', 'assistant', 'tool'",
        type: "union_tag_invalid",
        input: { role: "robot", content: "x" },
      },
    ]);
  });

  it("a value that fits no alternative: one entry per alternative", () => {
    expect(detailOf({ ...valid, stop: 5 })).toEqual([
      { loc: ["body", "stop"], msg: "Input should be a valid string", type: "string_type", input: 5 },
      { loc: ["body", "stop"], msg: "Input should be a valid list", type: "list_type", input: 5 },
    ]);
  });

  it("reports every problem at once", () => {
    expect(
      detailOf({ model: 3, messages: [{ role: "robot", content: "x" }], best_of: 2 }).map((detail) =>
        detail.loc.join("."),
      ),
    ).toEqual(["body.model", "body.messages.0.role", "body.best_of"]);
  });

  it("a body that is not JSON", () => {
    const parseError = (() => {
      try {
        JSON.parse("{model:");
      } catch (error) {
        return error;
      }
    })();
    expect(ValidationErrorBody.parse(invalidJsonBody(parseError)).detail).toEqual([
      {
        loc: ["body", 0],
        msg: "JSON decode error",
        type: "json_invalid",
        input: {},
        ctx: { error: (parseError as Error).message },
      },
    ]);
  });

  it("a body that is not an object", () => {
    expect(detailOf([1, 2])).toEqual([
      { loc: ["body"], msg: "Input should be a valid dictionary", type: "dict_type", input: [1, 2] },
    ]);
  });

  it.each([
    ["unknown field", { ...valid, best_of: 2 }],
    ["several problems", { model: 3, messages: [], temperature: -1 }],
  ])("the Mistral SDK reads our 422 body (%s) as HTTPValidationError", (_, body) => {
    const text = JSON.stringify({ detail: detailOf(body) });
    const error = HTTPValidationError$inboundSchema.parse({
      ...JSON.parse(text),
      request$: new Request("http://moxie.test/v1/chat/completions", { method: "POST" }),
      response$: new Response(text, { status: 422 }),
      body$: text,
    });
    expect(error).toBeInstanceOf(HTTPValidationError);
    expect(error.detail).toEqual(ValidationErrorBody.parse(JSON.parse(text)).detail);
  });
});

describe("errorBody", () => {
  it("builds the error shape with nulls for absent code and param", () => {
    expect(errorBody("Invalid API key", "authentication_error")).toEqual({
      object: "error",
      message: "Invalid API key",
      type: "authentication_error",
      param: null,
      code: null,
    });
    expect(ErrorBody.parse(errorBody("Rate limit exceeded", "rate_limit_error", "1300", "model"))).toEqual({
      object: "error",
      message: "Rate limit exceeded",
      type: "rate_limit_error",
      code: "1300",
      param: "model",
    });
  });
});
