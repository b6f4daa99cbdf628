import { createServer } from "node:net";

/** Fails with a message naming the service and the flag to change when a port is taken. */
export async function assertPortFree(host: string, port: number, service: string, flag: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once("error", (error: NodeJS.ErrnoException) => {
      reject(
        new Error(
          error.code === "EADDRINUSE"
            ? `port ${port} on ${host} (${service}) is already in use: stop what holds it, or pick another with ${flag}`
            : `cannot listen on ${host}:${port} (${service}): ${error.message}`,
        ),
      );
    });
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}
