// The shapes GET /admin/keys adds to each key record (computed in spend.ts). No imports, so the
// console's type-check (console/types.js) can read them as they are.

/** A key's recorded spend in its current budget period (its whole life without one), and what max_budget leaves of it. */
export interface CurrentSpend {
  period: string;
  start: string | null;
  end: string | null;
  spend: number;
  /** max_budget − spend; null without a budget. */
  remaining: number | null;
}

/** What the key list shows beside each record, read from the usage table. */
export interface KeyActivity {
  /** When its latest recorded request was made; null if it has none. */
  last_used_at: string | null;
  current_spend: CurrentSpend;
}
