import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { expect, it } from "vitest";

const run = promisify(execFile);

it("moxie --help lists the commands", async () => {
  const { stdout } = await run("node", ["bin/moxie.js", "--help"]);
  expect(stdout).toContain("usage: moxie <command>");
});

it("an unknown command exits 2 with the overview", async () => {
  await expect(run("node", ["bin/moxie.js", "nonsense"])).rejects.toMatchObject({ code: 2 });
});

it("typed flags are checked before a command runs: integers, ranges and choices", async () => {
  await expect(run("node", ["bin/moxie.js", "serve", "--model", "x", "--port", "80a"])).rejects.toMatchObject({
    code: 2,
    stderr: expect.stringContaining("--port must be an integer, got '80a'"),
  });
  await expect(run("node", ["bin/moxie.js", "serve", "--model", "x", "--port", "70000"])).rejects.toMatchObject({
    code: 2,
    stderr: expect.stringContaining("--port must be at most 65535"),
  });
  await expect(
    run("node", ["bin/moxie.js", "make-checkpoint", "--preset", "huge", "--out", "/tmp/x"]),
  ).rejects.toMatchObject({
    code: 2,
    stderr: expect.stringContaining("--preset must be one of tiny, mini, mixtral-8x7b, got 'huge'"),
  });
});

it("moxie serve offers the execution provider, so GPU hosts run on WebGPU", async () => {
  const { stdout } = await run("node", ["bin/moxie.js", "serve", "--help"]);
  expect(stdout).toContain("--execution-provider cpu|webgpu");
});
