import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { IDLE_LOAD, type LoadReport } from "../../protocol/health.ts";

const latencyBuckets = [
  0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80,
];

/**
 * Prometheus metrics under vLLM's names (v1 engine), so dashboards and autoscalers written for
 * vLLM read a moxie backend unchanged. Load gauges and prefilled prompt tokens are read from the
 * worker's latest status at scrape time; request figures are recorded as requests run.
 */
export class ServingMetrics {
  readonly registry = new Registry();
  private readonly generationTokens: Counter;
  private readonly requestSuccess: Counter<"model_name" | "finished_reason">;
  private readonly timeToFirstToken: Histogram;
  private readonly interTokenLatency: Histogram;
  private readonly e2eLatency: Histogram;
  private readonly labels: { model_name: string };

  constructor(modelName: string, status: () => LoadReport | undefined) {
    const labels = { model_name: modelName };
    const registers = [this.registry];
    const load = () => status() ?? IDLE_LOAD;
    const described = (name: string, help: string) => ({ name, help, labelNames: ["model_name"] as const, registers });
    const gauge = (name: string, help: string, read: (load: LoadReport) => number) => {
      const metric: Gauge<"model_name"> = new Gauge({
        ...described(name, help),
        collect: () => metric.set(labels, read(load())),
      });
    };
    gauge("vllm:num_requests_running", "Number of sequences in the running batch.", (load) => load.running);
    gauge("vllm:num_requests_waiting", "Number of sequences waiting to start.", (load) => load.waiting);
    gauge(
      "vllm:kv_cache_usage_perc",
      "KV-cache usage: the fraction of KV blocks held by running sequences (1 = 100%).",
      (load) =>
        load.kv_cache_blocks === 0 ? 0 : (load.kv_cache_blocks - load.free_kv_cache_blocks) / load.kv_cache_blocks,
    );
    const counter = (name: string, help: string) => new Counter(described(name, help));
    /** A counter that follows a running total of the load report. */
    const totalCounter = (name: string, help: string, read: (load: LoadReport) => number) => {
      let counted = 0;
      const metric: Counter<"model_name"> = new Counter({
        ...described(name, help),
        collect: () => {
          const total = read(load());
          metric.inc(labels, total - counted);
          counted = total;
        },
      });
    };
    const totals: [name: string, help: string, read: (load: LoadReport) => number][] = [
      // The engine's prefill work, so the n choices of a request, which share one prefill, count their prompt once.
      ["vllm:prompt_tokens_total", "Number of prefill tokens processed.", (load) => load.prefilled_tokens],
      [
        "vllm:prefix_cache_queries_total",
        "Prefix cache queries, in terms of number of queried tokens.",
        (load) => load.prefix_cache_queries,
      ],
      [
        "vllm:prefix_cache_hits_total",
        "Prefix cache hits, in terms of number of cached tokens.",
        (load) => load.prefix_cache_hits,
      ],
      ["vllm:num_preemptions_total", "Cumulative number of preemptions from the engine.", (load) => load.preemptions],
      [
        "moxie:engine_uploaded_bytes_total",
        "Bytes fed to the engine's session (host to device on a GPU); the KV pool, read in place, is not counted.",
        (load) => load.uploaded_bytes,
      ],
      [
        "moxie:engine_downloaded_bytes_total",
        "Bytes fetched from the engine's session (device to host on a GPU): drawn tokens, or the logits rows a request needs.",
        (load) => load.downloaded_bytes,
      ],
      [
        "moxie:engine_steps_gathered_total",
        "Engine steps whose attention gathered each row's cached blocks into one tensor per layer.",
        (load) => load.steps_gathered,
      ],
      [
        "moxie:engine_steps_read_in_place_total",
        "Engine steps whose attention read a window of the KV pool where it lies, without a copy.",
        (load) => load.steps_read_in_place,
      ],
    ];
    for (const [name, help, read] of totals) totalCounter(name, help, read);
    this.generationTokens = counter("vllm:generation_tokens_total", "Number of generation tokens processed.");
    this.requestSuccess = new Counter({
      name: "vllm:request_success_total",
      help: "Count of finished requests by finish reason.",
      labelNames: ["model_name", "finished_reason"],
      registers,
    });
    const histogram = (name: string, help: string) =>
      new Histogram({ name, help, labelNames: ["model_name"], buckets: latencyBuckets, registers });
    this.timeToFirstToken = histogram(
      "vllm:time_to_first_token_seconds",
      "Histogram of time to first token in seconds.",
    );
    this.interTokenLatency = histogram(
      "vllm:inter_token_latency_seconds",
      "Histogram of inter-token latency in seconds.",
    );
    this.e2eLatency = histogram(
      "vllm:e2e_request_latency_seconds",
      "Histogram of end to end request latency in seconds.",
    );
    this.labels = labels;
  }

  /** Starts timing one request at its arrival; the returned recorder is fed as it runs. */
  request(): RequestTimer {
    const started = performance.now();
    let last: number | undefined;
    return {
      tokens: (count) => {
        if (count === 0) return;
        const now = performance.now();
        this.generationTokens.inc(this.labels, count);
        if (last === undefined) this.timeToFirstToken.observe(this.labels, (now - started) / 1000);
        else this.interTokenLatency.observe(this.labels, (now - last) / 1000);
        last = now;
      },
      finished: (reason) => {
        this.requestSuccess.inc({ ...this.labels, finished_reason: reason });
        this.e2eLatency.observe(this.labels, (performance.now() - started) / 1000);
      },
    };
  }
}

export interface RequestTimer {
  tokens(count: number): void;
  finished(reason: string): void;
}
