import * as z from "zod";

/** The body of every error response except request validation (e.g. 401, 404, 429, 500). */
export const ErrorBody = z.object({
  object: z.literal("error"),
  message: z.string(),
  type: z.string(),
  param: z.string().nullable(),
  code: z.string().nullable(),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

/**
 * An error body as any server of the gateway's pool may send it: ErrorBody, or the looser shape of
 * other OpenAI-compatible servers (vLLM's `code` is the HTTP status, a number). Only the fields a
 * reader decides on are checked.
 */
export const LenientErrorBody = z.looseObject({
  message: z.string().optional(),
  code: z.union([z.string(), z.number()]).nullish(),
});
export type LenientErrorBody = z.infer<typeof LenientErrorBody>;

export function errorBody(
  message: string,
  type: string,
  code: string | null = null,
  param: string | null = null,
): ErrorBody {
  return { object: "error", message, type, param, code };
}

export const ValidationErrorDetail = z.looseObject({
  loc: z.array(z.union([z.string(), z.int()])),
  msg: z.string(),
  type: z.string(),
  input: z.unknown().optional(),
  ctx: z.record(z.string(), z.unknown()).optional(),
});
export type ValidationErrorDetail = z.infer<typeof ValidationErrorDetail>;

/** The 422 body Mistral's API (FastAPI + pydantic) returns for a request that fails validation. */
export const ValidationErrorBody = z.object({ detail: z.array(ValidationErrorDetail) });
export type ValidationErrorBody = z.infer<typeof ValidationErrorBody>;

// pydantic's error types and messages, so a client sees exactly what Mistral would send.
const typeErrors: Record<string, [type: string, msg: string]> = {
  string: ["string_type", "Input should be a valid string"],
  // zod reports a non-number as "expected number" even for z.int(); "expected int" means a fraction.
  int: ["int_from_float", "Input should be a valid integer, got a number with a fractional part"],
  number: ["float_type", "Input should be a valid number"],
  boolean: ["bool_type", "Input should be a valid boolean"],
  array: ["list_type", "Input should be a valid list"],
  object: ["dict_type", "Input should be a valid dictionary"],
  record: ["dict_type", "Input should be a valid dictionary"],
};

const quoted = (values: readonly unknown[]) => {
  const parts = values.map((value) => (typeof value === "string" ? `'${value}'` : String(value)));
  return parts.length > 1 ? `${parts.slice(0, -1).join(", ")} or ${parts.at(-1)}` : (parts[0] ?? "");
};

function bound(issue: z.core.$ZodIssueTooBig | z.core.$ZodIssueTooSmall): Pick<ValidationErrorDetail, "msg" | "type"> {
  const big = issue.code === "too_big";
  const limit = issue.code === "too_big" ? issue.maximum : issue.minimum;
  if (issue.origin === "number" || issue.origin === "int" || issue.origin === "bigint") {
    const relation = `${big ? "less" : "greater"} than${issue.inclusive ? " or equal to" : ""}`;
    return {
      type: `${big ? "less" : "greater"}_than${issue.inclusive ? "_equal" : ""}`,
      msg: `Input should be ${relation} ${limit}`,
    };
  }
  const unit = issue.origin === "string" ? "character" : "item";
  const plural = Number(limit) === 1 ? unit : `${unit}s`;
  const what = issue.origin === "string" ? "String" : "List";
  return {
    type: big ? "too_long" : "too_short",
    msg: `${what} should have ${big ? "at most" : "at least"} ${limit} ${plural}${issue.origin === "string" ? "" : " after validation"}`,
  };
}

/** Characters of an offending input a 422 echoes back: enough to recognise it, never an amplified copy of the request. */
const MAX_ECHOED_INPUT = 256;
/** Problems a 422 lists; a body wrong in thousands of places gets the first ones. */
const MAX_DETAILS = 50;

/** The input as echoed in a detail: itself when short, else the start of its JSON text, marked as cut. */
function echoed(input: unknown): unknown {
  const text = typeof input === "string" ? input : JSON.stringify(input);
  if (text === undefined || text.length <= MAX_ECHOED_INPUT) return input;
  return `${text.slice(0, MAX_ECHOED_INPUT)}… (${text.length} characters, cut)`;
}

function details(issue: z.core.$ZodIssue): ValidationErrorDetail[] {
  const loc = ["body", ...issue.path.map((key) => (typeof key === "symbol" ? String(key) : key))];
  const withInput = "input" in issue ? { input: echoed(issue.input) } : {};
  switch (issue.code) {
    case "unrecognized_keys":
      return issue.keys.map((key) => ({
        loc: [...loc, key],
        msg: "Extra inputs are not permitted",
        type: "extra_forbidden",
        ...("input" in issue ? { input: echoed((issue.input as Record<string, unknown>)[key]) } : {}),
      }));
    case "invalid_type":
      if ("input" in issue && issue.input === undefined) return [{ loc, msg: "Field required", type: "missing" }];
      {
        const [type, msg] = typeErrors[issue.expected] ?? ["value_error", issue.message];
        return [{ loc, msg, type, ...withInput }];
      }
    case "too_big":
    case "too_small":
      return [{ loc, ...bound(issue), ...withInput }];
    case "invalid_union":
      if (issue.discriminator !== undefined && "options" in issue) {
        const tag = (issue.input as Record<string, unknown> | undefined)?.[issue.discriminator];
        const msg = `Input tag '${String(tag)}' found using '${issue.discriminator}' does not match any of the expected tags: ${issue.options?.map((option) => `'${String(option)}'`).join(", ")}`;
        return [{ loc, msg, type: "union_tag_invalid", ...withInput }];
      }
      // Like pydantic, one entry per alternative that failed, each at its own place.
      return issue.errors.flat().flatMap((inner) => details({ ...inner, path: [...issue.path, ...inner.path] }));
    case "invalid_value":
      return [
        {
          loc,
          msg: `Input should be ${quoted(issue.values)}`,
          type: issue.values.length > 1 ? "enum" : "literal_error",
          ...withInput,
        },
      ];
    default:
      return [{ loc, msg: issue.message, type: "value_error", ...withInput }];
  }
}

/**
 * Maps a ZodError to Mistral's 422 body. Parse with `{ reportInput: true }` (as `validate`
 * does) so missing fields are told apart from wrong types and each detail carries its input.
 */
export function validationErrorBody(error: z.ZodError): ValidationErrorBody {
  return { detail: error.issues.flatMap(details).slice(0, MAX_DETAILS) };
}

/** The 422 body for a request body that is not JSON at all, as FastAPI words it. */
export function invalidJsonBody(error: unknown): ValidationErrorBody {
  const reason = error instanceof Error ? error.message : String(error);
  return {
    detail: [{ loc: ["body", 0], msg: "JSON decode error", type: "json_invalid", input: {}, ctx: { error: reason } }],
  };
}

export type Validated<T> = { success: true; data: T } | { success: false; error: ValidationErrorBody };

/** Validates a request body: the parsed value, or the 422 body to answer with. */
export function validate<S extends z.ZodType>(schema: S, body: unknown): Validated<z.output<S>> {
  const result = schema.safeParse(body, { reportInput: true });
  return result.success
    ? { success: true, data: result.data }
    : { success: false, error: validationErrorBody(result.error) };
}
