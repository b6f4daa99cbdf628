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
