import { UsageInfo } from "../../protocol/index.ts";

/** `"usage":` as a JSON key: inside a JSON string its quotes would be escaped, so it cannot match there. */
const USAGE_KEY = /"usage"\s*:\s*/;
/** Text kept between pieces: enough for a key split across two, and for the usage object itself. */
const MAX_KEPT = 4096;

/**
 * Finds the usage object in a JSON answer read piece by piece and never held whole (one too large
 * to buffer), so the request is still charged what it used.
 */
export class UsageScan {
  private kept = "";
  private state: "seeking" | "reading" | "done" = "seeking";
  usage: UsageInfo | null = null;

  feed(text: string): void {
    if (this.state === "done") return;
    let buffer = this.kept + text;
    if (this.state === "seeking") {
      const key = USAGE_KEY.exec(buffer);
      if (!key) {
        this.kept = buffer.slice(-MAX_KEPT);
        return;
      }
      this.state = "reading";
      buffer = buffer.slice(key.index + key[0].length);
    }
    // The usage object holds numbers and objects of numbers: its end is where its braces balance.
    let depth = 0;
    for (let index = 0; index < buffer.length; index++) {
      if (buffer[index] === "{") depth += 1;
      else if (buffer[index] === "}" && --depth === 0) return this.finish(parseUsage(buffer.slice(0, index + 1)));
      if (depth === 0) return this.finish(null);
    }
    if (buffer.length > MAX_KEPT) return this.finish(null);
    this.kept = buffer;
  }

  private finish(usage: UsageInfo | null): void {
    this.usage = usage;
    this.state = "done";
    this.kept = "";
  }
}

function parseUsage(json: string): UsageInfo | null {
  try {
    const parsed = UsageInfo.safeParse(JSON.parse(json));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
