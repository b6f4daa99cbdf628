/**
 * Milliseconds since the epoch, with sub-millisecond digits. Each thread's performance.timeOrigin
 * is its own start, so this, not performance.now(), is what compares between threads.
 */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * When a chat request reached each phase on the inference thread, in epochMs(): the main thread
 * makes its trace's spans from them. One object per request, shared by its choices, so each time
 * is its first choice's.
 */
export interface RequestTimeline {
  /** From its arrival on the inference thread until its grammar was compiled (or found in the cache), if it has one. */
  grammar?: { start: number; end: number };
  /** Joined the scheduler's queue. */
  queued: number;
  /** Given a seat and KV blocks: its prefill begins. */
  scheduled?: number;
  /** Its first token was sampled. */
  firstToken?: number;
}

/** A request's timeline once its last choice finished: what the inference thread reports with its last output. */
export type FinishedTimeline = RequestTimeline & { finished: number };
