/**
 * Compares two secrets without leaking where they differ. Both sides are hashed first so the
 * comparison also runs over equal lengths (timingSafeEqual requires that) and the length of
 * the real secret is not revealed.
 */
export async function secretsEqual(given: string, expected: string): Promise<boolean> {
  const encoder = new TextEncoder();
  const [a, b] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(given)),
    crypto.subtle.digest("SHA-256", encoder.encode(expected)),
  ]);
  return crypto.subtle.timingSafeEqual(a, b);
}
