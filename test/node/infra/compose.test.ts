/** infra/docker-compose.yml: two backends built from the backend Dockerfile, read and checked (no Docker engine here). */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compose, exposedPort, flagValue, imageCommand, imageEnv, services } from "./infra-files.ts";

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
});
