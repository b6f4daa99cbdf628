/** Generated tokens per second over a sliding window, for /health's "recent tokens/s". */
export class ThroughputMeter {
  private readonly events: { at: number; tokens: number }[] = [];

  constructor(private readonly windowMs = 5000) {}

  add(tokens: number): void {
    if (tokens > 0) this.events.push({ at: performance.now(), tokens });
    this.trim();
  }

  rate(): number {
    this.trim();
    const tokens = this.events.reduce((sum, event) => sum + event.tokens, 0);
    return Math.round((tokens / this.windowMs) * 1000 * 10) / 10;
  }

  private trim(): void {
    const since = performance.now() - this.windowMs;
    while (this.events.length > 0 && this.events[0].at < since) this.events.shift();
  }
}
