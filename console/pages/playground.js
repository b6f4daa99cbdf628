import { admin, createdKeys, errorMessage } from "../api.js";
import { field, h, notice } from "../dom.js";
import { readEvents } from "../sse.js";
/** @import { List, Model } from "../types.js" */

/** @typedef {{ role: "user" | "assistant", content: string }} Turn */

/**
 * Chat with a model through the public API, as a client would: the API key is needed (the admin
 * token does not open /v1), so a key created in this tab is offered, or one can be pasted. The
 * curl and SDK snippets show the same request, with the key left as $MOXIE_API_KEY.
 */
export async function playgroundPage() {
  /** @type {List<Model>} */
  const { data: models } = await admin("GET", "/models");
  const model = h(
    "select",
    {},
    models.filter((one) => one.type === "chat").map((one) => h("option", { value: one.id }, one.id)),
  );
  const created = [...createdKeys.values()].reverse();
  const keyChoice = h(
    "select",
    {},
    created.map((key) => h("option", { value: key.key }, `${key.name} (${key.key_prefix}…)`)),
    h("option", { value: "" }, "Paste a key…"),
  );
  const pasted = h("input", { type: "password", autocomplete: "off", placeholder: "sk-moxie-…" });
  const pastedField = field("Pasted key", pasted);
  pastedField.hidden = created.length > 0;
  keyChoice.addEventListener("change", () => (pastedField.hidden = keyChoice.value !== ""));
  const temperature = h("input", { type: "number", min: "0", max: "2", step: "0.1", value: "0.7" });
  const maxTokens = h("input", { type: "number", min: "1", step: "1", value: "256" });
  const message = h("textarea", { rows: 3, required: true, placeholder: "Ask something…" });
  const transcript = h("div", { class: "transcript", "aria-live": "polite" });
  const meta = h("div", { "aria-live": "polite" });
  const curl = h("pre", { class: "snippet" });
  const sdk = h("pre", { class: "snippet" });
  const send = h("button", { type: "submit" }, "Send");
  /** @type {Turn[]} */
  const history = [];

  const request = (/** @type {Turn[]} */ messages) => ({
    model: model.value,
    messages,
    temperature: Number(temperature.value),
    max_tokens: Number(maxTokens.value),
    stream: true,
  });
  const showSnippets = () => {
    const body = request([...history, { role: "user", content: message.value || "Hello" }]);
    curl.textContent = `curl -N ${location.origin}/v1/chat/completions \\\n  -H "Authorization: Bearer $MOXIE_API_KEY" \\\n  -H 'content-type: application/json' \\\n  -d '${JSON.stringify(body).replace(/'/g, "'\\''")}'`;
    sdk.textContent = `import { Mistral } from "@mistralai/mistralai";

const client = new Mistral({ apiKey: process.env.MOXIE_API_KEY, serverURL: "${location.origin}" });
const stream = await client.chat.stream(${JSON.stringify({ model: body.model, messages: body.messages, temperature: body.temperature, maxTokens: body.max_tokens }, null, 2)});
for await (const event of stream) process.stdout.write(event.data.choices[0]?.delta.content ?? "");`;
  };
  for (const input of [model, temperature, maxTokens, message]) input.addEventListener("input", showSnippets);
  // Ctrl+Enter (⌘+Enter) sends, as in most chat tools; Enter alone is a new line.
  message.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });

  const form = h(
    "form",
    {
      class: "card",
      async onsubmit(event) {
        event.preventDefault();
        const key = keyChoice.value || pasted.value.trim();
        if (!key) return meta.replaceChildren(notice("Choose or paste an API key.", "error"));
        /** @type {Turn} */
        const userTurn = { role: "user", content: message.value };
        const answer = h("p", { class: "turn assistant", "data-role": "assistant" });
        transcript.append(h("p", { class: "turn user", "data-role": "user" }, userTurn.content), answer);
        send.disabled = true;
        meta.replaceChildren();
        try {
          const response = await fetch("/v1/chat/completions", {
            method: "POST",
            headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
            body: JSON.stringify(request([...history, userTurn])),
          });
          if (!response.ok) {
            const error = await response.json().catch(() => ({}));
            answer.remove();
            meta.replaceChildren(notice(`${response.status}: ${error.message ?? "request refused"}`, "error"));
            return;
          }
          let text = "";
          await readEvents(response, ({ event: name, data }) => {
            if (name === "error")
              return meta.replaceChildren(notice(JSON.parse(data).message ?? "the stream failed", "error"));
            if (data === "[DONE]") return;
            const chunk = JSON.parse(data);
            text += chunk.choices?.[0]?.delta?.content ?? "";
            answer.textContent = text;
            if (chunk.usage)
              meta.replaceChildren(
                notice(
                  `${chunk.usage.prompt_tokens} prompt + ${chunk.usage.completion_tokens} completion tokens · answered by ${response.headers.get("x-moxie-model") ?? model.value}`,
                ),
              );
          });
          history.push(userTurn, { role: "assistant", content: text });
          message.value = "";
          showSnippets();
        } catch (error) {
          meta.replaceChildren(notice(errorMessage(error), "error"));
        } finally {
          send.disabled = false;
          message.focus();
        }
      },
    },
    h(
      "div",
      { class: "grid" },
      field("Model", model),
      field("API key", keyChoice),
      pastedField,
      field("Temperature", temperature),
      field("Max tokens", maxTokens),
    ),
    field("Message", message, "Ctrl+Enter sends"),
    h(
      "div",
      { class: "actions" },
      send,
      h(
        "button",
        {
          type: "button",
          onclick() {
            history.length = 0;
            transcript.replaceChildren();
            showSnippets();
          },
        },
        "New chat",
      ),
    ),
  );

  showSnippets();
  return h(
    "div",
    { class: "playground" },
    form,
    transcript,
    meta,
    h("h2", {}, "curl"),
    curl,
    h("h2", {}, "Mistral SDK (TypeScript)"),
    sdk,
  );
}
