import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import type { ResponseObject } from '@ratchet/core';
import type { Principal } from '@ratchet/store';
import type { Response } from 'express';
import { CurrentPrincipal } from '../auth/principal.decorator';
import { parseInputItemsQuery } from './input-items.query';
import { ResponsesService, type InputItemsList } from './responses.service';

/** Aborts when the exchange ends: answered, or the client went away first. */
function exchangeClosed(response: Response): AbortSignal {
  const controller = new AbortController();
  response.once('close', () => controller.abort());
  return controller.signal;
}

@Controller('v1/responses')
export class ResponsesController {
  constructor(private readonly responses: ResponsesService) {}

  @Post()
  @HttpCode(200)
  create(
    @Body() body: unknown,
    @CurrentPrincipal() principal: Principal,
    @Res({ passthrough: true }) response: Response,
  ): Promise<ResponseObject> {
    return this.responses.create(body, principal, exchangeClosed(response));
  }

  @Get(':id')
  get(@Param('id') id: string, @CurrentPrincipal() principal: Principal): Promise<ResponseObject> {
    return this.responses.get(id, principal);
  }

  @Post(':id/cancel')
  @HttpCode(200)
  cancel(
    @Param('id') id: string,
    @CurrentPrincipal() principal: Principal,
  ): Promise<ResponseObject> {
    return this.responses.cancel(id, principal);
  }

  @Delete(':id')
  delete(
    @Param('id') id: string,
    @CurrentPrincipal() principal: Principal,
  ): Promise<{ id: string; object: 'response'; deleted: true }> {
    return this.responses.delete(id, principal);
  }

  @Get(':id/input_items')
  inputItems(
    @Param('id') id: string,
    @Query() query: unknown,
    @CurrentPrincipal() principal: Principal,
  ): Promise<InputItemsList> {
    return this.responses.inputItems(id, principal, parseInputItemsQuery(query));
  }
}
