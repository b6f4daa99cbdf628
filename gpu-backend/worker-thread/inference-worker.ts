import { availableParallelism } from "node:os";
import { setImmediate as yieldToMessages } from "node:timers/promises";
import { parentPort, workerData } from "node:worker_threads";
import type { ChatCompletionRequest, FinishReason, ToolCall } from "../../protocol/chat.ts";
import type { Engine } from "../engine/engine.ts";
import { loadEngine } from "../engine/load-engine.ts";
import { choiceSeed, randomSeed } from "../sampler/random.ts";
import { QueueFullError, Scheduler, TooManyChoicesError, type StepOutput } from "../scheduler/scheduler.ts";
import type { ChoiceSpec, Sequence } from "../scheduler/sequence.ts";
import { GrammarError, Grammars } from "../grammar/grammars.ts";
import { ConstraintError, constraintPlan, type ConstraintPlan } from "../grammar/request-constraints.ts";
import { v3ControlIds } from "../text/mistral-instruct-v3.ts";
import { ToolCallOutput } from "./tool-call-output.ts";
import type { TokenConstraint } from "../sampler/token-constraint.ts";
import { ChatEncodingError } from "../text/chat-error.ts";
import { encodeChat, supportsTools } from "../text/chat-encoding.ts";
import { loadTokenizer, type Tokenizer } from "../text/tokenizer.ts";
import type { ChoiceOutput, FromWorker, LoadStatus, ModelInfo, Refusal, ToWorker, WorkerOptions } from "./messages.ts";
import { apiLogprobs } from "./api-logprobs.ts";
import { OutputProcessor } from "./output-processor.ts";
import { ThroughputMeter } from "./throughput-meter.ts";

/** Mistral's recommended temperature, used when a request leaves it unset. */
const DEFAULT_TEMPERATURE = 0.7;
/** Tokens one scheduler step may feed: small enough that a long prompt never stalls the running decodes for long. */
const STEP_TOKENS = 256;

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
 * The inference thread: owns the engine, the tokenizer and the scheduler loop. Between steps it
 * yields to its message queue, so new requests join and cancellations land at every step.
 */
class InferenceWorker {
  private readonly scheduler: Scheduler;
  private readonly choices = new Map<Sequence, Choice>();
  private readonly requests = new Map<number, Sequence[]>();
  private readonly embedJobs: EmbedJob[] = [];
  private readonly throughput = new ThroughputMeter();
  private wake: (() => void) | undefined;
  /** Requests whose grammar is compiling; a cancel removes its id, and the compiled request is then dropped. */
  private readonly compiling = new Set<number>();
  private readonly grammars: Grammars;
  /** The [TOOL_CALLS] token of a v3 tokenizer; undefined when the model cannot call tools. */
  private readonly toolCallsId: number | undefined;
  private closing = false;

  constructor(
    private readonly engine: Engine,
    private readonly tokenizer: Tokenizer,
    private readonly options: WorkerOptions,
  ) {
    this.scheduler = new Scheduler(engine, { maxRunning: options.maxSeqs, maxWaiting: options.maxQueue, stepTokens: STEP_TOKENS });
    this.grammars = new Grammars(tokenizer, engine.shape.vocabSize, engine.shape.eosTokenId);
    this.toolCallsId = v3ControlIds(tokenizer)?.["[TOOL_CALLS]"];
  }

  modelInfo(): ModelInfo {
    return { contextLength: this.engine.shape.contextLength, functionCalling: supportsTools(this.tokenizer) };
  }

  status(): LoadStatus {
    return { ...this.scheduler.stats(), tokensPerSecond: this.throughput.rate() };
  }

  /** A request that fails unexpectedly (a bug, not bad input) is answered with 500; the worker and the others go on. */
  receive(message: ToWorker): void {
    try {
      if (message.type === "chat") this.chat(message.id, message.request);
      else if (message.type === "cancel") this.cancel(message.id);
      else if (message.type === "embed") this.queueEmbedding(message.id, message.inputs);
      else this.closing = true;
    } catch (error) {
      if (message.type !== "chat" && message.type !== "embed") throw error;
      console.error(error);
      this.cancel(message.id);
      this.refuse(message.id, { status: 500, message: `Internal error: ${(error as Error).message}`, type: "internal_error", code: undefined, param: undefined });
    }
    this.wake?.();
  }

  /** Embedding work and generation steps alternate, so a large embedding request cannot stall running streams. */
  async run(): Promise<void> {
    while (!this.closing) {
      const embedding = this.embedJobs[0];
      if (embedding) await this.embedPart(embedding);
      if (this.scheduler.hasWork) this.publish(await this.scheduler.step());
      else if (!embedding) await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
      await yieldToMessages();
    }
    await this.engine.close();
  }

  /** A request with a grammar waits for it to compile (once per schema) before it joins the scheduler. */
  private chat(id: number, request: ChatCompletionRequest): void {
    let plan: ConstraintPlan;
    try {
      plan = constraintPlan(request, this.toolCallsId, this.engine.shape.vocabSize);
    } catch (error) {
      if (!(error instanceof ConstraintError)) throw error;
      return this.refuse(id, { status: 400, message: error.message, type: "invalid_request_error", code: "unsupported_schema", param: error.param });
    }
    const constraints = (matchers: (TokenConstraint | undefined)[]) => matchers.map((matcher) => plan.build(matcher)).filter((built) => built !== undefined);
    const { grammar } = plan;
    if (grammar === undefined) return this.admit(id, request, constraints(Array.from({ length: request.n }, () => undefined)));
    this.compiling.add(id);
    this.grammars
      .compile(grammar)
      .then((compiled) => Promise.all(Array.from({ length: request.n }, () => this.grammars.constraint(compiled))))
      .then(
        (matchers) => {
          if (this.compiling.delete(id)) this.admit(id, request, constraints(matchers));
          else for (const matcher of matchers) matcher.release();
        },
        (error: Error) => {
          if (!this.compiling.delete(id)) return;
          if (error instanceof GrammarError) {
            const param = request.tools?.length ? "tools" : "response_format";
            this.refuse(id, { status: 400, message: error.message, type: "invalid_request_error", code: "unsupported_schema", param });
          } else this.refuse(id, { status: 500, message: `Internal error: ${error.message}`, type: "internal_error", code: undefined, param: undefined });
        },
      )
      .finally(() => this.wake?.());
  }

  /** Encodes the prompt and queues the request's choices, each with its constraint if it has one. */
  private admit(id: number, request: ChatCompletionRequest, constraints: TokenConstraint[]): void {
    const { contextLength } = this.engine.shape;
    const refuse = (refusal: Refusal) => {
      for (const constraint of constraints) constraint.release();
      this.refuse(id, refusal);
    };
    let prompt: number[];
    try {
      prompt = encodeChat(this.tokenizer, request.messages, { safePrompt: request.safe_prompt, tools: request.tools ?? undefined });
    } catch (error) {
      if (!(error instanceof ChatEncodingError)) throw error;
      return refuse({ status: 400, message: error.message, type: "invalid_request_error", code: "invalid_messages", param: "messages" });
    }
    // Prompt + max_tokens beyond the context is clamped like Mistral's API: the answer ends with finish_reason "model_length".
    if (prompt.length >= contextLength) {
      return refuse({
        status: 400,
        message: `Prompt contains ${prompt.length} tokens, too large for model with ${contextLength} maximum context length (the prompt must leave room for at least one generated token).`,
        type: "invalid_request_error",
        code: "context_length_exceeded",
        param: "messages",
      });
    }
    const seed = request.random_seed ?? request.seed ?? randomSeed();
    const choices = Array.from({ length: request.n }, (_, index): ChoiceSpec => ({
      temperature: request.temperature ?? DEFAULT_TEMPERATURE,
      topP: request.top_p,
      seed: choiceSeed(seed, index),
      presencePenalty: request.presence_penalty,
      frequencyPenalty: request.frequency_penalty,
      constraint: constraints[index],
    }));
    let sequences: Sequence[];
    try {
      const topLogprobs = request.logprobs ? (request.top_logprobs ?? 0) : undefined;
      sequences = this.scheduler.add({ prompt, maxTokens: request.max_tokens ?? undefined, choices, topLogprobs });
    } catch (error) {
      if (error instanceof TooManyChoicesError) return refuse({ status: 400, message: error.message, type: "invalid_request_error", code: undefined, param: "n" });
      if (!(error instanceof QueueFullError)) throw error;
      return refuse({ status: 503, message: "The backend is overloaded: its request queue is full. Retry later.", type: "service_unavailable", code: "overloaded", param: undefined });
    }
    const stops = request.stop == null ? [] : typeof request.stop === "string" ? [request.stop] : request.stop;
    // Continuing an assistant prefix: decode after the prompt so the first word's space comes out right.
    const last = request.messages[request.messages.length - 1];
    const context = last.role === "assistant" && last.prefix ? prompt : [];
    this.requests.set(id, sequences);
    sequences.forEach((sequence, index) =>
      this.choices.set(sequence, { request: id, index, processor: new OutputProcessor(this.tokenizer, stops, context), tools: new ToolCallOutput(this.toolCallsId) }),
    );
    this.post({ type: "accepted", id, promptTokens: prompt.length });
    if (request.max_tokens === 0) for (const sequence of sequences) this.scheduler.abort(sequence, "length");
    this.flushAborted(sequences);
  }

  /** Sequences that ended before running (max_tokens 0) report their finish now. */
  private flushAborted(sequences: Sequence[]): void {
    const outputs = sequences.filter((sequence) => sequence.finish !== undefined).map((sequence) => this.output({ sequence, token: undefined, finish: sequence.finish }));
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

  private queueEmbedding(id: number, inputs: string[]): void {
    const { contextLength } = this.engine.shape;
    const sequences = inputs.map((input) => this.tokenizer.encode(input, { bos: true }));
    const tooLong = sequences.findIndex((ids) => ids.length > contextLength);
    if (tooLong >= 0) {
      return this.refuse(id, {
        status: 400,
        message: `Input ${tooLong} contains ${sequences[tooLong].length} tokens, too large for model with ${contextLength} maximum context length.`,
        type: "invalid_request_error",
        code: "context_length_exceeded",
        param: "input",
      });
    }
    this.embedJobs.push({ id, sequences, vectors: [], done: 0 });
  }

  /** Embeds the job's next inputs, as many as fit EMBED_TOKENS (at least one) in one engine pass; answers when all are done. */
  private async embedPart(job: EmbedJob): Promise<void> {
    let end = job.done;
    let tokens = 0;
    while (end < job.sequences.length && (end === job.done || tokens + job.sequences[end].length <= EMBED_TOKENS)) tokens += job.sequences[end++].length;
    try {
      job.vectors.push(...(await this.engine.embed(job.sequences.slice(job.done, end), this.options.pooling)));
    } catch (error) {
      this.embedJobs.shift();
      return this.refuse(job.id, { status: 500, message: `Embedding failed: ${(error as Error).message}`, type: "internal_error", code: undefined, param: undefined });
    }
    job.done = end;
    if (job.done < job.sequences.length) return;
    this.embedJobs.shift();
    this.post({ type: "embedded", id: job.id, vectors: job.vectors, promptTokens: job.sequences.reduce((sum, ids) => sum + ids.length, 0) });
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
    if (sequence.finish !== undefined) {
      if (!stopped) text += choice.tools.route(undefined, choice.processor.flush());
      const ending = choice.tools.finish();
      if ("text" in ending) text += ending.text;
      else ({ toolCalls } = ending);
      if (toolCalls && finish === "stop") finish = "tool_calls";
      this.forget(choice, sequence);
    }
    return {
      id: choice.request,
      choice: choice.index,
      text,
      tokens: token === undefined ? 0 : 1,
      finish,
      logprobs: logprobs && apiLogprobs(this.tokenizer, logprobs),
      ...(toolCalls ? { toolCalls } : {}),
    };
  }

  private forget(choice: Choice, sequence: Sequence): void {
    this.choices.delete(sequence);
    sequence.constraint?.release();
    const remaining = this.requests.get(choice.request)?.filter((other) => this.choices.has(other));
    if (remaining?.length) this.requests.set(choice.request, remaining);
    else this.requests.delete(choice.request);
  }

  private refuse(id: number, refusal: Refusal): void {
    this.post({ type: "refused", id, refusal });
  }

  post(message: FromWorker): void {
    parentPort!.postMessage(message);
  }
}

async function start(): Promise<void> {
  const options = workerData as WorkerOptions;
  let worker: InferenceWorker;
  try {
    const [engine, tokenizer] = await Promise.all([
      loadEngine({ model: options.model, quantize: options.quantize, executionProvider: options.executionProvider, threads: options.threads ?? availableParallelism(), slots: options.maxSeqs, contextLength: options.contextLength }),
      loadTokenizer(options.model),
    ]);
    worker = new InferenceWorker(engine, tokenizer, options);
  } catch (error) {
    parentPort!.postMessage({ type: "failed", message: (error as Error).message } satisfies FromWorker);
    return;
  }
  parentPort!.on("message", (message: ToWorker) => worker.receive(message));
  worker.post({ type: "ready", model: worker.modelInfo(), status: worker.status() });
  await worker.run();
  parentPort!.close();
}

await start();
