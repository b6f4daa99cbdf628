/** What the infra files rely on elsewhere: the moxie commands and flags they run (gathered from all of them), gateway routing, README. */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ExecutionProvider } from "../../../backend/options.ts";
import { flagValue, imageCommand, invocations, read, repo, run, task } from "./infra-files.ts";

describe("what the infra files rely on in the rest of the project", () => {
  it("names only moxie subcommands and flags that the CLI has", async () => {
    expect(invocations.length).toBeGreaterThanOrEqual(2);
    const { stdout: overview } = await run("node", ["bin/moxie.js", "--help"], { cwd: repo });
    const commands = overview
      .split("commands:")[1]
      .split("\n\n")[0]
      .split("\n")
      .filter(Boolean)
      .map((line) => line.trim().split(/\s+/)[0]);
    const flagsOf = new Map<string, string[]>();
    for (const { where, argv } of invocations) {
      const [command, ...rest] = argv;
      expect(commands, `${where}: moxie ${command}`).toContain(command);
      if (!flagsOf.has(command)) {
        const { stdout: help } = await run("node", ["bin/moxie.js", command, "--help"], { cwd: repo });
        flagsOf.set(
          command,
          help.split("\n").flatMap((line) => /^\s+(--[a-z0-9-]+)/.exec(line)?.[1] ?? []),
        );
      }
      for (const flag of rest.filter((word) => word.startsWith("--")))
        expect(flagsOf.get(command), `${where}: ${flag}`).toContain(flag);
      // The image's command only runs on a GPU, so no test starts it with its own provider.
      const provider = flagValue(rest, "--execution-provider");
      if (provider !== undefined) expect(ExecutionProvider.options, `${where}: ${provider}`).toContain(provider);
    }
  });

  it("serves the model under a deployment name the gateway's MODELS routes chat to", async () => {
    const { unstable_readConfig } = await import("wrangler");
    const models = JSON.parse(String(unstable_readConfig({ config: join(repo, "wrangler.toml") }).vars.MODELS)) as {
      deployment: string;
      type: string;
    }[];
    const chatDeployments = models.filter((model) => model.type === "chat").map((model) => model.deployment);
    expect(chatDeployments).toContain(flagValue(imageCommand, "--served-model-name"));
    expect(chatDeployments).toContain(task.envs.SERVED_MODEL_NAME);
  });

  it("the README's self-hosting guide covers every infra path", () => {
    const readme = read("README.md");
    const guide = readme.slice(readme.indexOf("## Self-hosting"));
    expect(readme).toContain("## Self-hosting");
    for (const path of [
      "infra/backend/Dockerfile",
      "infra/docker-compose.yml",
      "infra/skypilot/serve.yaml",
      "infra/k8s",
      "infra/deploy-worker.sh",
    ]) {
      expect(guide, path).toContain(path);
    }
  });
});
