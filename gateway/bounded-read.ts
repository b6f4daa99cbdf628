/**
 * Reads a body's text, at most `maxBytes` of it, so no backend can make the gateway buffer without
 * bound. Past the cap, the text is dropped and null returned: the rest is cancelled, or, when
 * `pastCap` is given, read on and handed to it piece by piece (nothing more is kept).
 */
export async function readBounded(
  body: ReadableStream<Uint8Array> | null,
  maxBytes: number,
  pastCap?: (text: string) => void,
): Promise<string | null> {
  if (!body) return "";
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return bytes > maxBytes ? null : text + decoder.decode();
    bytes += value.byteLength;
    if (bytes <= maxBytes) {
      text += decoder.decode(value, { stream: true });
      continue;
    }
    if (!pastCap) {
      await reader.cancel();
      return null;
    }
    pastCap(text + decoder.decode(value, { stream: true }));
    text = "";
  }
}
