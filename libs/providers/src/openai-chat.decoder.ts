import { type ModelItem, newId, type Usage } from '@ratchet/core';
import { ThinkTagSplitter } from './think-tags';
import { type ChatResponseMessage, type ChatUsage, chatCompletionSchema } from './openai-chat.wire';
import { assistantItem, functionCallItem, reasoningItem } from './output-items';
import { type FinishReason, type ModelCallResult, UpstreamError } from './provider';

// Chat Completions response -> ModelCallResult. The finish reason and usage mappings are
// exported for the streaming decoder, which assembles the same pieces from deltas.

/** Decodes a parsed non-streaming response body; a body without choices is a bad response. */
export function decodeChatCompletion(body: unknown): ModelCallResult {
  const parsed = chatCompletionSchema.safeParse(body);
  if (!parsed.success) {
    throw new UpstreamError('The upstream model answered without a usable choice.', {
      code: 'upstream_bad_response',
      retryable: false,
      cause: parsed.error,
    });
  }
  const [choice] = parsed.data.choices;
  const toolCalls = choice.message.tool_calls ?? [];
  const finishReason = decodeFinishReason(choice.finish_reason, toolCalls.length > 0);
  return {
    output: decodeMessage(choice.message, finishReason),
    usage: decodeUsage(parsed.data.usage),
    finishReason,
  };
}

function decodeMessage(message: ChatResponseMessage, finishReason: FinishReason): ModelItem[] {
  // Output cut off by the token limit is incomplete, as the Responses API marks it.
  const status = finishReason === 'length' ? 'incomplete' : 'completed';
  const toolCalls = message.tool_calls ?? [];
  const { reasoning, text } = splitContent(message.content ?? '');
  // As in a stream, where the reasoning field's deltas come before the content's: both go
  // into the one reasoning item, the field's first.
  const allReasoning = reasoningField(message) + reasoning;
  const output: ModelItem[] = [];
  if (allReasoning) output.push(reasoningItem(allReasoning));
  // A turn with no tool calls always yields a message, even an empty one, so the response
  // has an answer to show.
  if (text || message.refusal || toolCalls.length === 0) {
    output.push(assistantItem(text, message.refusal || null, status));
  }
  for (const call of toolCalls) {
    // Some compatible servers leave out the id (the call still needs one to pair its output
    // with) or send empty arguments for a call without parameters (not valid JSON).
    const callId = call.id || newId('call');
    const args = call.function.arguments || '{}';
    output.push(functionCallItem(callId, call.function.name, args, status));
  }
  return output;
}

/**
 * The reasoning the server parsed out: `reasoning_content` (DeepSeek, older vLLM) or
 * `reasoning` (newer vLLM, OpenRouter), preferred in that order as the stream decoder does.
 * The response schema does not name `reasoning`, but lets unknown fields through.
 */
function reasoningField(message: ChatResponseMessage): string {
  if (message.reasoning_content) return message.reasoning_content;
  return typeof message.reasoning === 'string' ? message.reasoning : '';
}

/**
 * Splits inline `<think>...</think>` reasoning off the content with the stream decoder's
 * splitter, fed the whole content at once, so both paths agree on the same content.
 */
function splitContent(content: string): { reasoning: string; text: string } {
  const splitter = new ThinkTagSplitter();
  let reasoning = '';
  let text = '';
  for (const piece of [...splitter.push(content), ...splitter.end()]) {
    if (piece.kind === 'reasoning') reasoning += piece.text;
    else text += piece.text;
  }
  return { reasoning, text };
}

/**
 * Ollama and some vLLM versions report `stop` (or nothing) for a turn that calls tools; the
 * calls are what matter, so such a turn still counts as `tool_calls`.
 */
export function decodeFinishReason(
  reason: string | null | undefined,
  hasToolCalls: boolean,
): FinishReason {
  if (reason === 'length' || reason === 'content_filter') return reason;
  if (hasToolCalls || reason === 'tool_calls' || reason === 'function_call') return 'tool_calls';
  return 'stop';
}

export function decodeUsage(usage: ChatUsage | null | undefined): Usage {
  const input = usage?.prompt_tokens ?? 0;
  const output = usage?.completion_tokens ?? 0;
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: usage?.prompt_tokens_details?.cached_tokens ?? 0 },
    output_tokens: output,
    output_tokens_details: {
      reasoning_tokens: usage?.completion_tokens_details?.reasoning_tokens ?? 0,
    },
    total_tokens: usage?.total_tokens ?? input + output,
  };
}
