import type { z } from 'zod';
import { streamTruncatedError } from './sse-stream';
import {
  AnthropicOutputBuilder,
  decodeStopReason,
  decodeUsage,
  type PendingCall,
  type PendingMessage,
  type PendingReasoning,
} from './anthropic.decoder';
import {
  type AnthropicUsage,
  anthropicErrorBodySchema,
  anthropicRedactedThinkingBlockSchema,
  anthropicTextBlockSchema,
  anthropicThinkingBlockSchema,
  anthropicToolUseBlockSchema,
  contentBlockDeltaEventSchema,
  contentBlockStartEventSchema,
  contentBlockStopEventSchema,
  inputJsonDeltaSchema,
  messageDeltaEventSchema,
  messageStartEventSchema,
  signatureDeltaSchema,
  textDeltaSchema,
  thinkingDeltaSchema,
} from './anthropic.wire';
import { type ModelCallResult, type ModelDelta, UpstreamError } from './provider';
import { upstreamErrorForStatus } from './upstream-errors';

// Messages API stream events -> ModelDelta callbacks and, at the end, the same ModelCallResult
// the non-streaming decoder makes. Pure: the provider feeds it each SSE event's data.

type OpenBlock =
  | { type: 'text'; item: PendingMessage }
  | { type: 'thinking'; item: PendingReasoning }
  | { type: 'tool_use'; item: PendingCall; initialInput: unknown }
  /** A block type ratchet does not decode (server tools...): deltas dropped. */
  | { type: 'skipped' };

export class AnthropicStreamDecoder {
  private readonly output: AnthropicOutputBuilder;
  private readonly blocks = new Map<number, OpenBlock>();
  private usage: AnthropicUsage = {};
  private stopReason: string | null = null;
  private stopped = false;

  /** `model`: the upstream model asked (as the request named it), whose signatures it keeps. */
  constructor(
    private readonly onDelta: (delta: ModelDelta) => void,
    model: string,
  ) {
    this.output = new AnthropicOutputBuilder(model);
  }

  /** Handles one SSE event's data; throws an UpstreamError for an `error` event. */
  push(data: string): void {
    const event = parseEventData(data);
    switch (event.type) {
      case 'message_start':
        this.mergeUsage(parseEvent(messageStartEventSchema, event).message.usage);
        break;
      case 'content_block_start':
        this.startBlock(parseEvent(contentBlockStartEventSchema, event));
        break;
      case 'content_block_delta':
        this.applyDelta(parseEvent(contentBlockDeltaEventSchema, event));
        break;
      case 'content_block_stop':
        this.stopBlock(parseEvent(contentBlockStopEventSchema, event).index);
        break;
      case 'message_delta': {
        const delta = parseEvent(messageDeltaEventSchema, event);
        this.stopReason = delta.delta?.stop_reason ?? this.stopReason;
        this.mergeUsage(delta.usage);
        break;
      }
      case 'message_stop':
        this.stopped = true;
        break;
      case 'error':
        throw streamError(event);
      default:
        // `ping` and event types added after this was written carry nothing ratchet needs.
        break;
    }
  }

  /** The turn's result; a stream that ended before `message_stop` was cut off. */
  finish(): ModelCallResult {
    if (!this.stopped) throw streamTruncatedError();
    const finishReason = decodeStopReason(this.stopReason, this.output.hasToolCalls());
    return {
      output: this.output.build(finishReason),
      usage: decodeUsage(this.usage),
      finishReason,
    };
  }

  private startBlock(event: z.infer<typeof contentBlockStartEventSchema>): void {
    const block = event.content_block;
    switch (block.type) {
      case 'text': {
        const item = this.output.openText();
        this.blocks.set(event.index, { type: 'text', item });
        // Anthropic opens text blocks empty, but text given here still belongs to the answer.
        const initial = anthropicTextBlockSchema.safeParse(block);
        if (initial.success && initial.data.text) this.appendText(item, initial.data.text);
        break;
      }
      case 'thinking': {
        const item = this.output.openReasoning();
        this.blocks.set(event.index, { type: 'thinking', item });
        const initial = anthropicThinkingBlockSchema.safeParse(block);
        if (initial.success) {
          if (initial.data.thinking) this.appendThinking(item, initial.data.thinking);
          item.signature = initial.data.signature ?? '';
        }
        break;
      }
      case 'redacted_thinking': {
        // It comes whole at its start; nothing of it is readable, so nothing streams.
        const redacted = parseEvent(anthropicRedactedThinkingBlockSchema, block);
        this.blocks.set(event.index, {
          type: 'thinking',
          item: this.output.openRedactedReasoning(redacted.data),
        });
        break;
      }
      case 'tool_use': {
        const call = parseEvent(anthropicToolUseBlockSchema, block);
        this.blocks.set(event.index, {
          type: 'tool_use',
          item: this.output.openCall(call.id, call.name),
          initialInput: call.input,
        });
        break;
      }
      default:
        this.blocks.set(event.index, { type: 'skipped' });
    }
  }

  private applyDelta(event: z.infer<typeof contentBlockDeltaEventSchema>): void {
    const block = this.blocks.get(event.index);
    if (!block) throw badStream(`a delta for content block ${event.index}, which never started`);
    // Only the delta kinds that fill the block count: citation deltas carry nothing the
    // Responses API items hold.
    switch (block.type) {
      case 'text': {
        const delta = textDeltaSchema.safeParse(event.delta);
        if (delta.success) this.appendText(block.item, delta.data.text);
        break;
      }
      case 'thinking': {
        const signature = signatureDeltaSchema.safeParse(event.delta);
        if (signature.success) {
          block.item.signature += signature.data.signature;
          break;
        }
        const delta = thinkingDeltaSchema.safeParse(event.delta);
        if (delta.success) this.appendThinking(block.item, delta.data.thinking);
        break;
      }
      case 'tool_use': {
        const delta = inputJsonDeltaSchema.safeParse(event.delta);
        if (!delta.success || !delta.data.partial_json) break;
        const { item } = block;
        item.args += delta.data.partial_json;
        this.onDelta({
          type: 'arguments',
          itemId: item.id,
          callId: item.callId,
          name: item.name,
          delta: delta.data.partial_json,
        });
        break;
      }
      case 'skipped':
        break;
    }
  }

  private stopBlock(index: number): void {
    const block = this.blocks.get(index);
    // Anthropic streams a call's input as JSON fragments and starts it as `{}`; a server that
    // gives the whole input up front and no fragments still has its input kept.
    if (block?.type === 'tool_use' && !block.item.args && isNonEmptyObject(block.initialInput)) {
      block.item.args = JSON.stringify(block.initialInput);
    }
  }

  private appendThinking(item: PendingReasoning, text: string): void {
    item.text += text;
    this.onDelta({ type: 'reasoning', itemId: item.id, delta: text });
  }

  private appendText(item: PendingMessage, text: string): void {
    item.text += text;
    this.onDelta({ type: 'text', itemId: item.id, delta: text });
  }

  /**
   * `message_start` carries the input counts and `message_delta` the cumulative output count
   * (and, on newer API versions, input counts again); the latest value of each field wins.
   */
  private mergeUsage(usage: AnthropicUsage | null | undefined): void {
    if (!usage) return;
    const merged: AnthropicUsage = { ...this.usage };
    for (const key of USAGE_KEYS) {
      const value = usage[key];
      if (value !== null && value !== undefined) merged[key] = value;
    }
    this.usage = merged;
  }
}

const USAGE_KEYS = [
  'input_tokens',
  'output_tokens',
  'cache_creation_input_tokens',
  'cache_read_input_tokens',
] as const;

function isNonEmptyObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && Object.keys(value).length > 0;
}

function parseEventData(data: string): { type: string } & Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch (error) {
    throw badStream('an event whose data is not JSON', error);
  }
  if (typeof json !== 'object' || json === null || !('type' in json)) {
    throw badStream('an event without a type');
  }
  const { type } = json;
  if (typeof type !== 'string') throw badStream('an event without a type');
  return { ...json, type };
}

function parseEvent<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw badStream('a malformed event', parsed.error);
  return parsed.data;
}

function badStream(what: string, cause?: unknown): UpstreamError {
  return new UpstreamError(`The upstream model stream sent ${what}.`, {
    code: 'upstream_bad_response',
    retryable: false,
    cause,
  });
}

/**
 * The HTTP status Anthropic uses for each error type, so an error that arrives mid-stream (the
 * response already said 200) is classified as it would be before the stream started.
 */
const STATUS_FOR_ERROR_TYPE: Readonly<Record<string, number>> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
};

/** The UpstreamError for an `error` stream event. */
export function streamError(event: unknown): UpstreamError {
  const parsed = anthropicErrorBodySchema.safeParse(event);
  if (!parsed.success) {
    // An unreadable error mid-stream is most likely the upstream failing, as a 5xx would be.
    return new UpstreamError('The upstream model stream failed with an unreadable error.', {
      code: 'upstream_error',
      retryable: true,
    });
  }
  const { type, message } = parsed.data.error;
  const classified = upstreamErrorForStatus(STATUS_FOR_ERROR_TYPE[type] ?? 500, message, {
    upstreamCode: type,
  });
  // The status stays null: the HTTP response itself succeeded.
  return new UpstreamError(message, { code: classified.code, retryable: classified.retryable });
}
