import type { BackendStatus } from "../../protocol/health.ts";
/** Consecutive failures that open the circuit. */
const FAILURE_THRESHOLD = 3;
export type BreakerState = BackendStatus["circuit"];

/** Per-backend circuit breaker: closed → open after repeated failures → half-open trial → closed or open again. */
export class CircuitBreaker {
  /** @param cooldownMs how long an open circuit refuses traffic before letting one trial request through */
  constructor(private readonly cooldownMs: number) {}

  private failures = 0;
  private openedAt = 0;
  private trialInFlight = false;
  private opened = false;

  state(now: number): BreakerState {
    if (!this.opened) return "closed";
    return now - this.openedAt >= this.cooldownMs ? "half-open" : "open";
  }

  /** Whether a request may go to the backend now; a half-open breaker admits one trial at a time. */
  allows(now: number): boolean {
    const state = this.state(now);
    return state === "closed" || (state === "half-open" && !this.trialInFlight);
  }

  /** Called when a request is sent; marks the half-open trial as taken. */
  onDispatch(now: number): void {
    if (this.state(now) === "half-open") this.trialInFlight = true;
  }

  onSuccess(): void {
    this.failures = 0;
    this.opened = false;
    this.trialInFlight = false;
  }

  /** A request that ended without a verdict (the client left) gives the trial back. */
  onCancelled(): void {
    this.trialInFlight = false;
  }

  onFailure(now: number): void {
    this.failures += 1;
    this.trialInFlight = false;
    if (this.opened || this.failures >= FAILURE_THRESHOLD) {
      this.opened = true;
      this.openedAt = now;
    }
  }
}
