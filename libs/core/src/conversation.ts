import { z } from 'zod';
import { clientItem, type ClientItem } from './compaction';
import { RatchetError } from './errors';
import type { Item } from './items';
import { inputItemParamSchema, metadataSchema, parseBody } from './request';

// OpenAI's Conversations API: request bodies, and the objects it answers with. A conversation
// is an ordered list of items that responses created in it read as their context and append
// their input and output to.

/** Items one call may seed or add, as OpenAI allows. */
export const MAX_ITEMS_PER_CALL = 20;

const itemsSchema = z
  .array(inputItemParamSchema)
  .max(MAX_ITEMS_PER_CALL, `must have at most ${MAX_ITEMS_PER_CALL} items`);

export const createConversationSchema = z.strictObject({
  items: itemsSchema.nullish(),
  metadata: metadataSchema.nullish(),
});
export type CreateConversationRequest = z.infer<typeof createConversationSchema>;

export const updateConversationSchema = z.strictObject({ metadata: metadataSchema.nullable() });
export type UpdateConversationRequest = z.infer<typeof updateConversationSchema>;

export const addConversationItemsSchema = z.strictObject({
  items: itemsSchema.min(1, 'must have at least one item'),
});
export type AddConversationItemsRequest = z.infer<typeof addConversationItemsSchema>;

/** POST /v1/conversations; an absent body is an empty one (the SDKs send none). */
export function parseCreateConversation(body: unknown): CreateConversationRequest {
  return parseBody(createConversationSchema, body ?? {});
}

export function parseUpdateConversation(body: unknown): UpdateConversationRequest {
  return parseBody(updateConversationSchema, body);
}

export function parseAddConversationItems(body: unknown): AddConversationItemsRequest {
  return parseBody(addConversationItemsSchema, body);
}

/**
 * Refuses two items with one id in a call: a conversation holds each id once, so that an
 * item can be retrieved, deleted and referenced by it.
 */
export function assertDistinctItemIds(items: readonly Item[], field: string): void {
  const seen = new Set<string>();
  items.forEach((item, index) => {
    if (seen.has(item.id)) {
      throw RatchetError.invalid(
        `Duplicate item id '${item.id}': each item of a conversation has its own id.`,
        `${field}[${index}].id`,
        'duplicate_item_id',
      );
    }
    seen.add(item.id);
  });
}

/** What the store keeps of a conversation, besides its items. */
export interface ConversationRecord {
  id: string;
  metadata: Record<string, string>;
  createdAt: Date;
}

export interface ConversationObject {
  id: string;
  object: 'conversation';
  created_at: number;
  metadata: Record<string, string>;
}

export interface ConversationDeleted {
  id: string;
  object: 'conversation.deleted';
  deleted: true;
}

/** A page of items, as every item listing of the API answers. */
export interface ItemList {
  object: 'list';
  data: ClientItem[];
  first_id: string | null;
  last_id: string | null;
  has_more: boolean;
}

export function assembleConversation(record: ConversationRecord): ConversationObject {
  return {
    id: record.id,
    object: 'conversation',
    created_at: Math.floor(record.createdAt.getTime() / 1000),
    metadata: record.metadata,
  };
}

/** A page of items as clients see them (see `clientItem`). */
export function itemList(items: readonly Item[], hasMore: boolean): ItemList {
  return {
    object: 'list',
    data: items.map(clientItem),
    first_id: items[0]?.id ?? null,
    last_id: items[items.length - 1]?.id ?? null,
    has_more: hasMore,
  };
}
