// Text-side costs per request and per token: `npx tsx bench/text-bench.ts` (prints one JSON line).
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ChatMessage } from "../protocol/chat.ts";
import { encodeChat } from "../backend/text/chat-encoding.ts";
import { IncrementalDetokenizer } from "../backend/text/detokenizer.ts";
import { StopMatcher } from "../backend/text/stop-matcher.ts";
import { loadTokenizer } from "../backend/text/tokenizer.ts";
import { writeMistralTokenizerFiles } from "../backend/text/tokenizer-files.ts";

const dir = await mkdtemp(join(tmpdir(), "moxie-text-bench-"));
await writeMistralTokenizerFiles(dir);
const start = performance.now();
const tokenizer = await loadTokenizer(dir);
const loadMs = performance.now() - start;

const paragraph =
  "Mixtral routes every token to two of its eight experts. Le modèle « Mixtral » répond en français. " +
  "今天天气很好，我们去公园散步吧。 Emoji 🌧️ and code: `for (let i = 0; i < n; i++) sum += x[i];`\n";
const text = Array.from({ length: 200 }, (_, index) => `${index}. ${paragraph}`).join("");

/** Median of `runs` timings of `work`, in milliseconds. */
function median(runs: number, work: () => void): number {
  const times = Array.from({ length: runs }, () => {
    const begin = performance.now();
    work();
    return performance.now() - begin;
  });
  return times.sort((a, b) => a - b)[Math.floor(runs / 2)];
}

const ids = tokenizer.encode(text);
const encodeMs = median(5, () => tokenizer.encode(text));
const conversation: ChatMessage[] = [
  { role: "system", content: "Answer briefly." },
  { role: "user", content: paragraph },
  { role: "assistant", content: "Two experts per token.", prefix: false },
  { role: "user", content: "And how many in total?" },
];
const chatMs = median(201, () => encodeChat(tokenizer, conversation));
const detokenizeMs = median(5, () => {
  const detokenizer = new IncrementalDetokenizer(tokenizer);
  for (const id of ids) detokenizer.push(id);
  detokenizer.flush();
});
const deltas = (() => {
  const detokenizer = new IncrementalDetokenizer(tokenizer);
  return ids.map((id) => detokenizer.push(id));
})();
const stopMs = median(5, () => {
  const matcher = new StopMatcher(["</answer>", "\n\nUser:"]);
  for (const delta of deltas) matcher.push(delta);
});

console.log(
  JSON.stringify({
    tokenizer_load_ms: Math.round(loadMs),
    encode_tok_s: Math.round(ids.length / (encodeMs / 1000)),
    encode_tokens: ids.length,
    chat_encode_us: Math.round(chatMs * 1000),
    detokenize_us_per_token: +((detokenizeMs * 1000) / ids.length).toFixed(2),
    stop_match_us_per_token: +((stopMs * 1000) / ids.length).toFixed(2),
  }),
);
