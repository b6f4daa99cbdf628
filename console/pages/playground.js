import { admin, errorMessage, keySecrets } from "../api.js";
import { field, h, notice } from "../dom.js";
import { readEvents } from "../sse.js";
/** @import { List, ListedKey, Model } from "../types.js" */

/**
 * @typedef {{ id: string, type: "function", function: { name: string, arguments: string } }} ToolCall
 * @typedef {{ role: "system" | "user", content: string }
 *   | { role: "assistant", content: string, tool_calls?: ToolCall[] }} Turn
 * @typedef {{ model: string, messages: Turn[], temperature: number, max_tokens: number,
 *   response_format?: unknown, tools?: unknown[] }} ChatRequest The fields of a chat request the playground sets (stream aside).
 */

const NO_USABLE_KEY = "No usable API key: create one on the Keys page.";

/**
 * Chat with a model through the public API, as a client would: an API key is needed (the admin
 * token does not open /v1). Every usable key is offered; one created in this tab is used at once,
 * any other asks for its secret (kept in this tab's memory only). The curl and SDK snippets show
 * the same request, options included, with the key left as $MOXIE_API_KEY.
 */
export async function playgroundPage() {
  /** @type {[List<Model>, List<ListedKey>]} */
  const [{ data: models }, { data: keys }] = await Promise.all([admin("GET", "/models"), admin("GET", "/keys")]);
  const picker = keyPicker(keys);
  const options = requestOptions(models);
  const message = h("textarea", { rows: 3, required: true, placeholder: "Ask something…" });
  const snippets = codeSnippets();
  const showSnippets = () => {
    options.tools.showProblem();
    snippets.show(options.request([...chat.history, { role: "user", content: message.value || "Hello" }]));
  };
  const chat = conversation(picker, options, message, showSnippets);
  for (const input of [...options.inputs, message]) input.addEventListener("input", showSnippets);
  const form = playgroundForm(picker, options, message, chat);
  // Ctrl+Enter (⌘+Enter) sends, as in most chat tools; Enter alone is a new line.
  message.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });
  showSnippets();
  return h("div", { class: "playground" }, form, chat.transcript, chat.meta, snippets.elements);
}

/**
 * The API key to send. Newest first, and a key whose secret this tab knows before the others: it
 * works without typing. Any other asks for its secret.
 * @param {ListedKey[]} keys
 */
function keyPicker(keys) {
  const usable = keys
    .filter((key) => !key.revoked_at && !(key.expires_at && Date.parse(key.expires_at) <= Date.now()))
    .reverse()
    .sort((a, b) => Number(keySecrets.has(b.id)) - Number(keySecrets.has(a.id)));
  const choice = h(
    "select",
    {},
    usable.map((key) => h("option", { value: key.id }, `${key.name} (${key.key_prefix}…)`)),
  );
  const secret = h("input", { type: "password", autocomplete: "off", placeholder: "sk-moxie-…" });
  const secretField = field("Key secret", secret, "shown when the key was created; kept in this tab's memory only");
  const chosen = () => usable.find((key) => key.id === choice.value);
  const showSecretField = () => (secretField.hidden = !chosen() || keySecrets.has(choice.value));
  choice.addEventListener("change", showSecretField);
  showSecretField();
  return {
    usable,
    choice,
    secretField,
    /** The secret to send, or why there is none. */
    apiKey() {
      const key = chosen();
      if (!key) return { error: NO_USABLE_KEY };
      const known = keySecrets.get(key.id);
      if (known) return { secret: known };
      const typed = secret.value.trim();
      if (!typed) return { error: `Enter the secret of key ${key.name} (${key.key_prefix}…).` };
      if (!typed.startsWith(key.key_prefix))
        return { error: `That secret is not key ${key.name}'s: its secret starts with ${key.key_prefix}.` };
      return { secret: typed, remember: key.id };
    },
    /**
     * The secret works: this tab remembers it for the next request.
     * @param {{ secret: string, remember?: string }} key
     */
    accepted(key) {
      if (key.remember) keySecrets.set(key.remember, key.secret);
      showSecretField();
    },
  };
}

/**
 * The request's settings beside the conversation (model, system prompt, sampling, JSON mode, tools)
 * and the body they make.
 * @param {Model[]} models
 */
function requestOptions(models) {
  const model = h(
    "select",
    {},
    models.filter((one) => one.type === "chat").map((one) => h("option", { value: one.id }, one.id)),
  );
  const system = h("textarea", { rows: 2, placeholder: "You are a helpful assistant." });
  const temperature = h("input", { type: "number", min: "0", max: "2", step: "0.1", value: "0.7" });
  const maxTokens = h("input", { type: "number", min: "1", step: "1", value: "256" });
  const jsonMode = h("input", { type: "checkbox" });
  const tools = toolsInput();
  return {
    model,
    system,
    temperature,
    maxTokens,
    jsonMode,
    tools,
    /** Each input the request is made from. */
    inputs: [model, system, temperature, maxTokens, jsonMode, tools.textarea],
    /** @param {Turn[]} messages */
    request: (messages) => ({
      model: model.value,
      messages: [
        .../** @type {Turn[]} */ (system.value.trim() ? [{ role: "system", content: system.value }] : []),
        ...messages,
      ],
      temperature: Number(temperature.value),
      max_tokens: Number(maxTokens.value),
      stream: true,
      ...(jsonMode.checked ? { response_format: { type: "json_object" } } : {}),
      ...(tools.list().tools ? { tools: tools.list().tools } : {}),
    }),
  };
}

/** The tools field: a JSON array of tool definitions, with what is wrong with it said beneath. */
function toolsInput() {
  const textarea = h("textarea", {
    rows: 3,
    spellcheck: false,
    placeholder: '[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]',
  });
  const problem = h("small", { class: "error-text", "aria-live": "polite" });
  const toolsField = field("Tools", textarea, "optional; a JSON array of tool definitions, sent as tools");
  toolsField.append(problem);
  /** The definitions; an error when they are not a JSON array. */
  const list = () => {
    if (!textarea.value.trim()) return { tools: undefined };
    try {
      const parsed = JSON.parse(textarea.value);
      return Array.isArray(parsed) ? { tools: parsed } : { error: "Tools must be a JSON array of tool definitions." };
    } catch (error) {
      return { error: `Tools are not valid JSON: ${errorMessage(error)}` };
    }
  };
  return {
    textarea,
    field: toolsField,
    list,
    showProblem: () => (problem.textContent = list().error ?? ""),
  };
}

/**
 * The form: the request's settings, the key, the message, and the buttons that send it, stop its
 * answer and start a new chat.
 * @param {ReturnType<typeof keyPicker>} picker
 * @param {ReturnType<typeof requestOptions>} options
 * @param {HTMLTextAreaElement} message
 * @param {ReturnType<typeof conversation>} chat
 */
function playgroundForm(picker, options, message, chat) {
  return h(
    "form",
    {
      class: "card",
      async onsubmit(event) {
        event.preventDefault();
        await chat.ask();
      },
    },
    h(
      "div",
      { class: "grid" },
      field("Model", options.model),
      field("API key", picker.choice),
      picker.secretField,
      field("Temperature", options.temperature),
      field("Max tokens", options.maxTokens),
      field("JSON mode", options.jsonMode, "response_format json_object: the answer is a JSON object"),
    ),
    picker.usable.length ? null : notice(NO_USABLE_KEY, "error"),
    field("System prompt", options.system, "optional; sent as the first message"),
    options.tools.field,
    field("Message", message, "Ctrl+Enter sends"),
    h(
      "div",
      { class: "actions" },
      chat.send,
      chat.stop,
      h("button", { type: "button", onclick: chat.clear }, "New chat"),
    ),
  );
}

/**
 * The conversation: its transcript, the turns the next request goes on from, and asking the next
 * one, whose answer streams in until it ends or Stop is pressed. `changed` is told when the turns change.
 * @param {ReturnType<typeof keyPicker>} picker
 * @param {ReturnType<typeof requestOptions>} options
 * @param {HTMLTextAreaElement} message
 * @param {() => void} changed
 */
function conversation(picker, options, message, changed) {
  const transcript = h("div", { class: "transcript", "aria-live": "polite" });
  const meta = h("div", { "aria-live": "polite" });
  const send = h("button", { type: "submit" }, "Send");
  const stop = h("button", { type: "button", class: "danger", disabled: true }, "Stop");
  /** Aborts the answer being streamed, if any. */
  let streaming = new AbortController();
  stop.addEventListener("click", () => streaming.abort());
  /** @type {Turn[]} */
  const history = [];
  const ask = async () => {
    const key = picker.apiKey();
    const problem = key.error ?? options.tools.list().error;
    if (problem || !key.secret) return meta.replaceChildren(notice(problem ?? "", "error"));
    /** @type {Turn} */
    const userTurn = { role: "user", content: message.value };
    const answer = h("p", { class: "turn assistant", "data-role": "assistant" });
    transcript.append(h("p", { class: "turn user", "data-role": "user" }, userTurn.content), answer);
    const reply = streamedAnswer(answer, meta, options.model);
    streaming = new AbortController();
    send.disabled = true;
    stop.disabled = false;
    meta.replaceChildren();
    let finished = false;
    try {
      const response = await postChat(key.secret, options.request([...history, userTurn]), streaming.signal);
      if (!response.ok) return await showRefusal(response, answer, meta);
      picker.accepted(key);
      await reply.read(response);
      finished = true;
    } catch (error) {
      if (!streaming.signal.aborted) meta.replaceChildren(notice(errorMessage(error), "error"));
    } finally {
      send.disabled = false;
      stop.disabled = true;
      message.focus();
    }
    // Stopped or not, what was shown is the answer the conversation goes on from.
    if (!finished && !streaming.signal.aborted) return;
    const answered = reply.turn();
    history.push(userTurn, answered);
    if (streaming.signal.aborted) meta.replaceChildren(notice(`Stopped after ${answered.content.length} characters.`));
    message.value = "";
    changed();
  };
  const clear = () => {
    history.length = 0;
    transcript.replaceChildren();
    changed();
  };
  return { transcript, meta, send, stop, history, ask, clear };
}

/**
 * The public API's chat completions, called as a client would, with an API key's secret.
 * @param {string} secret
 * @param {ChatRequest} body
 * @param {AbortSignal} signal
 */
function postChat(secret, body, signal) {
  return fetch("/v1/chat/completions", {
    method: "POST",
    headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" },
    body: JSON.stringify(body),
    signal,
  });
}

/**
 * A refused request has no answer: its paragraph goes, and `meta` says why.
 * @param {Response} response
 * @param {HTMLElement} answer
 * @param {HTMLElement} meta
 */
async function showRefusal(response, answer, meta) {
  const error = await response.json().catch(() => ({}));
  answer.remove();
  meta.replaceChildren(notice(`${response.status}: ${error.message ?? "request refused"}`, "error"));
}

/**
 * An answer shown as it streams in: its text and the tool calls it asks for. The last chunk's token
 * usage, or the stream's error, is said in `meta`.
 * @param {HTMLElement} answer
 * @param {HTMLElement} meta
 * @param {HTMLSelectElement} model the model asked for, named when the gateway does not say which answered
 */
function streamedAnswer(answer, meta, model) {
  let text = "";
  /** @type {ToolCall[]} */
  const toolCalls = [];
  return {
    /** @param {Response} response */
    read: (response) =>
      readEvents(response, ({ event: name, data }) => {
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
      }),
    /**
     * What was received, as the conversation's turn.
     * @returns {Turn}
     */
    turn: () => ({ role: "assistant", content: text, ...(toolCalls.length ? { tool_calls: toolCalls } : {}) }),
  };
}

/** The request as curl and Mistral SDK code, with the key left as $MOXIE_API_KEY. */
function codeSnippets() {
  const curl = h("pre", { class: "snippet" });
  const sdk = h("pre", { class: "snippet" });
  return {
    elements: [h("h2", {}, "curl"), curl, h("h2", {}, "Mistral SDK (TypeScript)"), sdk],
    /** @param {ChatRequest} body */
    show(body) {
      curl.textContent = curlCommand(body);
      sdk.textContent = sdkProgram(body);
    },
  };
}

/** @param {ChatRequest} body */
function curlCommand(body) {
  return `curl -N ${location.origin}/v1/chat/completions \\\n  -H "Authorization: Bearer $MOXIE_API_KEY" \\\n  -H 'content-type: application/json' \\\n  -d '${JSON.stringify(body).replace(/'/g, "'\\''")}'`;
}

/** @param {ChatRequest} body */
function sdkProgram(body) {
  return `import { Mistral } from "@mistralai/mistralai";

const client = new Mistral({ apiKey: process.env.MOXIE_API_KEY, serverURL: "${location.origin}" });
const stream = await client.chat.stream(${JSON.stringify(sdkRequest(body), null, 2)});
for await (const event of stream) {
  const delta = event.data.choices[0]?.delta;
  if (delta?.content) process.stdout.write(String(delta.content));
  if (delta?.toolCalls) console.log(delta.toolCalls);
}`;
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
 * @param {ChatRequest} body
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
