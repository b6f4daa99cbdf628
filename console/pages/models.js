import { admin, errorMessage } from "../api.js";
import { confirmingButton, field, h, listOrNull, notice, numberOrNull, select, table } from "../dom.js";
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
  const inputs = modelInputs();
  const status = h("div", { "aria-live": "polite" });
  /** @param {CatalogModel} model */
  const fill = (model) => {
    fillInputs(inputs, model);
    status.replaceChildren(notice(`Editing ${model.id}: its stored values are filled in.`));
  };
  inputs.id.addEventListener("change", () => {
    const known = models.find((model) => model.id === inputs.id.value.trim());
    if (known) fill(known);
  });
  const element = h(
    "form",
    {
      class: "card",
      async onsubmit(event) {
        event.preventDefault();
        try {
          await admin("PUT", `/models/${encodeURIComponent(inputs.id.value.trim())}`, modelDefinition(inputs));
          page.replaceWith(await modelsPage());
        } catch (error) {
          status.replaceChildren(notice(errorMessage(error), "error"));
        }
      },
    },
    h("h2", {}, "Add or edit a model"),
    modelFields(inputs),
    h("button", { type: "submit" }, "Save model"),
    status,
  );
  return {
    element,
    /** @param {CatalogModel} model */
    edit(model) {
      fill(model);
      inputs.id.focus();
    },
  };
}

/** The form's inputs, empty but for a new model's defaults. */
function modelInputs() {
  return {
    id: h("input", { type: "text", required: true }),
    deployment: h("input", { type: "text", required: true }),
    type: select([
      ["chat", "chat"],
      ["embedding", "embedding"],
    ]),
    context: h("input", { type: "number", min: "1", required: true, value: "32768" }),
    aliases: h("input", { type: "text" }),
    input: h("input", { type: "number", min: "0", step: "any", value: "0" }),
    output: h("input", { type: "number", min: "0", step: "any", value: "0" }),
    fallbacks: h("input", { type: "text" }),
    onOverflow: h("input", { type: "checkbox" }),
  };
}

/** @param {ReturnType<typeof modelInputs>} inputs */
function modelFields(inputs) {
  return h(
    "div",
    { class: "grid" },
    field("Id", inputs.id, "an existing id loads its values"),
    field("Deployment", inputs.deployment, "the model id backends serve"),
    field("Type", inputs.type),
    field("Context length", inputs.context),
    field("Aliases", inputs.aliases, "comma-separated"),
    field("Input price", inputs.input, "per million tokens"),
    field("Output price", inputs.output, "per million tokens"),
    field("Fallbacks", inputs.fallbacks, "comma-separated, tried in order"),
    field("Fall back on context overflow", inputs.onOverflow, "also when the backend refuses a prompt as too long"),
  );
}

/**
 * @param {ReturnType<typeof modelInputs>} inputs
 * @param {CatalogModel} model
 */
function fillInputs(inputs, model) {
  inputs.id.value = model.id;
  inputs.deployment.value = model.deployment;
  inputs.type.value = model.type;
  inputs.context.value = String(model.max_context_length);
  inputs.aliases.value = model.aliases.join(", ");
  inputs.input.value = String(model.price_per_million_tokens.input);
  inputs.output.value = String(model.price_per_million_tokens.output);
  inputs.fallbacks.value = model.fallbacks.join(", ");
  inputs.onOverflow.checked = model.fallback_on_context_overflow;
}

/**
 * The definition the form describes, as PUT /admin/models/:id takes it (the id is in the path).
 * @param {ReturnType<typeof modelInputs>} inputs
 */
function modelDefinition(inputs) {
  return {
    deployment: inputs.deployment.value,
    type: inputs.type.value,
    max_context_length: numberOrNull(inputs.context),
    aliases: listOrNull(inputs.aliases) ?? [],
    price_per_million_tokens: { input: numberOrNull(inputs.input) ?? 0, output: numberOrNull(inputs.output) ?? 0 },
    fallbacks: listOrNull(inputs.fallbacks) ?? [],
    fallback_on_context_overflow: inputs.onOverflow.checked,
  };
}
