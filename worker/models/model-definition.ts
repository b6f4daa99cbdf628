import * as z from "zod";

/** A public model name clients ask for, and the deployment (backend-side model id) that serves it. */
export const ModelDefinition = z.object({
  id: z.string().min(1),
  aliases: z.array(z.string().min(1)).default([]),
  deployment: z.string().min(1),
  type: z.enum(["chat", "embedding"]),
  max_context_length: z.number().int().positive(),
});
export type ModelDefinition = z.infer<typeof ModelDefinition>;
