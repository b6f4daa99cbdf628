import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

const swiftShader = process.env.VK_ICD_FILENAMES ?? "/usr/lib/chromium/vk_swiftshader_icd.json";

function webGpuProject(name: string, include: string[], vulkanDriver: string) {
  return {
    test: {
      name,
      include,
      environment: "node" as const,
      env: {
        MOXIE_TEST_EXECUTION_PROVIDER: "webgpu",
        VK_ICD_FILENAMES: vulkanDriver,
        XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? "/tmp",
      },
      // A CPU Vulkan compiles every kernel on first use: seconds each on two busy cores.
      testTimeout: 300_000,
      hookTimeout: 300_000,
    },
  };
}

export default defineConfig({
  test: {
    projects: [
      {
        // The gateway runs inside real workerd, with real D1 and Durable Objects.
        // Migrations are read here (Node) and applied by test/gateway/apply-migrations.ts (workerd);
        // the backends the gateway routes to are a real HTTP server started by the global setup.
        plugins: [
          cloudflareTest(async ({ inject }) => ({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: {
                TEST_MIGRATIONS: await readD1Migrations("./migrations"),
                FAKE_BACKEND_URL: inject("fakeBackendUrl"),
                ADMIN_TOKEN: "test-admin-token",
                TEST_BACKEND_SECRET: "test-backend-secret",
                EXTERNAL_BACKEND_KEY: "test-external-upstream-key",
                BREAKER_COOLDOWN_SECONDS: "1",
                UPSTREAM_IDLE_SECONDS: "2",
                UPSTREAM_TIMEOUT_SECONDS: "2",
                ALLOW_LOOPBACK_BACKENDS: "true",
                OTEL_EXPORTER_OTLP_ENDPOINT: `${inject("fakeBackendUrl")}/otlp`,
              },
            },
          })),
        ],
        test: {
          name: "gateway",
          include: ["test/gateway/**/*.test.ts"],
          setupFiles: ["./test/gateway/apply-migrations.ts"],
          globalSetup: ["./test/node/support/gateway-global-setup.ts"],
        },
      },
      {
        test: {
          name: "node",
          include: ["test/node/**/*.test.ts"],
          environment: "node",
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      // The engine tests again through the WebGPU EP on a CPU Vulkan driver: the weights and the KV
      // pool on the device, correctness only (README: Running on a GPU). SwiftShader (Debian's
      // chromium package) has no shader-f16; a float16 pool runs on lavapipe from Mesa 25, which
      // .ci/run unpacks (MOXIE_LAVAPIPE_ICD names its driver; without it that project does not run).
      webGpuProject("webgpu", ["test/webgpu/**/*.test.ts", "test/node/engine-quantization.test.ts"], swiftShader),
      ...(process.env.MOXIE_LAVAPIPE_ICD
        ? [webGpuProject("lavapipe", ["test/lavapipe/**/*.test.ts"], process.env.MOXIE_LAVAPIPE_ICD)]
        : []),
    ],
  },
});
