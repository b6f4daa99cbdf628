import { LenientErrorBody } from "../../protocol/index.ts";
import { readBounded } from "../bounded-read.ts";
import type { Outcome } from "../routing/backend-pool.ts";

/** The most of a backend's error body read to decide on a fallback. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

/** A backend's answer as the gateway takes it: passed on, or another backend is tried. */
export type Verdict = "answer" | "busy" | "failure";

/**
 * A backend's 503 says it is busy (a full queue) or still loading: another backend may take the
 * request, and this one is not at fault.
 */
export function saysBusy(status: number): boolean {
  return status === 503;
}

/**
 * How the gateway takes a backend's answer. Busy (saysBusy): the next backend is tried, and it
 * is not held against this one. These send the request on and count against the backend's circuit:
 * 502 and 504 (and no answer at all) say the backend or its proxy is broken; 401 and 403 that it
 * refuses the gateway's own secret (misconfigured, never the client's fault, so never passed on);
 * a redirect that it is misconfigured or hijacked (never followed: the prompt would go to another
 * origin). Any other status, a 500 included, is the backend's verdict on this request: passed on,
 * never retried, and never held against the backend (a request that breaks one would break them all).
 */
export function verdictOf(status: number): Verdict {
  if (saysBusy(status)) return "busy";
  if (status === 502 || status === 504 || status === 401 || status === 403) return "failure";
  return status >= 300 && status < 400 ? "failure" : "answer";
}

/**
 * How a backend's refusal of this request (a 4xx, or a 500 the request caused) counts for the
 * backend: no mark against it; a 4xx even shows it in good health.
 */
export function refusalOutcome(status: number): Outcome {
  return status < 500 ? "success" : "cancelled";
}

/**
 * Whether the backend refused the prompt as too long for its context: moxie serve's and Mistral's
 * code context_length_exceeded, or vLLM's "maximum context length" message. Read from a copy (the
 * answer itself may still be passed on), and only so much of it.
 */
export async function refusesPromptAsTooLong(response: Response): Promise<boolean> {
  if (response.status !== 400) return false;
  const text = await readBounded(response.clone().body, MAX_ERROR_BODY_BYTES).catch(() => null);
  const error = LenientErrorBody.safeParse(parseJson(text));
  return (
    error.success &&
    (error.data.code === "context_length_exceeded" || /maximum context length/i.test(error.data.message ?? ""))
  );
}

function parseJson(text: string | null): unknown {
  try {
    return text === null ? null : JSON.parse(text);
  } catch {
    return null;
  }
}
