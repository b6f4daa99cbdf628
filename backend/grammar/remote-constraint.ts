import type { TokenConstraint } from "../sampler/token-constraint.ts";

/** What a remote constraint needs of its grammar thread's client. */
export interface MatcherHost {
  /** Sends the token to the matcher; resolves to the mask after it, or rejects if the matcher refused it. */
  accept(matcher: number, token: number): Promise<Int32Array>;
  release(matcher: number): void;
}

/**
 * A sequence's grammar matcher that lives in a grammar thread. accept() only posts the token: the
 * thread computes the next mask while the engine runs the next step, and allowed() returns it
 * (a token the matcher refused surfaces there, as an error).
 */
export class RemoteConstraint implements TokenConstraint {
  constructor(
    private readonly host: MatcherHost,
    private readonly matcher: number,
    private next: Promise<Int32Array>,
  ) {}

  allowed(): Promise<Int32Array> {
    return this.next;
  }

  accept(token: number): void {
    this.next = this.host.accept(this.matcher, token);
  }

  release(): void {
    this.host.release(this.matcher);
  }
}
