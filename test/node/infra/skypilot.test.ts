/** infra/skypilot/serve.yaml: read against SkyServe's schema, its scripts linted (no SkyPilot here). */
import { describe, expect, it } from "vitest";
import { CUDA_PROVIDER_INSTALL, flagValue, lintShell, moxieArgv, task } from "./infra-files.ts";

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
      if (/^[A-Z_]+$/.test(variable) && !["LD_LIBRARY_PATH", "NVIDIA_LIBS"].includes(variable)) {
        expect(Object.keys(task.envs), variable).toContain(variable);
      }
    }
  });

  it("installs Node 20 and the project with the CUDA provider, and its scripts pass bash -n and shellcheck", async () => {
    expect(task.setup).toMatch(/setup_20\.x/);
    expect(task.setup).toMatch(CUDA_PROVIDER_INSTALL);
    await lintShell("skypilot-setup.sh", task.setup);
    await lintShell("skypilot-run.sh", task.run);
  });
});
