import { createInterface } from "node:readline";
import * as z from "zod";
import { ChatMessage, Tool } from "../../protocol/chat.ts";
import { encodeChat } from "../../backend/text/chat-encoding.ts";
import { loadTokenizer } from "../../backend/text/tokenizer.ts";
import { defineCommand } from "../command.ts";

const TextLine = z.strictObject({ text: z.string() });
const ChatLine = z.strictObject({
  messages: z.array(ChatMessage).min(1),
  tools: z.array(Tool).nullish(),
  safe_prompt: z.boolean().default(false),
});

export const tokenize = defineCommand({
  name: "tokenize",
  summary:
    'token ids of JSON lines on stdin: {"text": …} (BOS first) or {"messages": […], "tools"?: […]} (the chat encoding)',
  options: {
    model: {
      type: "string",
      required: true,
      placeholder: "DIR",
      description: "checkpoint folder with tokenizer.json, or a .gguf file (its vocabulary)",
    },
    json: {
      type: "boolean",
      description: 'output is always one {"ids": […]} per line; accepted like every command\'s --json',
    },
  },
  async run({ model }) {
    const tokenizer = await loadTokenizer(model);
    let lineNumber = 0;
    for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
      lineNumber++;
      if (line.trim() === "") continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (error) {
        throw new Error(`stdin line ${lineNumber}: not JSON (${(error as Error).message})`, { cause: error });
      }
      // The line's shape picks its schema, so the error names what is wrong within that shape.
      const isChat = typeof value === "object" && value !== null && "messages" in value;
      const parsed = (isChat ? ChatLine : TextLine).safeParse(value);
      if (!parsed.success) {
        throw new Error(
          `stdin line ${lineNumber}: expected {"text": string} or {"messages": [...], "tools"?: [...]}\n${z.prettifyError(parsed.error)}`,
        );
      }
      const request = parsed.data;
      let ids: number[];
      try {
        ids =
          "text" in request
            ? tokenizer.encode(request.text, { bos: true })
            : encodeChat(tokenizer, request.messages, {
                safePrompt: request.safe_prompt,
                tools: request.tools ?? undefined,
              });
      } catch (error) {
        throw new Error(`stdin line ${lineNumber}: ${(error as Error).message}`, { cause: error });
      }
      process.stdout.write(JSON.stringify({ ids }) + "\n");
    }
  },
});
