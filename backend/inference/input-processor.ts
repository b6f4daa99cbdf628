import { messageText, type ChatCompletionRequest } from "../../protocol/chat.ts";
import { constraintPlan, type ConstraintPlan } from "../grammar/request-constraints.ts";
import { RequestError } from "../request-error.ts";
import { choiceSeed, randomSeed } from "../sampler/random.ts";
import type { ChoiceSpec, RequestSpec } from "../scheduler/sequence.ts";
import { encodeChat } from "../text/chat-encoding.ts";
import { v3ControlIds } from "../text/mistral-instruct-v3.ts";
import type { Tokenizer } from "../text/tokenizer.ts";

/** Mistral's recommended temperature, used when a request leaves it unset. */
const DEFAULT_TEMPERATURE = 0.7;

/** A chat request as the inference thread runs it. */
export interface ChatInput {
  /** What the scheduler takes: the prompt, the token limit and each choice's sampling. */
  spec: RequestSpec;
  stops: string[];
  /** Tokens the detokenizer continues from: the prompt when an assistant prefix is continued, else none. */
  decodeContext: number[];
  /** max_tokens 0: the choices end at once with finish_reason "length". */
  finishAtOnce: boolean;
}

/**
 * Requests → what the engine runs (vLLM's input processor): chat encoding, the context check,
 * defaults, seeds and stop strings. Throws RequestError for what only tokenizing can reveal.
 */
export class InputProcessor {
  /** The [TOOL_CALLS] token of a v3 tokenizer; undefined when the model cannot call tools. */
  readonly toolCallsId: number | undefined;

  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly contextLength: number,
    /** Longest embedding input (ModelShape.maxEvaluationTokens). */
    private readonly embeddingLength: number,
    private readonly vocabSize: number,
  ) {
    this.toolCallsId = v3ControlIds(tokenizer)?.["[TOOL_CALLS]"];
  }

  /** What constrains the request's tokens (response_format, tool_choice); refused when a schema cannot be enforced. */
  constraints(request: ChatCompletionRequest): ConstraintPlan {
    return constraintPlan(request, this.toolCallsId, this.vocabSize);
  }

  chat(request: ChatCompletionRequest, tenant: string | undefined): ChatInput {
    this.refuseUntokenizable(request);
    const prompt = this.encodeMessages(request);
    if (prompt.length >= this.contextLength) {
      throw new RequestError(
        "context_length",
        `Prompt contains ${prompt.length} tokens, too large for model with ${this.contextLength} maximum context length (the prompt must leave room for at least one generated token).`,
        "messages",
      );
    }
    // Like Mistral's API, prompt + max_tokens must fit the context; max_tokens left out means "up to the context".
    if (request.max_tokens != null && prompt.length + request.max_tokens > this.contextLength) {
      throw new RequestError(
        "context_length",
        `Prompt contains ${prompt.length} tokens and max_tokens is ${request.max_tokens}: ${prompt.length + request.max_tokens} tokens, too large for model with ${this.contextLength} maximum context length.`,
        "max_tokens",
      );
    }
    const seed = request.random_seed ?? request.seed ?? randomSeed();
    const choices = Array.from({ length: request.n }, (_, index): ChoiceSpec => ({
      temperature: request.temperature ?? DEFAULT_TEMPERATURE,
      topP: request.top_p,
      seed: choiceSeed(seed, index),
      presencePenalty: request.presence_penalty,
      frequencyPenalty: request.frequency_penalty,
    }));
    const stops = request.stop == null ? [] : typeof request.stop === "string" ? [request.stop] : request.stop;
    // Continuing an assistant prefix: decode after the prompt so the first word's space comes out right.
    const last = request.messages[request.messages.length - 1];
    const decodeContext = last.role === "assistant" && last.prefix ? prompt : [];
    return {
      spec: {
        prompt,
        maxTokens: request.max_tokens ?? undefined,
        choices,
        topLogprobs: request.logprobs ? (request.top_logprobs ?? 0) : undefined,
        cacheSalt: request.cache_salt ?? undefined,
        tenant,
      },
      stops,
      decodeContext,
      finishAtOnce: request.max_tokens === 0,
    };
  }

  /**
   * Refuses, before tokenizing, messages whose text alone needs more tokens than the context holds
   * (at most `longestPiece` characters per token): tokenizing costs the inference thread up to
   * ~10 µs a character on adversarial text (one long word), and a prompt that can never fit should
   * not cost that.
   */
  private refuseUntokenizable(request: ChatCompletionRequest): void {
    const characters = request.messages.reduce((sum, message) => sum + messageText(message.content).length, 0);
    const fewestTokens = this.fewestTokens(characters);
    if (fewestTokens < this.contextLength) return;
    throw new RequestError(
      "context_length",
      `Prompt contains at least ${fewestTokens} tokens (${characters} characters), too large for model with ${this.contextLength} maximum context length.`,
      "messages",
    );
  }

  /** Each input's ids, BOS first, as the embedding pass takes them; an input that cannot fit is refused before it is tokenized. */
  embeddingInputs(inputs: string[]): number[][] {
    const refuse = (index: number, tokens: string) => {
      throw new RequestError(
        "context_length",
        `Input ${index} contains ${tokens} tokens, too large for model with ${this.embeddingLength} maximum context length for embeddings.`,
        "input",
      );
    };
    const hopeless = inputs.findIndex((input) => this.fewestTokens(input.length) > this.embeddingLength);
    if (hopeless >= 0) refuse(hopeless, `at least ${this.fewestTokens(inputs[hopeless].length)}`);
    const sequences = inputs.map((input) => this.tokenizer.encode(input, { bos: true }));
    const tooLong = sequences.findIndex((ids) => ids.length > this.embeddingLength);
    if (tooLong >= 0) refuse(tooLong, String(sequences[tooLong].length));
    return sequences;
  }

  /** The fewest tokens a text of this many UTF-16 code units can take. */
  private fewestTokens(characters: number): number {
    return Math.ceil(characters / this.tokenizer.longestPiece);
  }

  private encodeMessages(request: ChatCompletionRequest): number[] {
    return encodeChat(this.tokenizer, request.messages, {
      safePrompt: request.safe_prompt,
      tools: request.tools ?? undefined,
    });
  }
}
