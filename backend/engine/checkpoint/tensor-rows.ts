import { closeSync, openSync } from "node:fs";
import { readFully, type TensorEntry } from "./safetensors.ts";
import { decodeF32, rowBytes } from "./tensor-data.ts";

/**
 * Rows of a 2-D checkpoint tensor read on demand with pread, for the token embedding. Inside the
 * graph the table is mapped from the graph's weight file, and every row a prompt touches, with the
 * kernel's read-ahead around it, stays resident in the process (about 35 MB after one 512-token
 * prompt on `mini`, the whole 131 MB table in a long-running server; 512 MB for Mixtral-8x7B).
 * Read this way the rows go through the page cache, which the kernel can reclaim, and a step reads
 * 4–16 KB per token.
 */
export class TensorRows {
  readonly width: number;
  private readonly rowBytes: number;
  /** Opened at once, so the rows stay readable even if the checkpoint's files are moved or deleted later. */
  private readonly fd: number;

  constructor(private readonly entry: TensorEntry) {
    if (entry.shape.length !== 2)
      throw new Error(`${entry.name}: rows need a 2-D tensor, not [${entry.shape.join(",")}]`);
    this.width = entry.shape[1];
    this.rowBytes = rowBytes(entry);
    this.fd = openSync(entry.file, "r");
  }

  /**
   * The rows of `ids`, one after another, as float32 [ids.length, width]: widened, or dequantised
   * row by row (a quantised embedding is never expanded whole). Ids are checked by the caller.
   */
  gather(ids: readonly number[]): Float32Array {
    const { dtype, offset, name } = this.entry;
    const out = new Float32Array(ids.length * this.width);
    const raw = new Uint8Array(this.rowBytes);
    for (let i = 0; i < ids.length; i++) {
      readFully(this.fd, raw, offset + ids[i] * this.rowBytes, name);
      decodeF32(dtype, raw, out.subarray(i * this.width, (i + 1) * this.width));
    }
    return out;
  }

  close(): void {
    closeSync(this.fd);
  }
}
