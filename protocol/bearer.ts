/** The token of an `Authorization: Bearer <token>` header, if any: how clients authenticate to the gateway and the gateway to backends. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return match?.[1];
}
