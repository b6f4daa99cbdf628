import { admin, errorMessage } from "../api.js";
import { field, h, listOrNull, notice, numberOrNull, table } from "../dom.js";
/** @import { List, Model } from "../types.js" */

/** The catalog: public ids, aliases, deployments, prices and fallbacks; add a model or override one. */
export async function modelsPage() {
  const page = h("div");
  /** @type {List<Model>} */
  const { data: models } = await admin("GET", "/models");
  const status = h("div", { "aria-live": "polite" });
  const rows = models.map((model) => [
    h("code", {}, model.id),
    model.aliases.join(", "),
    model.deployment,
    model.type,
    String(model.max_context_length),
    `${model.price_per_million_tokens.input} / ${model.price_per_million_tokens.output}`,
    model.fallbacks.join(" → ") + (model.fallback_on_context_overflow ? " (also on context overflow)" : ""),
  ]);

  const id = h("input", { type: "text", required: true });
  const deployment = h("input", { type: "text", required: true });
  const type = h(
    "select",
    {},
    h("option", { value: "chat" }, "chat"),
    h("option", { value: "embedding" }, "embedding"),
  );
  const context = h("input", { type: "number", min: "1", required: true, value: "32768" });
  const aliases = h("input", { type: "text" });
  const input = h("input", { type: "number", min: "0", step: "any", value: "0" });
  const output = h("input", { type: "number", min: "0", step: "any", value: "0" });
  const fallbacks = h("input", { type: "text" });
  const save = h(
    "form",
    {
      class: "card",
      async onsubmit(event) {
        event.preventDefault();
        try {
          await admin("PUT", `/models/${encodeURIComponent(id.value)}`, {
            deployment: deployment.value,
            type: type.value,
            max_context_length: numberOrNull(context),
            aliases: listOrNull(aliases) ?? [],
            price_per_million_tokens: { input: numberOrNull(input) ?? 0, output: numberOrNull(output) ?? 0 },
            fallbacks: listOrNull(fallbacks) ?? [],
          });
          page.replaceWith(await modelsPage());
        } catch (error) {
          status.replaceChildren(notice(errorMessage(error), "error"));
        }
      },
    },
    h("h2", {}, "Add or override a model"),
    h(
      "div",
      { class: "grid" },
      field("Id", id),
      field("Deployment", deployment, "the model id backends serve"),
      field("Type", type),
      field("Context length", context),
      field("Aliases", aliases, "comma-separated"),
      field("Input price", input, "per million tokens"),
      field("Output price", output, "per million tokens"),
      field("Fallbacks", fallbacks, "comma-separated, tried in order"),
    ),
    h("button", { type: "submit" }, "Save model"),
    status,
  );

  page.replaceChildren(
    table(
      "Model catalog",
      ["Id", "Aliases", "Deployment", "Type", "Context", "Price in / out (per M tokens)", "Fallbacks"],
      rows,
    ),
    save,
  );
  return page;
}
