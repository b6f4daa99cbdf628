import { sha256Hex } from "../digest.ts";

/** API keys: `sk-moxie-` + 32 random bytes (base64url). Only the SHA-256 of a key is ever stored. */
const KEY_PREFIX = "sk-moxie-";

export function generateApiKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return KEY_PREFIX + base64Url(bytes);
}

/** What listings show of a key: enough to recognise it, too little to use it. */
export function displayPrefix(key: string): string {
  return key.slice(0, KEY_PREFIX.length + 4);
}

export function hashApiKey(key: string): Promise<string> {
  return sha256Hex(key);
}

function base64Url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}
