import { Hono } from "hono";
import * as z from "zod";
import { validate } from "../../protocol/index.ts";
import { answerError, apiErrors } from "../api-errors.ts";
import type { GatewayEnv } from "../gateway-env.ts";
import { LoggedRequest, type LogDetail, type LogPage } from "../logs/logged-request.ts";
import { loggedBodies } from "../logs/request-log.ts";

const MAX_PAGE = 200;

const DAY_MS = 24 * 60 * 60 * 1000;

/** A time in a query: an ISO 8601 instant, or a UTC day (for `until`, up to its end). */
const instant = (dayEnds: boolean) =>
  z
    .union([z.iso.datetime({ offset: true }), z.iso.date()])
    .transform((time) => new Date(Date.parse(time) + (dayEnds && time.length === 10 ? DAY_MS : 0)).toISOString());

const LogQuery = z.strictObject({
  key_id: z.string().optional(),
  /** The name asked for or the model that answered. */
  model: z.string().optional(),
  /** A status class ("4xx") or one status ("429"). */
  status: z
    .string()
    .regex(/^[1-5](xx|\d\d)$/, "a status (429) or a class (4xx)")
    .optional(),
  backend: z.string().optional(),
  since: instant(false).optional(),
  /** Exclusive. */
  until: instant(true).optional(),
  /** The gateway's x-request-id, or the client's own. */
  request_id: z.string().optional(),
  /** next_cursor of the previous page. */
  cursor: z.coerce.number().int().positive().optional(),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(50),
});
type LogQuery = z.output<typeof LogQuery>;

const LoggedRow = LoggedRequest.extend({ seq: z.int() });

/** /admin/logs: the request log, newest first, filtered and paged by cursor; /admin/logs/:id one request with its bodies. */
export const adminLogs = new Hono<GatewayEnv>()
  .get("/", async (c) => {
    const query = validate(LogQuery, c.req.query());
    if (!query.success) return c.json(query.error, 422);
    const { where, values } = conditions(query.data);
    const { results } = await c.env.DB.prepare(
      `SELECT * FROM request_log ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq DESC LIMIT ?`,
    )
      .bind(...values, query.data.limit + 1)
      .all();
    const rows = results.map((row) => LoggedRow.parse(row));
    const page = rows.slice(0, query.data.limit);
    const next = rows.length > page.length ? String(page[page.length - 1].seq) : null;
    return c.json<LogPage>({ data: page.map(({ seq: _seq, ...row }) => row), next_cursor: next });
  })
  .get("/:id", async (c) => {
    const id = c.req.param("id");
    const row = await c.env.DB.prepare(
      "SELECT * FROM request_log WHERE request_id = ?1 OR client_request_id = ?1 ORDER BY seq DESC LIMIT 1",
    )
      .bind(id)
      .first();
    if (!row) return answerError(c, apiErrors.loggedRequestNotFound(id));
    const logged = LoggedRequest.parse(row);
    return c.json<LogDetail>({ ...logged, bodies: await loggedBodies(c.env.DB, logged.request_id) });
  });

function conditions(query: LogQuery): { where: string[]; values: unknown[] } {
  const where: string[] = [];
  const values: unknown[] = [];
  const add = (condition: string, ...bound: unknown[]) => {
    where.push(condition);
    values.push(...bound);
  };
  if (query.key_id) add("key_id = ?", query.key_id);
  if (query.model) add("(model_asked = ? OR model_answered = ?)", query.model, query.model);
  if (query.status?.endsWith("xx"))
    add("status BETWEEN ? AND ?", Number(query.status[0]) * 100, Number(query.status[0]) * 100 + 99);
  else if (query.status) add("status = ?", Number(query.status));
  if (query.backend) add("backend_id = ?", query.backend);
  if (query.since) add("created_at >= ?", query.since);
  if (query.until) add("created_at < ?", query.until);
  if (query.request_id) add("(request_id = ? OR client_request_id = ?)", query.request_id, query.request_id);
  if (query.cursor) add("seq < ?", query.cursor);
  return { where, values };
}
