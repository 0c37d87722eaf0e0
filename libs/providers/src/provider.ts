import type { FinishReason, FunctionTool, MessagePhase, ModelItem, Usage } from '@ratchet/core';

export type { FinishReason } from '@ratchet/core';

/** A function tool as offered to a model (the Response object's tool shape). */
export type ToolDefinition = FunctionTool;

export type ToolChoice = 'none' | 'auto' | 'required' | { type: 'function'; name: string };

export type TextFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | {
      type: 'json_schema';
      name: string;
      schema: Record<string, unknown>;
      description?: string;
      strict?: boolean | null;
    };

export type ReasoningEffort = 'none' | 'minimal' | 'low' | 'medium' | 'high' | 'xhigh';

export type Verbosity = 'low' | 'medium' | 'high';

/** One model turn, in provider-neutral terms. */
export interface ModelCallRequest {
  /** The model name the upstream knows (config `upstreamModel`, defaulting to the key). */
  model: string;
  instructions: string | null;
  input: ModelItem[];
  tools: ToolDefinition[];
  toolChoice: ToolChoice;
  parallelToolCalls: boolean;
  maxOutputTokens: number | null;
  temperature: number | null;
  topP: number | null;
  textFormat: TextFormat | null;
  /** How hard a reasoning model should think (the request's `reasoning.effort`). */
  reasoningEffort?: ReasoningEffort | null;
  /** The request's own `prompt_cache_key`; providers that use one derive it otherwise. */
  promptCacheKey?: string | null;
  /** How long an answer the client wants (`text.verbosity`), for upstreams that take it. */
  verbosity?: Verbosity | null;
  /** The request's `user`: OpenAI's older end-user id, forwarded for abuse monitoring. */
  user?: string | null;
  /** The request's `safety_identifier`, the end-user id that superseded `user`. */
  safetyIdentifier?: string | null;
  /**
   * The client asked for `reasoning.encrypted_content`: upstreams that return it only when
   * asked (the Responses API) are asked.
   */
  includeEncryptedReasoning?: boolean;
  signal?: AbortSignal;
  /**
   * When given, the provider streams from the upstream and reports each delta as it
   * arrives. Deltas name the output item they belong to by the id that item has in the
   * final result, so a listener can open, fill and close items as they stream.
   */
  onDelta?: (delta: ModelDelta) => void;
}

/**
 * A piece of a model's output as it streams, for the output item with id `itemId`. A message
 * the upstream labelled (`phase`) says so on its deltas, so its item opens labelled.
 */
export type ModelDelta =
  | { type: 'text'; itemId: string; delta: string; phase?: MessagePhase }
  | { type: 'refusal'; itemId: string; delta: string; phase?: MessagePhase }
  | { type: 'reasoning'; itemId: string; delta: string }
  | { type: 'arguments'; itemId: string; callId: string; name: string; delta: string };

export interface ModelCallResult {
  /** Assistant message, reasoning and function_call items, each with a fresh id. */
  output: ModelItem[];
  usage: Usage;
  finishReason: FinishReason;
}

export interface ModelProvider {
  /**
   * One model turn. Upstream trouble rejects with an UpstreamError; an aborted `signal`
   * rejects with the signal's reason, so callers tell cancelled from failed by the signal.
   */
  call(request: ModelCallRequest): Promise<ModelCallResult>;
}

/**
 * An upstream call that failed. `retryable` says whether trying again may help (connection
 * errors, 408, 409, 429, 5xx); `code` is what the response's `error.code` will say.
 */
export class UpstreamError extends Error {
  readonly code: string;
  readonly status: number | null;
  readonly retryable: boolean;
  readonly retryAfterMs: number | null;

  constructor(
    message: string,
    options: {
      code: string;
      status?: number | null;
      retryable: boolean;
      retryAfterMs?: number | null;
      cause?: unknown;
    },
  ) {
    super(message, { cause: options.cause });
    this.name = 'UpstreamError';
    this.code = options.code;
    this.status = options.status ?? null;
    this.retryable = options.retryable;
    this.retryAfterMs = options.retryAfterMs ?? null;
  }
}
