import { admin, errorMessage, keySecrets } from "../api.js";
import { field, h, notice } from "../dom.js";
import { readEvents } from "../sse.js";
/** @import { List, ListedKey, Model } from "../types.js" */

/**
 * @typedef {{ id: string, type: "function", function: { name: string, arguments: string } }} ToolCall
 * @typedef {{ role: "system" | "user", content: string }
 *   | { role: "assistant", content: string, tool_calls?: ToolCall[] }} Turn
 */

/**
 * Chat with a model through the public API, as a client would: an API key is needed (the admin
 * token does not open /v1). Every usable key is offered; one created in this tab is used at once,
 * any other asks for its secret (kept in this tab's memory only). The curl and SDK snippets show
 * the same request, options included, with the key left as $MOXIE_API_KEY.
 */
export async function playgroundPage() {
  /** @type {[List<Model>, List<ListedKey>]} */
  const [{ data: models }, { data: keys }] = await Promise.all([admin("GET", "/models"), admin("GET", "/keys")]);
  const model = h(
    "select",
    {},
    models.filter((one) => one.type === "chat").map((one) => h("option", { value: one.id }, one.id)),
  );
  // Newest first, and a key whose secret this tab knows before the others: it works without typing.
  const usable = keys
    .filter((key) => !key.revoked_at && !(key.expires_at && Date.parse(key.expires_at) <= Date.now()))
    .reverse()
    .sort((a, b) => Number(keySecrets.has(b.id)) - Number(keySecrets.has(a.id)));
  const keyChoice = h(
    "select",
    {},
    usable.map((key) => h("option", { value: key.id }, `${key.name} (${key.key_prefix}…)`)),
  );
  const secret = h("input", { type: "password", autocomplete: "off", placeholder: "sk-moxie-…" });
  const secretField = field("Key secret", secret, "shown when the key was created; kept in this tab's memory only");
  const chosenKey = () => usable.find((key) => key.id === keyChoice.value);
  const showSecretField = () => (secretField.hidden = !chosenKey() || keySecrets.has(keyChoice.value));
  keyChoice.addEventListener("change", showSecretField);
  showSecretField();

  const system = h("textarea", { rows: 2, placeholder: "You are a helpful assistant." });
  const temperature = h("input", { type: "number", min: "0", max: "2", step: "0.1", value: "0.7" });
  const maxTokens = h("input", { type: "number", min: "1", step: "1", value: "256" });
  const jsonMode = h("input", { type: "checkbox" });
  const tools = h("textarea", {
    rows: 3,
    spellcheck: false,
    placeholder: '[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]',
  });
  const toolsProblem = h("small", { class: "error-text", "aria-live": "polite" });
  const toolsField = field("Tools", tools, "optional; a JSON array of tool definitions, sent as tools");
  toolsField.append(toolsProblem);
  const message = h("textarea", { rows: 3, required: true, placeholder: "Ask something…" });
  const transcript = h("div", { class: "transcript", "aria-live": "polite" });
  const meta = h("div", { "aria-live": "polite" });
  const curl = h("pre", { class: "snippet" });
  const sdk = h("pre", { class: "snippet" });
  const send = h("button", { type: "submit" }, "Send");
  const stop = h("button", { type: "button", class: "danger", disabled: true }, "Stop");
  /** Aborts the answer being streamed, if any. */
  let streaming = new AbortController();
  /** @type {Turn[]} */
  const history = [];

  /** The tools textarea's definitions; an error when it is not a JSON array. */
  const toolList = () => {
    if (!tools.value.trim()) return { tools: undefined };
    try {
      const parsed = JSON.parse(tools.value);
      return Array.isArray(parsed) ? { tools: parsed } : { error: "Tools must be a JSON array of tool definitions." };
    } catch (error) {
      return { error: `Tools are not valid JSON: ${errorMessage(error)}` };
    }
  };
  const request = (/** @type {Turn[]} */ messages) => ({
    model: model.value,
    messages: [
      .../** @type {Turn[]} */ (system.value.trim() ? [{ role: "system", content: system.value }] : []),
      ...messages,
    ],
    temperature: Number(temperature.value),
    max_tokens: Number(maxTokens.value),
    stream: true,
    ...(jsonMode.checked ? { response_format: { type: "json_object" } } : {}),
    ...(toolList().tools ? { tools: toolList().tools } : {}),
  });
  const showSnippets = () => {
    toolsProblem.textContent = toolList().error ?? "";
    const body = request([...history, { role: "user", content: message.value || "Hello" }]);
    curl.textContent = `curl -N ${location.origin}/v1/chat/completions \\\n  -H "Authorization: Bearer $MOXIE_API_KEY" \\\n  -H 'content-type: application/json' \\\n  -d '${JSON.stringify(body).replace(/'/g, "'\\''")}'`;
    sdk.textContent = `import { Mistral } from "@mistralai/mistralai";

const client = new Mistral({ apiKey: process.env.MOXIE_API_KEY, serverURL: "${location.origin}" });
const stream = await client.chat.stream(${JSON.stringify(sdkRequest(body), null, 2)});
for await (const event of stream) {
  const delta = event.data.choices[0]?.delta;
  if (delta?.content) process.stdout.write(String(delta.content));
  if (delta?.toolCalls) console.log(delta.toolCalls);
}`;
  };
  for (const input of [model, system, temperature, maxTokens, jsonMode, tools, message])
    input.addEventListener("input", showSnippets);
  // Ctrl+Enter (⌘+Enter) sends, as in most chat tools; Enter alone is a new line.
  message.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });
  stop.addEventListener("click", () => streaming.abort());

  /** The secret to send, or why there is none. */
  const apiKey = () => {
    const key = chosenKey();
    if (!key) return { error: "No usable API key: create one on the Keys page." };
    const known = keySecrets.get(key.id);
    if (known) return { secret: known };
    const typed = secret.value.trim();
    if (!typed) return { error: `Enter the secret of key ${key.name} (${key.key_prefix}…).` };
    if (!typed.startsWith(key.key_prefix))
      return { error: `That secret is not key ${key.name}'s: its secret starts with ${key.key_prefix}.` };
    return { secret: typed, remember: key.id };
  };

  const form = h(
    "form",
    {
      class: "card",
      async onsubmit(event) {
        event.preventDefault();
        const key = apiKey();
        const problem = key.error ?? toolList().error;
        if (problem || !key.secret) return meta.replaceChildren(notice(problem ?? "", "error"));
        /** @type {Turn} */
        const userTurn = { role: "user", content: message.value };
        const answer = h("p", { class: "turn assistant", "data-role": "assistant" });
        transcript.append(h("p", { class: "turn user", "data-role": "user" }, userTurn.content), answer);
        streaming = new AbortController();
        send.disabled = true;
        stop.disabled = false;
        meta.replaceChildren();
        let text = "";
        let finished = false;
        /** @type {ToolCall[]} */
        const toolCalls = [];
        try {
          const response = await fetch("/v1/chat/completions", {
            method: "POST",
            headers: { authorization: `Bearer ${key.secret}`, "content-type": "application/json" },
            body: JSON.stringify(request([...history, userTurn])),
            signal: streaming.signal,
          });
          if (!response.ok) {
            const error = await response.json().catch(() => ({}));
            answer.remove();
            meta.replaceChildren(notice(`${response.status}: ${error.message ?? "request refused"}`, "error"));
            return;
          }
          // The secret works: this tab remembers it for the next request.
          if (key.remember) keySecrets.set(key.remember, key.secret);
          showSecretField();
          await readEvents(response, ({ event: name, data }) => {
            if (name === "error")
              return meta.replaceChildren(notice(JSON.parse(data).message ?? "the stream failed", "error"));
            if (data === "[DONE]") return;
            const chunk = JSON.parse(data);
            const delta = chunk.choices?.[0]?.delta;
            text += delta?.content ?? "";
            mergeToolCalls(toolCalls, delta?.tool_calls ?? []);
            answer.replaceChildren(text, ...(toolCalls.length ? [toolCallList(toolCalls)] : []));
            if (chunk.usage)
              meta.replaceChildren(
                notice(
                  `${chunk.usage.prompt_tokens} prompt + ${chunk.usage.completion_tokens} completion tokens · answered by ${response.headers.get("x-moxie-model") ?? model.value}`,
                ),
              );
          });
          finished = true;
        } catch (error) {
          if (!streaming.signal.aborted) meta.replaceChildren(notice(errorMessage(error), "error"));
        } finally {
          send.disabled = false;
          stop.disabled = true;
          message.focus();
        }
        // Stopped or not, what was shown is the answer the conversation goes on from.
        if (finished || streaming.signal.aborted) {
          history.push(userTurn, {
            role: "assistant",
            content: text,
            ...(toolCalls.length ? { tool_calls: toolCalls } : {}),
          });
          if (streaming.signal.aborted) meta.replaceChildren(notice(`Stopped after ${text.length} characters.`));
          message.value = "";
          showSnippets();
        }
      },
    },
    h(
      "div",
      { class: "grid" },
      field("Model", model),
      field("API key", keyChoice),
      secretField,
      field("Temperature", temperature),
      field("Max tokens", maxTokens),
      field("JSON mode", jsonMode, "response_format json_object: the answer is a JSON object"),
    ),
    usable.length ? null : notice("No usable API key: create one on the Keys page.", "error"),
    field("System prompt", system, "optional; sent as the first message"),
    toolsField,
    field("Message", message, "Ctrl+Enter sends"),
    h(
      "div",
      { class: "actions" },
      send,
      stop,
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

/**
 * Adds a stream's tool-call deltas to the calls so far: Mistral sends each call whole in the last
 * chunk, OpenAI-style servers send its arguments in pieces under the same index.
 * @param {ToolCall[]} calls
 * @param {{ index?: number, id?: string, function?: { name?: string, arguments?: string } }[]} deltas
 */
function mergeToolCalls(calls, deltas) {
  for (const [position, delta] of deltas.entries()) {
    const index = delta.index ?? calls.length + position;
    const call = (calls[index] ??= { id: "", type: "function", function: { name: "", arguments: "" } });
    call.id ||= delta.id ?? "";
    call.function.name ||= delta.function?.name ?? "";
    call.function.arguments += delta.function?.arguments ?? "";
  }
}

/**
 * The calls an answer asks for, each with its arguments as indented JSON.
 * @param {ToolCall[]} calls
 */
function toolCallList(calls) {
  return h(
    "div",
    { class: "tool-calls" },
    calls.map((call) =>
      h(
        "div",
        { class: "tool-call", "data-tool-call": call.function.name },
        h("span", {}, "Calls ", h("code", {}, call.function.name), call.id ? ` (id ${call.id})` : ""),
        h("pre", {}, indented(call.function.arguments)),
      ),
    ),
  );
}

/** @param {string} json */
function indented(json) {
  try {
    return JSON.stringify(JSON.parse(json), null, 2);
  } catch {
    return json;
  }
}

/**
 * The request as the Mistral TypeScript SDK's chat.stream takes it: the same fields, in its camelCase names.
 * @param {{ model: string, messages: Turn[], temperature: number, max_tokens: number, response_format?: unknown, tools?: unknown[] }} body
 */
function sdkRequest(body) {
  return {
    model: body.model,
    messages: body.messages.map((turn) => {
      if (!("tool_calls" in turn)) return turn;
      const { tool_calls, ...other } = turn;
      return { ...other, toolCalls: tool_calls };
    }),
    temperature: body.temperature,
    maxTokens: body.max_tokens,
    ...(body.response_format ? { responseFormat: body.response_format } : {}),
    ...(body.tools ? { tools: body.tools } : {}),
  };
}
