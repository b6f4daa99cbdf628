import { MAX_CACHE_SALT_LENGTH } from "../../protocol/index.ts";
import { sha256Hex } from "../digest.ts";

/**
 * The cache_salt sent to the backend, which mixes it into its prefix cache's block hashes: the key's
 * cache scope, so no tenant's request hits another tenant's cached prompt (how fast a cached prefix
 * answers would tell its text). A client's own salt partitions its scope further, as
 * `<scope>:<salt>`, the salt hashed where that would pass the length cap; a scope has no ':', so
 * no client salt can spell another scope.
 */
export async function cacheSalt(scope: string, clientSalt: string | null | undefined): Promise<string> {
  if (!clientSalt) return scope;
  const salted = `${scope}:${clientSalt}`;
  return salted.length <= MAX_CACHE_SALT_LENGTH ? salted : `${scope}:${await sha256Hex(clientSalt)}`;
}
