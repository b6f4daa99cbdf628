/** infra/k8s/: the manifests, read and checked against the image and the metrics the backend exports (no cluster here). */
import { describe, expect, it } from "vitest";
import { ServingMetrics } from "../../../backend/server/metrics.ts";
import {
  byKind,
  container,
  deployment,
  DRIVER_CAPABILITIES,
  exposedPort,
  flagValue,
  imageCommand,
  imageEnv,
  imageUid,
  kustomization,
  manifests,
  pod,
  read,
  yaml,
  yamlDocuments,
  type Yaml,
} from "./infra-files.ts";

describe("infra/k8s", () => {
  it("lists every manifest in the kustomization, each with apiVersion, kind and name", () => {
    const kinds = manifests.map((manifest) => `${manifest.apiVersion} ${manifest.kind}`);
    expect(kinds).toEqual(
      expect.arrayContaining([
        "apps/v1 Deployment",
        "v1 Service",
        "autoscaling/v2 HorizontalPodAutoscaler",
        "v1 PersistentVolumeClaim",
      ]),
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

  it("asks the NVIDIA runtime for the graphics capability (WebGPU runs on Vulkan) and restarts a backend that exits", () => {
    const capabilities = container.env.find((entry: Yaml) => entry.name === "NVIDIA_DRIVER_CAPABILITIES");
    expect(capabilities.value.split(",")).toEqual(expect.arrayContaining(DRIVER_CAPABILITIES));
    expect(capabilities.value).toBe(imageEnv.get("NVIDIA_DRIVER_CAPABILITIES"));
    // `moxie serve` exits non-zero when the GPU fails: the kubelet restarts it (a Deployment's pods always restart).
    expect(pod.restartPolicy ?? "Always").toBe("Always");
    for (const file of kustomization.resources as string[])
      expect(read(`infra/k8s/${file}`), file).not.toMatch(/cuda/i);
  });

  it("runs as the image's non-root uid, takes the secret from a Secret, mounts the model and cache volumes from claims", () => {
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(String(pod.securityContext.runAsUser)).toBe(imageUid);
    expect(container.env).toContainEqual({
      name: "MOXIE_BACKEND_SECRET",
      valueFrom: { secretKeyRef: { name: "moxie-backend", key: "MOXIE_BACKEND_SECRET" } },
    });
    const claims = new Set(byKind("PersistentVolumeClaim").map((claim) => claim.metadata.name));
    const volumeClaims = new Map(
      pod.volumes
        .filter((volume: Yaml) => volume.persistentVolumeClaim)
        .map((volume: Yaml) => [volume.name, volume.persistentVolumeClaim.claimName]),
    );
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
    expect(hpa.spec.scaleTargetRef).toEqual({
      apiVersion: "apps/v1",
      kind: "Deployment",
      name: deployment.metadata.name,
    });
    expect(hpa.spec.maxReplicas).toBeGreaterThan(hpa.spec.minReplicas);
    const exported = (await new ServingMetrics("m", () => undefined).registry.getMetricsAsJSON()).map(
      (metric) => metric.name,
    );
    const adapter = yaml("infra/k8s/prometheus-adapter.yaml");
    const renamed = adapter.rules.custom.flatMap((rule: Yaml) => {
      const series = new RegExp(/__name__=~"([^"]+)"/.exec(rule.seriesQuery)![1]);
      const pattern = new RegExp(rule.name.matches);
      return exported
        .filter((name) => series.test(name))
        .map((name) => name.replace(pattern, rule.name.as.replace(/\$\{(\d+)\}/g, "$$$1")));
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
