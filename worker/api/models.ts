import type { Context } from "hono";
import { modelCard, type ModelList } from "../../protocol/index.ts";
import type { GatewayEnv } from "../gateway-env.ts";
import { loadCatalog } from "../models/model-catalog.ts";
import type { ModelDefinition } from "../models/model-definition.ts";
import { asServed, servedContexts } from "../models/served-context.ts";
import { backendPool } from "../routing/backend-pool.ts";

/** GET /v1/models: the public models whose deployment at least one healthy backend serves, with the context it is served with. */
export async function listModels(c: Context<GatewayEnv>): Promise<Response> {
  const [catalog, backends] = await Promise.all([loadCatalog(c.env), backendPool(c.env).list()]);
  const served = servedContexts(backends);
  // A deployment takes tools when every healthy backend serving it says its model does.
  const callsTools = (deployment: string) => {
    const serving = backends.filter((backend) => backend.ready && !backend.draining && backend.models.includes(deployment));
    return serving.length > 0 && serving.every((backend) => backend.function_calling);
  };
  const list: ModelList = {
    object: "list",
    data: catalog.filter((model) => served.has(model.deployment)).map((model) => publicCard(asServed(model, served), callsTools(model.deployment))),
  };
  return c.json(list);
}

function publicCard(model: ModelDefinition, functionCalling: boolean) {
  return modelCard({
    id: model.id,
    aliases: model.aliases,
    maxContextLength: model.max_context_length,
    chat: model.type === "chat",
    functionCalling: functionCalling && model.type === "chat",
    created: 0,
    description: `served by deployment ${model.deployment}`,
  });
}
