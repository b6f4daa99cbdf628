// Reads a server-sent event stream from a fetch response. Hand-written: a dozen lines, where a
// library would need a build step or a CDN that the console's Content-Security-Policy refuses.

/** @typedef {{ event: string, data: string }} ServerSentEvent */

/**
 * Calls onEvent({ event, data }) for each event of the response's body, as it arrives.
 * @param {Response} response
 * @param {(event: ServerSentEvent) => void} onEvent
 */
export async function readEvents(response, onEvent) {
  if (!response.body) throw new Error("The answer has no body.");
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const lines = block.split("\n");
      const event =
        lines
          .find((line) => line.startsWith("event:"))
          ?.slice(6)
          .trim() ?? "message";
      const data = lines
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).replace(/^ /, ""))
        .join("\n");
      onEvent({ event, data });
    }
  }
}
