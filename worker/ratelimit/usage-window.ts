import type { KeyLimits } from "../auth/key-record.ts";
import type { BudgetSnapshot } from "./spend-budget.ts";

const MINUTE_MS = 60_000;
/** A reservation never settled (the worker died mid-request) stops counting as in flight after this. */
const LEASE_MS = 10 * MINUTE_MS;

/** Everything one key's limiter remembers; plain data so the Durable Object can store it as is. */
export interface WindowState {
  /** Admission times within the last minute. */
  requests: number[];
  /** Tokens charged within the last minute: reserved at admission, replaced by actual usage at settlement. */
  tokens: { id: string; at: number; tokens: number }[];
  inflight: Record<string, { at: number; reserved: number }>;
  month: string;
  monthTokens: number;
  revoked: boolean;
}

export function emptyWindow(now: number): WindowState {
  return { requests: [], tokens: [], inflight: {}, month: monthOf(now), monthTokens: 0, revoked: false };
}

/** What Mistral's x-ratelimit-* headers report after a decision. */
export interface LimitSnapshot {
  limits: KeyLimits;
  remainingRequests: number | null;
  remainingTokens: number | null;
  remainingMonthTokens: number | null;
  cost: number;
  /** The money budget, when the key has one (filled in by the key's limiter). */
  budget?: BudgetSnapshot | null;
}

/** "budget": the monthly token budget; "spend": the money budget of the period. */
export type RefusalReason = "revoked" | "concurrency" | "requests" | "tokens" | "budget" | "spend";

/** What one request asks of the key's limits. */
export interface TokenAsk {
  /** An upper bound on the prompt's tokens. */
  prompt: number;
  /** Completions it generates (n; 0 for embeddings). */
  choices: number;
  /** The client's max_tokens per choice; null = up to the context. */
  maxTokens: number | null;
  /** The context the model is served with: no choice generates more. */
  context: number;
}

export type Decision =
  /** `maxTokens`: what each choice may generate (the client's, or a cap to what the limits leave); null = up to the context. */
  | { admitted: true; reservation: string; maxTokens: number | null; snapshot: LimitSnapshot }
  | { admitted: false; reason: RefusalReason; retryAfterSeconds: number; snapshot: LimitSnapshot };

/**
 * Sliding-window accounting for one key: exact because one Durable Object owns the window and
 * every decision runs to completion without awaiting.
 */
export class UsageWindow {
  constructor(private readonly state: WindowState) {}

  get data(): WindowState {
    return this.state;
  }

  revoke(): void {
    this.state.revoked = true;
  }

  /**
   * Reserves the most the request can cost: the prompt's bound plus every choice's max_tokens, so
   * no request can pass the key's limits. Left unset, max_tokens is capped to what the minute and
   * the month leave; a request that does not fit even so (or whose own max_tokens does not) is refused.
   */
  reserve(limits: KeyLimits, ask: TokenAsk, now: number): Decision {
    this.prune(now);
    const remainingMonth =
      limits.monthly_token_budget === null ? null : limits.monthly_token_budget - this.state.monthTokens;
    const allowance = Math.min(
      limits.tpm === null ? Infinity : limits.tpm - this.tokensUsed(),
      remainingMonth ?? Infinity,
    );
    let maxTokens = ask.maxTokens;
    let cost = ask.prompt + ask.choices * (maxTokens ?? ask.context);
    if (maxTokens === null && ask.choices > 0 && cost > allowance) {
      const fits = Math.min(Math.floor((allowance - ask.prompt) / ask.choices), ask.context - ask.prompt);
      if (fits >= 1) {
        maxTokens = fits;
        cost = ask.prompt + ask.choices * fits;
      }
    }
    const refuse = (reason: RefusalReason, retryAfterMs: number): Decision => ({
      admitted: false,
      reason,
      retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)),
      snapshot: this.snapshot(limits, cost),
    });

    if (this.state.revoked) return refuse("revoked", 0);
    if (limits.max_concurrent !== null && Object.keys(this.state.inflight).length >= limits.max_concurrent)
      return refuse("concurrency", 1000);
    if (limits.rpm !== null && this.state.requests.length >= limits.rpm)
      return refuse("requests", this.state.requests[0] + MINUTE_MS - now);
    if (limits.tpm !== null && this.tokensUsed() + cost > limits.tpm)
      return refuse("tokens", this.tokensFreeAt(limits.tpm - cost) - now);
    if (remainingMonth !== null && cost > remainingMonth) return refuse("budget", nextMonthStart(now) - now);

    const reservation = crypto.randomUUID();
    this.state.requests.push(now);
    this.state.tokens.push({ id: reservation, at: now, tokens: cost });
    this.state.inflight[reservation] = { at: now, reserved: cost };
    this.state.monthTokens += cost;
    return { admitted: true, reservation, maxTokens, snapshot: this.snapshot(limits, cost) };
  }

  /** Replaces a reservation's estimate with the tokens actually used. */
  settle(reservation: string, actualTokens: number, now: number): void {
    const lease = this.state.inflight[reservation];
    if (!lease) return;
    delete this.state.inflight[reservation];
    const entry = this.state.tokens.find((candidate) => candidate.id === reservation);
    if (entry) entry.tokens = actualTokens;
    if (monthOf(lease.at) === this.state.month) this.state.monthTokens += actualTokens - lease.reserved;
    this.prune(now);
  }

  snapshot(limits: KeyLimits, cost: number): LimitSnapshot {
    return {
      limits,
      remainingRequests: limits.rpm === null ? null : Math.max(0, limits.rpm - this.state.requests.length),
      remainingTokens: limits.tpm === null ? null : Math.max(0, limits.tpm - this.tokensUsed()),
      remainingMonthTokens:
        limits.monthly_token_budget === null ? null : Math.max(0, limits.monthly_token_budget - this.state.monthTokens),
      cost,
    };
  }

  private tokensUsed(): number {
    return this.state.tokens.reduce((sum, entry) => sum + entry.tokens, 0);
  }

  /** The time at which expiring entries bring the minute's token use down to `target`. */
  private tokensFreeAt(target: number): number {
    let used = this.tokensUsed();
    for (const entry of this.state.tokens) {
      used -= entry.tokens;
      if (used <= target) return entry.at + MINUTE_MS;
    }
    return this.state.tokens.at(-1)?.at ?? 0;
  }

  private prune(now: number): void {
    const since = now - MINUTE_MS;
    this.state.requests = this.state.requests.filter((at) => at > since);
    // Entries of requests still in flight stay until settled, so their actual tokens land in the window.
    this.state.tokens = this.state.tokens.filter((entry) => entry.at > since || entry.id in this.state.inflight);
    for (const [id, lease] of Object.entries(this.state.inflight))
      if (lease.at < now - LEASE_MS) delete this.state.inflight[id];
    const month = monthOf(now);
    if (month !== this.state.month) {
      this.state.month = month;
      this.state.monthTokens = 0;
    }
  }
}

function monthOf(time: number): string {
  return new Date(time).toISOString().slice(0, 7);
}

function nextMonthStart(time: number): number {
  const date = new Date(time);
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1);
}
