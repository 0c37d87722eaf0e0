import { Body, Controller, Get, HttpCode, Param, Post, Res } from '@nestjs/common';
import type { ResponseObject } from '@ratchet/core';
import type { Principal } from '@ratchet/store';
import type { Response } from 'express';
import { CurrentPrincipal } from '../auth/principal.decorator';
import { ResponsesService } from './responses.service';

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
}
