import { RatchetError } from './errors';
import { newId } from './ids';
import type { InputItem, Item, McpCallItem } from './items';

/**
 * What input items need that only the caller can get: stored items (among those the client
 * may see) and the summaries sealed in compaction items.
 */
export interface InputLookups {
  /** By item id: what `item_reference` items name, and server calls sent without an outcome. */
  byId: ReadonlyMap<string, Item>;
  /** Server calls sent without their id (nor outcome), by the call_id they kept. */
  serverCallsByCallId: ReadonlyMap<string, McpCallItem>;
  /** The opened summaries of compaction items, by their position in the input. */
  compactionSummaries: ReadonlyMap<number, string>;
}

export const NO_LOOKUPS: InputLookups = {
  byId: new Map(),
  serverCallsByCallId: new Map(),
  compactionSummaries: new Map(),
};

/**
 * What the input needs of stored items, each once, in order: the ids `item_reference` items
 * name and those of `mcp_call` items sent without their outcome (some clients drop a call's
 * output to keep their history small, and its outcome is in the stored call); the call_ids
 * of server calls sent without their id too.
 */
export function storedItemsNeeded(input: string | readonly InputItem[] | null | undefined): {
  ids: string[];
  callIds: string[];
} {
  if (input == null || typeof input === 'string') return { ids: [], callIds: [] };
  const ids = new Set<string>();
  const callIds = new Set<string>();
  for (const item of input) {
    if (item.type === 'item_reference') ids.add(item.id);
    if (item.type !== 'mcp_call' || !lacksOutcome(item)) continue;
    if (item.id !== undefined) ids.add(item.id);
    else if (item.call_id !== undefined) callIds.add(item.call_id);
  }
  return { ids: [...ids], callIds: [...callIds] };
}

function lacksOutcome(item: { output?: string | null; error?: string | null }): boolean {
  return item.output == null && item.error == null;
}

/**
 * Turns request input into stored items: a string becomes one user message, message content
 * becomes a list of parts, and every item gets an id (the client's, or a new one). What the
 * items need of the store or the key the caller looked up or opened first (`lookups`): an
 * `item_reference` becomes the stored item it names (one not found is an error naming
 * `<field>[i].id`, whether the item does not exist or belongs to someone else); a server call
 * sent without its outcome takes it from the stored call, when there is one; a compaction
 * item takes its opened summary (one without is refused, as a summary that did not open).
 */
export function normalizeInput(
  input: string | InputItem[] | null | undefined,
  lookups: InputLookups = NO_LOOKUPS,
  field = 'input',
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
      case 'mcp_call': {
        const found = !lacksOutcome(item)
          ? undefined
          : item.id !== undefined
            ? lookups.byId.get(item.id)
            : lookups.serverCallsByCallId.get(item.call_id ?? '');
        const known = found?.type === 'mcp_call' ? found : undefined;
        const error = item.error ?? known?.error ?? null;
        const id = item.id ?? known?.id ?? newId('mcp');
        return {
          type: 'mcp_call',
          id,
          call_id: item.call_id ?? known?.call_id ?? `call_${id.replace(/^mcp_/, '')}`,
          server_label: item.server_label,
          name: item.name,
          arguments: item.arguments,
          output: item.output ?? known?.output ?? null,
          error,
          status: known?.status ?? item.status ?? (error ? 'failed' : 'completed'),
        };
      }
      case 'mcp_list_tools':
        return {
          type: 'mcp_list_tools',
          id: item.id ?? newId('mcpl'),
          server_label: item.server_label,
          tools: item.tools.map((tool) => ({
            name: tool.name,
            description: tool.description ?? null,
            input_schema: tool.input_schema,
            annotations: tool.annotations ?? null,
          })),
          error: item.error ?? null,
        };
      case 'mcp_approval_request':
        return {
          type: 'mcp_approval_request',
          id: item.id,
          server_label: item.server_label,
          name: item.name,
          arguments: item.arguments,
          ...(item.agent_path ? { agent_path: item.agent_path } : {}),
        };
      case 'mcp_approval_response':
        return {
          type: 'mcp_approval_response',
          id: item.id ?? newId('mcpr'),
          approval_request_id: item.approval_request_id,
          approve: item.approve,
          reason: item.reason ?? null,
        };
      case 'item_reference': {
        const referenced = lookups.byId.get(item.id);
        if (!referenced) {
          throw RatchetError.invalid(
            `Item with id '${item.id}' not found.`,
            `${field}[${index}].id`,
            'item_not_found',
          );
        }
        return referenced;
      }
      case 'compaction': {
        const summary = lookups.compactionSummaries.get(index);
        if (summary === undefined) throw unreadableCompaction(`${field}[${index}]`);
        return {
          type: 'compaction',
          id: item.id ?? newId('cmp'),
          encrypted_content: item.encrypted_content,
          ...(item.created_by !== undefined ? { created_by: item.created_by } : {}),
          summary,
        };
      }
    }
  });
}

/**
 * A compaction item whose `encrypted_content` does not open here: altered, cut short, or
 * sealed by another deployment (or under another RATCHET_SECRET_KEY). `why` says which,
 * when that is known.
 */
export function unreadableCompaction(
  /** Where the item is: `input[2]`, `items[0]`. */
  at: string,
  why = 'it was altered, or it was made by another deployment',
): RatchetError {
  const param = `${at}.encrypted_content`;
  return RatchetError.invalid(
    `The encrypted_content of the compaction item at ${param} could not be decrypted: ${why}. Send compaction items exactly as /v1/responses/compact returned them.`,
    param,
    'invalid_encrypted_content',
  );
}
