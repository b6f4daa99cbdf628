/** What start-up reports of the GPU that WebGPU (Dawn) finds, and the limits that size the KV pool. */
export interface WebGpuAdapter {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** Bytes of the largest buffer, and of the largest one a kernel may bind: each layer's key or value pool is one. */
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
  shaderF16: boolean;
}

export const noAdapterHelp =
  "WebGPU found no GPU adapter. It runs on Vulkan on Linux: install the Vulkan loader (Debian/Ubuntu: libvulkan1) " +
  "and a driver that provides a Vulkan ICD (NVIDIA's driver; in a container set NVIDIA_DRIVER_CAPABILITIES to include graphics). " +
  "Point the loader at a driver with VK_ICD_FILENAMES=/path/to/icd.json, and check with `vulkaninfo --summary`. " +
  "Without a GPU, SwiftShader (Debian's chromium package: VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json) runs it slowly, for tests.";

/**
 * Asks Dawn (the `webgpu` package, the same WebGPU implementation ONNX Runtime bundles) for the
 * high-performance adapter. Throws noAdapterHelp when there is none; returns undefined when the
 * package is not installed (a bundled build), and ONNX Runtime's own adapter request decides.
 */
export async function findWebGpuAdapter(): Promise<WebGpuAdapter | undefined> {
  let dawn: typeof import("webgpu");
  try {
    dawn = await import("webgpu");
  } catch {
    return undefined;
  }
  const adapter = await dawn.create([]).requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) throw new Error(noAdapterHelp);
  const { vendor, architecture, device, description } = adapter.info;
  const { maxBufferSize, maxStorageBufferBindingSize } = adapter.limits;
  return {
    vendor,
    architecture,
    device,
    description,
    maxBufferSize,
    maxStorageBufferBindingSize,
    shaderF16: adapter.features.has("shader-f16"),
  };
}

export function describeAdapter(adapter: WebGpuAdapter): string {
  const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;
  return (
    `WebGPU adapter: ${adapter.vendor} ${adapter.architecture} (${adapter.description || adapter.device}); ` +
    `max buffer ${gib(adapter.maxBufferSize)}, max storage binding ${gib(adapter.maxStorageBufferBindingSize)}, ` +
    `shader-f16 ${adapter.shaderF16 ? "yes" : "no"}`
  );
}
