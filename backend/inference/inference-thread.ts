import type { LoadReport } from "../../protocol/health.ts";
import { setImmediate as yieldToMessages } from "node:timers/promises";
import { parentPort, workerData } from "node:worker_threads";
import type { ChatCompletionRequest, FinishReason, ToolCall } from "../../protocol/chat.ts";
import type { Engine } from "../engine/engine.ts";
import { GrammarPool } from "../grammar/grammar-pool.ts";
import { loadEngine } from "../engine/load-engine.ts";
import type { InferenceOptions } from "../options.ts";
import { asRequestError, RequestError } from "../request-error.ts";
import { epochMs, type FinishedTimeline, type RequestTimeline } from "../scheduler/request-timeline.ts";
import type { Scheduler, StepOutput } from "../scheduler/scheduler.ts";
import type { Sequence } from "../scheduler/sequence.ts";
import type { TokenConstraint } from "../sampler/token-constraint.ts";
import { supportsTools } from "../text/chat-encoding.ts";
import { loadTokenizer, type Tokenizer } from "../text/tokenizer.ts";
import { apiLogprobs } from "./api-logprobs.ts";
import { EngineCore } from "./engine-core.ts";
import { InputProcessor, type ChatInput } from "./input-processor.ts";
import type { ChoiceOutput, FromInferenceThread, ModelInfo, ToInferenceThread } from "./messages.ts";
import { OutputProcessor } from "./output-processor.ts";
import { ThroughputMeter } from "./throughput-meter.ts";
import { ToolCallOutput } from "./tool-call-output.ts";

/** Tokens one embedding pass may take before the running sequences get their next step. */
const EMBED_TOKENS = 2048;

interface EmbedJob {
  id: number;
  sequences: number[][];
  vectors: Float32Array[];
  /** Inputs embedded so far. */
  done: number;
}

interface Choice {
  request: number;
  index: number;
  processor: OutputProcessor;
  tools: ToolCallOutput;
}

/**
 * The inference thread: owns the engine, the tokenizer and the step loop (EngineCore: the scheduler
 * plans, the model runner executes). Between steps it yields to its message queue, so new requests
 * join and cancellations land at every step.
 */
class InferenceThread {
  private readonly scheduler: Scheduler;
  private readonly core: EngineCore;
  private readonly inputs: InputProcessor;
  private readonly choices = new Map<Sequence, Choice>();
  private readonly requests = new Map<number, Sequence[]>();
  private readonly embedJobs: EmbedJob[] = [];
  private readonly throughput = new ThroughputMeter();
  private wake: (() => void) | undefined;
  private closing = false;
  private readonly grammars: GrammarPool;
  /** Requests whose grammar is compiling; a cancel removes its id, and the compiled request is then dropped. */
  private readonly compiling = new Set<number>();

  constructor(
    private readonly engine: Engine,
    private readonly tokenizer: Tokenizer,
    private readonly options: InferenceOptions,
  ) {
    this.core = new EngineCore(engine, {
      maxRunning: options.maxSeqs,
      maxWaiting: options.maxQueue,
      stepTokens: options.stepTokens,
      prefixCaching: options.prefixCaching,
    });
    this.scheduler = this.core.scheduler;
    this.inputs = new InputProcessor(
      tokenizer,
      engine.shape.contextLength,
      engine.shape.maxEvaluationTokens,
      engine.shape.vocabSize,
    );
    this.grammars = new GrammarPool(tokenizer, engine.shape.vocabSize, engine.shape.eosTokenId);
  }

  modelInfo(): ModelInfo {
    const { contextLength, maxEvaluationTokens, vocabSize } = this.engine.shape;
    return {
      contextLength,
      functionCalling: supportsTools(this.tokenizer),
      embeddingLength: maxEvaluationTokens,
      vocabSize,
    };
  }

  /** The load report, posted after every step; /health and /metrics read the latest one. */
  status(): LoadReport {
    const { uploaded, downloaded } = this.engine.transfers;
    const { gathered, inPlace } = this.engine.attentionReads;
    return {
      ...this.scheduler.stats(),
      uploaded_bytes: uploaded,
      downloaded_bytes: downloaded,
      steps_gathered: gathered,
      steps_read_in_place: inPlace,
      tokens_per_second: this.throughput.rate(),
      grammar_ok: this.grammars.healthy,
    };
  }

  /** Each message in turn; a request that fails is answered (fail()), and the worker and the others go on. */
  receive(message: ToInferenceThread): void {
    try {
      if (message.type === "chat") this.chat(message.id, message.request, message.input);
      else if (message.type === "cancel") this.cancel(message.id);
      else if (message.type === "embed")
        this.embedJobs.push({
          id: message.id,
          sequences: message.sequences,
          vectors: [],
          done: 0,
        });
      else this.closing = true;
    } catch (error) {
      if (message.type !== "chat" && message.type !== "embed") throw error;
      this.fail(message.id, error);
    }
    this.wake?.();
  }

  /** Embedding work and generation steps alternate, so a large embedding request cannot stall running streams. */
  async run(): Promise<void> {
    while (!this.closing) {
      const embedding = this.embedJobs[0];
      if (embedding) await this.embedPart(embedding);
      if (this.scheduler.hasWork) this.publish(await this.core.step());
      else if (!embedding) await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
      if (this.engine.fault) return this.giveUp(this.engine.fault);
      await yieldToMessages();
    }
    await this.engine.close();
  }

  /**
   * The device failed: /health turns to "failed" with the reason, and the thread exits non-zero, so
   * every request still open gets an error and `moxie serve` ends for its supervisor to restart it
   * (a lost device does not come back in the same process).
   */
  private giveUp(reason: string): void {
    console.error(`moxie serve: the device failed: ${reason}`);
    this.post({ type: "fault", reason });
    process.exit(1);
  }

  /**
   * A request with a grammar waits for it to compile (once per schema, in the grammar thread,
   * while the steps go on) before it joins the scheduler; each choice gets its own matcher.
   */
  private chat(id: number, request: ChatCompletionRequest, input: ChatInput): void {
    const arrived = epochMs();
    const plan = this.inputs.constraints(request);
    const start = (matchers: (TokenConstraint | undefined)[], grammar?: RequestTimeline["grammar"]) => {
      input.spec.choices.forEach((choice, index) => (choice.constraint = plan.build(matchers[index])));
      this.start(id, input, grammar);
    };
    if (plan.grammar === undefined) return start([]);
    this.compiling.add(id);
    this.grammars
      .constraints(plan.grammar, input.spec.choices.length)
      .then(
        (matchers) => {
          if (this.compiling.delete(id)) start(matchers, { start: arrived, end: epochMs() });
          else for (const matcher of matchers) matcher.release();
        },
        (error: Error) => {
          // A request cancelled while its grammar compiled is answered by nobody.
          if (this.compiling.delete(id)) throw error;
        },
      )
      .catch((error: Error) => {
        for (const choice of input.spec.choices) choice.constraint?.release();
        this.fail(id, error);
      })
      .finally(() => this.wake?.());
  }

  private start(id: number, input: ChatInput, grammar: RequestTimeline["grammar"]): void {
    const sequences = this.scheduler.add(input.spec);
    sequences[0].timeline.grammar = grammar;
    this.requests.set(id, sequences);
    sequences.forEach((sequence, index) =>
      this.choices.set(sequence, {
        request: id,
        index,
        processor: new OutputProcessor(this.tokenizer, input.stops, input.decodeContext),
        tools: new ToolCallOutput(this.inputs.toolCallsId),
      }),
    );
    this.post({ type: "accepted", id, promptTokens: input.spec.prompt.length });
    if (input.finishAtOnce) for (const sequence of sequences) this.scheduler.abort(sequence, "length");
    this.flushAborted(sequences);
  }

  /** Sequences that ended before running (max_tokens 0) report their finish now. */
  private flushAborted(sequences: Sequence[]): void {
    const outputs = sequences
      .filter((sequence) => sequence.finish !== undefined)
      .map((sequence) => this.output({ sequence, token: undefined, finish: sequence.finish }));
    if (outputs.length > 0) this.post({ type: "outputs", outputs, status: this.status() });
  }

  private cancel(id: number): void {
    this.compiling.delete(id);
    for (const sequence of this.requests.get(id) ?? []) {
      this.scheduler.abort(sequence, "stop");
      this.choices.delete(sequence);
      sequence.constraint?.release();
    }
    this.requests.delete(id);
  }

  /** Embeds the job's next inputs, as many as fit EMBED_TOKENS (at least one) in one engine pass; answers when all are done. */
  private async embedPart(job: EmbedJob): Promise<void> {
    let end = job.done;
    let tokens = 0;
    while (end < job.sequences.length && (end === job.done || tokens + job.sequences[end].length <= EMBED_TOKENS))
      tokens += job.sequences[end++].length;
    try {
      job.vectors.push(...(await this.engine.embed(job.sequences.slice(job.done, end), this.options.pooling)));
    } catch (error) {
      this.embedJobs.shift();
      return this.refuse(job.id, new RequestError("internal", `Embedding failed: ${(error as Error).message}`));
    }
    job.done = end;
    if (job.done < job.sequences.length) return;
    this.embedJobs.shift();
    this.post({
      type: "embedded",
      id: job.id,
      vectors: job.vectors,
      promptTokens: job.sequences.reduce((sum, ids) => sum + ids.length, 0),
    });
  }

  /** Turns a step's tokens into text per choice, applies stop strings, and posts it all in one message. */
  private publish(steps: StepOutput[]): void {
    const outputs: ChoiceOutput[] = [];
    let generated = 0;
    for (const step of steps) {
      if (step.token !== undefined) generated++;
      if (!this.choices.has(step.sequence)) continue;
      if (step.finish === "error") console.error(`moxie serve: a sequence failed: ${step.sequence.error}`);
      outputs.push(this.output(step));
    }
    this.throughput.add(generated);
    this.post({ type: "outputs", outputs, status: this.status() });
  }

  /** A step's token as text (content, or held back as a tool call), and at the end the choice's tool calls if it made any. */
  private output({ sequence, token, logprobs }: StepOutput): ChoiceOutput {
    const choice = this.choices.get(sequence)!;
    let text = "";
    let stopped = false;
    if (token !== undefined) {
      ({ text, stopped } = choice.processor.push(token));
      text = choice.tools.route(token, text);
      if (stopped) this.scheduler.abort(sequence, "stop");
    }
    let finish: FinishReason | undefined = sequence.finish;
    let toolCalls: ToolCall[] | undefined;
    let timeline: FinishedTimeline | undefined;
    if (sequence.finish !== undefined) {
      if (!stopped) text += choice.tools.route(undefined, choice.processor.flush());
      const ending = choice.tools.finish();
      if ("text" in ending) text += ending.text;
      else ({ toolCalls } = ending);
      if (toolCalls && finish === "stop") finish = "tool_calls";
      if (this.forget(choice, sequence)) timeline = { ...sequence.timeline, finished: epochMs() };
    }
    return {
      id: choice.request,
      choice: choice.index,
      text,
      tokens: token === undefined ? 0 : 1,
      finish,
      cachedTokens: sequence.cachedTokens,
      logprobs: logprobs && apiLogprobs(this.tokenizer, logprobs),
      ...(toolCalls ? { toolCalls } : {}),
      ...(timeline ? { timeline } : {}),
    };
  }

  /** Drops a finished choice; whether it was its request's last. */
  private forget(choice: Choice, sequence: Sequence): boolean {
    this.choices.delete(sequence);
    sequence.constraint?.release();
    const remaining = this.requests.get(choice.request)?.filter((other) => this.choices.has(other));
    if (remaining?.length) this.requests.set(choice.request, remaining);
    else this.requests.delete(choice.request);
    return !remaining?.length;
  }

  /** A request refused, or one that fails unexpectedly (a bug, not bad input: logged, and what it started is dropped), is answered. */
  private fail(id: number, error: unknown): void {
    if (!(error instanceof RequestError)) {
      console.error(error);
      this.cancel(id);
    }
    this.refuse(id, asRequestError(error));
  }

  private refuse(id: number, error: RequestError): void {
    this.post({ type: "refused", id, error: error.data });
  }

  post(message: FromInferenceThread): void {
    parentPort!.postMessage(message);
  }
}

async function start(): Promise<void> {
  const options = workerData as InferenceOptions;
  let worker: InferenceThread;
  try {
    const [engine, tokenizer] = await Promise.all([loadEngine(options), loadTokenizer(options.model)]);
    worker = new InferenceThread(engine, tokenizer, options);
  } catch (error) {
    parentPort!.postMessage({ type: "failed", message: (error as Error).message } satisfies FromInferenceThread);
    return;
  }
  parentPort!.on("message", (message: ToInferenceThread) => worker.receive(message));
  worker.post({ type: "ready", model: worker.modelInfo(), status: worker.status() });
  await worker.run();
  parentPort!.close();
}

await start();
