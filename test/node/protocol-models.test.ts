// Model list and card against the Mistral SDK's models.
import { ModelList$inboundSchema } from "@mistralai/mistralai/models/components";
import { expect, it } from "vitest";
import { ModelCard, ModelList } from "../../protocol/index.ts";
import { modelList } from "./support/protocol-fixtures.ts";

const card = modelList.data[0];

it("our model list parses with the SDK, every card field kept", () => {
  const sdk = ModelList$inboundSchema.parse(JSON.parse(JSON.stringify(modelList)));
  expect(sdk.object).toBe("list");
  expect(sdk.data?.[0]).toMatchObject({
    id: card.id,
    object: "model",
    created: card.created,
    ownedBy: card.owned_by,
    maxContextLength: card.max_context_length,
    name: card.name,
    description: card.description,
    aliases: card.aliases,
    type: "base",
    capabilities: {
      completionChat: true,
      functionCalling: true,
      completionFim: false,
      fineTuning: false,
      vision: false,
    },
  });
});

it("a card with null name and description and no aliases still parses with the SDK", () => {
  const bare = ModelCard.parse({ ...card, name: null, description: null, aliases: [] });
  const sdk = ModelList$inboundSchema.parse(
    JSON.parse(JSON.stringify(ModelList.parse({ object: "list", data: [bare] }))),
  );
  expect(sdk.data?.[0]).toMatchObject({ id: card.id, type: "base", name: null, description: null, aliases: [] });
});

it("a card missing its capabilities is not ours to send", () => {
  const { capabilities: _, ...withoutCapabilities } = card;
  expect(ModelCard.safeParse(withoutCapabilities).success).toBe(false);
  // The SDK does not throw on a card it cannot read: it degrades it to an unknown entry.
  expect(ModelList$inboundSchema.parse({ object: "list", data: [withoutCapabilities] }).data?.[0]).toMatchObject({
    type: "UNKNOWN",
    isUnknown: true,
  });
});
