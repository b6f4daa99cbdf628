import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readGguf } from "../../backend/engine/checkpoint/gguf/gguf-file.ts";
import { writeGguf } from "./support/gguf-writer.ts";

const dir = await mkdtemp(join(tmpdir(), "moxie-gguf-writer-"));

describe("the test helper that writes GGUF files", () => {
  it("writes what readGguf reads back: every value type, and tensors at 32-byte boundaries", async () => {
    const file = join(dir, "all.gguf");
    const f32 = new Uint8Array(new Float32Array([1, -2, 3.5]).buffer);
    const q8 = new Uint8Array(34).fill(7);
    await writeGguf(file, {
      metadata: [
        ["u8", "uint8", 255],
        ["i8", "int8", -128],
        ["u16", "uint16", 65535],
        ["i16", "int16", -32768],
        ["u32", "uint32", 4294967295],
        ["i32", "int32", -2147483648],
        ["f32", "float32", 0.5],
        ["yes", "bool", true],
        ["name", "string", "μικρό"],
        ["u64", "uint64", 2n ** 60n],
        ["i64", "int64", -5],
        ["f64", "float64", Math.PI],
        ["list", "string[]", ["a", "", "▁b"]],
        ["scores", "float32[]", [-1, 0.25]],
      ],
      tensors: [
        { name: "small", type: "F32", dims: [3], data: f32 },
        { name: "blocks", type: "Q8_0", dims: [32, 1], data: q8 },
      ],
    });
    const gguf = readGguf(file);
    expect(gguf.version).toBe(3);
    expect(Object.fromEntries(gguf.metadata)).toEqual({
      u8: 255,
      i8: -128,
      u16: 65535,
      i16: -32768,
      u32: 4294967295,
      i32: -2147483648,
      f32: 0.5,
      yes: true,
      name: "μικρό",
      u64: 2n ** 60n,
      i64: -5,
      f64: Math.PI,
      list: ["a", "", "▁b"],
      scores: [-1, 0.25],
    });
    const bytes = await readFile(file);
    for (const [name, data] of [
      ["small", f32],
      ["blocks", q8],
    ] as const) {
      const tensor = gguf.tensors.get(name)!;
      expect(tensor.offset % 32, name).toBe(0);
      expect(bytes.subarray(tensor.offset, tensor.offset + tensor.byteLength), name).toEqual(Buffer.from(data));
    }
    expect(gguf.tensors.get("blocks")).toMatchObject({ type: "Q8_0", dims: [32, 1], byteLength: 34 });
  });

  it("writes type ids moxie refuses, and honours general.alignment", async () => {
    const file = join(dir, "q2k.gguf");
    await writeGguf(file, {
      metadata: [["general.alignment", "uint32", 64]],
      tensors: [
        { name: "first", type: "F32", dims: [1], data: new Uint8Array(4) },
        { name: "odd", type: 10, dims: [256], data: new Uint8Array(84) },
      ],
    });
    expect(() => readGguf(file)).toThrow(/tensor odd is Q2_K, which moxie does not read/);
    const aligned = join(dir, "aligned.gguf");
    await writeGguf(aligned, {
      metadata: [["general.alignment", "uint32", 64]],
      tensors: [
        { name: "first", type: "F32", dims: [1], data: new Uint8Array(4) },
        { name: "second", type: "F32", dims: [1], data: new Uint8Array(4) },
      ],
    });
    const offsets = [...readGguf(aligned).tensors.values()].map((tensor) => tensor.offset);
    expect(offsets.every((offset) => offset % 64 === 0) && offsets[1] - offsets[0] === 64).toBe(true);
  });
});
