/** The backend sent nothing, not even a keep-alive comment, for the idle deadline. */
export class IdleError extends Error {}

/** The reader's next read, or an IdleError when none comes within `idleMs`. */
export async function readWithin<T>(reader: ReadableStreamDefaultReader<T>, idleMs: number) {
  let idle: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      reader.read(),
      new Promise<never>((_, reject) => (idle = setTimeout(() => reject(new IdleError()), idleMs))),
    ]);
  } finally {
    if (idle !== undefined) clearTimeout(idle);
  }
}
