// The admin API, called with the token the operator signed in with. The token lives in
// sessionStorage only: it goes in the Authorization header, never in a cookie or a URL.

/** @import { ErrorBody, ValidationErrorBody } from "./types.js" */

const TOKEN = "moxie-admin-token";

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN);
  },
  /** @param {string} token */
  signIn(token) {
    sessionStorage.setItem(TOKEN, token);
  },
  signOut() {
    sessionStorage.removeItem(TOKEN);
  },
};

/** The gateway's error, with its message (Mistral's error shape or a 422's detail list). */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {Partial<ErrorBody & ValidationErrorBody> | null} body
   */
  constructor(status, body) {
    const detail = Array.isArray(body?.detail)
      ? body.detail.map((item) => `${item.loc?.slice(1).join(".")}: ${item.msg}`).join("; ")
      : null;
    super(body?.message ?? detail ?? `HTTP ${status}`);
    this.status = status;
  }
}

/**
 * Calls /admin/<path>; the parsed JSON answer, or throws ApiError. A 401 signs the console out.
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<any>} whatever JSON the route answers: each page declares the shape it reads (types.js)
 */
export async function admin(method, path, body) {
  const response = await fetch(`/admin${path}`, {
    method,
    headers: {
      authorization: `Bearer ${session.token}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    if (response.status === 401) {
      session.signOut();
      window.dispatchEvent(new Event("moxie:signed-out"));
    }
    throw new ApiError(response.status, answer);
  }
  return answer;
}

/**
 * API key secrets this tab knows, by key id: those it created (the API shows a secret once) and
 * those the operator typed into the playground. Kept in memory only: gone with the tab or a reload.
 * @type {Map<string, string>}
 */
export const keySecrets = new Map();

/**
 * What a failed action shows: the error's message (everything the console catches is an Error).
 * @param {unknown} error
 */
export function errorMessage(error) {
  return error instanceof Error ? error.message : String(error);
}
