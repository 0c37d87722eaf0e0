import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import type { ClientItem, ConversationDeleted, ConversationObject, ItemList } from '@ratchet/core';
import type { Principal } from '@ratchet/store';
import { CurrentPrincipal } from '../auth/principal.decorator';
import { parseInputItemsQuery } from '../responses/input-items.query';
import { ConversationsService } from './conversations.service';

/** OpenAI's Conversations API. POSTs answer 200, as OpenAI's do. */
@Controller('v1/conversations')
export class ConversationsController {
  constructor(private readonly conversations: ConversationsService) {}

  @Post()
  @HttpCode(200)
  create(
    @Body() body: unknown,
    @CurrentPrincipal() principal: Principal,
  ): Promise<ConversationObject> {
    return this.conversations.create(body, principal);
  }

  @Get(':id')
  get(
    @Param('id') id: string,
    @CurrentPrincipal() principal: Principal,
  ): Promise<ConversationObject> {
    return this.conversations.get(id, principal);
  }

  @Post(':id')
  @HttpCode(200)
  update(
    @Param('id') id: string,
    @Body() body: unknown,
    @CurrentPrincipal() principal: Principal,
  ): Promise<ConversationObject> {
    return this.conversations.update(id, body, principal);
  }

  @Delete(':id')
  delete(
    @Param('id') id: string,
    @CurrentPrincipal() principal: Principal,
  ): Promise<ConversationDeleted> {
    return this.conversations.delete(id, principal);
  }

  @Get(':id/items')
  listItems(
    @Param('id') id: string,
    @Query() query: unknown,
    @CurrentPrincipal() principal: Principal,
  ): Promise<ItemList> {
    return this.conversations.listItems(id, parseInputItemsQuery(query), principal);
  }

  /** `include` (a query parameter) is accepted; stored items are returned whole. */
  @Post(':id/items')
  @HttpCode(200)
  addItems(
    @Param('id') id: string,
    @Body() body: unknown,
    @CurrentPrincipal() principal: Principal,
  ): Promise<ItemList> {
    return this.conversations.addItems(id, body, principal);
  }

  @Get(':id/items/:itemId')
  getItem(
    @Param('id') id: string,
    @Param('itemId') itemId: string,
    @CurrentPrincipal() principal: Principal,
  ): Promise<ClientItem> {
    return this.conversations.getItem(id, itemId, principal);
  }

  @Delete(':id/items/:itemId')
  deleteItem(
    @Param('id') id: string,
    @Param('itemId') itemId: string,
    @CurrentPrincipal() principal: Principal,
  ): Promise<ConversationObject> {
    return this.conversations.deleteItem(id, itemId, principal);
  }
}
