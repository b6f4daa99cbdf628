import { admin, errorMessage } from "../api.js";
import { confirmingButton, field, h, listOrNull, notice, numberOrNull, table } from "../dom.js";
/** @import { CatalogModel, List } from "../types.js" */

/**
 * The catalog: public ids, aliases, deployments, prices and fallbacks; add a model, or edit one
 * from its stored values (a save replaces the whole definition, so the form always starts from them).
 */
export async function modelsPage() {
  const page = h("div");
  /** @type {List<CatalogModel>} */
  const { data: models } = await admin("GET", "/models");
  const form = modelForm(models, page);
  const rows = models.map((model) => [
    h("code", {}, model.id),
    model.aliases.join(", "),
    model.deployment,
    `${model.type}, ${model.max_context_length}`,
    `${model.price_per_million_tokens.input} / ${model.price_per_million_tokens.output}`,
    model.fallbacks.join(" → ") + (model.fallback_on_context_overflow ? " (also on context overflow)" : ""),
    h(
      "div",
      { class: "badges" },
      h("span", { class: "badge" }, model.source),
      h("span", { class: `badge ${model.served ? "active" : "revoked"}` }, model.served ? "served" : "unserved"),
    ),
    rowActions(model, form, page),
  ]);
  page.replaceChildren(
    table(
      "Model catalog",
      ["Id", "Aliases", "Deployment", "Type, context", "Price in / out (per M tokens)", "Fallbacks", "Status", ""],
      rows,
    ),
    form.element,
  );
  return page;
}

/**
 * Edit fills the form with the model's stored values; Delete removes a saved model (an override's
 * delete brings back the configured one). Configured models cannot be deleted, only overridden.
 * @param {CatalogModel} model
 * @param {ReturnType<typeof modelForm>} form
 * @param {HTMLElement} page
 */
function rowActions(model, form, page) {
  const edit = h("button", { type: "button", onclick: () => form.edit(model) }, "Edit");
  edit.setAttribute("aria-label", `Edit model ${model.id}`);
  if (model.source === "configured") return h("div", { class: "actions" }, edit);
  const remove = confirmingButton(model.source === "override" ? "Reset" : "Delete", `model ${model.id}`, async () => {
    await admin("DELETE", `/models/${encodeURIComponent(model.id)}`);
    page.replaceWith(await modelsPage());
  });
  return h("div", { class: "actions" }, edit, remove);
}

/**
 * The add-or-edit form. Typing the id of a model in the catalog fills in its stored values, so a
 * field left as it was keeps its value instead of being saved blank.
 * @param {CatalogModel[]} models
 * @param {HTMLElement} page
 */
function modelForm(models, page) {
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
  const onOverflow = h("input", { type: "checkbox" });
  const status = h("div", { "aria-live": "polite" });

  /** @param {CatalogModel} model */
  const fill = (model) => {
    id.value = model.id;
    deployment.value = model.deployment;
    type.value = model.type;
    context.value = String(model.max_context_length);
    aliases.value = model.aliases.join(", ");
    input.value = String(model.price_per_million_tokens.input);
    output.value = String(model.price_per_million_tokens.output);
    fallbacks.value = model.fallbacks.join(", ");
    onOverflow.checked = model.fallback_on_context_overflow;
    status.replaceChildren(notice(`Editing ${model.id}: its stored values are filled in.`));
  };
  id.addEventListener("change", () => {
    const known = models.find((model) => model.id === id.value.trim());
    if (known) fill(known);
  });

  const element = h(
    "form",
    {
      class: "card",
      async onsubmit(event) {
        event.preventDefault();
        try {
          await admin("PUT", `/models/${encodeURIComponent(id.value.trim())}`, {
            deployment: deployment.value,
            type: type.value,
            max_context_length: numberOrNull(context),
            aliases: listOrNull(aliases) ?? [],
            price_per_million_tokens: { input: numberOrNull(input) ?? 0, output: numberOrNull(output) ?? 0 },
            fallbacks: listOrNull(fallbacks) ?? [],
            fallback_on_context_overflow: onOverflow.checked,
          });
          page.replaceWith(await modelsPage());
        } catch (error) {
          status.replaceChildren(notice(errorMessage(error), "error"));
        }
      },
    },
    h("h2", {}, "Add or edit a model"),
    h(
      "div",
      { class: "grid" },
      field("Id", id, "an existing id loads its values"),
      field("Deployment", deployment, "the model id backends serve"),
      field("Type", type),
      field("Context length", context),
      field("Aliases", aliases, "comma-separated"),
      field("Input price", input, "per million tokens"),
      field("Output price", output, "per million tokens"),
      field("Fallbacks", fallbacks, "comma-separated, tried in order"),
      field("Fall back on context overflow", onOverflow, "also when the backend refuses a prompt as too long"),
    ),
    h("button", { type: "submit" }, "Save model"),
    status,
  );
  return {
    element,
    /** @param {CatalogModel} model */
    edit(model) {
      fill(model);
      id.focus();
    },
  };
}
