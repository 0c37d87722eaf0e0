import { Injectable } from '@nestjs/common';
import {
  assembleConversation,
  assertDistinctItemIds,
  clientItem,
  itemList,
  newId,
  parseAddConversationItems,
  parseCreateConversation,
  parseUpdateConversation,
  RatchetError,
  type ClientItem,
  type ConversationDeleted,
  type ConversationObject,
  type ItemList,
} from '@ratchet/core';
import { ConversationsRepository, type Principal } from '@ratchet/store';
import { InputResolver } from '../items/input-resolver.service';
import type { InputItemsQuery } from '../responses/input-items.query';

/** OpenAI's Conversations API over the store; every read and write carries the caller. */
@Injectable()
export class ConversationsService {
  constructor(
    private readonly conversations: ConversationsRepository,
    private readonly inputs: InputResolver,
  ) {}

  async create(body: unknown, principal: Principal): Promise<ConversationObject> {
    const request = parseCreateConversation(body);
    const items = await this.inputs.resolve(request.items ?? [], principal, 'items');
    assertDistinctItemIds(items, 'items');
    const record = await this.conversations.create({
      id: newId('conv'),
      ownerId: principal.keyId,
      metadata: request.metadata ?? {},
      items,
    });
    return assembleConversation(record);
  }

  async get(id: string, principal: Principal): Promise<ConversationObject> {
    const record = await this.conversations.find(id, principal);
    if (!record) throw RatchetError.conversationNotFound(id);
    return assembleConversation(record);
  }

  async update(id: string, body: unknown, principal: Principal): Promise<ConversationObject> {
    const request = parseUpdateConversation(body);
    const record = await this.conversations.updateMetadata(id, principal, request.metadata ?? {});
    if (!record) throw RatchetError.conversationNotFound(id);
    return assembleConversation(record);
  }

  /** Deletes the conversation and its items; responses made in it stay. */
  async delete(id: string, principal: Principal): Promise<ConversationDeleted> {
    if (!(await this.conversations.delete(id, principal))) {
      throw RatchetError.conversationNotFound(id);
    }
    return { id, object: 'conversation.deleted', deleted: true };
  }

  async listItems(id: string, query: InputItemsQuery, principal: Principal): Promise<ItemList> {
    await this.get(id, principal);
    const page = await this.conversations.items(id, query);
    if (!page) {
      throw RatchetError.invalid(
        `No item with id '${query.after}' in conversation '${id}'.`,
        'after',
        'invalid_value',
      );
    }
    return itemList(page.items, page.hasMore);
  }

  /** Appends up to 20 items; answers with the items added, as OpenAI does. */
  async addItems(id: string, body: unknown, principal: Principal): Promise<ItemList> {
    const request = parseAddConversationItems(body);
    const items = await this.inputs.resolve(request.items, principal, 'items');
    assertDistinctItemIds(items, 'items');
    const added = await this.conversations.addItems(id, principal, items);
    switch (added.type) {
      case 'not_found':
        throw RatchetError.conversationNotFound(id);
      case 'duplicate':
        throw RatchetError.invalid(
          `Conversation '${id}' already has an item with id '${added.itemId}'.`,
          `items[${items.findIndex((item) => item.id === added.itemId)}].id`,
          'duplicate_item_id',
        );
      case 'added':
        return itemList(added.items, false);
    }
  }

  async getItem(id: string, itemId: string, principal: Principal): Promise<ClientItem> {
    const item = await this.conversations.item(id, principal, itemId);
    if (item === undefined) throw RatchetError.conversationNotFound(id);
    if (item === null) throw itemNotFound(itemId, id);
    return clientItem(item);
  }

  /** Deletes one item; answers with the conversation, as OpenAI does. */
  async deleteItem(id: string, itemId: string, principal: Principal): Promise<ConversationObject> {
    const result = await this.conversations.deleteItem(id, principal, itemId);
    if (!result) throw RatchetError.conversationNotFound(id);
    if (!result.deleted) throw itemNotFound(itemId, id);
    return assembleConversation(result.conversation);
  }
}

function itemNotFound(itemId: string, conversationId: string): RatchetError {
  return new RatchetError(
    'not_found',
    `Item with id '${itemId}' not found in conversation '${conversationId}'.`,
  );
}
