/**
 * A stand-in for the parts of the Cloudflare API that `wrangler` calls while infra/deploy-worker.sh
 * runs (wrangler reaches it through CLOUDFLARE_API_BASE_URL): D1 databases and their queries, KV
 * namespaces, and the worker upload. It keeps state like the real account does, so that a second
 * deploy finds what the first created, and records what was uploaded for the test to inspect.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeAccount {
  databases: { uuid: string; name: string }[];
  namespaces: { id: string; title: string }[];
  /** SQL run on each database, by uuid, in order. */
  queries: Map<string, string[]>;
  /** Each worker upload: the script name and the multipart metadata wrangler sent. */
  uploads: { script: string; metadata: UploadMetadata }[];
  /** Static assets wrangler announced for a script (path → hash); this fake reports them all as already stored. */
  assets: Map<string, Record<string, { hash: string; size: number }>>;
  /** Requests this fake does not know, so a test can show what is missing. */
  unknown: string[];
}

/** The parts of a worker upload's metadata that tests read. */
export interface UploadMetadata {
  bindings: { name: string; type: string; text?: string; id?: string; class_name?: string }[];
  migrations?: { new_tag?: string; old_tag?: string; steps?: unknown[] };
  keep_bindings?: string[];
}

export interface FakeCloudflareApi {
  baseUrl: string;
  account: FakeAccount;
  close(): Promise<void>;
}

/** Cloudflare's error code for a worker that does not exist (yet). */
const WORKER_NOT_FOUND = 10007;

function send(response: ServerResponse, status: number, result: unknown, extra: object = {}, code = 10000): void {
  response.writeHead(status, { "content-type": "application/json" });
  const errors = status < 400 ? [] : [{ code, message: String(result) }];
  response.end(
    JSON.stringify({ success: status < 400, errors, messages: [], result: status < 400 ? result : null, ...extra }),
  );
}

async function body(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The JSON `metadata` part of a multipart worker upload. */
function uploadMetadata(raw: Buffer, contentType: string): UploadMetadata {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(contentType);
  const marker = `--${boundary?.[1] ?? boundary?.[2]}`;
  for (const part of raw.toString("utf8").split(marker)) {
    if (/name="metadata"/.test(part)) return JSON.parse(part.slice(part.indexOf("\r\n\r\n") + 4).trim());
  }
  throw new Error("upload without metadata");
}

export async function startFakeCloudflareApi(accountId: string): Promise<FakeCloudflareApi> {
  const account: FakeAccount = {
    databases: [],
    namespaces: [],
    queries: new Map(),
    uploads: [],
    assets: new Map(),
    unknown: [],
  };
  let counter = 0;
  const newId = () => `${(++counter).toString(16).padStart(8, "0")}-0000-4000-8000-000000000000`;
  const prefix = `/client/v4/accounts/${accountId}`;

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? "/", "http://fake");
    const path = url.pathname;
    const raw = await body(request);
    const json = () => JSON.parse(raw.toString("utf8") || "{}");
    const page = Number(url.searchParams.get("page") ?? "1");
    const paged = (items: unknown[]) =>
      send(response, 200, page === 1 ? items : [], {
        result_info: { page, per_page: 1000, count: items.length, total_count: items.length },
      });

    if (path === "/client/v4/user/tokens/verify") return send(response, 200, { id: "token", status: "active" });
    if (path === "/client/v4/user") return send(response, 200, { id: "user", email: "operator@example.com" });
    if (path === "/client/v4/accounts") return send(response, 200, [{ id: accountId, name: "fake" }]);
    if (path === "/client/v4/memberships") return send(response, 200, [{ account: { id: accountId, name: "fake" } }]);

    if (path === `${prefix}/d1/database` && request.method === "GET") return paged(account.databases);
    if (path === `${prefix}/d1/database` && request.method === "POST") {
      const database = { uuid: newId(), name: json().name as string };
      account.databases.push(database);
      return send(response, 200, { ...database, created_at: new Date().toISOString() });
    }
    const d1 = new RegExp(`^${prefix}/d1/database/([^/]+)(/query)?$`).exec(path);
    if (d1) {
      const database = account.databases.find((candidate) => candidate.uuid === d1[1] || candidate.name === d1[1]);
      if (!database) return send(response, 404, `no database ${d1[1]}`);
      if (!d1[2]) return send(response, 200, { ...database, version: "production", num_tables: 0, file_size: 0 });
      const sql = String(json().sql);
      account.queries.set(database.uuid, [...(account.queries.get(database.uuid) ?? []), sql]);
      const applied = (account.queries.get(database.uuid) ?? []).flatMap((query) =>
        [...query.matchAll(/INSERT INTO d1_migrations \(name\)\s*values\s*\('([^']+)'\)/gi)].map((match) => match[1]),
      );
      const results = /SELECT .*FROM d1_migrations/i.test(sql)
        ? applied.map((name, index) => ({ id: index + 1, name }))
        : [];
      return send(response, 200, [
        { results, success: true, meta: { duration: 1, changes: 0, rows_read: 0, rows_written: 0 } },
      ]);
    }

    if (path === `${prefix}/storage/kv/namespaces` && request.method === "GET") return paged(account.namespaces);
    if (path === `${prefix}/storage/kv/namespaces` && request.method === "POST") {
      const namespace = { id: newId().replaceAll("-", ""), title: json().title as string };
      account.namespaces.push(namespace);
      return send(response, 200, namespace);
    }

    if (path === `${prefix}/workers/subdomain`) return send(response, 200, { subdomain: "fake" });
    if (path === `${prefix}/workers/scripts` && request.method === "GET") {
      return send(
        response,
        200,
        [...new Set(account.uploads.map((upload) => upload.script))].map((id) => ({ id })),
      );
    }
    const worker = new RegExp(`^${prefix}/workers/(services|scripts)/([^/]+)(/.*)?$`).exec(path);
    if (worker && worker[1] === "scripts" && !worker[3] && request.method === "PUT") {
      account.uploads.push({ script: worker[2], metadata: uploadMetadata(raw, request.headers["content-type"] ?? "") });
      return send(response, 200, {
        id: worker[2],
        etag: "etag",
        deployment_id: newId(),
        available_on_subdomain: true,
        startup_time_ms: 1,
      });
    }
    const deployed = worker && account.uploads.some((upload) => upload.script === worker[2]);
    if (worker && request.method === "GET" && !deployed)
      return send(response, 404, `no worker ${worker[2]}`, {}, WORKER_NOT_FOUND);
    if (worker && worker[1] === "services" && !worker[3]) {
      return send(response, 200, {
        id: worker[2],
        default_environment: { environment: "production", script: { id: worker[2] } },
      });
    }

    if (worker && worker[3] === "/assets-upload-session" && request.method === "POST") {
      account.assets.set(worker[2], json().manifest);
      // No buckets to upload: the session's token is the completion token the script upload carries.
      return send(response, 200, { jwt: "assets-completion-token", buckets: [] });
    }
    if (worker?.[3] === "/subdomain") return send(response, 200, { enabled: true, previews_enabled: true });
    if (worker?.[3] === "/schedules") return send(response, 200, { schedules: [] });

    account.unknown.push(`${request.method} ${path}`);
    return send(response, 404, `fake Cloudflare API: no ${request.method} ${path}`);
  };
  const server: Server = createServer((request, response) => void handle(request, response));
  await new Promise<void>((listening) => server.listen(0, "127.0.0.1", listening));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/client/v4`,
    account,
    close: () => new Promise((closed) => server.close(() => closed())),
  };
}
