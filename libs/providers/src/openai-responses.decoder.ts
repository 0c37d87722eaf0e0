import type { ContentPart, MessagePhase, ModelItem, ReasoningItem, Usage } from '@ratchet/core';
import { newId } from '@ratchet/core';
import type { z } from 'zod';
import {
  type ResponseResource,
  type ResponsesUsage,
  responseResourceSchema,
  responsesFunctionCallSchema,
  responsesMessageSchema,
  responsesReasoningSchema,
} from './openai-responses.wire';
import { assistantItem, functionCallItem, reasoningItem } from './output-items';
import { type FinishReason, type ModelCallResult, UpstreamError } from './provider';

// Responses API Response object -> ModelCallResult. Every item gets a fresh ratchet id: the
// upstream's ids name items in a store ratchet does not use. The pieces are exported for the
// streaming decoder, whose terminal event carries the same Response object.

type ItemStatus = 'in_progress' | 'completed' | 'incomplete';

/** Failed-response codes where the same request may well succeed on another try. */
const RETRYABLE_FAILURE_CODES = new Set(['server_error', 'rate_limit_exceeded']);

/** Decodes a parsed non-streaming body; anything but a finished Response is an error. */
export function decodeResponse(body: unknown): ModelCallResult {
  const parsed = responseResourceSchema.safeParse(body);
  if (!parsed.success) throw badResponse('a body that is not a Response object', parsed.error);
  return decodeResponseResource(parsed.data);
}

/**
 * The id a streamed upstream output item (at `index` of the Response's output) already has
 * in ratchet's deltas, or null for an item no delta named, which gets a fresh one.
 */
export type StreamedItemId = (item: ResponseOutputItem, index: number) => string | null;

type ResponseOutputItem = ResponseResource['output'][number];

export function decodeResponseResource(
  response: ResponseResource,
  streamedItemId?: StreamedItemId,
): ModelCallResult {
  switch (response.status ?? 'completed') {
    case 'completed':
    case 'incomplete':
      break;
    case 'failed':
      throw failedResponseError(response.error);
    default:
      // queued / in_progress only happen with background mode, which ratchet never asks
      // for; cancelled means someone else stopped it. Neither has an answer to use.
      throw badResponse(`a response with status '${response.status}'`);
  }
  const finishReason = decodeFinishReason(response);
  const fallbackStatus: ItemStatus = response.status === 'incomplete' ? 'incomplete' : 'completed';
  const output = response.output.flatMap((item, index) => {
    const decoded = decodeOutputItem(item, fallbackStatus);
    const id = streamedItemId?.(item, index);
    return id ? decoded.map((one) => ({ ...one, id })) : decoded;
  });
  return { output, usage: decodeUsage(response.usage), finishReason };
}

/** One upstream output item as ratchet items (none for item types ratchet cannot replay). */
export function decodeOutputItem(item: { type: string }, fallbackStatus: ItemStatus): ModelItem[] {
  switch (item.type) {
    case 'message': {
      const message = parseItem(responsesMessageSchema, item);
      const status = itemStatus(message.status, fallbackStatus);
      const content = (message.content ?? []).flatMap(decodeContentPart);
      const phase = messagePhase(message.phase);
      // An empty message still gets its (empty) text part from the builder.
      const decoded = assistantItem('', null, status);
      if (content.length > 0) decoded.content = content;
      if (phase) decoded.phase = phase;
      return [decoded];
    }
    case 'function_call': {
      const call = parseItem(responsesFunctionCallSchema, item);
      // Some compatible servers leave out the call id (the output still needs one to pair
      // with) or send empty arguments for a call without parameters (not valid JSON).
      return [
        functionCallItem(
          call.call_id || newId('call'),
          call.name,
          call.arguments || '{}',
          itemStatus(call.status, fallbackStatus),
        ),
      ];
    }
    case 'reasoning': {
      const reasoning = parseItem(responsesReasoningSchema, item);
      const text = (reasoning.content ?? []).map((part) => part.text ?? '').join('');
      const decoded: ReasoningItem = {
        ...reasoningItem(text),
        summary: (reasoning.summary ?? []).map((part) => ({
          type: 'summary_text' as const,
          text: part.text ?? '',
        })),
      };
      // A reasoning model often returns only a summary (or nothing readable at all); an
      // empty reasoning_text part would claim content the model did not give.
      if (!text) delete decoded.content;
      // Kept so the next step can hand the model its own reasoning back without a store.
      if (reasoning.encrypted_content) decoded.encrypted_content = reasoning.encrypted_content;
      return [decoded];
    }
    default:
      // Hosted tools' calls (web_search_call...) ran upstream and ratchet cannot replay them.
      return [];
  }
}

function decodeContentPart(part: {
  type: string;
  text?: string | null;
  refusal?: string | null;
  annotations?: unknown[] | null;
}): ContentPart[] {
  switch (part.type) {
    case 'output_text':
      return [
        {
          type: 'output_text',
          text: part.text ?? '',
          annotations: part.annotations ?? [],
          logprobs: [],
        },
      ];
    case 'refusal':
      return [{ type: 'refusal', refusal: part.refusal ?? '' }];
    default:
      return [];
  }
}

/** The phase label of an upstream message, when it is one ratchet knows. */
export function messagePhase(phase: string | null | undefined): MessagePhase | null {
  return phase === 'commentary' || phase === 'final_answer' ? phase : null;
}

function itemStatus(status: string | null | undefined, fallback: ItemStatus): ItemStatus {
  return status === 'in_progress' || status === 'completed' || status === 'incomplete'
    ? status
    : fallback;
}

/**
 * An incomplete response names why; a reason other than the two known ones is still a cut
 * short answer, which `length` describes best. A turn with function calls asks for tools.
 */
export function decodeFinishReason(
  response: Pick<ResponseResource, 'status' | 'incomplete_details' | 'output'>,
): FinishReason {
  if (response.status === 'incomplete') {
    return response.incomplete_details?.reason === 'content_filter' ? 'content_filter' : 'length';
  }
  return response.output.some((item) => item.type === 'function_call') ? 'tool_calls' : 'stop';
}

export function decodeUsage(usage: ResponsesUsage | null | undefined): Usage {
  const input = usage?.input_tokens ?? 0;
  const output = usage?.output_tokens ?? 0;
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: usage?.input_tokens_details?.cached_tokens ?? 0 },
    output_tokens: output,
    output_tokens_details: {
      reasoning_tokens: usage?.output_tokens_details?.reasoning_tokens ?? 0,
    },
    total_tokens: usage?.total_tokens ?? input + output,
  };
}

/** The error a `failed` response stands for, carrying the upstream's own code. */
export function failedResponseError(error: ResponseResource['error']): UpstreamError {
  const code = error?.code || 'upstream_error';
  return new UpstreamError(error?.message || 'The upstream model failed to answer.', {
    code,
    retryable: RETRYABLE_FAILURE_CODES.has(code),
  });
}

function parseItem<Schema extends z.ZodType>(schema: Schema, item: unknown): z.infer<Schema> {
  const parsed = schema.safeParse(item);
  if (!parsed.success) throw badResponse('a malformed output item', parsed.error);
  return parsed.data;
}

export function badResponse(what: string, cause?: unknown): UpstreamError {
  return new UpstreamError(`The upstream model answered with ${what}.`, {
    code: 'upstream_bad_response',
    retryable: false,
    cause,
  });
}
