import { Injectable } from '@nestjs/common';
import type { ConversationRecord, Item } from '@ratchet/core';
import type { Principal } from './api-keys.repository';
import { CONVERSATIONS_SQL as SQL } from './conversations.sql';
import type { InputItemsPage } from './responses.repository';
import { Sql } from './sql';

// Conversations and their items, in plain SQL (conversations.sql.ts). Every statement
// carries the owner: another tenant's conversation is never found.

interface ConversationRow {
  id: string;
  metadata: Record<string, string>;
  created_at: Date;
}

function toRecord(row: ConversationRow): ConversationRecord {
  return { id: row.id, metadata: row.metadata, createdAt: row.created_at };
}

/** The owner filter of a principal: null (everyone's) for admins. */
const ownerFilter = (principal: Principal): string | null =>
  principal.admin ? null : principal.keyId;

/** Items as the statements take them: positions from 0, in order. */
const positioned = (items: readonly Item[]): string =>
  JSON.stringify(items.map((item, position) => ({ position, item_id: item.id, item })));

/** What adding items did: added them, or found the conversation missing or an id taken. */
export type AddItemsResult =
  { type: 'added'; items: Item[] } | { type: 'not_found' } | { type: 'duplicate'; itemId: string };

@Injectable()
export class ConversationsRepository {
  constructor(private readonly sql: Sql) {}

  /** A new conversation of `ownerId`, with its first items, in one statement. */
  async create(conversation: {
    id: string;
    ownerId: string;
    metadata: Record<string, string>;
    items: readonly Item[];
  }): Promise<ConversationRecord> {
    const [row] = await this.sql.query<ConversationRow>(SQL.create, [
      conversation.id,
      conversation.ownerId,
      JSON.stringify(conversation.metadata),
      positioned(conversation.items),
    ]);
    return toRecord(row);
  }

  async find(id: string, principal: Principal): Promise<ConversationRecord | null> {
    const [row] = await this.sql.query<ConversationRow>(SQL.find, [id, ownerFilter(principal)]);
    return row ? toRecord(row) : null;
  }

  async updateMetadata(
    id: string,
    principal: Principal,
    metadata: Record<string, string>,
  ): Promise<ConversationRecord | null> {
    const [row] = await this.sql.query<ConversationRow>(SQL.updateMetadata, [
      id,
      ownerFilter(principal),
      JSON.stringify(metadata),
    ]);
    return row ? toRecord(row) : null;
  }

  /** Deletes a conversation and its items (not the responses made in it). */
  async delete(id: string, principal: Principal): Promise<boolean> {
    const result = await this.sql.pool.query({
      ...SQL.delete,
      values: [id, ownerFilter(principal)],
    });
    return result.rowCount === 1;
  }

  /** Appends items at the conversation's next positions, unless it holds one of the ids. */
  async addItems(
    id: string,
    principal: Principal,
    items: readonly Item[],
  ): Promise<AddItemsResult> {
    const [row] = await this.sql.query<{ found: boolean; duplicate: string | null; items: Item[] }>(
      SQL.addItems,
      [id, ownerFilter(principal), positioned(items)],
    );
    if (!row.found) return { type: 'not_found' };
    if (row.duplicate !== null) return { type: 'duplicate', itemId: row.duplicate };
    return { type: 'added', items: row.items };
  }

  /** One item; undefined when the conversation is not visible, null when it lacks the item. */
  async item(id: string, principal: Principal, itemId: string): Promise<Item | null | undefined> {
    const [row] = await this.sql.query<{ item: Item | null }>(SQL.item, [
      id,
      ownerFilter(principal),
      itemId,
    ]);
    return row ? row.item : undefined;
  }

  /** Deletes one item; the conversation (null when not visible) and whether the item was there. */
  async deleteItem(
    id: string,
    principal: Principal,
    itemId: string,
  ): Promise<{ conversation: ConversationRecord; deleted: boolean } | null> {
    const [row] = await this.sql.query<ConversationRow & { deleted: boolean }>(SQL.deleteItem, [
      id,
      ownerFilter(principal),
      itemId,
    ]);
    return row ? { conversation: toRecord(row), deleted: row.deleted } : null;
  }

  /**
   * A page of a (visible) conversation's items in `order` by position, after the item with
   * id `after` when given. Null when `after` names no item of the conversation.
   */
  async items(
    id: string,
    page: { limit: number; order: 'asc' | 'desc'; after: string | null },
  ): Promise<InputItemsPage | null> {
    let cursor = page.order === 'asc' ? -1 : 2 ** 31 - 1;
    if (page.after !== null) {
      const [anchor] = await this.sql.query<{ position: number }>(SQL.itemPosition, [
        id,
        page.after,
      ]);
      if (!anchor) return null;
      cursor = anchor.position;
    }
    const rows = await this.sql.query<{ item: Item }>(
      page.order === 'asc' ? SQL.itemsAsc : SQL.itemsDesc,
      [id, cursor, page.limit + 1],
    );
    return {
      items: rows.slice(0, page.limit).map((row) => row.item),
      hasMore: rows.length > page.limit,
    };
  }
}
