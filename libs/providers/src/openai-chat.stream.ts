import { openAIErrorBodySchema } from './openai-errors';
import { type ModelItem, newId } from '@ratchet/core';
import type { EventSourceMessage } from 'eventsource-parser';
import { decodeFinishReason, decodeUsage } from './openai-chat.decoder';
import {
  type ChatCompletionChunk,
  type ChatToolCallDelta,
  type ChatUsage,
  chatCompletionChunkSchema,
} from './openai-chat.wire';
import { assistantItem, functionCallItem, reasoningItem } from './output-items';
import { type ModelCallResult, type ModelDelta, UpstreamError } from './provider';
import { sseEvents, streamTruncatedError } from './sse-stream';
import { type ContentPiece, ThinkTagSplitter } from './think-tags';
import { upstreamErrorForStatus } from './upstream-errors';

// A streamed Chat Completions reply (`stream: true`) -> deltas as they arrive, then the same
// ModelCallResult the non-streaming decoder gives. Each output item gets its id at its first
// delta, so a listener can show items before the turn ends and match them to the result.

/**
 * Reads an SSE body chunk by chunk, reporting deltas to `onDelta`, and returns the turn once
 * the body ends. A read failure (a dropped connection) or a body that ends before both a
 * `finish_reason` and `[DONE]` is `upstream_stream_truncated`; callers that know better (an
 * abort, a timeout) classify such failures themselves. Errors thrown by `onDelta` propagate.
 */
export async function decodeChatStream(
  body: AsyncIterable<Uint8Array | string>,
  onDelta: (delta: ModelDelta) => void,
): Promise<ModelCallResult> {
  const assembler = new ChatStreamAssembler(onDelta);
  let done = false;
  for await (const event of sseEvents(body)) {
    // Anything after [DONE] is not part of the turn.
    if (event.data.trim() === '[DONE]') {
      done = true;
      break;
    }
    assembler.push(parseChunk(event));
  }
  if (!done || !assembler.finished()) throw streamTruncatedError();
  return assembler.result();
}

function parseChunk(event: EventSourceMessage): ChatCompletionChunk {
  let json: unknown;
  try {
    json = JSON.parse(event.data);
  } catch (error) {
    throw badResponse('The upstream model sent a stream chunk that is not JSON.', error);
  }
  const upstreamError = openAIErrorBodySchema.safeParse(json);
  if (upstreamError.success || event.event === 'error') {
    throw streamedError(upstreamError.success ? upstreamError.data.error : null, event.data);
  }
  const chunk = chatCompletionChunkSchema.safeParse(json);
  if (!chunk.success) {
    throw badResponse('The upstream model sent a stream chunk of an unknown shape.', chunk.error);
  }
  return chunk.data;
}

/**
 * An error the upstream reported inside a 200 stream. vLLM puts the HTTP status it would have
 * answered in `code`, which then classifies the error; otherwise the generation failed on the
 * server's side, which is worth retrying as a 5xx would be.
 */
function streamedError(
  error: string | { message: string; code?: unknown } | null,
  data: string,
): UpstreamError {
  const message =
    (typeof error === 'string' ? error : error?.message) ||
    `The upstream model reported an error mid-stream: ${data.slice(0, 200)}`;
  const code = typeof error === 'object' ? error?.code : undefined;
  if (typeof code === 'number' && code >= 400 && code <= 599) {
    return upstreamErrorForStatus(code, message);
  }
  return new UpstreamError(message, {
    code: code === 'context_length_exceeded' ? code : 'upstream_error',
    retryable: code !== 'context_length_exceeded',
  });
}

/**
 * A bad chunk is not retried: like a non-JSON non-streaming body, it says the server speaks
 * something else, which a second attempt will not change.
 */
function badResponse(message: string, cause?: unknown): UpstreamError {
  return new UpstreamError(message, { code: 'upstream_bad_response', retryable: false, cause });
}

interface CallState {
  index: number;
  callId: string | null;
  /** Arguments that came before the name, reported once the call opens. */
  pending: string;
  /** Null until the fragment with the call's name arrives: every delta names its call. */
  open: OpenCall | null;
}

interface OpenCall {
  itemId: string;
  callId: string;
  name: string;
  arguments: string;
}

/**
 * Folds parsed chunks into deltas and a result. Pure apart from `newId` and the listener, so
 * chunk sequences can be tested without a server.
 */
export class ChatStreamAssembler {
  private reasoning: { itemId: string; text: string } | null = null;
  private message: { itemId: string; text: string; refusal: string } | null = null;
  private readonly calls = new Map<number, CallState>();
  private readonly content = new ThinkTagSplitter();
  private finishReason: string | null = null;
  private usage: ChatUsage | null = null;

  constructor(private readonly onDelta: (delta: ModelDelta) => void) {}

  push(chunk: ChatCompletionChunk): void {
    if (chunk.usage) this.usage = chunk.usage;
    for (const choice of chunk.choices ?? []) {
      // Ratchet never asks for n > 1; other choices would belong to other answers.
      if ((choice.index ?? 0) !== 0) continue;
      const delta = choice.delta;
      if (delta) {
        this.addReasoning(delta.reasoning_content || delta.reasoning || '');
        if (delta.content) this.addContent(this.content.push(delta.content));
        if (delta.refusal) this.addRefusal(delta.refusal);
        (delta.tool_calls ?? []).forEach((fragment, position) =>
          this.addToolCall(fragment, position),
        );
      }
      if (choice.finish_reason) this.finishReason = choice.finish_reason;
    }
  }

  /** Whether the upstream said why the turn ended. */
  finished(): boolean {
    return this.finishReason !== null;
  }

  /** The turn so far as a result; call once the stream has ended. */
  result(): ModelCallResult {
    this.addContent(this.content.end());
    const calls = [...this.calls.values()]
      .sort((a, b) => a.index - b.index)
      .map(({ open }) => {
        if (!open) throw badResponse('The upstream model streamed a tool call without a name.');
        // Some servers send nothing for a call without parameters, which is not JSON; the
        // non-streaming decoder says `{}`, and the listener hears it too.
        if (open.arguments === '') this.emitArguments(open, '{}');
        return open;
      });
    const finishReason = decodeFinishReason(this.finishReason, calls.length > 0);
    // Output cut off by the token limit is incomplete, as the Responses API marks it.
    const status = finishReason === 'length' ? 'incomplete' : 'completed';
    const output: ModelItem[] = [];
    if (this.reasoning) {
      output.push({ ...reasoningItem(this.reasoning.text), id: this.reasoning.itemId });
    }
    if (this.message) {
      const { itemId, text, refusal } = this.message;
      output.push({ ...assistantItem(text, refusal || null, status), id: itemId });
    } else if (calls.length === 0) {
      // As in the non-streaming decoder, a turn without calls always answers something; no
      // delta named this empty message, so it has a fresh id.
      output.push(assistantItem('', null, status));
    }
    for (const call of calls) {
      output.push({
        ...functionCallItem(call.callId, call.name, call.arguments, status),
        id: call.itemId,
      });
    }
    return { output, usage: decodeUsage(this.usage), finishReason };
  }

  private addContent(pieces: readonly ContentPiece[]): void {
    for (const piece of pieces) {
      if (piece.kind === 'reasoning') this.addReasoning(piece.text);
      else this.addText(piece.text);
    }
  }

  private addReasoning(text: string): void {
    if (!text) return;
    this.reasoning ??= { itemId: newId('rs'), text: '' };
    this.reasoning.text += text;
    this.onDelta({ type: 'reasoning', itemId: this.reasoning.itemId, delta: text });
  }

  private addText(text: string): void {
    const message = this.openMessage();
    message.text += text;
    this.onDelta({ type: 'text', itemId: message.itemId, delta: text });
  }

  private addRefusal(refusal: string): void {
    const message = this.openMessage();
    message.refusal += refusal;
    this.onDelta({ type: 'refusal', itemId: message.itemId, delta: refusal });
  }

  private openMessage(): { itemId: string; text: string; refusal: string } {
    this.message ??= { itemId: newId('msg'), text: '', refusal: '' };
    return this.message;
  }

  private addToolCall(fragment: ChatToolCallDelta, position: number): void {
    const index = this.callIndex(fragment, position);
    let call = this.calls.get(index);
    if (!call) {
      call = { index, callId: null, pending: '', open: null };
      this.calls.set(index, call);
    }
    const args = fragment.function?.arguments ?? '';
    if (call.open) {
      // Later fragments may repeat the id and name (vLLM does) or leave them out; the first
      // ones stay, so every delta of a call names it the same way.
      if (args) this.emitArguments(call.open, args);
      return;
    }
    call.callId ??= fragment.id || null;
    call.pending += args;
    const name = fragment.function?.name;
    if (!name) return;
    call.open = {
      itemId: newId('fc'),
      // Some servers leave out the id; the call still needs one to pair its output with.
      callId: call.callId ?? newId('call'),
      name,
      arguments: '',
    };
    if (call.pending) this.emitArguments(call.open, call.pending);
    call.pending = '';
  }

  private emitArguments(call: OpenCall, delta: string): void {
    call.arguments += delta;
    this.onDelta({
      type: 'arguments',
      itemId: call.itemId,
      callId: call.callId,
      name: call.name,
      delta,
    });
  }

  /**
   * OpenAI always sends `index`. Servers that do not send whole calls, one per entry: a known
   * id continues its call, a new id starts the next one, and no id falls back to the entry's
   * position in the list.
   */
  private callIndex(fragment: ChatToolCallDelta, position: number): number {
    if (typeof fragment.index === 'number') return fragment.index;
    if (fragment.id) {
      for (const call of this.calls.values()) {
        if ((call.open?.callId ?? call.callId) === fragment.id) return call.index;
      }
      return this.calls.size === 0 ? 0 : Math.max(...this.calls.keys()) + 1;
    }
    return position;
  }
}
