import {
  type ContentPart,
  type FunctionCallItem,
  type MessageItem,
  newId,
  type ReasoningItem,
} from '@ratchet/core';

// Builders for the items a model turn produces, each with a fresh id. Every provider (and
// a streaming decoder) makes its output from these, so the items look alike whatever the
// upstream.

export function reasoningItem(text: string): ReasoningItem {
  return {
    type: 'reasoning',
    id: newId('rs'),
    summary: [],
    content: [{ type: 'reasoning_text', text }],
    status: 'completed',
  };
}

/** An assistant message with its text and, when the model refused, a refusal part. */
export function assistantItem(
  text: string,
  refusal: string | null,
  status: MessageItem['status'],
): MessageItem {
  const content: ContentPart[] = [];
  // A pure refusal has no text part; any other message has one, even if empty.
  if (text || refusal === null) {
    content.push({ type: 'output_text', text, annotations: [], logprobs: [] });
  }
  if (refusal !== null) content.push({ type: 'refusal', refusal });
  return { type: 'message', id: newId('msg'), role: 'assistant', status, content };
}

export function functionCallItem(
  callId: string,
  name: string,
  args: string,
  status: FunctionCallItem['status'],
): FunctionCallItem {
  return { type: 'function_call', id: newId('fc'), call_id: callId, name, arguments: args, status };
}
