import type { BudgetPeriod, KeyLimits } from "../auth/key-record.ts";
import { MONEY_TOLERANCE } from "./worst-case.ts";

/** A reservation never settled (the worker died mid-request) stops holding budget after this. */
const LEASE_MS = 10 * 60_000;
const DAY_MS = 86_400_000;
/** How soon a request refused only because requests in flight hold the budget is told to try again. */
const IN_FLIGHT_RETRY_MS = 1_000;

/** One key's spend in its current budget period; plain data so the Durable Object can store it as is. */
export interface SpendState {
  /** The period the spend belongs to (see budgetPeriodOf); a new period starts at zero. */
  period: string;
  /** Settled spend of the period, at the prices of the models that answered. */
  spent: number;
  /** Admitted requests' estimated cost, held until they settle. */
  inflight: Record<string, { at: number; period: string; reserved: number }>;
}

export function emptySpend(): SpendState {
  return { period: "", spent: 0, inflight: {} };
}

/** What the budget headers report: the limit and what is left after in-flight reservations. */
export interface BudgetSnapshot {
  limit: number;
  remaining: number;
  period: BudgetPeriod | null;
  /** The request's worst-case cost: what it reserved, or would have. */
  cost: number;
}

/** A budget period: its name, where it starts and where it ends (null: a lifetime budget never rolls over). */
export interface PeriodBounds {
  period: string;
  start: string | null;
  end: string | null;
}

/** The UTC period `time` falls in: the day, the ISO week (from Monday), the month, or "lifetime". */
export function budgetPeriodOf(period: BudgetPeriod | null, time: number): PeriodBounds {
  const date = new Date(time);
  const [year, month, day] = [date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()];
  const iso = (ms: number) => new Date(ms).toISOString();
  switch (period) {
    case null:
      return { period: "lifetime", start: null, end: null };
    case "day":
      return {
        period: iso(Date.UTC(year, month, day)).slice(0, 10),
        start: iso(Date.UTC(year, month, day)),
        end: iso(Date.UTC(year, month, day + 1)),
      };
    case "week": {
      const monday = Date.UTC(year, month, day) - ((date.getUTCDay() + 6) % 7) * DAY_MS;
      return { period: `week of ${iso(monday).slice(0, 10)}`, start: iso(monday), end: iso(monday + 7 * DAY_MS) };
    }
    case "month":
      return {
        period: iso(Date.UTC(year, month, 1)).slice(0, 7),
        start: iso(Date.UTC(year, month, 1)),
        end: iso(Date.UTC(year, month + 1, 1)),
      };
  }
}

/**
 * A key's money budget per period, kept by the key's Durable Object beside its rate window. A request
 * is admitted only if its worst-case cost (see worstCase) fits what the period's settled spend and
 * the reservations in flight leave, and reserves that cost; settlement replaces it with the cost of
 * the tokens used. So spend passes the budget only by what a request costs beyond its worst case.
 */
export class SpendBudget {
  constructor(private readonly state: SpendState) {}

  get data(): SpendState {
    return this.state;
  }

  /** What the period leaves after settled spend and reservations in flight; Infinity without a budget. */
  left(limits: KeyLimits, now: number): number {
    this.roll(limits, now);
    if (limits.max_budget === null) return Infinity;
    const reserved = Object.values(this.state.inflight).reduce(
      (sum, lease) => sum + (lease.period === this.state.period ? lease.reserved : 0),
      0,
    );
    return limits.max_budget - this.state.spent - reserved;
  }

  /** Milliseconds until the budget may take a request costing `cost`, or null when it takes it now. */
  refusal(limits: KeyLimits, cost: number, now: number): number | null {
    if (cost <= this.left(limits, now) + MONEY_TOLERANCE) return null;
    // Requests in flight hold the rest: their settlement (to what they used) may free enough soon.
    if (cost <= (limits.max_budget ?? Infinity) - this.state.spent + MONEY_TOLERANCE) return IN_FLIGHT_RETRY_MS;
    const { end } = budgetPeriodOf(limits.budget_period, now);
    // A lifetime budget never rolls over: only an admin raising it helps, so ask again in an hour.
    return end === null ? 3_600_000 : Date.parse(end) - now;
  }

  reserve(reservation: string, estimate: number, limits: KeyLimits, now: number): void {
    this.roll(limits, now);
    this.state.inflight[reservation] = { at: now, period: this.state.period, reserved: estimate };
  }

  /** Replaces a reservation's estimate with the request's cost; a request of an earlier period charges nothing now. */
  settle(reservation: string, cost: number, limits: KeyLimits, now: number): void {
    const lease = this.state.inflight[reservation];
    if (!lease) return;
    delete this.state.inflight[reservation];
    this.roll(limits, now);
    if (lease.period === this.state.period) this.state.spent += cost;
  }

  /** The budget headers' view, with `cost` the request's worst-case cost. */
  snapshot(limits: KeyLimits, now: number, cost: number): BudgetSnapshot | null {
    const left = this.left(limits, now);
    return limits.max_budget === null
      ? null
      : { limit: limits.max_budget, remaining: Math.max(0, left), period: limits.budget_period, cost };
  }

  /** Starts a new period at zero when the clock has crossed into one, and drops leases nobody will settle. */
  private roll(limits: KeyLimits, now: number): void {
    const { period } = budgetPeriodOf(limits.budget_period, now);
    if (period !== this.state.period) {
      this.state.period = period;
      this.state.spent = 0;
    }
    for (const [id, lease] of Object.entries(this.state.inflight))
      if (lease.at < now - LEASE_MS) delete this.state.inflight[id];
  }
}
