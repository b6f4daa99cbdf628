/**
 * infra/backend/Dockerfile: it lints, runs on a slim Debian image with the Vulkan loader (WebGPU) and production
 * dependencies only, copies every file the CLI loads, and its command and HEALTHCHECK run against a real backend
 * (the fixture checkpoint on CPU). No Docker engine or GPU is available here: the image itself is not built.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { validate as lintDockerfile } from "dockerfile-utils";
import { build, type Metafile } from "esbuild";
import { describe, expect, it } from "vitest";
import { cacheRoot } from "../../../backend/engine/graph/graph-cache.ts";
import { byteSize } from "../../../cli/command.ts";
import { fixture as tinyFixture } from "../support/fixture.ts";
import { spawnServe } from "../support/serve-process.ts";
import {
  aptInstalled,
  copiedFromContext,
  dockerfile,
  dockerfileText,
  DRIVER_CAPABILITIES,
  exposedPort,
  flagValue,
  healthcheckScript,
  imageCommand,
  imageEnv,
  imageUid,
  jsonArgs,
  only,
  PROJECT_INSTALL,
  read,
  repo,
  VULKAN_PACKAGES,
} from "./infra-files.ts";

const fixture = join(repo, tinyFixture);

/**
 * Every file `entries` load, through static and dynamic imports (esbuild's metafile) and through
 * worker threads started by `new Worker(new URL("./file", import.meta.url))`, which no bundler follows.
 */
async function moduleGraph(entries: string[]): Promise<Metafile> {
  const { metafile } = await build({
    entryPoints: entries,
    absWorkingDir: repo,
    bundle: true,
    write: false,
    metafile: true,
    platform: "node",
    format: "esm",
    packages: "external",
    // Nothing is written (write: false), but several entry points need an outdir.
    outdir: join(tmpdir(), "moxie-module-graph"),
    logLevel: "silent",
  });
  const workers = Object.keys(metafile.inputs).flatMap((path) =>
    [
      ...readFileSync(join(repo, path), "utf8").matchAll(
        /(?:new Worker|typescriptWorker)\(new URL\("(\.[^"]+)", import\.meta\.url\)/g,
      ),
    ].map((match) => relative(repo, join(repo, dirname(path), match[1]))),
  );
  const added = workers.filter((path) => !entries.includes(path));
  return added.length === 0 ? metafile : moduleGraph([...entries, ...added]);
}

describe("infra/backend/Dockerfile", () => {
  it("passes the Dockerfile linter (dockerfile-utils: hadolint is not packaged for Debian)", () => {
    expect(lintDockerfile(dockerfileText)).toEqual([]);
  });

  it("runs on a slim image of Node's Debian release with the Vulkan loader and the graphics capability, production dependencies only", () => {
    const initialArgs = new Map(
      dockerfile.getInitialARGs().map((arg) => [arg.getProperty()!.getName(), arg.getProperty()!.getValue()]),
    );
    const [depsImage, finalImage] = [0, -1].map((index) =>
      dockerfile
        .getFROMs()
        .at(index)!
        .getImage()!
        .replace(/\$\{(\w+)\}/g, (_, name: string) => initialArgs.get(name) ?? ""),
    );
    // The final image runs the node binary built for Node's image: the same Debian release (glibc).
    const release = /^node:[\w.]+-(\w+)-slim$/.exec(depsImage)![1];
    expect(finalImage).toBe(`debian:${release}-slim`);
    const runs = dockerfile.getInstructions().filter((instruction) => instruction.getKeyword() === "RUN");
    const scripts = runs.map((instruction) => instruction.getArgumentsContent()!);
    // WebGPU reaches the GPU through Vulkan: the loader, and what NVIDIA's Vulkan driver (mounted from the host) loads.
    const apt = scripts.find((script) => aptInstalled(script).length > 0)!;
    expect(aptInstalled(apt).sort()).toEqual([...VULKAN_PACKAGES].sort());
    expect(apt).toContain("--no-install-recommends");
    expect(apt).toMatch(/rm -rf \/var\/lib\/apt\/lists/);
    // The container toolkit mounts the driver's Vulkan ICD only with the graphics capability.
    expect(imageEnv.get("NVIDIA_DRIVER_CAPABILITIES")!.split(",")).toEqual(expect.arrayContaining(DRIVER_CAPABILITIES));
    expect(imageEnv.get("NVIDIA_VISIBLE_DEVICES")).toBe("all");
    expect(scripts.some((script) => PROJECT_INSTALL.test(script))).toBe(true);
    // Nothing of the retired CUDA route: no CUDA image, provider download or libraries.
    expect(dockerfileText).not.toMatch(/cuda/i);
    expect(jsonArgs(only("ENTRYPOINT"))).toEqual(["node", "/app/bin/moxie.js"]);
  });

  it("runs as a fixed non-root uid, serves on the exposed port, has volumes for the model and the graph cache", () => {
    expect(imageUid).toMatch(/^\d+$/);
    expect(Number(imageUid)).toBeGreaterThan(0);
    expect(flagValue(imageCommand, "--host")).toBe("0.0.0.0");
    expect(flagValue(imageCommand, "--execution-provider")).toBe("webgpu");
    // A device cannot report its memory: the KV pool is sized by --kv-cache-memory.
    expect(flagValue(imageCommand, "--kv-cache-dtype")).toBe("float16");
    expect(byteSize(flagValue(imageCommand, "--kv-cache-memory")!, "kv-cache-memory")).toBeGreaterThan(0);
    expect(flagValue(imageCommand, "--port")).toBe(exposedPort);
    const volumes = jsonArgs(only("VOLUME"));
    const model = flagValue(imageCommand, "--model")!;
    expect(volumes.some((volume) => model.startsWith(`${volume}/`))).toBe(true);
    // The engine reads the cache location from the variable the image sets.
    const cacheDir = imageEnv.get("MOXIE_CACHE_DIR")!;
    expect(volumes).toContain(cacheDir);
    const saved = process.env.MOXIE_CACHE_DIR;
    process.env.MOXIE_CACHE_DIR = cacheDir;
    try {
      expect(cacheRoot()).toBe(cacheDir);
    } finally {
      if (saved === undefined) delete process.env.MOXIE_CACHE_DIR;
      else process.env.MOXIE_CACHE_DIR = saved;
    }
    const flags = new Map(
      dockerfile
        .getHEALTHCHECKs()[0]
        .getFlags()
        .map((flag) => [flag.getName(), flag.getValue()]),
    );
    expect(flags.get("start-period")).toBeDefined();
    expect(healthcheckScript).toContain(`:${exposedPort}/health`);
  });

  it("copies every source file the CLI and its worker threads load, and they import only production dependencies", async () => {
    const metafile = await moduleGraph(["bin/moxie.js"]);
    const loaded = Object.keys(metafile.inputs);
    expect(loaded).toContain("backend/inference/inference-thread.ts");
    expect(
      loaded.filter((path) => !copiedFromContext.some((entry) => path === entry || path.startsWith(`${entry}/`))),
    ).toEqual([]);
    const { dependencies } = JSON.parse(read("package.json")) as { dependencies: Record<string, string> };
    const packagesImported = Object.values(metafile.inputs).flatMap((input) =>
      input.imports
        // esbuild lists an import used only as a type as an external relative path: not a package.
        .filter((entry) => entry.external && entry.kind !== "dynamic-import" && !/^(node:|\.)/.test(entry.path))
        .map((entry) =>
          entry.path
            .split("/")
            .slice(0, entry.path.startsWith("@") ? 2 : 1)
            .join("/"),
        ),
    );
    expect([...new Set(packagesImported)].filter((name) => !(name in dependencies))).toEqual([]);
  });

  it("keeps node_modules and .git out of the build context, and nothing the image copies", () => {
    const ignored = read(".dockerignore")
      .split("\n")
      .filter((line) => line && !line.startsWith("#"));
    expect(ignored).toEqual(expect.arrayContaining(["**/node_modules", ".git"]));
    for (const path of copiedFromContext) {
      expect(existsSync(join(repo, path)), path).toBe(true);
      expect(
        ignored.filter((pattern) => path === pattern || path.startsWith(`${pattern}/`)),
        path,
      ).toEqual([]);
    }
  });

  it("its command starts a real backend that its HEALTHCHECK reports unhealthy while down and healthy once ready", async () => {
    // The image's own argv, with the fixture checkpoint, loopback, a free port, the CPU (no GPU here) and a KV pool
    // for the fixture (the image's is sized for an 80 GB GPU) instead of the container's.
    const local: Record<string, string> = {
      "--model": fixture,
      "--host": "127.0.0.1",
      "--port": "0",
      "--execution-provider": "cpu",
      "--kv-cache-memory": "64MiB",
    };
    const argv = imageCommand.map((value, index) => local[imageCommand[index - 1]] ?? value);
    expect(argv[0]).toBe("serve");
    const healthcheck = (port: string) =>
      new Promise<number>((done) => {
        const child = spawn("node", ["-e", healthcheckScript.replace(`:${exposedPort}/`, `:${port}/`)], {
          stdio: "ignore",
        });
        child.once("exit", (code) => done(code ?? 1));
      });
    const secret = "infra-test-secret";
    const backend = await spawnServe(argv.slice(1), { MOXIE_BACKEND_SECRET: secret });
    try {
      const { port } = new URL(backend.url);
      await backend.ready();
      expect(await healthcheck(port), backend.stderr()).toBe(0);
      const models = await fetch(`${backend.url}/v1/models`, { headers: { authorization: `Bearer ${secret}` } });
      const served = ((await models.json()) as { data: { id: string }[] }).data.map((model) => model.id);
      expect(served).toContain(flagValue(imageCommand, "--served-model-name"));
      await backend.stop();
      expect(await healthcheck(port)).not.toBe(0);
    } finally {
      await backend.stop();
    }
  }, 120_000);
});
