import type { ModelItem, Usage } from '@ratchet/core';
import { contentText, toolOutputText } from './item-text';
import type { ModelCallRequest } from './provider';

// Token estimates where no upstream counted: the mock model's usage, and calls cut short
// (cancelled, or an upstream stream that broke) whose real usage never arrived. Four
// characters per token is the usual rule of thumb for English text.

export const CHARS_PER_TOKEN = 4;

export function estimateTokens(chars: number): number {
  return Math.ceil(chars / CHARS_PER_TOKEN);
}

/** Characters of text an item carries. */
export function itemChars(item: ModelItem): number {
  switch (item.type) {
    case 'message':
      return contentText(item.content).length;
    case 'function_call':
      return item.name.length + item.arguments.length;
    case 'function_call_output':
      return toolOutputText(item.output).length;
    case 'reasoning':
      return [...item.summary, ...(item.content ?? [])].reduce(
        (sum, part) => sum + part.text.length,
        0,
      );
  }
}

/** Characters of a model call's input: its instructions and the text of its items. */
export function inputChars(request: Pick<ModelCallRequest, 'instructions' | 'input'>): number {
  return (
    (request.instructions?.length ?? 0) +
    request.input.reduce((sum, item) => sum + itemChars(item), 0)
  );
}

/** A usage object from token counts (no cached or reasoning detail). */
export function usageOf(inputTokens: number, outputTokens: number): Usage {
  return {
    input_tokens: inputTokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: outputTokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: inputTokens + outputTokens,
  };
}
