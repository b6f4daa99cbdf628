/**
 * Where an admin-managed entry (a model, a backend) comes from: only the var (`configured`), saved
 * through the admin API over a configured one (`override`), or saved only (`added`). Only saved
 * entries can be deleted through the API; deleting an override brings back the configured entry.
 */
export type Source = "configured" | "override" | "added";

export function sourceOf(id: string, configured: Set<string>, saved: Set<string>): Source {
  if (!saved.has(id)) return "configured";
  return configured.has(id) ? "override" : "added";
}
