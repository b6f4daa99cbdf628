/**
 * The files under infra/, read and parsed once for the infra tests beside this file, with the helpers several
 * of them use, and every `moxie …` command line the files run, gathered from all of them.
 * Each file under infra/ is checked by one test file here: it parses, the fields its platform needs are there,
 * what it runs exists, and the parts that can run on this machine do run. No Docker engine, Kubernetes cluster
 * or SkyPilot is available here, so Dockerfile, compose, manifests and service YAML are read and linted, not deployed.
 */
import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { DockerfileParser, type Instruction, type JSONInstruction } from "dockerfile-ast";
import { parse as parseYaml, parseAllDocuments } from "yaml";

export const run = promisify(execFile);
export const repo = fileURLToPath(new URL("../../..", import.meta.url));
export const read = (path: string) => readFileSync(join(repo, path), "utf8");
/** Parsed YAML, checked field by field in the tests: its shape is what is under test. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Yaml = any;
export const yaml = (path: string): Yaml => parseYaml(read(path), { merge: true });
export const yamlDocuments = (path: string): Yaml[] => parseAllDocuments(read(path)).map((document) => document.toJS());
export const hasShellcheck = spawnSync("shellcheck", ["--version"]).status === 0;

export function flagValue(argv: string[], flag: string): string | undefined {
  const index = argv.indexOf(flag);
  return index === -1 ? undefined : argv[index + 1];
}

/** The argv after `bin/moxie.js` on a shell line, continuation lines joined. */
export function moxieArgv(script: string): string[][] {
  return script
    .replace(/\\\n\s*/g, " ")
    .split("\n")
    .filter((line) => line.includes("bin/moxie.js"))
    .map((line) =>
      line
        .split("bin/moxie.js")[1]
        .trim()
        .split(/\s+/)
        .map((word) => word.replace(/^"|"$/g, "")),
    );
}

/** A script body embedded in an infra file, written out with a bash shebang, through bash -n and shellcheck. */
export async function lintShell(name: string, body: string): Promise<void> {
  const scratch = mkdtempSync(join(tmpdir(), "moxie-lint-shell-"));
  try {
    const path = join(scratch, name);
    writeFileSync(path, `#!/usr/bin/env bash\n${body}`);
    await run("bash", ["-n", path]);
    if (hasShellcheck) await run("shellcheck", ["--shell=bash", path]);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// infra/backend/Dockerfile

export const dockerfileText = read("infra/backend/Dockerfile");
export const dockerfile = DockerfileParser.parse(dockerfileText);
const finalStageLine = dockerfile.getFROMs().at(-1)!.getRange().start.line;
const finalStage = dockerfile
  .getInstructions()
  .filter((instruction) => instruction.getRange().start.line >= finalStageLine);
export const only = (keyword: string): Instruction => {
  const found = finalStage.filter((instruction) => instruction.getKeyword() === keyword);
  if (found.length !== 1)
    throw new Error(`expected one ${keyword} in the Dockerfile's final stage, found ${found.length}`);
  return found[0];
};
/** Paths a COPY takes from the build context (not from another stage). */
export const copiedFromContext = dockerfile
  .getCOPYs()
  .filter((copy) => !copy.getFromFlag())
  .flatMap((copy) =>
    copy
      .getArguments()
      .slice(0, -1)
      .map((argument) => argument.getValue()),
  );
export const jsonArgs = (instruction: Instruction) =>
  (instruction as JSONInstruction).getJSONStrings().map((argument) => argument.getJSONValue());
export const imageCommand = jsonArgs(only("CMD"));
export const imageEnv = new Map(
  finalStage
    .filter((instruction) => instruction.getKeyword() === "ENV")
    .flatMap((instruction) =>
      instruction.getArguments().map((argument) => argument.getValue().split("=") as [string, string]),
    ),
);
export const imageUid = only("USER").getArguments()[0].getValue().split(":")[0];
export const exposedPort = only("EXPOSE").getArguments()[0].getValue();
export const healthcheckScript = (() => {
  const command = JSON.parse(/CMD\s+(\[.*\])/s.exec(only("HEALTHCHECK").getArgumentsContent()!)![1]) as string[];
  if (command[0] !== "node" || command[1] !== "-e")
    throw new Error(`expected HEALTHCHECK CMD ["node", "-e", script], got ${command}`);
  return command[2];
})();

// ---------------------------------------------------------------------------------------------
// infra/docker-compose.yml, infra/skypilot/serve.yaml, infra/k8s/

export const compose = yaml("infra/docker-compose.yml");
export const services = Object.entries(compose.services as Record<string, Yaml>);

export const task = yaml("infra/skypilot/serve.yaml");

export const kustomization = yaml("infra/k8s/kustomization.yaml");
export const manifests = (kustomization.resources as string[]).flatMap((file) => yamlDocuments(`infra/k8s/${file}`));
export const byKind = (kind: string) => manifests.filter((manifest) => manifest.kind === kind);
export const [deployment] = byKind("Deployment");
export const pod = deployment.spec.template.spec;
export const [container] = pod.containers;

// ---------------------------------------------------------------------------------------------
// Every moxie command line in the infra files

/** A `moxie …` command line found in an infra file, as argv after `moxie`. */
export interface Invocation {
  where: string;
  argv: string[];
}

export const invocations: Invocation[] = [
  { where: "Dockerfile CMD", argv: imageCommand },
  ...services.flatMap(([name, service]) =>
    service.command ? [{ where: `compose ${name}`, argv: service.command }] : [],
  ),
  ...moxieArgv(task.run).map((argv) => ({ where: "skypilot run", argv })),
  ...(container.args ? [{ where: "k8s Deployment args", argv: container.args }] : []),
];

/**
 * How every install gets the project: production dependencies, the optional ones (webgpu) kept, with
 * onnxruntime-node's install script skipped: it only downloads a GPU provider that the WebGPU route does not use,
 * and Node 20's npm (10) ignores the allowScripts entry that denies it.
 */
export const PROJECT_INSTALL = /ONNXRUNTIME_NODE_INSTALL=skip npm ci --omit=dev(?![^\n&;]*--omit=optional)/;

/** What WebGPU (Dawn over Vulkan) on an NVIDIA GPU needs from the system: the Vulkan loader, and the libraries NVIDIA's Vulkan driver (libGLX_nvidia.so.0) loads. */
export const VULKAN_PACKAGES = ["libvulkan1", "libxext6", "libegl1"];

/** The NVIDIA driver capabilities a backend needs: graphics makes the container toolkit mount the driver's Vulkan ICD. */
export const DRIVER_CAPABILITIES = ["compute", "utility", "graphics"];

/** The packages each `apt-get install` in a shell script installs (continuation lines joined). */
export function aptInstalled(script: string): string[] {
  return [...script.replace(/\\\n\s*/g, " ").matchAll(/apt-get install ([^&;|\n]*)/g)].flatMap((match) =>
    match[1].split(/\s+/).filter((word) => word && !word.startsWith("-")),
  );
}
