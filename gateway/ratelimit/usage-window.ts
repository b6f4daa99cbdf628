import type { KeyLimits } from "../auth/key-record.ts";
import type { BudgetSnapshot } from "./spend-budget.ts";
import { completionTokens } from "./worst-case.ts";

const SECOND_MS = 1000;
const MINUTE_MS = 60_000;
/** A reservation never settled (the worker died mid-request) stops counting as in flight after this. */
const LEASE_MS = 10 * MINUTE_MS;

/** What one second of the window admitted: requests, and the tokens of those requests that have settled. */
interface SecondCount {
  second: number;
  requests: number;
  tokens: number;
}

/**
 * Everything one key's limiter remembers; plain data so the Durable Object can store it as is.
 * Counts are kept per second rather than per request so that a decision, and the write that
 * follows it, cost the same at 10 requests a minute as at 100,000: at most 61 seconds plus the
 * requests in flight.
 */
export interface WindowState {
  /** The seconds of the last minute that admitted anything, oldest first. */
  seconds: SecondCount[];
  /** Reservations not yet settled: they count in full, however old, until settlement replaces them. */
  inflight: Record<string, { at: number; reserved: number }>;
  /** The sum of `inflight`'s reservations, kept so a decision never walks them. */
  inflightTokens: number;
  month: string;
  monthTokens: number;
  revoked: boolean;
}

export function emptyWindow(now: number): WindowState {
  return { seconds: [], inflight: {}, inflightTokens: 0, month: monthOf(now), monthTokens: 0, revoked: false };
}

/** Whether `saved` has this version's shape; a window saved by an older gateway restarts the key's minute. */
export function isWindowState(saved: unknown): saved is WindowState {
  return (
    typeof saved === "object" &&
    saved !== null &&
    Array.isArray((saved as WindowState).seconds) &&
    typeof (saved as WindowState).inflightTokens === "number"
  );
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
  /** `retryAfterSeconds`: null when retrying can never help (a revoked key, or a request larger than the limit itself). */
  | { admitted: false; reason: RefusalReason; retryAfterSeconds: number | null; snapshot: LimitSnapshot };

/** A refusal, its wait rounded up to whole seconds (at least one); a null wait stays null. */
export function refusal(reason: RefusalReason, retryAfterMs: number | null, snapshot: LimitSnapshot): Decision {
  const retryAfterSeconds = retryAfterMs === null ? null : Math.max(1, Math.ceil(retryAfterMs / SECOND_MS));
  return { admitted: false, reason, retryAfterSeconds, snapshot };
}

/**
 * Sliding-window accounting for one key: exact because one Durable Object owns the window and
 * every decision runs to completion without awaiting. The window slides by whole seconds: an
 * admission counts for at least a minute and at most a minute and a second.
 */
export class UsageWindow {
  constructor(private readonly state: WindowState) {}

  get data(): WindowState {
    return this.state;
  }

  revoke(): void {
    this.state.revoked = true;
  }

  /** Tokens the minute and the month leave now; Infinity for a key with neither limit. */
  allowance(limits: KeyLimits, now: number): number {
    this.prune(now);
    return Math.min(
      limits.tpm === null ? Infinity : limits.tpm - this.tokensUsed(),
      limits.monthly_token_budget === null ? Infinity : limits.monthly_token_budget - this.state.monthTokens,
    );
  }

  /**
   * Reserves the most the request can cost: the prompt's bound plus every choice's max_tokens (unset:
   * the context's remainder), so no request can pass the key's limits; one that does not fit what
   * they leave now is refused until it would. The key's limiter caps an unset max_tokens first (see worstCase).
   */
  reserve(limits: KeyLimits, ask: TokenAsk, now: number): Decision {
    this.prune(now);
    const cost = ask.prompt + completionTokens(ask);
    const used = this.tokensUsed();
    const refuse = (reason: RefusalReason, retryAfterMs: number | null) =>
      refusal(reason, retryAfterMs, this.snapshot(limits, cost));

    if (this.state.revoked) return refuse("revoked", null);
    if (limits.max_concurrent !== null && Object.keys(this.state.inflight).length >= limits.max_concurrent)
      return refuse("concurrency", SECOND_MS);
    if (limits.rpm !== null && this.requestsCounted() >= limits.rpm)
      return refuse(
        "requests",
        this.expiryOnceBelow((count) => count.requests, this.requestsCounted(), limits.rpm - 1) - now,
      );
    if (limits.tpm !== null && used + cost > limits.tpm)
      return refuse("tokens", this.expiryOnceBelow((count) => count.tokens, used, limits.tpm - cost) - now);
    if (limits.monthly_token_budget !== null && this.state.monthTokens + cost > limits.monthly_token_budget)
      return refuse("budget", nextMonthStart(now) - now);

    const reservation = crypto.randomUUID();
    this.secondOf(now).requests += 1;
    this.state.inflight[reservation] = { at: now, reserved: cost };
    this.state.inflightTokens += cost;
    this.state.monthTokens += cost;
    return { admitted: true, reservation, maxTokens: ask.maxTokens, snapshot: this.snapshot(limits, cost) };
  }

  /**
   * Replaces a reservation with the tokens actually used. They count in the second the request was
   * admitted, so a request that outlived its minute no longer weighs on the window.
   */
  settle(reservation: string, actualTokens: number, now: number): void {
    const lease = this.state.inflight[reservation];
    if (!lease) return;
    this.release(reservation);
    const second = Math.floor(lease.at / SECOND_MS);
    const count = this.state.seconds.find((candidate) => candidate.second === second);
    if (count) count.tokens += actualTokens;
    if (monthOf(lease.at) === this.state.month) this.state.monthTokens += actualTokens - lease.reserved;
    this.prune(now);
  }

  snapshot(limits: KeyLimits, cost: number): LimitSnapshot {
    return {
      limits,
      remainingRequests: limits.rpm === null ? null : Math.max(0, limits.rpm - this.requestsCounted()),
      remainingTokens: limits.tpm === null ? null : Math.max(0, limits.tpm - this.tokensUsed()),
      remainingMonthTokens:
        limits.monthly_token_budget === null ? null : Math.max(0, limits.monthly_token_budget - this.state.monthTokens),
      cost,
    };
  }

  private requestsCounted(): number {
    return this.state.seconds.reduce((sum, count) => sum + count.requests, 0);
  }

  private tokensUsed(): number {
    return this.state.seconds.reduce((sum, count) => sum + count.tokens, this.state.inflightTokens);
  }

  /** When expiring seconds bring `total` (summed over `measure`) down to `target`; settling in-flight requests may free more sooner. */
  private expiryOnceBelow(measure: (count: SecondCount) => number, total: number, target: number): number {
    let left = total;
    for (const count of this.state.seconds) {
      left -= measure(count);
      if (left <= target) return expiryOf(count);
    }
    const newest = this.state.seconds.at(-1);
    return newest ? expiryOf(newest) : 0;
  }

  private secondOf(now: number): SecondCount {
    const second = Math.floor(now / SECOND_MS);
    const newest = this.state.seconds.at(-1);
    if (newest?.second === second) return newest;
    const count = { second, requests: 0, tokens: 0 };
    this.state.seconds.push(count);
    return count;
  }

  private release(reservation: string): void {
    this.state.inflightTokens -= this.state.inflight[reservation].reserved;
    delete this.state.inflight[reservation];
  }

  private prune(now: number): void {
    while (this.state.seconds.length > 0 && expiryOf(this.state.seconds[0]) <= now) this.state.seconds.shift();
    // Reservations are kept in admission order, so the expired ones are a prefix.
    for (const id in this.state.inflight) {
      if (this.state.inflight[id].at >= now - LEASE_MS) break;
      this.release(id);
    }
    const month = monthOf(now);
    if (month !== this.state.month) {
      this.state.month = month;
      this.state.monthTokens = 0;
    }
  }
}

/** A second's admissions stop counting a minute after its last millisecond. */
function expiryOf(count: SecondCount): number {
  return (count.second + 1) * SECOND_MS + MINUTE_MS;
}

function monthOf(time: number): string {
  return new Date(time).toISOString().slice(0, 7);
}

function nextMonthStart(time: number): number {
  const date = new Date(time);
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1);
}
