import type { Sequence } from "./sequence.ts";

/**
 * Fairness between tenants (API keys, named by the gateway): seats and prefill tokens are shared
 * between the tenants that want them, so one tenant's backlog queues behind its own requests, not
 * in front of everyone else's. Within a tenant, requests keep their arrival order.
 */

/** Running sequences per tenant. */
export function seatsByTenant(running: readonly Sequence[]): Map<string, number> {
  const seats = new Map<string, number>();
  for (const sequence of running) seats.set(sequence.tenant, (seats.get(sequence.tenant) ?? 0) + 1);
  return seats;
}

/** The waiting request to admit next: the oldest of the tenant holding the fewest seats. */
export function nextWaiting(waiting: readonly Sequence[][], seats: ReadonlyMap<string, number>): number {
  let next = -1;
  let fewest = Infinity;
  for (const [index, [first]] of waiting.entries()) {
    const held = seats.get(first.tenant) ?? 0;
    if (held < fewest) [next, fewest] = [index, held];
  }
  return next;
}

/**
 * The running sequence to preempt so that `tenant` can take a seat: the latest admitted of the
 * tenant holding the most seats, if it still holds more than `tenant` will once admitted (so
 * seats converge to equal shares and never swing back and forth).
 */
export function seatDonor(
  running: readonly Sequence[],
  seats: ReadonlyMap<string, number>,
  tenant: string,
  needed: number,
): Sequence | undefined {
  let donor: string | undefined;
  let most = 0;
  for (const [other, held] of seats) if (other !== tenant && held > most) [donor, most] = [other, held];
  if (donor === undefined || most <= (seats.get(tenant) ?? 0) + needed) return undefined;
  return running.findLast((sequence) => sequence.tenant === donor);
}

/**
 * Splits a step's prefill budget between tenants in turn, starting from the `turn`-th tenant (so
 * no tenant is always first), each tenant's share going to its prefills in admission order. A
 * share a tenant cannot use goes round again to those that can. Returns tokens per sequence.
 */
export function splitPrefillBudget(
  prefilling: readonly Sequence[],
  budget: number,
  turn: number,
): Map<Sequence, number> {
  const byTenant = new Map<string, Sequence[]>();
  for (const sequence of prefilling) {
    const queue = byTenant.get(sequence.tenant);
    if (queue) queue.push(sequence);
    else byTenant.set(sequence.tenant, [sequence]);
  }
  const queues = [...byTenant.values()];
  const start = queues.length === 0 ? 0 : turn % queues.length;
  let order = [...queues.slice(start), ...queues.slice(0, start)];
  const tokens = new Map<Sequence, number>();
  const left = (sequence: Sequence) => sequence.total - sequence.computed - (tokens.get(sequence) ?? 0);
  while (budget > 0 && order.length > 0) {
    const quantum = Math.max(1, Math.floor(budget / order.length));
    for (const queue of order) {
      let share = Math.min(quantum, budget);
      for (const sequence of queue) {
        const take = Math.min(share, left(sequence));
        if (take === 0) continue;
        tokens.set(sequence, (tokens.get(sequence) ?? 0) + take);
        share -= take;
        budget -= take;
        if (share === 0) break;
      }
      if (budget === 0) break;
    }
    order = order.filter((queue) => queue.some((sequence) => left(sequence) > 0));
  }
  return tokens;
}
