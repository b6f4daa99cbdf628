/**
 * Every file under infra/ is checked here: it parses, the fields its platform needs are there, what
 * it runs exists (moxie subcommands and flags, source files, dependencies, metrics), and the parts
 * that can run on this machine do run: the image's command and HEALTHCHECK against a real backend,
 * the scripts under bash -n and shellcheck, the worker deploy script's dry run.
 * No Docker engine, Kubernetes cluster or SkyPilot is available here, so Dockerfile, compose,
 * manifests and service YAML are read and linted, not deployed.
 */
import { execFile, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { DockerfileParser, type Instruction, type JSONInstruction } from "dockerfile-ast";
import { validate as lintDockerfile } from "dockerfile-utils";
import { build, type Metafile } from "esbuild";
import { afterAll, describe, expect, it } from "vitest";
import { parse as parseYaml, parseAllDocuments } from "yaml";
import { cacheRoot } from "../../gpu-backend/engine/graph/graph-cache.ts";
import { ServingMetrics } from "../../gpu-backend/server/metrics.ts";
import { startFakeCloudflareApi } from "./fake-cloudflare-api.ts";
import { fixture as tinyFixture } from "./support/fixture.ts";
import { durableObjects, findD1, findKv, resources, writeDeployConfig, writeSecretsFile } from "../../infra/wrangler-config.ts";

const run = promisify(execFile);
const repo = fileURLToPath(new URL("../..", import.meta.url));
const fixture = join(repo, tinyFixture);
const read = (path: string) => readFileSync(join(repo, path), "utf8");
/** Parsed YAML, checked field by field below: its shape is what is under test. */
type Yaml = any;
const yaml = (path: string): Yaml => parseYaml(read(path), { merge: true });
const yamlDocuments = (path: string): Yaml[] => parseAllDocuments(read(path)).map((document) => document.toJS());
const hasShellcheck = spawnSync("shellcheck", ["--version"]).status === 0;

const scratch = mkdtempSync(join(tmpdir(), "moxie-infra-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A `moxie …` command line found in an infra file, as argv after `moxie`. */
interface Invocation {
  where: string;
  argv: string[];
}
const invocations: Invocation[] = [];

function flagValue(argv: string[], flag: string): string | undefined {
  const index = argv.indexOf(flag);
  return index === -1 ? undefined : argv[index + 1];
}

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
    outdir: join(scratch, "esbuild"),
    logLevel: "silent",
  });
  const workers = Object.keys(metafile.inputs).flatMap((path) =>
    [...readFileSync(join(repo, path), "utf8").matchAll(/new Worker\(new URL\("(\.[^"]+)", import\.meta\.url\)/g)].map((match) =>
      relative(repo, join(repo, dirname(path), match[1])),
    ),
  );
  const added = workers.filter((path) => !entries.includes(path));
  return added.length === 0 ? metafile : moduleGraph([...entries, ...added]);
}

// ---------------------------------------------------------------------------------------------
// infra/gpu-backend/Dockerfile

const dockerfileText = read("infra/gpu-backend/Dockerfile");
const dockerfile = DockerfileParser.parse(dockerfileText);
const finalStageLine = dockerfile.getFROMs().at(-1)!.getRange().start.line;
const finalStage = dockerfile.getInstructions().filter((instruction) => instruction.getRange().start.line >= finalStageLine);
const only = (keyword: string): Instruction => {
  const found = finalStage.filter((instruction) => instruction.getKeyword() === keyword);
  if (found.length !== 1) throw new Error(`expected one ${keyword} in the Dockerfile's final stage, found ${found.length}`);
  return found[0];
};
/** Paths a COPY takes from the build context (not from another stage). */
const copiedFromContext = dockerfile
  .getCOPYs()
  .filter((copy) => !copy.getFromFlag())
  .flatMap((copy) => copy.getArguments().slice(0, -1).map((argument) => argument.getValue()));
const jsonArgs = (instruction: Instruction) => (instruction as JSONInstruction).getJSONStrings().map((argument) => argument.getJSONValue());
const imageCommand = jsonArgs(only("CMD"));
const imageEnv = new Map(
  finalStage
    .filter((instruction) => instruction.getKeyword() === "ENV")
    .flatMap((instruction) => instruction.getArguments().map((argument) => argument.getValue().split("=") as [string, string])),
);
const imageUid = only("USER").getArguments()[0].getValue().split(":")[0];
const exposedPort = only("EXPOSE").getArguments()[0].getValue();
const healthcheckScript = (() => {
  const command = JSON.parse(/CMD\s+(\[.*\])/s.exec(only("HEALTHCHECK").getArgumentsContent()!)![1]) as string[];
  if (command[0] !== "node" || command[1] !== "-e") throw new Error(`expected HEALTHCHECK CMD ["node", "-e", script], got ${command}`);
  return command[2];
})();
invocations.push({ where: "Dockerfile CMD", argv: imageCommand });

describe("infra/gpu-backend/Dockerfile", () => {
  it("passes the Dockerfile linter (dockerfile-utils: hadolint is not packaged for Debian)", () => {
    expect(lintDockerfile(dockerfileText)).toEqual([]);
  });

  it("runs on a CUDA 12 runtime image with cuDNN, with the CUDA provider installed and production dependencies only", () => {
    const initialArgs = new Map(dockerfile.getInitialARGs().map((arg) => [arg.getProperty()!.getName(), arg.getProperty()!.getValue()]));
    const finalImage = dockerfile.getFROMs().at(-1)!.getImageName()!.replace(/\$\{(\w+)\}/g, (_, name: string) => initialArgs.get(name) ?? "");
    expect(finalImage).toMatch(/^nvidia\/cuda:12\.\d+(\.\d+)?-cudnn-runtime-/);
    const runs = dockerfile.getInstructions().filter((instruction) => instruction.getKeyword() === "RUN");
    expect(runs.some((instruction) => /ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci --omit=dev/.test(instruction.getArgumentsContent()!))).toBe(true);
    // The install script must have fetched the provider, or the build fails instead of shipping a CPU-only image.
    expect(runs.some((instruction) => instruction.getArgumentsContent()!.includes("libonnxruntime_providers_cuda.so"))).toBe(true);
    expect(jsonArgs(only("ENTRYPOINT"))).toEqual(["node", "/app/bin/moxie.js"]);
  });

  it("runs as a fixed non-root uid, serves on the exposed port, has volumes for the model and the graph cache", () => {
    expect(imageUid).toMatch(/^\d+$/);
    expect(Number(imageUid)).toBeGreaterThan(0);
    expect(flagValue(imageCommand, "--host")).toBe("0.0.0.0");
    expect(flagValue(imageCommand, "--execution-provider")).toBe("cuda");
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
    const flags = new Map(dockerfile.getHEALTHCHECKs()[0].getFlags().map((flag) => [flag.getName(), flag.getValue()]));
    expect(flags.get("start-period")).toBeDefined();
    expect(healthcheckScript).toContain(`:${exposedPort}/health`);
  });

  it("copies every source file the CLI and its worker threads load, and they import only production dependencies", async () => {
    const metafile = await moduleGraph(["bin/moxie.js"]);
    const loaded = Object.keys(metafile.inputs);
    expect(loaded).toContain("gpu-backend/worker-thread/inference-worker.ts");
    expect(loaded.filter((path) => !copiedFromContext.some((entry) => path === entry || path.startsWith(`${entry}/`)))).toEqual([]);
    const { dependencies } = JSON.parse(read("package.json")) as { dependencies: Record<string, string> };
    const packagesImported = Object.values(metafile.inputs).flatMap((input) =>
      input.imports
        // esbuild lists an import used only as a type as an external relative path: not a package.
        .filter((entry) => entry.external && entry.kind !== "dynamic-import" && !/^(node:|\.)/.test(entry.path))
        .map((entry) => entry.path.split("/").slice(0, entry.path.startsWith("@") ? 2 : 1).join("/")),
    );
    expect([...new Set(packagesImported)].filter((name) => !(name in dependencies))).toEqual([]);
  });

  it("keeps node_modules and .git out of the build context, and nothing the image copies", () => {
    const ignored = read(".dockerignore").split("\n").filter((line) => line && !line.startsWith("#"));
    expect(ignored).toEqual(expect.arrayContaining(["**/node_modules", ".git"]));
    for (const path of copiedFromContext) {
      expect(existsSync(join(repo, path)), path).toBe(true);
      expect(ignored.filter((pattern) => path === pattern || path.startsWith(`${pattern}/`)), path).toEqual([]);
    }
  });

  it("its command starts a real backend that its HEALTHCHECK reports unhealthy while down and healthy once ready", async () => {
    // The image's own argv, with the fixture checkpoint, loopback, a free port and the CPU (no GPU here) instead of the container's.
    const local: Record<string, string> = { "--model": fixture, "--host": "127.0.0.1", "--port": "0", "--execution-provider": "cpu" };
    const argv = imageCommand.map((value, index) => local[imageCommand[index - 1]] ?? value);
    const healthcheck = (port: string) =>
      new Promise<number>((done) => {
        const child = spawn("node", ["-e", healthcheckScript.replace(`:${exposedPort}/`, `:${port}/`)], { stdio: "ignore" });
        child.once("exit", (code) => done(code ?? 1));
      });
    const secret = "infra-test-secret";
    const backend = spawn("node", ["bin/moxie.js", ...argv], {
      cwd: repo,
      env: { ...process.env, MOXIE_BACKEND_SECRET: secret, MOXIE_CACHE_DIR: join(scratch, "cache") },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    backend.stdout.on("data", (chunk) => (output += chunk));
    backend.stderr.on("data", (chunk) => (output += chunk));
    const exited = new Promise<void>((done) => backend.once("exit", () => done()));
    try {
      const port = await new Promise<string>((found, failed) => {
        const check = () => {
          const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
          if (match) found(match[1]);
        };
        backend.stdout.on("data", check);
        backend.once("exit", (code) => failed(new Error(`moxie serve exited ${code}: ${output}`)));
      });
      let healthy = await healthcheck(port);
      for (let attempt = 0; healthy !== 0 && attempt < 300; attempt++) {
        await new Promise((wait) => setTimeout(wait, 200));
        healthy = await healthcheck(port);
      }
      expect(healthy, output).toBe(0);
      const models = await fetch(`http://127.0.0.1:${port}/v1/models`, { headers: { authorization: `Bearer ${secret}` } });
      const served = ((await models.json()) as { data: { id: string }[] }).data.map((model) => model.id);
      expect(served).toContain(flagValue(imageCommand, "--served-model-name"));
      backend.kill("SIGTERM");
      await exited;
      expect(await healthcheck(port)).not.toBe(0);
    } finally {
      backend.kill("SIGKILL");
    }
  }, 120_000);
});

// ---------------------------------------------------------------------------------------------
// infra/docker-compose.yml

const compose = yaml("infra/docker-compose.yml");
const services = Object.entries(compose.services as Record<string, Yaml>);
for (const [name, service] of services) if (service.command) invocations.push({ where: `compose ${name}`, argv: service.command });

describe("infra/docker-compose.yml", () => {
  it("runs two backends, each on its own GPU and host port, built from the backend Dockerfile", () => {
    expect(services.length).toBeGreaterThanOrEqual(2);
    const gpus = services.map(([, service]) => {
      const [device] = service.deploy.resources.reservations.devices;
      expect(device.driver).toBe("nvidia");
      expect(device.capabilities).toContain("gpu");
      return device.device_ids.join(",");
    });
    expect(new Set(gpus).size).toBe(services.length);
    const hostPorts = services.map(([, service]) => {
      const [mapping] = service.ports as string[];
      expect(mapping.endsWith(`:${exposedPort}`)).toBe(true);
      return mapping.split(":").at(-2);
    });
    expect(new Set(hostPorts).size).toBe(services.length);
    for (const [name, service] of services) {
      expect(join("infra", service.build.context, service.build.dockerfile), name).toBe("infra/gpu-backend/Dockerfile");
    }
  });

  it("requires the backend secret and the checkpoint folder, mounts the model read-only under the image's model path and a shared graph cache", () => {
    const model = flagValue(imageCommand, "--model")!;
    for (const [name, service] of services) {
      expect(service.environment.MOXIE_BACKEND_SECRET, name).toMatch(/^\$\{MOXIE_BACKEND_SECRET:\?/);
      const mounts = (service.volumes as string[]).map((volume) => volume.split(/:(?![^{]*\})/));
      expect(mounts, name).toContainEqual([expect.stringMatching(/^\$\{MOXIE_MODEL_DIR:\?/), model, "ro"]);
      const cache = mounts.find(([, target]) => target === imageEnv.get("MOXIE_CACHE_DIR"));
      expect(cache && cache[0] in compose.volumes, name).toBe(true);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// infra/skypilot/serve.yaml

/** The keys SkyPilot's task, service and replica-policy schemas accept (sky/utils/schemas.py). */
const skypilotKeys = {
  task: ["name", "workdir", "num_nodes", "resources", "file_mounts", "service", "setup", "run", "envs", "secrets", "volumes", "config"],
  service: ["readiness_probe", "replica_policy", "replicas", "load_balancing_policy", "load_balancer", "ports", "tls"],
  readinessProbe: ["path", "initial_delay_seconds", "timeout_seconds", "post_data", "headers"],
  replicaPolicy: ["min_replicas", "max_replicas", "target_qps_per_replica", "upscale_delay_seconds", "downscale_delay_seconds", "num_overprovision"],
  loadBalancingPolicies: ["round_robin", "least_load", "instance_aware_least_load"],
};

/** The argv after `bin/moxie.js` on a shell line, continuation lines joined. */
function moxieArgv(script: string): string[][] {
  return script
    .replace(/\\\n\s*/g, " ")
    .split("\n")
    .filter((line) => line.includes("bin/moxie.js"))
    .map((line) => line.split("bin/moxie.js")[1].trim().split(/\s+/).map((word) => word.replace(/^"|"$/g, "")));
}

async function lintShell(name: string, body: string): Promise<void> {
  const path = join(scratch, name);
  writeFileSync(path, `#!/usr/bin/env bash\n${body}`);
  await run("bash", ["-n", path]);
  if (hasShellcheck) await run("shellcheck", ["--shell=bash", path]);
}

const task = yaml("infra/skypilot/serve.yaml");
for (const argv of moxieArgv(task.run)) invocations.push({ where: "skypilot run", argv });

describe("infra/skypilot/serve.yaml", () => {
  it("uses only fields SkyServe knows, with a /health readiness probe and a load-based replica policy", () => {
    expect(Object.keys(task).filter((key) => !skypilotKeys.task.includes(key))).toEqual([]);
    expect(Object.keys(task.service).filter((key) => !skypilotKeys.service.includes(key))).toEqual([]);
    expect(Object.keys(task.service.readiness_probe).filter((key) => !skypilotKeys.readinessProbe.includes(key))).toEqual([]);
    expect(task.service.readiness_probe.path).toBe("/health");
    const policy = task.service.replica_policy;
    expect(Object.keys(policy).filter((key) => !skypilotKeys.replicaPolicy.includes(key))).toEqual([]);
    expect(policy.min_replicas).toBeGreaterThanOrEqual(1);
    expect(policy.max_replicas).toBeGreaterThan(policy.min_replicas);
    expect(policy.target_qps_per_replica).toBeGreaterThan(0);
    expect(skypilotKeys.loadBalancingPolicies).toContain(task.service.load_balancing_policy);
  });

  it("asks for one A100, H100 or L40S per replica and opens the port the backend listens on", () => {
    expect(Object.keys(task.resources.accelerators).sort()).toEqual(["A100", "H100", "L40S"]);
    expect(Object.values(task.resources.accelerators)).toEqual([1, 1, 1]);
    const [argv] = moxieArgv(task.run);
    expect(String(task.resources.ports)).toBe(flagValue(argv, "--port"));
    expect(flagValue(argv, "--host")).toBe("0.0.0.0");
  });

  it("takes the checkpoint bucket as a required variable and the backend secret as a SkyPilot secret", () => {
    expect(task.envs).toHaveProperty("MODEL_BUCKET", null);
    expect(task.secrets).toEqual({ MOXIE_BACKEND_SECRET: null });
    const [argv] = moxieArgv(task.run);
    const model = flagValue(argv, "--model")!;
    expect(task.file_mounts[model].source).toBe("${MODEL_BUCKET}");
    for (const variable of task.run.match(/\$\{?(\w+)/g)!.map((match: string) => match.replace(/^\$\{?/, ""))) {
      if (/^[A-Z_]+$/.test(variable) && !["LD_LIBRARY_PATH", "NVIDIA_LIBS"].includes(variable)) {
        expect(Object.keys(task.envs), variable).toContain(variable);
      }
    }
  });

  it("installs Node 20 and the project with the CUDA provider, and its scripts pass bash -n and shellcheck", async () => {
    expect(task.setup).toMatch(/setup_20\.x/);
    expect(task.setup).toMatch(/ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci --omit=dev/);
    await lintShell("skypilot-setup.sh", task.setup);
    await lintShell("skypilot-run.sh", task.run);
  });
});

// ---------------------------------------------------------------------------------------------
// infra/k8s/

const kustomization = yaml("infra/k8s/kustomization.yaml");
const manifests = (kustomization.resources as string[]).flatMap((file) => yamlDocuments(`infra/k8s/${file}`));
const byKind = (kind: string) => manifests.filter((manifest) => manifest.kind === kind);
const [deployment] = byKind("Deployment");
const pod = deployment.spec.template.spec;
const [container] = pod.containers;
if (container.args) invocations.push({ where: "k8s Deployment args", argv: container.args });

describe("infra/k8s", () => {
  it("lists every manifest in the kustomization, each with apiVersion, kind and name", () => {
    const kinds = manifests.map((manifest) => `${manifest.apiVersion} ${manifest.kind}`);
    expect(kinds).toEqual(
      expect.arrayContaining(["apps/v1 Deployment", "v1 Service", "autoscaling/v2 HorizontalPodAutoscaler", "v1 PersistentVolumeClaim"]),
    );
    for (const manifest of manifests) expect(manifest.metadata.name).toMatch(/^[a-z0-9-]+$/);
    expect(byKind("Deployment")).toHaveLength(1);
  });

  it("runs the backend image on one GPU with /health startup, readiness and liveness probes", () => {
    expect(container.image.split(":")[0]).toBe(kustomization.images[0].name);
    expect(container.resources.limits["nvidia.com/gpu"]).toBe(1);
    const port = container.ports.find((entry: Yaml) => String(entry.containerPort) === exposedPort);
    for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
      expect(container[probe].httpGet, probe).toEqual({ path: "/health", port: port.name });
    }
    // A command would replace the image's entrypoint (node bin/moxie.js); args alone keep it.
    expect(container.command).toBeUndefined();
  });

  it("runs as the image's non-root uid, takes the secret from a Secret, mounts the model and cache volumes from claims", () => {
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(String(pod.securityContext.runAsUser)).toBe(imageUid);
    expect(container.env).toContainEqual({
      name: "MOXIE_BACKEND_SECRET",
      valueFrom: { secretKeyRef: { name: "moxie-backend", key: "MOXIE_BACKEND_SECRET" } },
    });
    const claims = new Set(byKind("PersistentVolumeClaim").map((claim) => claim.metadata.name));
    const volumeClaims = new Map(pod.volumes.filter((volume: Yaml) => volume.persistentVolumeClaim).map((volume: Yaml) => [volume.name, volume.persistentVolumeClaim.claimName]));
    const mountOf = (path: string) =>
      container.volumeMounts.find((mount: Yaml) => path === mount.mountPath || path.startsWith(`${mount.mountPath}/`));
    const model = mountOf(flagValue(imageCommand, "--model")!);
    expect(model.readOnly).toBe(true);
    expect(claims.has(volumeClaims.get(model.name))).toBe(true);
    const cache = mountOf(imageEnv.get("MOXIE_CACHE_DIR")!);
    expect(cache.readOnly).toBeFalsy();
    expect(claims.has(volumeClaims.get(cache.name))).toBe(true);
    // With a read-only root filesystem, tsx's compile cache needs a writable temp directory.
    if (container.securityContext.readOnlyRootFilesystem) expect(mountOf("/tmp/tsx")).toBeDefined();
  });

  it("exposes the pods through a Service on the named port", () => {
    const [service] = byKind("Service");
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(deployment.spec.template.metadata.labels).toMatchObject(deployment.spec.selector.matchLabels);
    expect(container.ports.map((entry: Yaml) => entry.name)).toContain(service.spec.ports[0].targetPort);
  });

  it("autoscales the Deployment on metrics the backend exports, renamed by the prometheus-adapter rules, scraped with the secret", async () => {
    const [hpa] = byKind("HorizontalPodAutoscaler");
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: "apps/v1", kind: "Deployment", name: deployment.metadata.name });
    expect(hpa.spec.maxReplicas).toBeGreaterThan(hpa.spec.minReplicas);
    const exported = (await new ServingMetrics("m", () => undefined).registry.getMetricsAsJSON()).map((metric) => metric.name);
    const adapter = yaml("infra/k8s/prometheus-adapter.yaml");
    const renamed = adapter.rules.custom.flatMap((rule: Yaml) => {
      const series = new RegExp(/__name__=~"([^"]+)"/.exec(rule.seriesQuery)![1]);
      const pattern = new RegExp(rule.name.matches);
      return exported.filter((name) => series.test(name)).map((name) => name.replace(pattern, rule.name.as.replace(/\$\{(\d+)\}/g, "$$$1")));
    });
    expect(hpa.spec.metrics.length).toBeGreaterThan(0);
    for (const metric of hpa.spec.metrics) {
      expect(metric.type).toBe("Pods");
      expect(renamed).toContain(metric.pods.metric.name);
    }
    const [monitor] = yamlDocuments("infra/k8s/pod-monitor.yaml");
    expect(monitor.spec.selector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
    const [endpoint] = monitor.spec.podMetricsEndpoints;
    expect(container.ports.map((entry: Yaml) => entry.name)).toContain(endpoint.port);
    expect(endpoint.path).toBe("/metrics");
    expect(endpoint.authorization.credentials).toEqual(container.env[0].valueFrom.secretKeyRef);
  });
});

// ---------------------------------------------------------------------------------------------
// infra/deploy-worker.sh and infra/wrangler-config.ts (through infra/wrangler-config-cli.ts)

const offline = { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" };
/** A wrangler.toml for worker "gw" in the scratch folder, with these lines after name and main. */
function wranglerToml(file: string, lines: string[]): string {
  const path = join(scratch, file);
  writeFileSync(path, ['name = "gw"', 'main = "index.ts"', ...lines].join("\n"));
  return path;
}

describe("infra/deploy-worker.sh", () => {
  it("is executable bash with set -euo pipefail that passes bash -n and shellcheck", async () => {
    const script = read("infra/deploy-worker.sh");
    expect(script.startsWith("#!/usr/bin/env bash\n")).toBe(true);
    expect(script).toMatch(/^set -euo pipefail$/m);
    expect(statSync(join(repo, "infra/deploy-worker.sh")).mode & 0o111).not.toBe(0);
    await run("bash", ["-n", "infra/deploy-worker.sh"], { cwd: repo });
    if (hasShellcheck) await run("shellcheck", ["infra/deploy-worker.sh"], { cwd: repo });
  });

  it("refuses a Durable Object class that no migration creates, finds or falls back on resource ids, fills them into the deploy config", async () => {
    const config = wranglerToml("wrangler.toml", [
      'compatibility_date = "2026-04-20"',
      "[[d1_databases]]",
      'binding = "DB"',
      'database_name = "gw-db"',
      'database_id = "00000000-0000-0000-0000-000000000000"',
      "[[kv_namespaces]]",
      'binding = "KEY_CACHE"',
      "[[durable_objects.bindings]]",
      'name = "LIMITER"',
      'class_name = "Limiter"',
      "[[durable_objects.bindings]]",
      'name = "POOL"',
      'class_name = "Pool"',
      "[[migrations]]",
      'tag = "v1"',
      'new_sqlite_classes = ["Limiter"]',
    ]);
    await expect(durableObjects(config)).rejects.toThrow("no [[migrations]] entry creates Pool");
    expect(await resources(config)).toEqual([
      { kind: "d1", binding: "DB", name: "gw-db", configuredId: "00000000-0000-0000-0000-000000000000" },
      { kind: "kv", binding: "KEY_CACHE", name: "gw-key-cache", configuredId: undefined },
    ]);
    const databases = JSON.stringify([{ name: "other", uuid: "u-1" }, { name: "gw-db", uuid: "u-2" }]);
    expect(findD1(databases, "gw-db")).toBe("u-2");
    expect(findD1(databases, "gone")).toBeUndefined();
    const namespaces = JSON.stringify([{ id: "k-1", title: "gw-key-cache" }, { id: "k-2", title: "kept" }]);
    expect(findKv(namespaces, "gw-key-cache", "k-2")).toBe("k-2");
    expect(findKv(namespaces, "gw-key-cache", "placeholder")).toBe("k-1");
    expect(() => findD1("Not logged in.", "gw-db")).toThrow();

    const out = join(scratch, "deploy.json");
    await writeDeployConfig(config, out, new Map([["DB", "u-2"], ["KEY_CACHE", "k-1"]]));
    const written = JSON.parse(readFileSync(out, "utf8"));
    expect(written.d1_databases[0]).toMatchObject({ binding: "DB", database_name: "gw-db", database_id: "u-2" });
    expect(written.kv_namespaces[0]).toEqual({ binding: "KEY_CACHE", id: "k-1" });
    expect(written.durable_objects).toEqual({ bindings: [{ name: "LIMITER", class_name: "Limiter" }, { name: "POOL", class_name: "Pool" }] });
  });

  it("collects the secrets to upload (admin token, required, static backends', named) from the environment, never from arguments", async () => {
    const config = wranglerToml("secrets.toml", [
      "[secrets]",
      'required = ["CORS_TOKEN"]',
      "[vars]",
      `BACKENDS = '[{"id": "a", "url": "http://a:8000", "secret_name": "GPU_A_TOKEN"}, {"id": "b", "url": "http://b:8000"}]'`,
    ]);
    const out = join(scratch, "secrets.json");
    const env = { ADMIN_TOKEN: "admin-secret", GPU_A_TOKEN: "gpu-a-secret", CORS_TOKEN: "" };
    expect(await writeSecretsFile(config, out, env, ["SKY_TOKEN"])).toEqual([
      { name: "ADMIN_TOKEN", set: true },
      { name: "CORS_TOKEN", set: false },
      { name: "GPU_A_TOKEN", set: true },
      { name: "SKY_TOKEN", set: false },
    ]);
    expect(JSON.parse(readFileSync(out, "utf8"))).toEqual({ ADMIN_TOKEN: "admin-secret", GPU_A_TOKEN: "gpu-a-secret" });
    expect(statSync(out).mode & 0o077).toBe(0);
  });

  it("deploys through wrangler to a stand-in Cloudflare API: creates and migrates the database, uploads resolved ids and secrets", async () => {
    const api = await startFakeCloudflareApi("fake-account");
    try {
      const env = {
        ...offline,
        CLOUDFLARE_API_BASE_URL: api.baseUrl,
        CLOUDFLARE_API_TOKEN: "fake-token",
        CLOUDFLARE_ACCOUNT_ID: "fake-account",
        ADMIN_TOKEN: "admin-secret",
        GPU_TOKEN: "gpu-secret",
      };
      const { stdout } = await run("infra/deploy-worker.sh", ["--secret", "GPU_TOKEN"], { cwd: repo, env, maxBuffer: 16 * 1024 * 1024 });
      expect(api.account.unknown).toEqual([]);
      const wanted = await resources(join(repo, "wrangler.toml"));
      expect(api.account.databases.map((db) => db.name).sort()).toEqual(wanted.filter((r) => r.kind === "d1").map((r) => r.name).sort());
      for (const db of api.account.databases) expect(stdout).toContain(`creating D1 database ${db.name}`);
      expect(api.account.namespaces.map((kv) => kv.title).sort()).toEqual(wanted.filter((r) => r.kind === "kv").map((r) => r.name).sort());
      // Each migration file ran, and was recorded as applied.
      const migrationFiles = readdirSync(join(repo, "migrations")).filter((file) => file.endsWith(".sql"));
      const recorded = [...api.account.queries.values()].flat().flatMap((sql) => [...sql.matchAll(/INSERT INTO d1_migrations \(name\)\s*values\s*\('([^']+)'\)/gi)].map((match) => match[1]));
      expect(recorded.sort()).toEqual(migrationFiles.sort());

      expect(api.account.uploads).toHaveLength(1);
      // The console's files go up as the worker's static assets.
      expect(Object.keys(api.account.assets.get(api.account.uploads[0].script) ?? {})).toEqual(expect.arrayContaining(["/index.html", "/app.js"]));
      const { bindings, keep_bindings } = api.account.uploads[0].metadata;
      for (const db of api.account.databases) {
        const binding = wanted.find((r) => r.kind === "d1" && r.name === db.name)!.binding;
        expect(bindings).toContainEqual(expect.objectContaining({ name: binding, type: "d1", id: db.uuid }));
      }
      expect(bindings).toContainEqual({ name: "ADMIN_TOKEN", type: "secret_text", text: "admin-secret" });
      expect(bindings).toContainEqual({ name: "GPU_TOKEN", type: "secret_text", text: "gpu-secret" });
      // Secrets not in the environment keep their deployed values.
      expect(keep_bindings).toContain("secret_text");
      for (const { binding, className } of await durableObjects(join(repo, "wrangler.toml"))) {
        expect(bindings).toContainEqual(expect.objectContaining({ name: binding, type: "durable_object_namespace", class_name: className }));
      }
      expect(existsSync(join(repo, ".wrangler.deploy.json"))).toBe(false);
    } finally {
      await api.close();
    }
  }, 180_000);

  it("--dry-run bundles the worker offline with every Durable Object class exported, and leaves no generated config", async () => {
    const outdir = join(scratch, "bundle");
    const { stdout } = await run("infra/deploy-worker.sh", ["--dry-run", "--outdir", outdir], { cwd: repo, env: offline });
    expect(stdout).toContain("--dry-run: exiting now.");
    const bundle = readFileSync(join(outdir, "index.js"), "utf8");
    const exports = /export\s*\{([^}]*)\}\s*;?\s*(\/\/.*)?$/.exec(bundle.trimEnd())![1];
    const bound = await durableObjects(join(repo, "wrangler.toml"));
    expect(bound.length).toBeGreaterThan(0);
    for (const { binding, className } of bound) {
      expect(stdout).toContain(`${binding} -> class ${className}`);
      expect(exports.split(",").map((name) => name.trim().split(/\s+as\s+/).at(-1)), className).toContain(className);
    }
    expect(existsSync(join(repo, ".wrangler.deploy.json"))).toBe(false);
  }, 120_000);
});

// ---------------------------------------------------------------------------------------------
// What the infra files rely on elsewhere: CLI, gateway routing, README

describe("what the infra files rely on in the rest of the project", () => {
  it("names only moxie subcommands and flags that the CLI has", async () => {
    expect(invocations.length).toBeGreaterThanOrEqual(2);
    const { stdout: overview } = await run("node", ["bin/moxie.js", "--help"], { cwd: repo });
    const commands = overview.split("commands:")[1].split("\n\n")[0].split("\n").filter(Boolean).map((line) => line.trim().split(/\s+/)[0]);
    const flagsOf = new Map<string, string[]>();
    for (const { where, argv } of invocations) {
      const [command, ...rest] = argv;
      expect(commands, `${where}: moxie ${command}`).toContain(command);
      if (!flagsOf.has(command)) {
        const { stdout: help } = await run("node", ["bin/moxie.js", command, "--help"], { cwd: repo });
        flagsOf.set(command, help.split("\n").flatMap((line) => /^\s+(--[a-z0-9-]+)/.exec(line)?.[1] ?? []));
      }
      for (const flag of rest.filter((word) => word.startsWith("--"))) expect(flagsOf.get(command), `${where}: ${flag}`).toContain(flag);
    }
  });

  it("serves the model under a deployment name the gateway's MODELS routes chat to", async () => {
    const { unstable_readConfig } = await import("wrangler");
    const models = JSON.parse(String(unstable_readConfig({ config: join(repo, "wrangler.toml") }).vars.MODELS)) as { deployment: string; type: string }[];
    const chatDeployments = models.filter((model) => model.type === "chat").map((model) => model.deployment);
    expect(chatDeployments).toContain(flagValue(imageCommand, "--served-model-name"));
    expect(chatDeployments).toContain(task.envs.SERVED_MODEL_NAME);
  });

  it("the README's self-hosting guide covers every infra path", () => {
    const readme = read("README.md");
    const guide = readme.slice(readme.indexOf("## Self-hosting"));
    expect(readme).toContain("## Self-hosting");
    for (const path of ["infra/gpu-backend/Dockerfile", "infra/docker-compose.yml", "infra/skypilot/serve.yaml", "infra/k8s", "infra/deploy-worker.sh"]) {
      expect(guide, path).toContain(path);
    }
  });
});
