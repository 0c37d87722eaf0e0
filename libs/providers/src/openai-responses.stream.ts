import { type IdPrefix, type MessagePhase, newId } from '@ratchet/core';
import type { EventSourceMessage } from 'eventsource-parser';
import type { z } from 'zod';
import {
  badResponse,
  decodeResponseResource,
  failedResponseError,
  messagePhase,
} from './openai-responses.decoder';
import {
  type ItemDeltaEvent,
  itemDeltaEventSchema,
  outputItemAddedEventSchema,
  outputItemDoneEventSchema,
  failedEventSchema,
  type ResponseResource,
  type StreamErrorEvent,
  streamErrorEventSchema,
  terminalEventSchema,
} from './openai-responses.wire';
import { type ModelCallResult, type ModelDelta, UpstreamError } from './provider';
import { sseEvents, streamTruncatedError } from './sse-stream';
import { upstreamErrorForStatus } from './upstream-errors';

// A streamed Responses API reply (`stream: true`) -> deltas as they arrive, then the result
// of the terminal event's Response object, decoded as the non-streaming decoder decodes a
// body so both agree. Items get their ratchet ids when announced (`output_item.added`); the
// deltas and the final items use those ids, never the upstream's.

/**
 * Reads an SSE body chunk by chunk, reporting deltas to `onDelta`, and returns the turn once
 * a terminal event (`response.completed` or `response.incomplete`) arrives. A read failure (a
 * dropped connection) or a body that ends without a terminal event is
 * `upstream_stream_truncated`; callers that know better (an abort, a timeout) classify such
 * failures themselves. `response.failed` and `error` events reject with the upstream's error;
 * a malformed event is `upstream_bad_response`. Errors thrown by `onDelta` propagate.
 */
export async function decodeResponsesStream(
  body: AsyncIterable<Uint8Array | string>,
  onDelta: (delta: ModelDelta) => void,
): Promise<ModelCallResult> {
  const assembler = new ResponsesStreamAssembler(onDelta);
  for await (const event of sseEvents(body)) {
    const parsed = parseEvent(event);
    if (parsed) assembler.push(parsed);
    // Anything after the terminal event is not part of the turn.
    if (assembler.finished()) break;
  }
  if (!assembler.finished()) throw streamTruncatedError();
  return assembler.result();
}

/** One event's data: a JSON object with its `type`. Null for a `[DONE]` some servers add. */
function parseEvent(event: EventSourceMessage): StreamEvent | null {
  if (event.data.trim() === '[DONE]') return null;
  let json: unknown;
  try {
    json = JSON.parse(event.data);
  } catch (error) {
    throw badStream('an event whose data is not JSON', error);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw badStream('an event whose data is not an object');
  }
  // OpenAI names the type both in the data and as the SSE event name; either will do.
  const type = 'type' in json && typeof json.type === 'string' ? json.type : event.event;
  if (!type) throw badStream('an event without a type');
  return { ...json, type };
}

type StreamEvent = { type: string } & Record<string, unknown>;

type DeltaKind = ModelDelta['type'];

/** The upstream item type each kind of delta fills. */
const ITEM_TYPE_FOR: Readonly<Record<DeltaKind, string>> = {
  text: 'message',
  refusal: 'message',
  reasoning: 'reasoning',
  arguments: 'function_call',
};

/** Ratchet's id prefix for the items it decodes (as the output-items builders give them). */
const ID_PREFIX: Readonly<Record<string, IdPrefix>> = {
  message: 'msg',
  reasoning: 'rs',
  function_call: 'fc',
};

/** An output item the stream announced. */
interface StreamedItem {
  type: string;
  /**
   * Ratchet's id for it, the one its deltas name and its decoded item has; null for types
   * ratchet does not decode (hosted tools' calls), which get no deltas.
   */
  itemId: string | null;
  upstreamId: string | null;
  outputIndex: number | null;
  /** A function call's call id and name, which every arguments delta repeats. */
  callId: string | null;
  name: string | null;
  /** A message's phase label, which its text and refusal deltas repeat. */
  phase: MessagePhase | null;
}

/**
 * Folds parsed events into deltas and a result. Pure apart from `newId` and the listener, so
 * event sequences can be tested without a server.
 */
export class ResponsesStreamAssembler {
  private readonly byUpstreamId = new Map<string, StreamedItem>();
  private readonly byIndex = new Map<number, StreamedItem>();
  /** Items as `output_item.done` gave them, by output index. */
  private readonly doneItems = new Map<number, ResponseResource['output'][number]>();
  private terminal: ResponseResource | null = null;

  constructor(private readonly onDelta: (delta: ModelDelta) => void) {}

  push(event: StreamEvent): void {
    switch (event.type) {
      case 'response.output_item.added':
        this.announce(parse(outputItemAddedEventSchema, event));
        break;
      case 'response.output_text.delta':
        this.delta('text', event);
        break;
      case 'response.refusal.delta':
        this.delta('refusal', event);
        break;
      case 'response.reasoning_text.delta':
      case 'response.reasoning.delta':
      case 'response.reasoning_summary_text.delta':
        this.delta('reasoning', event);
        break;
      case 'response.function_call_arguments.delta':
        this.delta('arguments', event);
        break;
      case 'response.output_item.done': {
        const done = parse(outputItemDoneEventSchema, event);
        if (typeof done.output_index === 'number') this.doneItems.set(done.output_index, done.item);
        break;
      }
      case 'response.completed':
      case 'response.incomplete':
        this.finish(event.type, parse(terminalEventSchema, event).response);
        break;
      case 'response.failed':
        // As a non-streamed `failed` Response is: the same code, equally retryable.
        throw failedResponseError(parse(failedEventSchema, event).response?.error);
      case 'error':
        throw streamedError(parse(streamErrorEventSchema, event));
      default:
        // Lifecycle events (created, in_progress, content parts, the `.done` of text and
        // arguments), hosted tools' progress and types added after this was written carry
        // nothing the deltas or the terminal Response do not.
        break;
    }
  }

  /** Whether the terminal event arrived. */
  finished(): boolean {
    return this.terminal !== null;
  }

  /** The terminal Response decoded, its items named as their deltas named them. */
  result(): ModelCallResult {
    if (!this.terminal) throw streamTruncatedError();
    const used = new Set<StreamedItem>();
    return decodeResponseResource(this.terminal, (item, index) => {
      const streamed = this.streamedItem(item, index);
      if (!streamed || used.has(streamed)) return null;
      used.add(streamed);
      return streamed.itemId;
    });
  }

  private announce(event: z.infer<typeof outputItemAddedEventSchema>): void {
    const { item } = event;
    const streamed: StreamedItem = {
      type: item.type,
      itemId: item.type in ID_PREFIX ? newId(ID_PREFIX[item.type]) : null,
      upstreamId: item.id ?? null,
      outputIndex: event.output_index ?? null,
      // A server that leaves out the call id still needs one to pair the output with; the
      // final item is given the same one.
      callId: item.type === 'function_call' ? item.call_id || newId('call') : null,
      name: item.name ?? null,
      phase: item.type === 'message' ? messagePhase(item.phase) : null,
    };
    this.remember(streamed);
  }

  private remember(streamed: StreamedItem): void {
    if (streamed.upstreamId !== null) this.byUpstreamId.set(streamed.upstreamId, streamed);
    if (streamed.outputIndex !== null) this.byIndex.set(streamed.outputIndex, streamed);
  }

  private delta(kind: DeltaKind, event: StreamEvent): void {
    const parsed = parse(itemDeltaEventSchema, event);
    if (!parsed.delta) return;
    const item = this.itemFor(kind, parsed);
    const { itemId } = item;
    // Only items of the three decoded types take deltas, and each of those has an id.
    if (itemId === null) throw badStream(`a ${kind} delta for a ${item.type} item`);
    if (kind === 'reasoning') {
      this.onDelta({ type: kind, itemId, delta: parsed.delta });
      return;
    }
    if (kind !== 'arguments') {
      const { phase } = item;
      this.onDelta({ type: kind, itemId, delta: parsed.delta, ...(phase ? { phase } : {}) });
      return;
    }
    if (item.callId === null || item.name === null) {
      throw badStream('arguments for a function call without a name');
    }
    this.onDelta({
      type: 'arguments',
      itemId,
      callId: item.callId,
      name: item.name,
      delta: parsed.delta,
    });
  }

  /**
   * The announced item a delta belongs to, by the upstream's item id or else its output
   * index. A message or reasoning item a server never announced opens at its first delta;
   * arguments need the call's name, which only the announcement gives.
   */
  private itemFor(kind: DeltaKind, event: ItemDeltaEvent): StreamedItem {
    const type = ITEM_TYPE_FOR[kind];
    const found = this.lookup(event.item_id ?? null, event.output_index ?? null);
    if (found) {
      if (found.type !== type) {
        throw badStream(`a ${kind} delta for a ${found.type} item`);
      }
      return found;
    }
    if (kind === 'arguments') throw badStream('arguments for an item that was never announced');
    const opened: StreamedItem = {
      type,
      itemId: newId(ID_PREFIX[type]),
      upstreamId: event.item_id ?? null,
      outputIndex: event.output_index ?? null,
      callId: null,
      name: null,
      phase: null,
    };
    this.remember(opened);
    return opened;
  }

  private lookup(upstreamId: string | null, outputIndex: number | null): StreamedItem | null {
    if (upstreamId !== null) {
      const byId = this.byUpstreamId.get(upstreamId);
      if (byId) return byId;
    }
    if (outputIndex === null) return null;
    const byIndex = this.byIndex.get(outputIndex);
    // An index names an item only when ids do not tell it apart from another.
    if (!byIndex || (upstreamId !== null && byIndex.upstreamId !== null)) return null;
    return byIndex;
  }

  /** The announced item a final output item is: same upstream id (or index), same type. */
  private streamedItem(
    item: ResponseResource['output'][number],
    index: number,
  ): StreamedItem | null {
    const upstreamId = typeof item.id === 'string' ? item.id : null;
    const streamed = this.lookup(upstreamId, index);
    return streamed?.type === item.type ? streamed : null;
  }

  private finish(type: string, response: ResponseResource): void {
    // A server that sends a slim terminal Response (no output) has still given every item
    // whole in its `output_item.done` events.
    const output =
      response.output.length === 0 && this.doneItems.size > 0
        ? [...this.doneItems].sort(([a], [b]) => a - b).map(([, item]) => item)
        : response.output;
    this.terminal = {
      ...response,
      status: response.status ?? (type === 'response.incomplete' ? 'incomplete' : 'completed'),
      output: output.map((item, index) => this.withStreamedCallId(item, index)),
    };
  }

  /** A final call without a call id gets the one its deltas already named. */
  private withStreamedCallId(
    item: ResponseResource['output'][number],
    index: number,
  ): ResponseResource['output'][number] {
    if (item.type !== 'function_call' || (typeof item.call_id === 'string' && item.call_id)) {
      return item;
    }
    const streamed = this.streamedItem(item, index);
    return streamed?.callId ? { ...item, call_id: streamed.callId } : item;
  }
}

function parse<Schema extends z.ZodType>(schema: Schema, event: StreamEvent): z.infer<Schema> {
  const parsed = schema.safeParse(event);
  if (!parsed.success) throw badStream(`a malformed ${event.type} event`, parsed.error);
  return parsed.data;
}

/**
 * A malformed event is not retried: like a non-JSON body, it says the server speaks
 * something else, which a second attempt will not change.
 */
function badStream(what: string, cause?: unknown): UpstreamError {
  return badResponse(`a stream with ${what}`, cause);
}

/**
 * The UpstreamError for an `error` event. A numeric code is the HTTP status the server would
 * have answered, which classifies it as the status would; a string code (OpenAI's) is kept
 * and classified as a failed Response's is (so `rate_limit_exceeded` is a retryable rate
 * limit); an error without a code is the generation failing on the server's side, worth
 * retrying as a 5xx would be.
 */
function streamedError(event: StreamErrorEvent): UpstreamError {
  const code = event.code ?? event.error?.code ?? event.error?.type ?? null;
  const message =
    event.message ||
    event.error?.message ||
    `The upstream model stream reported an error${code === null ? '' : ` (${code})`}.`;
  if (typeof code === 'number' && code >= 400 && code <= 599) {
    return upstreamErrorForStatus(code, message);
  }
  if (typeof code === 'string' && code) return failedResponseError({ code, message });
  return new UpstreamError(message, { code: 'upstream_error', retryable: true });
}
