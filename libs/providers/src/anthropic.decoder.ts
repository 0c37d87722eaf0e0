import { type ModelItem, newId, type ReasoningItem, type Usage } from '@ratchet/core';
import {
  type AnthropicUsage,
  anthropicMessageSchema,
  anthropicResponseBlockSchema,
} from './anthropic.wire';
import { encodeThinking } from './anthropic.thinking';
import { assistantItem, functionCallItem, reasoningItem } from './output-items';
import { type FinishReason, type ModelCallResult, UpstreamError } from './provider';

// Messages API response -> ModelCallResult. The output builder, stop reason and usage mappings
// are shared with the stream decoder, so a streamed turn decodes to the same items as a
// plain one.

export interface PendingMessage {
  type: 'message';
  id: string;
  text: string;
}

export interface PendingReasoning {
  type: 'reasoning';
  id: string;
  text: string;
  /** A thinking block's signature (it may stream after the text); empty when none came. */
  signature: string;
  /** A redacted_thinking block's encrypted data; null for a thinking block. */
  redacted: string | null;
}

export interface PendingCall {
  type: 'function_call';
  id: string;
  callId: string;
  name: string;
  args: string;
}

type PendingItem = PendingMessage | PendingReasoning | PendingCall;

/**
 * Output items in content-block order, each with its final id from the moment it opens (a
 * stream's deltas name items by these ids).
 */
export class AnthropicOutputBuilder {
  private readonly items: PendingItem[] = [];

  /** `model`: the upstream model asked, whose thinking signatures the items keep. */
  constructor(private readonly model: string) {}

  /**
   * Anthropic may split one answer over several text blocks (around citations, say); text
   * blocks in a row are one message, so text joins the last item when that is a message.
   */
  openText(): PendingMessage {
    const last = this.items.at(-1);
    if (last?.type === 'message') return last;
    return this.add({ type: 'message', id: newId('msg'), text: '' });
  }

  openReasoning(): PendingReasoning {
    return this.add({
      type: 'reasoning',
      id: newId('rs'),
      text: '',
      signature: '',
      redacted: null,
    });
  }

  /** A redacted_thinking block: no text, only the data that must go back with the turn. */
  openRedactedReasoning(data: string): PendingReasoning {
    return this.add({
      type: 'reasoning',
      id: newId('rs'),
      text: '',
      signature: '',
      redacted: data,
    });
  }

  openCall(callId: string, name: string): PendingCall {
    return this.add({ type: 'function_call', id: newId('fc'), callId, name, args: '' });
  }

  hasToolCalls(): boolean {
    return this.items.some((item) => item.type === 'function_call');
  }

  build(finishReason: FinishReason): ModelItem[] {
    // Output cut off by the token limit is incomplete, as the Responses API marks it.
    const status = finishReason === 'length' ? 'incomplete' : 'completed';
    const output = this.items.map((item): ModelItem => {
      switch (item.type) {
        case 'message':
          return { ...assistantItem(item.text, null, status), id: item.id };
        case 'reasoning':
          return this.reasoning(item);
        case 'function_call':
          // A call without parameters may stream no input at all, which is not valid JSON.
          return {
            ...functionCallItem(item.callId, item.name, item.args || '{}', status),
            id: item.id,
          };
      }
    });
    // A turn with no tool calls always yields a message, even an empty one, so the response
    // has an answer to show.
    if (!this.items.some((item) => item.type !== 'reasoning')) {
      output.push(assistantItem('', null, status));
    }
    return output;
  }

  /**
   * Thinking as a reasoning item, its block encoded into `encrypted_content` so a later call
   * can hand it back (see anthropic.thinking.ts). Thinking without a signature cannot go
   * back, so it has none; redacted thinking has nothing readable, so no content either.
   */
  private reasoning(item: PendingReasoning): ReasoningItem {
    if (item.redacted !== null) {
      return {
        type: 'reasoning',
        id: item.id,
        summary: [],
        status: 'completed',
        encrypted_content: encodeThinking(
          { type: 'redacted_thinking', data: item.redacted },
          this.model,
        ),
      };
    }
    const reasoning: ReasoningItem = { ...reasoningItem(item.text), id: item.id };
    if (item.signature) {
      reasoning.encrypted_content = encodeThinking(
        { type: 'thinking', thinking: item.text, signature: item.signature },
        this.model,
      );
    }
    return reasoning;
  }

  private add<T extends PendingItem>(item: T): T {
    this.items.push(item);
    return item;
  }
}

/**
 * Decodes a parsed non-streaming Messages API response body, from upstream model `model` (as
 * the request named it).
 */
export function decodeAnthropicMessage(body: unknown, model: string): ModelCallResult {
  const parsed = anthropicMessageSchema.safeParse(body);
  if (!parsed.success) {
    throw new UpstreamError('The upstream model answered without a usable message.', {
      code: 'upstream_bad_response',
      retryable: false,
      cause: parsed.error,
    });
  }
  const output = new AnthropicOutputBuilder(model);
  for (const rawBlock of parsed.data.content) {
    const block = anthropicResponseBlockSchema.safeParse(rawBlock);
    // Server-side tool blocks have no Responses API item to become.
    if (!block.success) continue;
    switch (block.data.type) {
      case 'text':
        output.openText().text += block.data.text;
        break;
      case 'thinking': {
        const reasoning = output.openReasoning();
        reasoning.text = block.data.thinking;
        reasoning.signature = block.data.signature ?? '';
        break;
      }
      case 'redacted_thinking':
        output.openRedactedReasoning(block.data.data);
        break;
      case 'tool_use':
        output.openCall(block.data.id, block.data.name).args = JSON.stringify(
          block.data.input ?? {},
        );
        break;
    }
  }
  const finishReason = decodeStopReason(parsed.data.stop_reason, output.hasToolCalls());
  return {
    output: output.build(finishReason),
    usage: decodeUsage(parsed.data.usage),
    finishReason,
  };
}

/**
 * `refusal` is Anthropic's safety classifier stopping the turn, the nearest thing to
 * OpenAI's content filter; `pause_turn` (a long server-tool turn) ends this call like a stop.
 */
export function decodeStopReason(
  reason: string | null | undefined,
  hasToolCalls: boolean,
): FinishReason {
  if (reason === 'max_tokens' || reason === 'model_context_window_exceeded') return 'length';
  if (reason === 'refusal') return 'content_filter';
  if (hasToolCalls || reason === 'tool_use') return 'tool_calls';
  return 'stop';
}

/**
 * Anthropic counts cache reads and cache writes apart from `input_tokens`; the Responses API
 * counts every prompt token in `input_tokens`, with cache hits as `cached_tokens`.
 */
export function decodeUsage(usage: AnthropicUsage | null | undefined): Usage {
  const cacheRead = usage?.cache_read_input_tokens ?? 0;
  const input = (usage?.input_tokens ?? 0) + cacheRead + (usage?.cache_creation_input_tokens ?? 0);
  const output = usage?.output_tokens ?? 0;
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: cacheRead },
    output_tokens: output,
    // Anthropic bills thinking as output tokens without reporting how many.
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: input + output,
  };
}
