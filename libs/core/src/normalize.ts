import { RatchetError } from './errors';
import { newId } from './ids';
import type { InputItem, Item } from './items';

/**
 * The ids of the stored items the input needs, each once, in order: those `item_reference`
 * items name, and those of `mcp_call` items sent without their output (some clients drop it
 * to keep their history small), whose output the stored item has.
 */
export function referencedItemIds(input: string | readonly InputItem[] | undefined): string[] {
  if (input === undefined || typeof input === 'string') return [];
  const ids = input.flatMap((item) =>
    item.type === 'item_reference' || (item.type === 'mcp_call' && lacksOutcome(item))
      ? [item.id]
      : [],
  );
  return [...new Set(ids)];
}

function lacksOutcome(item: { output?: string | null; error?: string | null }): boolean {
  return item.output == null && item.error == null;
}

/**
 * Turns request input into stored items: a string becomes one user message, message content
 * becomes a list of parts, and every item gets an id (the client's, or a new one). An
 * `item_reference` becomes the stored item it names, as found in `references` (looked up by
 * the caller, who knows which items the client may see); one not found there is an error
 * naming `<field>[i].id`, whether the item does not exist or belongs to someone else.
 */
export function normalizeInput(
  input: string | InputItem[] | undefined,
  references: ReadonlyMap<string, Item> = new Map(),
  field = 'input',
): Item[] {
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
      case 'mcp_call': {
        // A call sent without its outcome takes it from the stored call, when there is one.
        const stored = lacksOutcome(item) ? references.get(item.id) : undefined;
        const known = stored?.type === 'mcp_call' ? stored : undefined;
        const error = item.error ?? known?.error ?? null;
        return {
          type: 'mcp_call',
          id: item.id,
          call_id: item.call_id ?? known?.call_id ?? `call_${item.id.replace(/^mcp_/, '')}`,
          server_label: item.server_label,
          name: item.name,
          arguments: item.arguments,
          output: item.output ?? known?.output ?? null,
          error,
          status: known?.status ?? item.status ?? (error ? 'failed' : 'completed'),
        };
      }
      case 'item_reference': {
        const referenced = references.get(item.id);
        if (!referenced) {
          throw RatchetError.invalid(
            `Item with id '${item.id}' not found.`,
            `${field}[${index}].id`,
            'item_not_found',
          );
        }
        return referenced;
      }
    }
  });
}
