import { z } from 'zod';
import { clientItem, type ClientCompactionItem, type ClientItem } from './compaction';
import { inputItemSchema, type Item, type MessageItem, type ModelItem } from './items';
import { parseBody } from './request';
import { modelItems } from './server-calls';
import type { Usage } from './usage';

// POST /v1/responses/compact: a conversation in, the same conversation shorter out. As
// OpenAI's endpoint does, the answer keeps every user message verbatim, in order, and puts
// one compaction item after them in place of everything else (assistant messages, tool
// calls and their outputs, reasoning, system and developer messages, earlier compaction
// items): a summary the model writes, sealed, which the model reads on later turns.

export const compactRequestSchema = z.strictObject({
  model: z.string().min(1),
  input: z.union([z.string(), z.array(inputItemSchema)]).nullish(),
  previous_response_id: z.string().min(1).nullish(),
  instructions: z.string().nullish(),
  prompt_cache_key: z.string().nullish(),
});
export type CompactRequest = z.infer<typeof compactRequestSchema>;

/** Validates a compact request body; throws the first problem as a RatchetError naming it. */
export function parseCompactRequest(body: unknown): CompactRequest {
  // parseBody, as every other body: nesting too deep to serialise is refused up front.
  return parseBody(compactRequestSchema, body);
}

/** The compacted conversation (OpenAI's CompactedResponse; Open Responses' CompactResource). */
export interface CompactedResponse {
  id: string;
  object: 'response.compaction';
  created_at: number;
  output: ClientItem[];
  usage: Usage;
}

/**
 * The system text of the model call that writes a summary. It opens every such call, so the
 * mock model tells a summary call by it.
 */
export const COMPACTION_INSTRUCTIONS =
  'You are compacting a conversation between a user and an AI assistant so that it can go on ' +
  'in a smaller context. Write a summary of the conversation for the assistant to read ' +
  'instead of it: what was asked, decided and agreed; the facts, names, numbers, code and ' +
  'file paths that matter; what the assistant did, the tools it called and what they ' +
  "returned; what is still open or to do next. The user's own messages are kept word for " +
  'word beside the summary, so refer to them rather than repeating them. Be complete but ' +
  'brief, write in the third person, and answer with the summary alone.';

/** The user turn that ends a summary call's input, asking for the summary. */
export const COMPACTION_REQUEST = 'Write the summary of the conversation above now.';

/** The model call that writes a conversation's summary: its instructions and input. */
export function summaryCall(
  conversation: readonly Item[],
  instructions: string | null | undefined,
): { instructions: string; input: ModelItem[] } {
  const request: MessageItem = {
    type: 'message',
    id: 'msg_compaction_request',
    role: 'user',
    status: 'completed',
    content: [{ type: 'input_text', text: COMPACTION_REQUEST }],
  };
  return {
    instructions: instructions
      ? `${COMPACTION_INSTRUCTIONS}\n\nThe conversation ran under these instructions:\n${instructions}`
      : COMPACTION_INSTRUCTIONS,
    input: [...modelItems(conversation), request],
  };
}

/** Whether a model call is a summary call (its instructions are `summaryCall`'s). */
export function isSummaryCall(instructions: string | null): boolean {
  return instructions?.startsWith(COMPACTION_INSTRUCTIONS) ?? false;
}

/** The conversation a summary call summarises: its input without the closing request. */
export function summarisedItems(input: readonly ModelItem[]): ModelItem[] {
  const last = input.at(-1);
  const isRequest =
    last?.type === 'message' &&
    last.role === 'user' &&
    last.content.length === 1 &&
    last.content[0].type === 'input_text' &&
    last.content[0].text === COMPACTION_REQUEST;
  return isRequest ? input.slice(0, -1) : [...input];
}

/** The compacted conversation: every user message as it was, then the compaction item. */
export function compactedOutput(
  conversation: readonly Item[],
  compaction: ClientCompactionItem,
): ClientItem[] {
  const userMessages = conversation.filter(
    (item) => item.type === 'message' && item.role === 'user',
  );
  return [...userMessages.map(clientItem), compaction];
}
