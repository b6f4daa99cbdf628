import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { collectSpans, type CollectedSpan, type OtlpTraces } from "./otlp-spans.ts";

/** An OTLP/HTTP receiver (JSON encoding): the spans of every POST /v1/traces it was sent. */
export async function otlpReceiver(): Promise<{ url: string; spans: CollectedSpan[]; close(): Promise<void> }> {
  const spans: CollectedSpan[] = [];
  const server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString()));
    request.on("end", () => {
      if (request.method === "POST" && request.url === "/v1/traces")
        spans.push(...collectSpans(JSON.parse(body) as OtlpTraces));
      response.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
