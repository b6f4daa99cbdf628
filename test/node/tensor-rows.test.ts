import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { readSafetensorsHeader, tensorDtypes } from "../../backend/engine/checkpoint/safetensors.ts";
import { readTensorF32 } from "../../backend/engine/checkpoint/tensor-data.ts";
import { writeSafetensors } from "../../backend/engine/checkpoint/safetensors-writer.ts";
import { TensorRows } from "../../backend/engine/checkpoint/tensor-rows.ts";

const [vocab, width] = [50, 12];

it.each(tensorDtypes)(
  "gathers %s rows as the whole tensor reads them, even after the file is deleted",
  async (dtype) => {
    const dir = mkdtempSync(join(tmpdir(), "moxie-rows-"));
    const spec = { name: "embed", shape: [vocab, width] };
    writeSafetensors(dir, [spec], () => Float32Array.from({ length: vocab * width }, (_, i) => Math.sin(i) * 3), dtype);
    const [entry] = await readSafetensorsHeader(join(dir, "model.safetensors"));
    const table = readTensorF32(entry);
    const rows = new TensorRows(entry);
    rmSync(dir, { recursive: true });
    try {
      const ids = [7, 0, 49, 7];
      expect(rows.width).toBe(width);
      expect(Array.from(rows.gather(ids))).toEqual(
        ids.flatMap((id) => Array.from(table.subarray(id * width, (id + 1) * width))),
      );
      expect(rows.gather([])).toHaveLength(0);
    } finally {
      rows.close();
    }
  },
);
