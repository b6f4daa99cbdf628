import type { Context } from "hono";
import type { ModelCard, ModelList } from "../../protocol/index.ts";
import type { GatewayEnv } from "../gateway-env.ts";
import { loadCatalog } from "../models/model-catalog.ts";
import type { ModelDefinition } from "../models/model-definition.ts";
import { asServed, servedContexts } from "../models/served-context.ts";
import { backendPool } from "../routing/backend-pool.ts";

/** GET /v1/models: the public models whose deployment at least one healthy backend serves, with the context it is served with. */
export async function listModels(c: Context<GatewayEnv>): Promise<Response> {
  const [catalog, backends] = await Promise.all([loadCatalog(c.env), backendPool(c.env).list()]);
  const served = servedContexts(backends);
  const list: ModelList = { object: "list", data: catalog.filter((model) => served.has(model.deployment)).map((model) => modelCard(asServed(model, served))) };
  return c.json(list);
}

function modelCard(model: ModelDefinition): ModelCard {
  const chat = model.type === "chat";
  return {
    id: model.id,
    object: "model",
    created: 0,
    owned_by: "moxie",
    capabilities: { completion_chat: chat, function_calling: false, completion_fim: false, fine_tuning: false, vision: false },
    max_context_length: model.max_context_length,
    name: model.id,
    description: `served by deployment ${model.deployment}`,
    aliases: model.aliases,
    type: "base",
  };
}
