import { describe, expect, it } from "vitest";
import { backendUrlProblem } from "../../gateway/routing/backend-url-policy.ts";
import { adminCall } from "./gateway-client.ts";

describe("registering backends through the admin API", () => {
  it("refuses secret names that are not backend secrets, so no backend is sent ADMIN_TOKEN", async () => {
    for (const secret_name of ["ADMIN_TOKEN", "MODELS", "backend_secret", "NOTABACKENDSECRET"]) {
      const response = await adminCall("POST", "/backends", {
        id: "exfil",
        url: "https://gpu.example.com",
        secret_name,
      });
      expect(response.status, secret_name).toBe(422);
      expect(await response.json()).toMatchObject({ detail: [{ loc: ["body", "secret_name"] }] });
    }
    for (const secret_name of ["BACKEND_SECRET", "MOXIE_BACKEND_SECRET", "GPU1_BACKEND_TOKEN"]) {
      expect(
        (await adminCall("POST", "/backends", { id: "named", url: "https://gpu.example.com", secret_name })).status,
        secret_name,
      ).toBe(201);
    }
    expect((await adminCall("DELETE", "/backends/named")).status).toBe(204);
  });

  it("marks a registered backend as added, the one kind DELETE removes; an unknown one is 404", async () => {
    const registered = await adminCall("POST", "/backends", { id: "removable", url: "https://gpu.example.com" });
    expect(await registered.json()).toMatchObject({ id: "removable", source: "added" });
    const { data } = await (await adminCall("GET", "/backends")).json<{ data: { id: string; source: string }[] }>();
    expect(data.find((backend) => backend.id === "removable")?.source).toBe("added");
    expect((await adminCall("DELETE", "/backends/removable")).status).toBe(204);
    const again = await adminCall("DELETE", "/backends/removable");
    expect(again.status).toBe(404);
    expect(await again.json()).toMatchObject({ message: "No registered backend 'removable'" });
  });

  it("refuses link-local, credential-carrying and self-pointing URLs", async () => {
    for (const url of [
      "http://169.254.169.254/latest",
      "http://[fe80::1]:8000",
      "http://[::ffff:169.254.169.254]/",
      "https://user:pw@gpu.example.com",
      "http://gateway/admin",
    ]) {
      const response = await adminCall("POST", "/backends", { id: "bad-url", url, secret_name: "BACKEND_SECRET" });
      expect(response.status, url).toBe(422);
      expect(await response.json()).toMatchObject({ detail: [{ loc: ["body", "url"], msg: expect.any(String) }] });
    }
  });

  it("stores one spelling of a backend URL, and refuses a query or a fragment", async () => {
    const registered = await adminCall("POST", "/backends", {
      id: "spelled",
      url: "HTTPS://GPU.Example.COM:443/Base/",
    });
    expect(registered.status).toBe(201);
    expect(await registered.json()).toMatchObject({ url: "https://gpu.example.com/Base" });
    expect((await adminCall("DELETE", "/backends/spelled")).status).toBe(204);
    for (const url of ["https://gpu.example.com/?token=1", "https://gpu.example.com/#x", "https://gpu.example.com?"]) {
      const response = await adminCall("POST", "/backends", { id: "queried", url });
      expect(response.status, url).toBe(422);
      expect(await response.json()).toMatchObject({
        detail: [{ loc: ["body", "url"], msg: expect.stringMatching(/query/) }],
      });
    }
  });

  it("allows loopback only when ALLOW_LOOPBACK_BACKENDS says so", () => {
    const gatewayHost = "gateway.example.com";
    for (const url of ["http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000", "http://0.0.0.0:8000"]) {
      expect(backendUrlProblem(url, { allowLoopback: false, gatewayHost }), url).toMatch(/ALLOW_LOOPBACK_BACKENDS/);
      expect(backendUrlProblem(url, { allowLoopback: true, gatewayHost }), url).toBeNull();
    }
    expect(backendUrlProblem("http://10.0.0.7:8000", { allowLoopback: false, gatewayHost })).toBeNull();
  });
});
