/** infra/docker-compose.yml: two backends built from the backend Dockerfile, read and checked (no Docker engine here). */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  compose,
  DRIVER_CAPABILITIES,
  exposedPort,
  flagValue,
  imageCommand,
  imageEnv,
  read,
  services,
} from "./infra-files.ts";

describe("infra/docker-compose.yml", () => {
  it("runs two backends, each on its own GPU (with the graphics capability: WebGPU runs on Vulkan) and host port, built from the backend Dockerfile", () => {
    expect(services.length).toBeGreaterThanOrEqual(2);
    const gpus = services.map(([, service]) => {
      const [device] = service.deploy.resources.reservations.devices;
      expect(device.driver).toBe("nvidia");
      // Docker passes the driver capabilities listed here as NVIDIA_DRIVER_CAPABILITIES, replacing the image's.
      expect(device.capabilities).toEqual(expect.arrayContaining(["gpu", ...DRIVER_CAPABILITIES]));
      return device.device_ids.join(",");
    });
    expect(new Set(gpus).size).toBe(services.length);
    expect(read("infra/docker-compose.yml")).not.toMatch(/cuda/i);
    const hostPorts = services.map(([, service]) => {
      const [mapping] = service.ports as string[];
      expect(mapping.endsWith(`:${exposedPort}`)).toBe(true);
      return mapping.split(":").at(-2);
    });
    expect(new Set(hostPorts).size).toBe(services.length);
    for (const [name, service] of services) {
      expect(join("infra", service.build.context, service.build.dockerfile), name).toBe("infra/backend/Dockerfile");
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

  it("restarts a backend that exits: `moxie serve` exits non-zero when the GPU fails", () => {
    for (const [name, service] of services)
      expect(["unless-stopped", "always", "on-failure"], name).toContain(service.restart);
  });
});
