import { RatchetError } from './errors';
import { newId } from './ids';
import type { InputItem, Item } from './items';

/**
 * Turns request input into stored items: a string becomes one user message, message content
 * becomes a list of parts, and every item gets an id (the client's, or a new one).
 */
export function normalizeInput(input: string | InputItem[] | undefined): Item[] {
  if (input === undefined) return [];
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
          ...(item.phase ? { phase: item.phase } : {}),
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
      case 'item_reference':
        throw RatchetError.invalid(
          'Item references are not supported; send the item itself or use previous_response_id.',
          `input[${index}]`,
          'unsupported_item_type',
        );
    }
  });
}
