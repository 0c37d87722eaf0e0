import { RatchetError } from './errors';
import { newId } from './ids';
import type { InputItem, Item } from './items';

/**
 * Turns request input into stored items: a string becomes one user message, message content
 * becomes a list of parts, and every item gets an id (the client's, or a new one). A
 * compaction item takes its opened summary from `summaries`, by its position in `input`;
 * one without is refused, as a summary that could not be opened.
 */
export function normalizeInput(
  input: string | InputItem[] | null | undefined,
  summaries: ReadonlyMap<number, string> = new Map(),
): Item[] {
  if (input === undefined || input === null) return [];
  if (typeof input === 'string') {
    return [
      {
        type: 'message',
        id: newId('msg'),
        role: 'user',
        status: 'completed',
        content: [{ type: 'input_text', text: input }],
      },
    ];
  }
  return input.map((item, index): Item => {
    switch (item.type) {
      case 'message':
        return {
          type: 'message',
          id: item.id ?? newId('msg'),
          role: item.role,
          status: item.status ?? 'completed',
          content:
            typeof item.content === 'string'
              ? [
                  item.role === 'assistant'
                    ? { type: 'output_text', text: item.content, annotations: [], logprobs: [] }
                    : { type: 'input_text', text: item.content },
                ]
              : item.content,
        };
      case 'function_call':
        return { ...item, id: item.id ?? newId('fc'), status: item.status ?? 'completed' };
      case 'function_call_output':
        return { ...item, id: item.id ?? newId('fco'), status: item.status ?? 'completed' };
      case 'reasoning': {
        const { encrypted_content, ...rest } = item;
        return {
          ...rest,
          id: item.id ?? newId('rs'),
          ...(encrypted_content ? { encrypted_content } : {}),
        };
      }
      case 'mcp_call':
        return {
          type: 'mcp_call',
          id: item.id,
          call_id: item.call_id ?? `call_${item.id.replace(/^mcp_/, '')}`,
          server_label: item.server_label,
          name: item.name,
          arguments: item.arguments,
          output: item.output ?? null,
          error: item.error ?? null,
          status: item.status ?? (item.error ? 'failed' : 'completed'),
        };
      case 'compaction': {
        const summary = summaries.get(index);
        if (summary === undefined) throw unreadableCompaction(index);
        return {
          type: 'compaction',
          id: item.id ?? newId('cmp'),
          encrypted_content: item.encrypted_content,
          ...(item.created_by !== undefined ? { created_by: item.created_by } : {}),
          summary,
        };
      }
      case 'item_reference':
        throw RatchetError.invalid(
          'Item references are not supported; send the item itself or use previous_response_id.',
          `input[${index}]`,
          'unsupported_item_type',
        );
    }
  });
}

/**
 * A compaction item whose `encrypted_content` does not open here: altered, cut short, or
 * sealed by another deployment (or under another RATCHET_SECRET_KEY). `why` says which,
 * when that is known.
 */
export function unreadableCompaction(
  index: number,
  why = 'it was altered, or it was made by another deployment',
): RatchetError {
  const param = `input[${index}].encrypted_content`;
  return RatchetError.invalid(
    `The encrypted_content of the compaction item at ${param} could not be decrypted: ${why}. Send compaction items exactly as /v1/responses/compact returned them.`,
    param,
    'invalid_encrypted_content',
  );
}
