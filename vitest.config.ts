import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

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
      {
        // The engine tests again through the WebGPU EP, on SwiftShader (Debian's chromium package):
        // the weights and the KV pool on the device, correctness only (README: Running on a GPU).
        test: {
          name: "webgpu",
          include: ["test/webgpu/**/*.test.ts", "test/node/engine-quantization.test.ts"],
          environment: "node",
          env: {
            MOXIE_TEST_EXECUTION_PROVIDER: "webgpu",
            VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES ?? "/usr/lib/chromium/vk_swiftshader_icd.json",
            XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? "/tmp",
          },
          // SwiftShader compiles every kernel on first use: seconds each on two busy cores.
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
      // A float16 KV pool on the device needs shader-f16: lavapipe from Mesa 25, where .ci/run
      // unpacked it (MOXIE_LAVAPIPE_ICD names its driver; without it this project does not run).
      ...(process.env.MOXIE_LAVAPIPE_ICD
        ? [
            {
              test: {
                name: "lavapipe",
                include: ["test/lavapipe/**/*.test.ts"],
                environment: "node" as const,
                env: {
                  MOXIE_TEST_EXECUTION_PROVIDER: "webgpu",
                  VK_ICD_FILENAMES: process.env.MOXIE_LAVAPIPE_ICD,
                  XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? "/tmp",
                },
                testTimeout: 300_000,
                hookTimeout: 300_000,
              },
            },
          ]
        : []),
    ],
  },
});
