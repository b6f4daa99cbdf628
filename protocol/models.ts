import * as z from "zod";

export const ModelCapabilities = z.object({
  completion_chat: z.boolean(),
  function_calling: z.boolean(),
  completion_fim: z.boolean(),
  fine_tuning: z.boolean(),
  vision: z.boolean(),
});

/** One entry of GET /v1/models, in Mistral's base-model card shape. */
export const ModelCard = z.object({
  id: z.string(),
  object: z.literal("model"),
  created: z.int(),
  owned_by: z.string(),
  capabilities: ModelCapabilities,
  max_context_length: z.int().min(1),
  name: z.string().nullable(),
  description: z.string().nullable(),
  aliases: z.array(z.string()),
  type: z.literal("base"),
});
export type ModelCard = z.infer<typeof ModelCard>;

export const ModelList = z.object({
  object: z.literal("list"),
  data: z.array(ModelCard),
});
export type ModelList = z.infer<typeof ModelList>;

/** A card for a model moxie serves: chat (with tools when its tokenizer has them) or embeddings; no FIM, fine-tuning or vision. */
export function modelCard(model: {
  id: string;
  aliases: string[];
  maxContextLength: number;
  chat: boolean;
  functionCalling: boolean;
  created: number;
  description: string | null;
}): ModelCard {
  return {
    id: model.id,
    object: "model",
    created: model.created,
    owned_by: "moxie",
    capabilities: {
      completion_chat: model.chat,
      function_calling: model.functionCalling,
      completion_fim: false,
      fine_tuning: false,
      vision: false,
    },
    max_context_length: model.maxContextLength,
    name: model.id,
    description: model.description,
    aliases: model.aliases,
    type: "base",
  };
}
