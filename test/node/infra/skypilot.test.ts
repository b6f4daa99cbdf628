/** infra/skypilot/serve.yaml: read against SkyServe's schema, its scripts linted (no SkyPilot here). */
import { describe, expect, it } from "vitest";
import { byteSize } from "../../../cli/command.ts";
import {
  aptInstalled,
  flagValue,
  lintShell,
  moxieArgv,
  PROJECT_INSTALL,
  read,
  task,
  VULKAN_PACKAGES,
} from "./infra-files.ts";

/** The keys SkyPilot's task, service and replica-policy schemas accept (sky/utils/schemas.py). */
const skypilotKeys = {
  task: [
    "name",
    "workdir",
    "num_nodes",
    "resources",
    "file_mounts",
    "service",
    "setup",
    "run",
    "envs",
    "secrets",
    "volumes",
    "config",
  ],
  service: ["readiness_probe", "replica_policy", "replicas", "load_balancing_policy", "load_balancer", "ports", "tls"],
  readinessProbe: ["path", "initial_delay_seconds", "timeout_seconds", "post_data", "headers"],
  replicaPolicy: [
    "min_replicas",
    "max_replicas",
    "target_qps_per_replica",
    "upscale_delay_seconds",
    "downscale_delay_seconds",
    "num_overprovision",
  ],
  loadBalancingPolicies: ["round_robin", "least_load", "instance_aware_least_load"],
};

describe("infra/skypilot/serve.yaml", () => {
  it("uses only fields SkyServe knows, with a /health readiness probe and a load-based replica policy", () => {
    expect(Object.keys(task).filter((key) => !skypilotKeys.task.includes(key))).toEqual([]);
    expect(Object.keys(task.service).filter((key) => !skypilotKeys.service.includes(key))).toEqual([]);
    expect(
      Object.keys(task.service.readiness_probe).filter((key) => !skypilotKeys.readinessProbe.includes(key)),
    ).toEqual([]);
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
      if (/^[A-Z_]+$/.test(variable)) expect(Object.keys(task.envs), variable).toContain(variable);
    }
  });

  it("runs moxie on the GPU through WebGPU, with a float16 KV pool sized by a variable (a device cannot report its memory)", () => {
    const [argv] = moxieArgv(task.run);
    expect(flagValue(argv, "--execution-provider")).toBe("webgpu");
    expect(flagValue(argv, "--kv-cache-dtype")).toBe("$KV_CACHE_DTYPE");
    expect(task.envs.KV_CACHE_DTYPE).toBe("float16");
    expect(flagValue(argv, "--kv-cache-memory")).toBe("$KV_CACHE_MEMORY");
    expect(byteSize(task.envs.KV_CACHE_MEMORY, "kv-cache-memory")).toBeGreaterThan(0);
  });

  it("installs Node 20, the Vulkan loader and what NVIDIA's Vulkan driver loads, and the project, and its scripts pass bash -n and shellcheck", async () => {
    expect(task.setup).toMatch(/setup_20\.x/);
    expect(aptInstalled(task.setup)).toEqual(expect.arrayContaining(VULKAN_PACKAGES));
    expect(task.setup).toMatch(PROJECT_INSTALL);
    // Nothing of the retired CUDA route: no CUDA wheels, provider download or library path.
    expect(read("infra/skypilot/serve.yaml")).not.toMatch(/cuda|LD_LIBRARY_PATH/i);
    await lintShell("skypilot-setup.sh", task.setup);
    await lintShell("skypilot-run.sh", task.run);
  });
});
