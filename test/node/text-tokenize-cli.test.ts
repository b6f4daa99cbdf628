import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { chatSample, golden, reference } from "./support/text-reference.ts";

/** Runs `moxie tokenize` with the given stdin. */
function tokenize(args: string[], stdin: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("node", ["bin/moxie.js", "tokenize", ...args]);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

describe("moxie tokenize", () => {
  it("writes one {ids} line per input line: text with BOS, messages with the instruct encoding", async () => {
    const lines5 = golden.slice(0, 5);
    const input = [
      ...lines5.map(({ text }) => JSON.stringify({ text })),
      "",
      JSON.stringify({ messages: chatSample.request.messages }),
    ].join("\n");
    const { code, stdout, stderr } = await tokenize(["--model", reference], input + "\n");
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const lines = stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(lines).toEqual([...lines5.map(({ ids }) => ({ ids })), { ids: chatSample.ids }]);
  });

  it("stops at a bad line with a message naming it and a nonzero exit", async () => {
    const notJson = await tokenize(["--model", reference], '{"text": "ok"}\n{oops\n');
    expect(notJson.code).toBe(1);
    expect(notJson.stdout.trim()).toBe(JSON.stringify({ ids: [1, 3614] }));
    expect(notJson.stderr).toMatch(/stdin line 2: not JSON/);
    const wrongShape = await tokenize(["--model", reference], '{"txt": "ok"}\n');
    expect(wrongShape.code).toBe(1);
    expect(wrongShape.stderr).toMatch(
      /stdin line 1: expected \{"text": string\} or \{"messages": \[...\], "tools"\?: \[...\]\}/,
    );
    const tool = await tokenize(
      ["--model", reference],
      JSON.stringify({
        messages: [
          { role: "user", content: "x" },
          { role: "tool", content: "y" },
        ],
      }) + "\n",
    );
    expect(tool.code).toBe(1);
    expect(tool.stderr).toMatch(/no tool calls or tool messages/);
  });

  it("refuses a folder without a tokenizer", async () => {
    const { code, stderr } = await tokenize(["--model", "test"], "");
    expect(code).toBe(1);
    expect(stderr).toMatch(/has no tokenizer\.json/);
  });
});
